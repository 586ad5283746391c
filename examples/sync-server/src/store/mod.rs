//! The event store: one ordered, gap-free stream per scope.
//!
//! Two backends implement [`Backend`]: embedded SQLite ([`sqlite`]) and
//! PostgreSQL ([`postgres`]). Events are stored as their canonical JSON text
//! so that pull splices them into the response without re-parsing.

pub mod fold;
pub mod postgres;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
use uuid::Uuid;

use crate::config::Config;
use crate::config::Database;
use crate::heads::Heads;

/// A boxed `Send` future, so backends can be used as `dyn Backend`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage failure. Answered as a transient `503`; the client retries.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Postgres failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database file or its folder could not be created.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// No Postgres connection could be had.
    #[error("postgres pool: {0}")]
    Pool(String),
    /// The store is shutting down or its worker is gone.
    #[error("the store is closed")]
    Closed,
    /// A stored event could not be read back.
    #[error("corrupt stored event at seq {seq}: {message}")]
    Corrupt {
        /// The event's sequence number.
        seq: u64,
        /// What went wrong.
        message: String,
    },
}

/// One event of a push, already parsed and checked.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The idempotency key.
    pub id: Uuid,
    /// The canonical JSON to store.
    pub body: String,
    /// Set when a validator refused the event: it is stored only if it was
    /// already (then it is confirmed as a duplicate).
    pub rejected: bool,
}

/// What happened to one [`Incoming`] event, in batch order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Newly stored at this sequence number.
    Stored(u64),
    /// Already stored (earlier or earlier in this batch) at this sequence number.
    Duplicate(u64),
    /// Refused by a validator and not stored.
    Rejected,
}

/// The result of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    /// One outcome per incoming event, in order.
    pub outcomes: Vec<Outcome>,
    /// The scope's last sequence number after the push.
    pub head: u64,
}

/// A stored event: its sequence number and canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the scope's order.
    pub seq: u64,
    /// The event as stored (a serialized `protocol::Event`).
    pub body: String,
}

/// A page of a scope's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Events after the requested sequence number, ascending.
    pub events: Vec<StoredEvent>,
    /// More events follow the page.
    pub has_more: bool,
    /// The scope's state when the page was read.
    pub info: ScopeInfo,
}

/// Where a scope's log stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeInfo {
    /// The last assigned sequence number (0: empty).
    pub head: u64,
    /// Events at or below this sequence number may have been folded away by
    /// compaction; pulling from an older cursor answers `410 Gone`.
    pub compacted_through: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Events removed.
    pub removed: u64,
    /// Events kept (the latest of each row below the point).
    pub kept: u64,
    /// The scope's compaction point afterwards.
    pub compacted_through: u64,
}

/// An event store. Every method is per scope; scopes never see each other.
pub trait Backend: Send + Sync + 'static {
    /// Stores a batch in order, assigning each new event the next sequence
    /// number of the scope, atomically: all of it or none of it.
    fn push<'a>(
        &'a self,
        scope: &'a str,
        batch: Vec<Incoming>,
    ) -> BoxFuture<'a, Result<PushResult, StoreError>>;

    /// Up to `limit` events with a sequence number above `after`.
    fn pull<'a>(
        &'a self,
        scope: &'a str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page, StoreError>>;

    /// Folds the events of each row below `below` into the row's latest event
    /// (see [`fold`]), remembers the ids of the removed events (so a late
    /// re-push of one is still a duplicate) and records the compaction point
    /// `below - 1` (capped at the head).
    fn compact<'a>(
        &'a self,
        scope: &'a str,
        below: u64,
    ) -> BoxFuture<'a, Result<CompactReport, StoreError>>;

    /// The names of all scopes that have a log.
    fn scopes(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// Checks that the store answers (for `/healthz`).
    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Forwards commits made by other server instances on the same database
    /// to `heads` until `stop` turns `true`, so their live tails wake too.
    /// The default does nothing: an embedded SQLite file has one server.
    fn forward_commits(&self, heads: Heads, stop: watch::Receiver<bool>) {
        let _ = (heads, stop);
    }
}

/// Opens the configured store, creating its schema when missing.
pub async fn open(config: &Config) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(match &config.database {
        Database::Sqlite(path) => {
            Arc::new(sqlite::SqliteBackend::open(path, config.sqlite_sync).await?)
        }
        Database::Postgres(url) => {
            Arc::new(postgres::PostgresBackend::connect(url, config.postgres_pool_size).await?)
        }
    })
}

/// A page from `limit + 1` rows read: the extra row only tells that more
/// follow, without counting.
pub(crate) fn page_from(mut events: Vec<StoredEvent>, limit: usize, info: ScopeInfo) -> Page {
    let has_more = events.len() > limit;
    events.truncate(limit);
    Page {
        events,
        has_more,
        info,
    }
}
