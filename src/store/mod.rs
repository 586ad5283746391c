//! The one SQLite database of an app: the event log, the row state, the
//! cursor and the client id. Every method takes `&self` and finishes its
//! transaction before it returns, so the sync engine may hold `&Store` across
//! network awaits while captures go on (one thread, no locks).

mod batch;
mod capture;
mod doc;
mod ids;
mod kind;
mod outbox;
mod query;
mod replay;
mod rows;
pub(crate) mod schema;
mod status;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::{new_event_id, Environment};
use crate::error::{Error, Result};
use crate::model::{LogCounts, RowJson};

pub use outbox::PushOutcome;
pub use query::{PageShape, VisibleRowsPage};
pub use replay::{ReplayOutcome, Unrecognized};

/// How SQLite journals writes. A capture is durable when it returns, so
/// every mode runs with `synchronous = FULL`; in WAL mode only a pulled page
/// commits unsynced (see `Store::write_refetchable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Journal {
    /// Write-ahead log: the fastest durable mode, natively and on OPFS
    /// (where sahpool has no shared memory, the connection's exclusive
    /// locking mode keeps the WAL index in heap memory): one sync per
    /// commit against four or five for a rollback journal.
    #[default]
    Wal,
    /// Rollback journal kept between transactions, for a VFS that cannot do
    /// WAL: about 7x the commits per second of the default `DELETE` journal
    /// on OPFS.
    Persist,
    /// Journal in memory: only for in-memory databases, where there is
    /// nothing to make durable.
    Memory,
}

/// The type of a collection's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Not declared and not seen yet: keys are returned as they came.
    #[default]
    Unknown,
    /// String keys.
    String,
    /// Numeric keys: a key a server stringified (`"5"`) maps back to `5`.
    Number,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::Unknown => "unknown",
            KeyKind::String => "string",
            KeyKind::Number => "number",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "string" => KeyKind::String,
            "number" => KeyKind::Number,
            _ => KeyKind::Unknown,
        }
    }

    fn of(key: &Value) -> Self {
        match key {
            Value::Number(_) => KeyKind::Number,
            Value::String(_) => KeyKind::String,
            _ => KeyKind::Unknown,
        }
    }
}

/// A collection the app declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectionDef {
    /// The collection's name (the events' `collectionId`).
    pub name: String,
    /// Its key type, if the app knows it; otherwise learned from captured keys.
    #[serde(default)]
    pub key_kind: KeyKind,
}

/// How to open a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct StoreConfig {
    /// The collections the app declares. Pulled events of other collections
    /// are kept and reported. Empty: every collection counts as known.
    pub collections: Vec<CollectionDef>,
    /// The app's schema version, stamped on every captured event.
    pub schema_version: u32,
    /// Journal mode.
    pub journal: Journal,
    /// SQLite's page cache, in KiB; `None`: 16 MiB. A browser worker keeps
    /// its wasm memory at its high-water mark for good, so it sets less.
    pub cache_kib: Option<u32>,
}

/// One row of the visible state, for hydrating a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisibleRow {
    /// The key, in the collection's key type.
    pub key: Value,
    /// The row, as stored JSON.
    pub value: RowJson,
}

/// The collections this database has seen, by name and by id (the events and
/// rows store the id), with their key kinds. Mirrors the `collections` table;
/// reloaded from it whenever a write transaction fails.
#[derive(Debug, Default)]
struct Collections {
    by_name: HashMap<String, (i64, KeyKind)>,
    by_id: HashMap<i64, (String, KeyKind)>,
}

impl Collections {
    fn insert(&mut self, id: i64, name: &str, kind: KeyKind) {
        self.by_name.insert(name.to_string(), (id, kind));
        self.by_id.insert(id, (name.to_string(), kind));
    }
}

/// The event store. See the module docs.
pub struct Store {
    conn: Connection,
    env: Box<dyn Environment>,
    client_id: String,
    config: StoreConfig,
    collections: RefCell<Collections>,
    /// The connection journals to a WAL (see `write_refetchable`).
    wal: bool,
    /// The counts last read, with the connection's change count then. Valid
    /// while nothing else wrote: a capture moves them on itself, so a status
    /// display costs O(1) per write instead of a scan of the pending events.
    counts: Cell<Option<(u64, LogCounts)>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) a database file with the default VFS.
    pub fn open(path: &str, config: StoreConfig, env: Box<dyn Environment>) -> Result<Store> {
        let conn = Connection::open(path)
            .map_err(|e| Error::StorageUnavailable(format!("{path}: {e}")))?;
        Store::from_connection(conn, config, env)
    }

    /// Opens a fresh in-memory database (Node, tests, or an app that asks
    /// for no persistence).
    pub fn open_in_memory(mut config: StoreConfig, env: Box<dyn Environment>) -> Result<Store> {
        config.journal = Journal::Memory;
        let conn = Connection::open_in_memory()?;
        Store::from_connection(conn, config, env)
    }

    /// Takes over an open connection (the wasm layer opens it on its OPFS
    /// VFS), applies the settings and migrations, and loads the client id.
    pub fn from_connection(
        conn: Connection,
        config: StoreConfig,
        env: Box<dyn Environment>,
    ) -> Result<Store> {
        let journal = match config.journal {
            Journal::Wal => "WAL",
            Journal::Persist => "PERSIST",
            Journal::Memory => "MEMORY",
        };
        // synchronous=FULL: a captured write survives power loss once capture
        // returns. foreign_keys is irrelevant; temp_store in memory avoids
        // extra files (each file is a pool slot on OPFS).
        // 8 KiB pages for a new database (an existing one keeps its size):
        // half the page splits of the default 4 KiB for rows of a few hundred
        // bytes (measured: 7% fewer instructions and about 10% more events/s
        // for the same inserts). Set before WAL, which fixes the size.
        conn.execute_batch("PRAGMA page_size = 8192")?;
        let mode: String =
            conn.query_row(&format!("PRAGMA journal_mode = {journal}"), [], |r| {
                r.get(0)
            })?;
        let wal = mode.eq_ignore_ascii_case("wal");
        if config.journal == Journal::Wal && !wal && !mode.eq_ignore_ascii_case("memory") {
            // The VFS cannot do WAL: fall back to the best rollback journal.
            conn.query_row("PRAGMA journal_mode = PERSIST", [], |r| {
                r.get::<_, String>(0)
            })?;
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{};",
            config.cache_kib.unwrap_or(16_384)
        ))?;
        // Room for every hot statement, the multi-row ones in their few
        // sizes included (`batch`), so none is prepared twice.
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&conn)?;

        let store = Store {
            conn,
            env,
            client_id: String::new(),
            config,
            collections: RefCell::new(Collections::default()),
            wal,
            counts: Cell::new(None),
        };
        let client_id = match store.meta("client_id")? {
            Some(id) => id,
            None => {
                let id = new_event_id(&*store.env);
                store.set_meta("client_id", &id)?;
                id
            }
        };
        store.declare_key_kinds()?;
        store.load_collections()?;
        Ok(Store { client_id, ..store })
    }

    /// This device's id, minted on first open and stamped on its events.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The pull cursor (`"0"` before the first pull).
    pub fn cursor(&self) -> Result<String> {
        Ok(self.meta("cursor")?.unwrap_or_else(|| "0".to_string()))
    }

    /// Closes the database, reporting any error of the final close.
    pub fn close(self) -> Result<()> {
        self.conn.close().map_err(|(_, e)| e.into())
    }

    /// The environment (clock, randomness).
    pub fn env(&self) -> &dyn Environment {
        &*self.env
    }

    /// Whether pulled events of `collection` belong to a declared collection.
    pub(crate) fn is_known(&self, collection: &str) -> bool {
        self.config.collections.is_empty()
            || self.config.collections.iter().any(|c| c.name == collection)
    }

    /// Runs `f` in one transaction and commits it. On any error the
    /// transaction rolls back and the in-memory copy of the `collections`
    /// table is reloaded, so that it never names a row the rollback removed.
    ///
    /// `BEGIN` and `COMMIT` come from the statement cache: rusqlite's own
    /// transaction parses both again for every write, a capture included.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let open = OpenTransaction::begin(&self.conn)?;
        let out = f(&self.conn).and_then(|v| {
            open.commit()?;
            Ok(v)
        });
        if out.is_err() {
            // The transaction is rolled back by now (failed, or dropped open).
            let _ = self.load_collections();
        }
        out
    }

    /// A write that a power cut may take back without harm, because it is
    /// fetched again: a pulled page with its cursor. In WAL mode it commits
    /// without waiting for the disk (`synchronous = NORMAL`: the file stays
    /// consistent and the page goes with its cursor, so it is pulled again);
    /// the next durable commit's sync covers it. Otherwise a plain `write`.
    fn write_refetchable<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if !self.wal {
            return self.write(f);
        }
        self.conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        let out = self.write(f);
        // Captures must never commit unsynced: fail loudly if this does.
        self.conn.execute_batch("PRAGMA synchronous = FULL")?;
        out
    }

    /// Moves everything in the WAL into the database file and empties the
    /// WAL (a no-op without one). For idle moments: a WAL left behind by a
    /// tab that closed without `close` is read whole at the next open.
    pub fn checkpoint(&self) -> Result<()> {
        if self.wal {
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    fn meta(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")?
            .execute(params![name, value])?;
        Ok(())
    }

    /// The outbox watermark: no local event below this seq is pending or sent.
    fn outbox_from(&self) -> Result<i64> {
        Ok(self
            .meta("outbox_from")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Moves the outbox watermark up to the oldest local event still pending
    /// or sent (or past the end of the log). Scans from the old watermark, so
    /// over the life of the log each event is passed once.
    fn advance_outbox(&self) -> Result<()> {
        let from = self.outbox_from()?;
        let next: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(
                    (SELECT seq FROM events WHERE seq >= ?1 AND origin = 0 AND applied = 0 AND status IN (0, 1)
                     ORDER BY seq LIMIT 1),
                    (SELECT coalesce(max(seq), 0) + 1 FROM events))",
            )?
            .query_row([from], |r| r.get(0))?;
        if next != from {
            self.set_meta("outbox_from", &next.to_string())?;
        }
        Ok(())
    }

    /// Stores the key kinds the app declares (they override learned ones).
    fn declare_key_kinds(&self) -> Result<()> {
        for def in &self.config.collections {
            if def.key_kind != KeyKind::Unknown {
                self.conn.execute(
                    "INSERT INTO collections (name, key_kind) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET key_kind = excluded.key_kind",
                    params![def.name, def.key_kind.as_str()],
                )?;
            }
        }
        Ok(())
    }

    fn load_collections(&self) -> Result<()> {
        let mut all = Collections::default();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name, key_kind FROM collections")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let name: String = r.get(1)?;
            all.insert(r.get(0)?, &name, KeyKind::parse(&r.get::<_, String>(2)?));
        }
        *self.collections.borrow_mut() = all;
        Ok(())
    }

    /// The id of a collection, registering it on first sight (inside the
    /// caller's transaction: see [`Store::write`]).
    pub(crate) fn collection_id(&self, name: &str) -> Result<i64> {
        if let Some(&(id, _)) = self.collections.borrow().by_name.get(name) {
            return Ok(id);
        }
        self.conn
            .prepare_cached("INSERT INTO collections (name) VALUES (?1)")?
            .execute([name])?;
        let id = self.conn.last_insert_rowid();
        self.collections
            .borrow_mut()
            .insert(id, name, KeyKind::Unknown);
        Ok(id)
    }

    /// The id of a collection if it was ever seen.
    pub(crate) fn find_collection(&self, name: &str) -> Option<i64> {
        self.collections.borrow().by_name.get(name).map(|c| c.0)
    }

    /// A collection's name by id.
    pub(crate) fn collection_name(&self, id: i64) -> String {
        self.collections
            .borrow()
            .by_id
            .get(&id)
            .map(|c| c.0.clone())
            .unwrap_or_default()
    }

    /// Records a collection's key kind the first time a typed key is seen.
    fn learn_key_kind(&self, collection: i64, key: &Value) -> Result<()> {
        let kind = KeyKind::of(key);
        if kind == KeyKind::Unknown {
            return Ok(());
        }
        let name = {
            let all = self.collections.borrow();
            match all.by_id.get(&collection) {
                Some((name, KeyKind::Unknown)) => name.clone(),
                _ => return Ok(()),
            }
        };
        self.conn
            .prepare_cached(
                "UPDATE collections SET key_kind = ?2 WHERE id = ?1 AND key_kind = 'unknown'",
            )?
            .execute(params![collection, kind.as_str()])?;
        self.collections
            .borrow_mut()
            .insert(collection, &name, kind);
        Ok(())
    }

    /// The typed key of a key text, by the collection's key kind.
    pub(crate) fn key_value(&self, collection: i64, key: &str) -> Value {
        match self.collections.borrow().by_id.get(&collection) {
            Some((_, KeyKind::Number)) => match serde_json::from_str::<serde_json::Number>(key) {
                Ok(n) => Value::Number(n),
                Err(_) => Value::String(key.to_string()),
            },
            _ => Value::String(key.to_string()),
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::env::SystemEnvironment;

    /// A store on a new file in `dir` (WAL, as `Store::open` sets it up).
    fn file_store(dir: &tempfile::TempDir) -> Store {
        let path = dir.path().join("db");
        Store::open(
            path.to_str().unwrap(),
            StoreConfig::default(),
            Box::new(SystemEnvironment),
        )
        .unwrap()
    }

    fn synchronous(store: &Store) -> i64 {
        store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_checkpoint_empties_the_wal_and_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir);
        let rows: Vec<crate::model::Mutation> = (0..100)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "collection": "todos", "type": "insert", "key": format!("k{i}"), "modified": {"id": format!("k{i}")},
                }))
                .unwrap()
            })
            .collect();
        store.capture(rows).unwrap();
        let wal = dir.path().join("db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        store.checkpoint().unwrap();
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
        assert_eq!(store.visible_rows("todos").unwrap().len(), 100);
        assert_eq!(store.counts().unwrap().pending, 100);
        // Without a WAL it is a no-op.
        Store::open_in_memory(StoreConfig::default(), Box::new(SystemEnvironment))
            .unwrap()
            .checkpoint()
            .unwrap();
    }

    /// SQLite's plan for `sql`, one line per step.
    fn plan(store: &Store, sql: &str, params: &[&dyn rusqlite::ToSql]) -> String {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt.query_map(params, |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn lookups_by_event_id_global_seq_or_key_range_search_an_index_never_the_log() {
        let store =
            Store::open_in_memory(StoreConfig::default(), Box::new(SystemEnvironment)).unwrap();
        let id: &dyn rusqlite::ToSql = &[7u8; 16].to_vec();
        let cases: [(&str, String, Vec<&dyn rusqlite::ToSql>); 6] = [
            (
                "events_local_id",
                format!("{} (?, ?)", replay::OWN_EVENTS_BY_ID),
                vec![id, id],
            ),
            (
                "events_local_id",
                format!("{} (?, ?)", capture::RETRIED_IDS),
                vec![id, id],
            ),
            (
                "events_local_id",
                replay::SETTLE_OWN.to_string(),
                vec![id, &3],
            ),
            (
                "events_pulled",
                format!("{} (?, ?)", replay::PULLED_BY_GLOBAL_SEQ),
                vec![&9, &1, &2],
            ),
            // Each end of the local ids' range is one read of the index.
            ("events_local_id", ids::LOCAL_ID_RANGE.to_string(), vec![]),
            // The keys between two keys: a range of the row table's key.
            (
                "PRIMARY KEY",
                rows::KEYS_IN_RANGE.to_string(),
                vec![&1, &"a", &"b", &10],
            ),
        ];
        for (index, sql, params) in cases {
            let plan = plan(&store, &sql, &params);
            // (A `SELECT` of subqueries alone scans its one constant row.)
            let scans = plan
                .lines()
                .any(|l| l.contains("SCAN") && l != "SCAN CONSTANT ROW");
            assert!(plan.contains(index) && !scans, "{sql}\n{plan}");
        }
    }

    #[test]
    fn the_rejections_and_the_counts_read_no_more_of_the_log_than_its_rejected_events() {
        let store =
            Store::open_in_memory(StoreConfig::default(), Box::new(SystemEnvironment)).unwrap();
        for (sql, params) in [
            (query::REJECTIONS, vec![]),
            (query::COUNTS, vec![&1 as &dyn rusqlite::ToSql]),
        ] {
            let plan = plan(&store, sql, &params);
            // A scan of the partial index reads the rejected events only.
            let scans_log = plan.lines().any(|l| {
                l.contains("SCAN") && l != "SCAN CONSTANT ROW" && !l.contains("events_rejected")
            });
            assert!(
                plan.contains("events_rejected") && !scans_log,
                "{sql}\n{plan}"
            );
        }
    }

    #[test]
    fn a_v3_database_gains_the_rejected_events_index_with_its_rejections_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        schema::migrate_to(&conn, 3).unwrap();
        // Two of this device's events, rejected before the index existed; one cleared.
        conn.execute_batch(
            r#"
            INSERT INTO collections (id, name, key_kind) VALUES (1, 'todos', 'string');
            INSERT INTO events (seq, event_id, collection, kind, key, payload, timestamp, origin, status, applied, reject_code, reject_reason, reject_cleared)
              VALUES (1, x'0190a000000070008000000000000001', 1, 0, 'a', '{"id":"a"}', 1, 0, 3, 1, 'conflict', 'taken', 0),
                     (2, x'0190a000000070008000000000000002', 1, 0, 'b', '{"id":"b"}', 2, 0, 3, 1, 'conflict', 'taken', 1),
                     (3, x'0190a000000070008000000000000003', 1, 0, 'c', '{"id":"c"}', 3, 0, 2, 1, NULL, NULL, 0);
            "#,
        )
        .unwrap();
        drop(conn);
        let store = file_store(&dir);
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let indexed: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM events INDEXED BY events_rejected WHERE status = 3 AND reject_cleared = 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        // An added index bumps no version: an older build still opens the database.
        assert_eq!((version, indexed), (schema::LATEST, 1));
        let rejected: Vec<String> = store
            .rejections()
            .unwrap()
            .into_iter()
            .map(|r| r.event_id)
            .collect();
        assert_eq!(rejected, ["0190a000-0000-7000-8000-000000000001"]);
        assert_eq!(store.counts().unwrap().rejected, 1);
        // Cleared: out of the index, the list and the count.
        assert!(store
            .clear_rejection("0190a000-0000-7000-8000-000000000001")
            .unwrap());
        assert!(store.rejections().unwrap().is_empty());
        assert_eq!(store.counts().unwrap().rejected, 0);
    }

    #[test]
    fn a_database_on_a_full_device_opens_without_the_added_index_and_gains_it_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        schema::migrate_to(&conn, schema::LATEST).unwrap();
        conn.execute_batch(
            r#"
            INSERT INTO collections (id, name, key_kind) VALUES (1, 'todos', 'string');
            INSERT INTO events (seq, event_id, collection, kind, key, payload, timestamp, origin, status, applied, reject_code, reject_reason)
              VALUES (1, x'0190a000000070008000000000000001', 1, 0, 'a', '{"id":"a"}', 1, 0, 3, 1, 'conflict', 'taken');
            "#,
        )
        .unwrap();
        // No free page (the migrations dropped tables) and no room for one
        // more: the index cannot be created.
        conn.execute_batch("VACUUM").unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
        let has_index = |store: &Store| -> bool {
            store
                .conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'events_rejected'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap()
                == 1
        };
        let store =
            Store::from_connection(conn, StoreConfig::default(), Box::new(SystemEnvironment))
                .unwrap();
        assert!(!has_index(&store));
        // The queries still answer, by a scan.
        assert_eq!(store.rejections().unwrap().len(), 1);
        assert_eq!(store.counts().unwrap().rejected, 1);
        drop(store);
        let store = file_store(&dir);
        assert!(has_index(&store));
        assert_eq!(store.rejections().unwrap().len(), 1);
    }

    #[test]
    fn a_v2_database_migrates_to_v3_with_its_log_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db")).unwrap();
        schema::migrate_to(&conn, 2).unwrap();
        // A remote event (applied) and this device's pending insert of `l`.
        conn.execute_batch(
            r#"
            INSERT INTO collections (id, name, key_kind) VALUES (1, 'todos', 'string');
            INSERT INTO events (seq, event_id, collection, kind, key, payload, timestamp, origin, status, applied, global_seq)
              VALUES (1, x'0190a000000070008000000000000001', 1, 0, 'r', '{"id":"r"}', 1, 1, 2, 1, 1);
            INSERT INTO events (seq, event_id, collection, kind, key, payload, timestamp, origin, status, applied)
              VALUES (2, x'0190a000000070008000000000000002', 1, 0, 'l', '{"id":"l"}', 2, 0, 0, 0);
            INSERT INTO rows (collection, key, confirmed, pending, last_pending, visible_seq)
              VALUES (1, 'r', '{"id":"r"}', 0, NULL, NULL), (1, 'l', NULL, 1, 2, 2);
            INSERT INTO meta (name, value) VALUES ('cursor', '1')
              ON CONFLICT (name) DO UPDATE SET value = excluded.value;
            "#,
        )
        .unwrap();
        drop(conn);
        let store = file_store(&dir);
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::LATEST);
        let keys: Vec<String> = store
            .visible_rows("todos")
            .unwrap()
            .iter()
            .map(|r| r.key.to_string())
            .collect();
        assert_eq!(keys, ["\"l\"", "\"r\""]);
        assert_eq!(
            (
                store.counts().unwrap().pending,
                store.counts().unwrap().total
            ),
            (1, 2)
        );
        // The pending event comes back through pull: found by id, settled, not stored again.
        let page: crate::protocol::PullResponse = serde_json::from_value(serde_json::json!({
            "events": [{"globalSeq": 2, "eventId": "0190a000-0000-7000-8000-000000000002",
                        "collectionId": "todos", "type": "insert", "key": "l", "payload": {"id": "l"}, "timestamp": 2}],
            "cursor": "2", "hasMore": false,
        }))
        .unwrap();
        let out = store.apply_pull(page).unwrap();
        assert_eq!(out.settled, 1);
        assert_eq!(
            (
                store.counts().unwrap().pending,
                store.counts().unwrap().total
            ),
            (0, 2)
        );
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_no_open_transaction() {
        let store =
            Store::open_in_memory(StoreConfig::default(), Box::new(SystemEnvironment)).unwrap();
        let meta = |store: &Store| store.meta("probe").unwrap();
        let failed: Result<()> = store.write(|tx| {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES ('probe', 'half')",
                [],
            )?;
            Err(Error::Storage("boom".into()))
        });
        assert!(failed.is_err());
        assert!(store.conn.is_autocommit(), "rolled back, not left open");
        assert_eq!(meta(&store), None, "the half-done write is gone");
        store
            .write(|tx| {
                Ok(tx.execute(
                    "INSERT INTO meta (name, value) VALUES ('probe', 'whole')",
                    [],
                )?)
            })
            .unwrap();
        assert_eq!(meta(&store).as_deref(), Some("whole"));
    }

    #[test]
    fn only_refetchable_writes_commit_unsynced_and_only_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir);
        assert!(store.wal);
        const FULL: i64 = 2;
        const NORMAL: i64 = 1;
        assert_eq!(synchronous(&store), FULL);
        let inside = store
            .write_refetchable(|_| Ok(synchronous(&store)))
            .unwrap();
        assert_eq!(inside, NORMAL);
        assert_eq!(synchronous(&store), FULL, "captures stay durable");
        let failed: Result<()> = store.write_refetchable(|_| Err(Error::Storage("boom".into())));
        assert!(failed.is_err());
        assert_eq!(
            synchronous(&store),
            FULL,
            "restored after a failed write too"
        );
        assert_eq!(store.write(|_| Ok(synchronous(&store))).unwrap(), FULL);

        // A rollback journal has no safe unsynced commit: it stays FULL.
        let persist = StoreConfig {
            journal: Journal::Persist,
            ..StoreConfig::default()
        };
        let path = dir.path().join("persist");
        let store =
            Store::open(path.to_str().unwrap(), persist, Box::new(SystemEnvironment)).unwrap();
        assert!(!store.wal);
        assert_eq!(
            store
                .write_refetchable(|_| Ok(synchronous(&store)))
                .unwrap(),
            FULL
        );
    }
}

/// A transaction begun with the cached `BEGIN`: rolled back when dropped
/// before [`OpenTransaction::commit`] (an error or a panic inside it).
struct OpenTransaction<'c> {
    conn: &'c Connection,
}

impl<'c> OpenTransaction<'c> {
    fn begin(conn: &'c Connection) -> Result<Self> {
        conn.prepare_cached("BEGIN")?.execute([])?;
        Ok(OpenTransaction { conn })
    }

    fn commit(self) -> Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        // After a COMMIT there is nothing open; after a failed one SQLite
        // may have rolled back itself.
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
