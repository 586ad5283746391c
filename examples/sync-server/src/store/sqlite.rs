//! Embedded SQLite backend.
//!
//! One writer thread owns the only write connection: pushes queue to it and
//! it commits them in order, so sequence numbers are assigned in commit order
//! without lock contention. Pushes that queue up while a commit runs are
//! committed together in one transaction (group commit), which amortizes the
//! fsync of `synchronous=FULL`. `BEGIN IMMEDIATE` and the head kept in the
//! database keep the sequence gap-free even if another process writes the
//! same file (the `compact` command). Reads use a small pool of WAL readers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::{
    fold, page_from, Backend, BoxFuture, CompactReport, Incoming, Outcome, Page, PushResult,
    ScopeInfo, StoreError, StoredEvent,
};
use crate::config::SqliteSync;

/// Most events committed in one group transaction.
const GROUP_EVENTS: usize = 4000;
/// Idle reader connections kept open.
const IDLE_READERS: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sync_scopes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    head INTEGER NOT NULL DEFAULT 0,
    compacted_through INTEGER NOT NULL DEFAULT 0
);
-- Clustered by (scope, seq): a pull is one range scan.
CREATE TABLE IF NOT EXISTS sync_events (
    scope_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS sync_events_by_id ON sync_events (scope_id, event_id);
-- Ids of events folded away by compaction: a late re-push of one is still a duplicate.
CREATE TABLE IF NOT EXISTS sync_folded (
    scope_id INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (scope_id, event_id)
) WITHOUT ROWID;
PRAGMA user_version = 1;
";

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    Push {
        scope: String,
        batch: Vec<Incoming>,
        reply: Reply<PushResult>,
    },
    Compact {
        scope: String,
        below: u64,
        reply: Reply<CompactReport>,
    },
}

/// The embedded SQLite store.
pub struct SqliteBackend {
    jobs: mpsc::Sender<Job>,
    readers: Arc<Readers>,
}

impl SqliteBackend {
    /// Opens (or creates) the database file and starts its writer thread.
    pub async fn open(path: &Path, sync: SqliteSync) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_writer(&p, sync))
            .await
            .map_err(|_| StoreError::Closed)??;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || Writer::new(conn).run(rx))
            .map_err(|_| StoreError::Closed)?;
        Ok(SqliteBackend {
            jobs,
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    async fn send<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(job(tx)).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|_| StoreError::Closed)?
    }
}

fn open_writer(path: &Path, sync: SqliteSync) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.idle.lock().expect("reader pool").pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c.pragma_update(None, "query_only", true)?;
                c
            }
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().expect("reader pool");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    scope_ids: HashMap<String, i64>,
}

impl Writer {
    fn new(conn: Connection) -> Self {
        Writer {
            conn,
            scope_ids: HashMap::new(),
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut next: Option<Job> = None;
        loop {
            let job = match next.take() {
                Some(j) => j,
                None => match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return, // the backend was dropped
                },
            };
            match job {
                Job::Compact {
                    scope,
                    below,
                    reply,
                } => {
                    let r = self.compact(&scope, below);
                    let _ = reply.send(r);
                }
                Job::Push {
                    scope,
                    batch,
                    reply,
                } => {
                    let mut events = batch.len();
                    let mut group = vec![(scope, batch, reply)];
                    while events < GROUP_EVENTS {
                        match rx.try_recv() {
                            Ok(Job::Push {
                                scope,
                                batch,
                                reply,
                            }) => {
                                events += batch.len();
                                group.push((scope, batch, reply));
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.push_group(group);
                }
            }
        }
    }

    fn push_group(&mut self, group: Vec<(String, Vec<Incoming>, Reply<PushResult>)>) {
        let batches: Vec<(&str, &[Incoming])> = group
            .iter()
            .map(|(s, b, _)| (s.as_str(), b.as_slice()))
            .collect();
        match self.transaction(&batches) {
            Ok(results) => {
                for ((_, _, reply), r) in group.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) if group.len() == 1 => {
                let (_, _, reply) = group.into_iter().next().expect("one");
                let _ = reply.send(Err(e.into()));
            }
            Err(_) => {
                // Retry one by one so each push gets its own answer.
                for (scope, batch, reply) in group {
                    let r = self.transaction(&[(&scope, &batch)]);
                    let _ = reply.send(r.map(|mut v| v.remove(0)).map_err(Into::into));
                }
            }
        }
    }

    fn transaction(
        &mut self,
        batches: &[(&str, &[Incoming])],
    ) -> rusqlite::Result<Vec<PushResult>> {
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut results = Vec::with_capacity(batches.len());
            for (scope, batch) in batches {
                let id = scope_id(&tx, &mut self.scope_ids, scope)?;
                results.push(push_batch(&tx, id, batch)?);
            }
            tx.commit()?;
            Ok(results)
        })();
        if result.is_err() {
            // A rolled-back transaction may have created scopes: forget their ids.
            self.scope_ids.clear();
        }
        result
    }

    fn compact(&mut self, scope: &str, below: u64) -> Result<CompactReport, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some((id, info)) = scope_info(&tx, scope)? else {
            return Ok(CompactReport::default());
        };
        let through = below.saturating_sub(1).min(info.head);
        if through <= info.compacted_through {
            return Ok(CompactReport {
                compacted_through: info.compacted_through,
                ..CompactReport::default()
            });
        }
        let events = read_events(&tx, id, 0, through, usize::MAX)?;
        let plan = fold::plan(&events)?;
        {
            let mut remember = tx.prepare_cached(
                "INSERT OR IGNORE INTO sync_folded (scope_id, event_id, seq)
                 SELECT scope_id, event_id, seq FROM sync_events WHERE scope_id = ?1 AND seq = ?2",
            )?;
            let mut delete =
                tx.prepare_cached("DELETE FROM sync_events WHERE scope_id = ?1 AND seq = ?2")?;
            for seq in &plan.delete {
                remember.execute(params![id, *seq as i64])?;
                delete.execute(params![id, *seq as i64])?;
            }
            let mut rewrite = tx.prepare_cached(
                "UPDATE sync_events SET body = ?3 WHERE scope_id = ?1 AND seq = ?2",
            )?;
            for e in &plan.rewrite {
                rewrite.execute(params![id, e.seq as i64, e.body])?;
            }
        }
        tx.execute(
            "UPDATE sync_scopes SET compacted_through = ?2 WHERE id = ?1",
            params![id, through as i64],
        )?;
        tx.commit()?;
        Ok(CompactReport {
            removed: plan.delete.len() as u64,
            kept: plan.kept,
            compacted_through: through,
        })
    }
}

/// The scope's id, creating the scope on its first push.
fn scope_id(
    tx: &rusqlite::Transaction<'_>,
    cache: &mut HashMap<String, i64>,
    scope: &str,
) -> rusqlite::Result<i64> {
    if let Some(id) = cache.get(scope) {
        return Ok(*id);
    }
    tx.prepare_cached("INSERT INTO sync_scopes (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([scope])?;
    let id = tx
        .prepare_cached("SELECT id FROM sync_scopes WHERE name = ?1")?
        .query_row([scope], |r| r.get(0))?;
    cache.insert(scope.to_string(), id);
    Ok(id)
}

fn push_batch(
    tx: &rusqlite::Transaction<'_>,
    scope_id: i64,
    batch: &[Incoming],
) -> rusqlite::Result<PushResult> {
    // Read the head inside the write transaction: the source of truth even
    // when another process wrote since.
    let (mut head, compacted): (i64, i64) = tx
        .prepare_cached("SELECT head, compacted_through FROM sync_scopes WHERE id = ?1")?
        .query_row([scope_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut folded =
        tx.prepare_cached("SELECT seq FROM sync_folded WHERE scope_id = ?1 AND event_id = ?2")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO sync_events (scope_id, seq, event_id, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope_id, event_id) DO NOTHING",
    )?;
    let mut find =
        tx.prepare_cached("SELECT seq FROM sync_events WHERE scope_id = ?1 AND event_id = ?2")?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for item in batch {
        let id = item.id.as_bytes().as_slice();
        // Only a compacted scope has folded ids to check.
        if compacted > 0 {
            let seq = folded
                .query_row(params![scope_id, id], |r| r.get::<_, i64>(0))
                .optional()?;
            if let Some(seq) = seq {
                outcomes.push(Outcome::Duplicate(seq as u64));
                continue;
            }
        }
        let stored =
            !item.rejected && insert.execute(params![scope_id, head + 1, id, item.body])? == 1;
        outcomes.push(if stored {
            head += 1;
            Outcome::Stored(head as u64)
        } else {
            match find
                .query_row(params![scope_id, id], |r| r.get::<_, i64>(0))
                .optional()?
            {
                Some(seq) => Outcome::Duplicate(seq as u64),
                None => Outcome::Rejected,
            }
        });
    }
    tx.prepare_cached("UPDATE sync_scopes SET head = ?2 WHERE id = ?1")?
        .execute(params![scope_id, head])?;
    Ok(PushResult {
        outcomes,
        head: head as u64,
    })
}

fn scope_info(conn: &Connection, scope: &str) -> rusqlite::Result<Option<(i64, ScopeInfo)>> {
    conn.prepare_cached("SELECT id, head, compacted_through FROM sync_scopes WHERE name = ?1")?
        .query_row([scope], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                ScopeInfo {
                    head: r.get::<_, i64>(1)? as u64,
                    compacted_through: r.get::<_, i64>(2)? as u64,
                },
            ))
        })
        .optional()
}

/// Events with `after < seq <= through`, ascending, at most `limit`.
fn read_events(
    conn: &Connection,
    scope_id: i64,
    after: u64,
    through: u64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, body FROM sync_events WHERE scope_id = ?1 AND seq > ?2 AND seq <= ?3
         ORDER BY seq LIMIT ?4",
    )?;
    let clamp = |v: u64| v.min(i64::MAX as u64) as i64;
    let rows = stmt.query_map(
        params![scope_id, clamp(after), clamp(through), clamp(limit as u64)],
        |r| {
            Ok(StoredEvent {
                seq: r.get::<_, i64>(0)? as u64,
                body: r.get(1)?,
            })
        },
    )?;
    rows.collect()
}

impl Backend for SqliteBackend {
    fn push<'a>(
        &'a self,
        scope: &'a str,
        batch: Vec<Incoming>,
    ) -> BoxFuture<'a, Result<PushResult, StoreError>> {
        Box::pin(self.send(move |reply| Job::Push {
            scope: scope.to_string(),
            batch,
            reply,
        }))
    }

    fn pull<'a>(
        &'a self,
        scope: &'a str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        let scope = scope.to_string();
        Box::pin(self.read(move |conn| {
            // One read transaction: the scope row and the events agree.
            let tx = conn.unchecked_transaction()?;
            let Some((id, info)) = scope_info(&tx, &scope)? else {
                return Ok(Page::default());
            };
            let events = read_events(&tx, id, after, u64::MAX, limit.saturating_add(1))?;
            Ok(page_from(events, limit, info))
        }))
    }

    fn compact<'a>(
        &'a self,
        scope: &'a str,
        below: u64,
    ) -> BoxFuture<'a, Result<CompactReport, StoreError>> {
        Box::pin(self.send(move |reply| Job::Compact {
            scope: scope.to_string(),
            below,
            reply,
        }))
    }

    fn scopes(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT name FROM sync_scopes ORDER BY name")?;
            let names = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(names)
        }))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        }))
    }
}
