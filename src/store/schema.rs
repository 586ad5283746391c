//! Versioned migrations (`PRAGMA user_version`) and connection settings.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The newest schema this build writes.
pub const LATEST: i64 = 3;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: the event log, the row state, the collections' key kinds, meta.
    r#"
    CREATE TABLE events (
        seq            INTEGER PRIMARY KEY,       -- local sequence: order of arrival here
        event_id       BLOB    NOT NULL UNIQUE,   -- idempotency key: 16 UUID bytes (other ids as text)
        collection     TEXT    NOT NULL,
        kind           TEXT    NOT NULL,          -- insert | update | delete | a newer type, kept verbatim
        key            TEXT    NOT NULL,          -- canonical key text (Key::text)
        payload        TEXT    NOT NULL,          -- JSON
        changes        TEXT,                      -- JSON object of changed fields (updates)
        timestamp      INTEGER NOT NULL,
        origin         INTEGER NOT NULL,          -- 0 local, 1 remote
        status         INTEGER NOT NULL,          -- 0 pending, 1 sent, 2 confirmed, 3 rejected
        applied        INTEGER NOT NULL,          -- 1 once its effect is in the confirmed state
        global_seq     INTEGER,
        reject_code    TEXT,
        reject_reason  TEXT,
        reject_cleared INTEGER NOT NULL DEFAULT 0,
        client_id      TEXT,
        schema_version INTEGER
    );
    -- Local events not yet in the confirmed state: a small, hot set. In
    -- capture order for the outbox; by row for the rebase of one key.
    -- Pulled events enter neither index, so replay pays for two b-trees only
    -- (the rowid and event_id); a row's history scans the log instead, which
    -- is rare and user-initiated.
    CREATE INDEX events_unapplied ON events(seq) WHERE origin = 0 AND applied = 0;
    CREATE INDEX events_unapplied_row ON events(collection, key, seq) WHERE origin = 0 AND applied = 0;

    -- One row per key: `confirmed` is the row as the server's order makes it;
    -- when `overlay` = 1, `visible` is that row with the key's pending local
    -- events folded on top (NULL: deleted locally); when `overlay` = 0 the
    -- visible row is `confirmed` and `visible` is NULL (stored once, not twice).
    CREATE TABLE rows (
        collection TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        confirmed  TEXT,
        visible    TEXT,
        overlay    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (collection, key)
    ) WITHOUT ROWID;

    -- The key type of each collection, declared or learned from captured keys,
    -- so keys a server stringified map back to numbers.
    CREATE TABLE collections (
        name     TEXT PRIMARY KEY,
        key_kind TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // v2: a cheaper write per event. Capture paid for four b-tree inserts in
    // `events` (the rowid, `event_id` and the two partial indexes, one of them
    // keyed by two strings) plus the row upsert; v2 pays for two plus the row.
    // - The outbox reads the rowid range from `meta.outbox_from`, the lowest
    //   seq that may still be an unsettled local event, instead of an index.
    // - The rebase of a key finds its pending events through the key's row:
    //   `rows.pending` counts them and `rows.last_pending` is the newest; each
    //   pending event links to the key's previous one (`prev_pending`). A walk
    //   from the newest collects `pending` live events by rowid, so it costs
    //   what the key has pending, never a scan of the log.
    // - Collections are small integers (`collections.id`) and the three known
    //   event types are 0, 1, 2: shorter records and integer comparisons.
    // - A pending key's visible row that is the payload of its newest pending
    //   event (an insert, a whole-row update) is not stored a second time:
    //   `rows.visible_seq` names the event that holds it.
    // The data is carried over as is; the links, counts and `visible_seq`
    // are derived from the v1 statuses and texts.
    r#"
    CREATE TABLE collections_v2 (
        id       INTEGER PRIMARY KEY,
        name     TEXT    NOT NULL UNIQUE,
        key_kind TEXT    NOT NULL DEFAULT 'unknown'  -- unknown | string | number
    );
    INSERT INTO collections_v2 (name, key_kind) SELECT name, key_kind FROM collections ORDER BY name;
    INSERT OR IGNORE INTO collections_v2 (name)
        SELECT collection FROM (SELECT collection, min(seq) AS first FROM events GROUP BY collection ORDER BY first);
    INSERT OR IGNORE INTO collections_v2 (name) SELECT DISTINCT collection FROM rows ORDER BY collection;

    CREATE TABLE events_v2 (
        seq            INTEGER PRIMARY KEY,       -- local sequence: order of arrival here
        event_id       BLOB    NOT NULL UNIQUE,   -- idempotency key: 16 UUID bytes (other ids as text)
        collection     INTEGER NOT NULL,          -- collections.id
        kind           NOT NULL,                  -- 0 insert, 1 update, 2 delete; a newer type as its text (no affinity: kept as given)
        key            TEXT    NOT NULL,          -- canonical key text (Key::text)
        payload        TEXT    NOT NULL,          -- JSON
        changes        TEXT,                      -- JSON object of changed fields (updates)
        timestamp      INTEGER NOT NULL,
        origin         INTEGER NOT NULL,          -- 0 local, 1 remote
        status         INTEGER NOT NULL,          -- 0 pending, 1 sent, 2 confirmed, 3 rejected
        applied        INTEGER NOT NULL,          -- 1 once its effect is in the confirmed state
        global_seq     INTEGER,
        reject_code    TEXT,
        reject_reason  TEXT,
        reject_cleared INTEGER NOT NULL DEFAULT 0,
        client_id      TEXT,
        schema_version INTEGER,
        prev_pending   INTEGER                    -- local events: seq of the key's previous pending event at capture
    );
    -- A local event is pending (folded over the confirmed row) while
    -- origin = 0, applied = 0 and status != 3. Pulled events enter no index
    -- but event_id; nor do local ones.
    INSERT INTO events_v2 (seq, event_id, collection, kind, key, payload, changes, timestamp, origin, status,
                           applied, global_seq, reject_code, reject_reason, reject_cleared, client_id,
                           schema_version, prev_pending)
    SELECT e.seq, e.event_id, c.id,
           CASE e.kind WHEN 'insert' THEN 0 WHEN 'update' THEN 1 WHEN 'delete' THEN 2 ELSE e.kind END,
           e.key, e.payload, e.changes, e.timestamp, e.origin, e.status, e.applied, e.global_seq,
           e.reject_code, e.reject_reason, e.reject_cleared, e.client_id, e.schema_version,
           CASE WHEN e.origin = 0 AND e.applied = 0 AND e.status != 3 THEN
             lag(e.seq) OVER (PARTITION BY e.collection, e.key, e.origin = 0 AND e.applied = 0 AND e.status != 3
                              ORDER BY e.seq)
           END
    FROM events e JOIN collections_v2 c ON c.name = e.collection
    ORDER BY e.seq;

    -- One row per key: `confirmed` is the row as the server's order makes it.
    -- While the key has pending local events (`pending` > 0, the newest is
    -- `last_pending`), the visible row is that row with them folded on top:
    -- the payload of event `visible_seq` when set (the row an insert or a
    -- whole-row update wrote, the usual case: its text is stored once, in
    -- the log), else `visible` (a merged row; NULL: deleted locally).
    -- Otherwise the visible row is `confirmed` and `visible` and
    -- `visible_seq` are NULL (stored once, not twice). Events are never
    -- deleted nor their payloads changed, so the link stays good.
    CREATE TABLE rows_v2 (
        collection   INTEGER NOT NULL,            -- collections.id
        key          TEXT    NOT NULL,
        confirmed    TEXT,
        visible      TEXT,
        pending      INTEGER NOT NULL DEFAULT 0,
        last_pending INTEGER,
        visible_seq  INTEGER,                     -- events.seq whose payload is the visible row
        PRIMARY KEY (collection, key)
    ) WITHOUT ROWID;
    INSERT INTO rows_v2 (collection, key, confirmed, visible, pending, last_pending, visible_seq)
    SELECT collection, key, confirmed, CASE WHEN visible_seq IS NULL THEN visible END,
           pending, last_pending, visible_seq
    FROM (
      SELECT x.*, (SELECT e.seq FROM events e WHERE e.seq = x.last_pending AND e.payload = x.visible)
                  AS visible_seq
      FROM (
        SELECT c.id AS collection, r.key AS key, r.confirmed AS confirmed,
               CASE WHEN p.n IS NULL THEN NULL WHEN r.overlay = 1 THEN r.visible ELSE r.confirmed END
                 AS visible,
               coalesce(p.n, 0) AS pending, p.last AS last_pending
        FROM rows r
        JOIN collections_v2 c ON c.name = r.collection
        LEFT JOIN (SELECT collection, key, count(*) AS n, max(seq) AS last FROM events
                   WHERE origin = 0 AND applied = 0 AND status != 3 GROUP BY collection, key) p
          ON p.collection = r.collection AND p.key = r.key
      ) x
    );

    DROP TABLE events;
    DROP TABLE rows;
    DROP TABLE collections;
    ALTER TABLE events_v2 RENAME TO events;
    ALTER TABLE rows_v2 RENAME TO rows;
    ALTER TABLE collections_v2 RENAME TO collections;

    -- The outbox's watermark: no local event below it is pending or sent.
    INSERT INTO meta (name, value)
    SELECT 'outbox_from', coalesce(
        (SELECT min(seq) FROM events WHERE origin = 0 AND applied = 0 AND status IN (0, 1)),
        (SELECT coalesce(max(seq), 0) + 1 FROM events))
    ON CONFLICT (name) DO UPDATE SET value = excluded.value;
    "#,
    // v3: no unique index over every event id. Pulled ids are mostly random
    // (UUIDv4 from other clients): each of a page's 1000 inserts landed on a
    // random leaf of that index, so a pull page rewrote nearly all of its
    // leaves, more with every event stored (measured: a fifth of a 100k pull).
    // - Local events keep their ids unique (`events_local_id`): a capture's
    //   retry and an own event coming back through pull are found by id.
    // - Pulled events are unique by (globalSeq, id) (`events_pulled`), which
    //   the server hands out in ascending order: appends at the index's end.
    //   A page the server repeats is ignored; two events that a broken server
    //   gave one globalSeq are both kept.
    // A server that stores another client's event twice, under two globalSeqs,
    // now has it applied twice here, as its log says (v2 skipped the second).
    r#"
    CREATE TABLE events_v3 (
        seq            INTEGER PRIMARY KEY,       -- local sequence: order of arrival here
        event_id       BLOB    NOT NULL,          -- idempotency key: 16 UUID bytes (other ids as text)
        collection     INTEGER NOT NULL,          -- collections.id
        kind           NOT NULL,                  -- 0 insert, 1 update, 2 delete; a newer type as its text (no affinity: kept as given)
        key            TEXT    NOT NULL,          -- canonical key text (Key::text)
        payload        TEXT    NOT NULL,          -- JSON
        changes        TEXT,                      -- JSON object of changed fields (updates)
        timestamp      INTEGER NOT NULL,
        origin         INTEGER NOT NULL,          -- 0 local, 1 remote
        status         INTEGER NOT NULL,          -- 0 pending, 1 sent, 2 confirmed, 3 rejected
        applied        INTEGER NOT NULL,          -- 1 once its effect is in the confirmed state
        global_seq     INTEGER,
        reject_code    TEXT,
        reject_reason  TEXT,
        reject_cleared INTEGER NOT NULL DEFAULT 0,
        client_id      TEXT,
        schema_version INTEGER,
        prev_pending   INTEGER                    -- local events: seq of the key's previous pending event at capture
    );
    -- The same columns in the same order: only the id's constraint differs.
    INSERT INTO events_v3 SELECT * FROM events ORDER BY seq;
    DROP TABLE events;
    ALTER TABLE events_v3 RENAME TO events;
    -- Every query by id names `origin` so that these partial indexes serve it.
    CREATE UNIQUE INDEX events_local_id ON events(event_id) WHERE origin = 0;
    CREATE UNIQUE INDEX events_pulled ON events(global_seq, event_id) WHERE origin = 1;
    "#,
];

/// Indexes added since the schema's last version, created at open where
/// missing. They only add, so they bump no version: an older build still
/// opens the database (SQLite keeps every index up to date, used or not).
const ADDED_INDEXES: &str = "
    -- Rejected events not yet cleared: few, yet listed and counted at every
    -- open and recounted after every round (the log itself only grows).
    CREATE INDEX IF NOT EXISTS events_rejected ON events(seq) WHERE status = 3 AND reject_cleared = 0;
";

/// Brings the database to [`LATEST`], each step in its own transaction,
/// and adds the indexes added since.
pub fn migrate(conn: &Connection) -> Result<()> {
    migrate_to(conn, LATEST)?;
    match conn.execute_batch(ADDED_INDEXES).map_err(Error::from) {
        // A database on a full device must still open, to be read: without
        // an added index every query still works, by a scan. The next open
        // tries again.
        Err(Error::StorageFull(_)) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Brings the database to `target` (tests build older versions with it).
pub(crate) fn migrate_to(conn: &Connection, target: i64) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}
