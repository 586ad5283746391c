//! The one SQLite database of an app: the event log, the row state, the
//! cursor and the client id. Every method takes `&self` and finishes its
//! transaction before it returns, so the sync engine may hold `&Store` across
//! network awaits while captures go on (one thread, no locks).

mod capture;
mod doc;
mod ids;
mod outbox;
mod query;
mod replay;
mod rows;
pub(crate) mod schema;

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::{new_event_id, Environment};
use crate::error::{Error, Result};
use crate::model::RowJson;

pub use outbox::PushOutcome;
pub use replay::{ReplayOutcome, Unrecognized};

/// How SQLite journals writes. A write is durable when `capture` returns, so
/// every mode runs with `synchronous = FULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Journal {
    /// Write-ahead log: the fastest durable mode on a native file system.
    #[default]
    Wal,
    /// Rollback journal kept between transactions: the fastest durable mode
    /// where WAL is unavailable (OPFS sahpool has no shared memory), about 7x
    /// the commits per second of the default `DELETE` journal there.
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
}

/// One row of the visible state, for hydrating a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisibleRow {
    /// The key, in the collection's key type.
    pub key: Value,
    /// The row, as stored JSON.
    pub value: RowJson,
}

/// The event store. See the module docs.
pub struct Store {
    conn: Connection,
    env: Box<dyn Environment>,
    client_id: String,
    config: StoreConfig,
    key_kinds: RefCell<HashMap<String, KeyKind>>,
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
        let mode: String =
            conn.query_row(&format!("PRAGMA journal_mode = {journal}"), [], |r| {
                r.get(0)
            })?;
        if config.journal == Journal::Wal
            && !mode.eq_ignore_ascii_case("wal")
            && !mode.eq_ignore_ascii_case("memory")
        {
            // The VFS cannot do WAL: fall back to the best rollback journal.
            conn.query_row("PRAGMA journal_mode = PERSIST", [], |r| {
                r.get::<_, String>(0)
            })?;
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384;",
        )?;
        schema::migrate(&conn)?;

        let store = Store {
            conn,
            env,
            client_id: String::new(),
            config,
            key_kinds: RefCell::new(HashMap::new()),
        };
        let client_id = match store.meta("client_id")? {
            Some(id) => id,
            None => {
                let id = new_event_id(&*store.env);
                store.set_meta("client_id", &id)?;
                id
            }
        };
        store.load_key_kinds()?;
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

    fn load_key_kinds(&self) -> Result<()> {
        for def in &self.config.collections {
            if def.key_kind != KeyKind::Unknown {
                self.conn.execute(
                    "INSERT INTO collections (name, key_kind) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET key_kind = excluded.key_kind",
                    params![def.name, def.key_kind.as_str()],
                )?;
            }
        }
        let mut kinds = self.key_kinds.borrow_mut();
        let mut stmt = self
            .conn
            .prepare("SELECT name, key_kind FROM collections")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (name, kind) = row?;
            kinds.insert(name, KeyKind::parse(&kind));
        }
        Ok(())
    }

    /// Records a collection's key kind the first time a typed key is seen.
    fn learn_key_kind(&self, collection: &str, key: &Value) -> Result<()> {
        let kind = KeyKind::of(key);
        if kind == KeyKind::Unknown || self.key_kinds.borrow().contains_key(collection) {
            return Ok(());
        }
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO collections (name, key_kind) VALUES (?1, ?2)")?
            .execute(params![collection, kind.as_str()])?;
        self.key_kinds
            .borrow_mut()
            .insert(collection.to_string(), kind);
        Ok(())
    }

    /// The typed key of a key text, by the collection's key kind.
    pub(crate) fn key_value(&self, collection: &str, key: &str) -> Value {
        match self.key_kinds.borrow().get(collection) {
            Some(KeyKind::Number) => match serde_json::from_str::<serde_json::Number>(key) {
                Ok(n) => Value::Number(n),
                Err(_) => Value::String(key.to_string()),
            },
            _ => Value::String(key.to_string()),
        }
    }
}
