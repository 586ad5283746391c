//! PostgreSQL backend.
//!
//! Writers of one scope are serialized by locking the scope's row
//! (`SELECT … FOR UPDATE`) for the whole push transaction: the head is read,
//! advanced and written under that lock, so sequence numbers are gap-free and
//! follow commit order across any number of server instances. Each batch is
//! inserted with one `UNNEST` statement.
//!
//! The tables go into the first schema of the connection's `search_path`, so
//! `?options=-csearch_path%3Dmy_schema` in the URL picks a schema.
//!
//! A push that stores events also sends `NOTIFY` (delivered on commit); every
//! server instance `LISTEN`s, so live tails wake whichever instance took the push.

use std::collections::HashMap;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::{stream, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

use crate::heads::Heads;

use super::{
    fold, page_from, Backend, BoxFuture, CompactReport, Incoming, Outcome, Page, PushResult,
    ScopeInfo, StoreError, StoredEvent,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sync_scopes (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    head BIGINT NOT NULL DEFAULT 0,
    compacted_through BIGINT NOT NULL DEFAULT 0
);
-- body is TEXT, not JSONB: pull splices it as is, and JSONB would refuse \\u0000.
CREATE TABLE IF NOT EXISTS sync_events (
    scope_id BIGINT NOT NULL REFERENCES sync_scopes (id),
    seq BIGINT NOT NULL,
    event_id UUID NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope_id, seq),
    UNIQUE (scope_id, event_id)
);
-- Ids of events folded away by compaction: a late re-push of one is still a duplicate.
CREATE TABLE IF NOT EXISTS sync_folded (
    scope_id BIGINT NOT NULL REFERENCES sync_scopes (id),
    event_id UUID NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (scope_id, event_id)
);
";

/// Serializes concurrent schema creation (CREATE … IF NOT EXISTS can race).
const MIGRATION_LOCK: i64 = 0x6576_7372_6364_6200;

const LOCK_SCOPE: &str = "SELECT id, head FROM sync_scopes WHERE name = $1 FOR UPDATE";

/// The PostgreSQL store.
pub struct PostgresBackend {
    pool: Pool,
    config: tokio_postgres::Config,
    /// The NOTIFY channel of this schema's commits.
    channel: String,
}

impl PostgresBackend {
    /// Connects (pooling up to `pool_size` connections) and creates the schema when missing.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let mut backend = PostgresBackend {
            pool,
            config,
            channel: String::new(),
        };
        let schema: String = backend.migrate().await?;
        // Channel names are identifiers: at most 63 bytes.
        let mut channel = format!("sync_commits:{schema}");
        while channel.len() > 63 {
            channel.pop();
        }
        backend.channel = channel;
        Ok(backend)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Pool(other.to_string()),
        })
    }

    /// Creates the tables when missing; returns the schema they are in.
    async fn migrate(&self) -> Result<String, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(SCHEMA).await?;
        let schema = tx.query_one("SELECT current_schema()", &[]).await?.get(0);
        tx.commit().await?;
        Ok(schema)
    }

    async fn push_batch(
        &self,
        scope: &str,
        batch: Vec<Incoming>,
    ) -> Result<PushResult, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let lock = tx.prepare_cached(LOCK_SCOPE).await?;
        let row = match tx.query_opt(&lock, &[&scope]).await? {
            Some(row) => row,
            None => {
                tx.execute(
                    "INSERT INTO sync_scopes (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                    &[&scope],
                )
                .await?;
                tx.query_one(&lock, &[&scope]).await?
            }
        };
        let scope_id: i64 = row.get(0);
        let mut head: i64 = row.get(1);

        let ids: Vec<Uuid> = batch.iter().map(|i| i.id).collect();
        let find = tx
            .prepare_cached(
                "SELECT event_id, seq FROM sync_events WHERE scope_id = $1 AND event_id = ANY($2)
                 UNION ALL
                 SELECT event_id, seq FROM sync_folded WHERE scope_id = $1 AND event_id = ANY($2)",
            )
            .await?;
        let mut known: HashMap<Uuid, i64> = tx
            .query(&find, &[&scope_id, &ids])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();

        let (mut seqs, mut new_ids, mut bodies) = (Vec::new(), Vec::new(), Vec::<&str>::new());
        let mut outcomes = Vec::with_capacity(batch.len());
        for item in &batch {
            outcomes.push(if let Some(seq) = known.get(&item.id) {
                Outcome::Duplicate(*seq as u64)
            } else if item.rejected {
                Outcome::Rejected
            } else {
                head += 1;
                known.insert(item.id, head);
                seqs.push(head);
                new_ids.push(item.id);
                bodies.push(&item.body);
                Outcome::Stored(head as u64)
            });
        }
        if !seqs.is_empty() {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO sync_events (scope_id, seq, event_id, body)
                     SELECT $1, s, e, b FROM UNNEST($2::bigint[], $3::uuid[], $4::text[]) AS t (s, e, b)",
                )
                .await?;
            tx.execute(&insert, &[&scope_id, &seqs, &new_ids, &bodies])
                .await?;
            let advance = tx
                .prepare_cached("UPDATE sync_scopes SET head = $2 WHERE id = $1")
                .await?;
            tx.execute(&advance, &[&scope_id, &head]).await?;
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&self.channel, &format!("{head}:{scope}")],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(PushResult {
            outcomes,
            head: head as u64,
        })
    }

    async fn pull_page(&self, scope: &str, after: u64, limit: usize) -> Result<Page, StoreError> {
        let client = self.client().await?;
        // One statement, so the scope row and the events come from one snapshot.
        let stmt = client
            .prepare_cached(
                "SELECT s.head, s.compacted_through, e.seq, e.body
                 FROM sync_scopes s
                 LEFT JOIN LATERAL (
                     SELECT seq, body FROM sync_events
                     WHERE scope_id = s.id AND seq > $2 ORDER BY seq LIMIT $3
                 ) e ON true
                 WHERE s.name = $1",
            )
            .await?;
        let after = after.min(i64::MAX as u64) as i64;
        let fetch = limit.saturating_add(1).min(i64::MAX as usize) as i64;
        let rows = client.query(&stmt, &[&scope, &after, &fetch]).await?;
        let Some(first) = rows.first() else {
            return Ok(Page::default());
        };
        let info = ScopeInfo {
            head: first.get::<_, i64>(0) as u64,
            compacted_through: first.get::<_, i64>(1) as u64,
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(seq) = row.get::<_, Option<i64>>(2) {
                events.push(StoredEvent {
                    seq: seq as u64,
                    body: row.get::<_, String>(3),
                });
            }
        }
        Ok(page_from(events, limit, info))
    }

    async fn compact_scope(&self, scope: &str, below: u64) -> Result<CompactReport, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "SELECT id, head, compacted_through FROM sync_scopes WHERE name = $1 FOR UPDATE",
                &[&scope],
            )
            .await?
        else {
            return Ok(CompactReport::default());
        };
        let (id, head, done): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let through = (below.saturating_sub(1).min(i64::MAX as u64) as i64).min(head);
        if through <= done {
            return Ok(CompactReport {
                compacted_through: done as u64,
                ..CompactReport::default()
            });
        }
        let events: Vec<StoredEvent> = tx
            .query(
                "SELECT seq, body FROM sync_events WHERE scope_id = $1 AND seq <= $2 ORDER BY seq",
                &[&id, &through],
            )
            .await?
            .iter()
            .map(|r| StoredEvent {
                seq: r.get::<_, i64>(0) as u64,
                body: r.get(1),
            })
            .collect();
        let plan = fold::plan(&events)?;
        let delete: Vec<i64> = plan.delete.iter().map(|s| *s as i64).collect();
        tx.execute(
            "INSERT INTO sync_folded (scope_id, event_id, seq)
             SELECT scope_id, event_id, seq FROM sync_events WHERE scope_id = $1 AND seq = ANY($2)
             ON CONFLICT DO NOTHING",
            &[&id, &delete],
        )
        .await?;
        tx.execute(
            "DELETE FROM sync_events WHERE scope_id = $1 AND seq = ANY($2)",
            &[&id, &delete],
        )
        .await?;
        let seqs: Vec<i64> = plan.rewrite.iter().map(|e| e.seq as i64).collect();
        let bodies: Vec<&str> = plan.rewrite.iter().map(|e| e.body.as_str()).collect();
        tx.execute(
            "UPDATE sync_events e SET body = u.b
             FROM UNNEST($2::bigint[], $3::text[]) AS u (s, b)
             WHERE e.scope_id = $1 AND e.seq = u.s",
            &[&id, &seqs, &bodies],
        )
        .await?;
        tx.execute(
            "UPDATE sync_scopes SET compacted_through = $2 WHERE id = $1",
            &[&id, &through],
        )
        .await?;
        tx.commit().await?;
        Ok(CompactReport {
            removed: delete.len() as u64,
            kept: plan.kept,
            compacted_through: through as u64,
        })
    }
}

impl Backend for PostgresBackend {
    fn push<'a>(
        &'a self,
        scope: &'a str,
        batch: Vec<Incoming>,
    ) -> BoxFuture<'a, Result<PushResult, StoreError>> {
        Box::pin(self.push_batch(scope, batch))
    }

    fn pull<'a>(
        &'a self,
        scope: &'a str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        Box::pin(self.pull_page(scope, after, limit))
    }

    fn compact<'a>(
        &'a self,
        scope: &'a str,
        below: u64,
    ) -> BoxFuture<'a, Result<CompactReport, StoreError>> {
        Box::pin(self.compact_scope(scope, below))
    }

    fn scopes(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query("SELECT name FROM sync_scopes ORDER BY name", &[])
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.client().await?.query_one("SELECT 1", &[]).await?;
            Ok(())
        })
    }

    fn forward_commits(&self, heads: Heads, mut stop: watch::Receiver<bool>) {
        let (config, channel) = (self.config.clone(), self.channel.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    result = listen(&config, &channel, &heads) => {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        }
                    }
                    _ = stop.wait_for(|s| *s) => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
    }
}

/// Holds a connection that LISTENs to `channel` and publishes each
/// `head:scope` notification; returns when the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    heads: &Heads,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    // The connection must be polled for notifications to arrive.
    let driver = tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = tx.send(n.payload().to_string());
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let quoted = channel.replace('"', "\"\"");
    client
        .batch_execute(&format!("LISTEN \"{quoted}\""))
        .await?;
    while let Some(payload) = rx.recv().await {
        if let Some((head, scope)) = payload.split_once(':') {
            if let Ok(head) = head.parse() {
                heads.publish(scope, head);
            }
        }
    }
    drop(client);
    driver.await.unwrap_or(Ok(()))
}
