//! Versioned migrations (`PRAGMA user_version`) and connection settings.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The newest schema this build writes.
pub const LATEST: i64 = 1;

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
];

/// Brings the database to [`LATEST`], each step in its own transaction.
pub fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}
