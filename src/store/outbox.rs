//! The outbox side of the log: what to push next, and what the server said.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::ids::{IdText, SqlId};
use super::kind::{Kind, KindText};
use super::rows::RowCache;
use super::Store;
use crate::error::Result;
use crate::model::{Rejection, VisibleChange};
use crate::protocol::{Event, EventType, Key, PushResponse, RejectedEvent};

/// What settling a push changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PushOutcome {
    /// Events of the batch the server confirmed.
    pub confirmed: u64,
    /// Events the server left out of `confirmed` (it had them already); they
    /// settle when they come back through pull.
    pub sent: u64,
    /// Visible changes caused by rejections.
    pub changes: Vec<VisibleChange>,
    /// The events rejected now.
    pub rejections: Vec<Rejection>,
}

impl Store {
    /// The oldest pending events, at most `limit`, as they go on the wire.
    pub fn pending_batch(&self, limit: usize) -> Result<Vec<Event>> {
        // The rowid range from the watermark: no index, and only the local
        // events not settled yet (with pulled ones in between) are passed.
        let from = self.outbox_from()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT event_id, collection, kind, key, payload, changes, timestamp, client_id, schema_version
             FROM events WHERE seq >= ?1 AND origin = 0 AND applied = 0 AND status = 0 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![from, limit as i64])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let collection: i64 = r.get(1)?;
            let kind = r.get::<_, Kind>(2)?.0;
            let key: String = r.get(3)?;
            let key = match self.key_value(collection, &key) {
                Value::Number(n) => Key::Number(n),
                _ => Key::String(key),
            };
            out.push(Event {
                event_id: r.get::<_, IdText>(0)?.0,
                kind: kind.unwrap_or(EventType::Update),
                collection_id: self.collection_name(collection),
                key,
                payload: serde_json::from_str(&r.get::<_, String>(4)?)?,
                changes: r
                    .get::<_, Option<String>>(5)?
                    .map(|t| serde_json::from_str(&t))
                    .transpose()?,
                timestamp: r.get(6)?,
                // Own events store no client id: it is this store's.
                client_id: Some(
                    r.get::<_, Option<String>>(7)?
                        .unwrap_or_else(|| self.client_id.clone()),
                ),
                schema_version: r.get(8)?,
            });
        }
        Ok(out)
    }

    /// Settles a pushed batch with the server's answer, in one transaction:
    /// confirmed events get their `globalSeq`; rejected ones are rolled back
    /// out of the visible state; the rest were already stored by the server
    /// and become `sent` (never pushed again, settled by pull).
    pub fn settle_push(&self, batch: &[Event], response: &PushResponse) -> Result<PushOutcome> {
        let ids: HashSet<&str> = batch.iter().map(|e| e.event_id.as_str()).collect();
        self.write(|tx| {
            let mut outcome = PushOutcome::default();
            {
                let mut confirm = tx.prepare_cached(
                    "UPDATE events SET status = 2, global_seq = ?2, reject_code = NULL, reject_reason = NULL
                     WHERE event_id = ?1 AND origin = 0",
                )?;
                for c in response
                    .confirmed
                    .iter()
                    .filter(|c| ids.contains(c.event_id.as_str()))
                {
                    outcome.confirmed += confirm
                        .execute(params![SqlId::new(&c.event_id), c.global_seq as i64])?
                        as u64;
                }
            }
            let rejected: Vec<&RejectedEvent> = response
                .rejected
                .iter()
                .filter(|r| ids.contains(r.event_id.as_str()))
                .collect();
            let (changes, rejections) = self.reject_in(tx, &rejected)?;
            outcome.changes = changes;
            outcome.rejections = rejections;
            {
                let mut mark_sent = tx.prepare_cached(
                    "UPDATE events SET status = 1 WHERE event_id = ?1 AND origin = 0 AND status = 0",
                )?;
                for id in &ids {
                    outcome.sent += mark_sent.execute([SqlId::new(id)])? as u64;
                }
            }
            self.advance_outbox()?;
            Ok(outcome)
        })
    }

    /// Marks events rejected and recomputes their rows without them, in one
    /// transaction. Returns the visible changes and the rejection records.
    pub fn reject(
        &self,
        rejected: &[RejectedEvent],
    ) -> Result<(Vec<VisibleChange>, Vec<Rejection>)> {
        self.write(|tx| {
            let refs: Vec<&RejectedEvent> = rejected.iter().collect();
            let out = self.reject_in(tx, &refs)?;
            self.advance_outbox()?;
            Ok(out)
        })
    }

    fn reject_in(
        &self,
        tx: &rusqlite::Connection,
        rejected: &[&RejectedEvent],
    ) -> Result<(Vec<VisibleChange>, Vec<Rejection>)> {
        if rejected.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        // Whether it was pending on its key (not rejected before).
        let mut was = tx.prepare_cached(
            "SELECT status != 3 FROM events WHERE event_id = ?1 AND origin = 0 AND applied = 0",
        )?;
        let mut mark = tx.prepare_cached(
            "UPDATE events SET status = 3, reject_code = ?2, reject_reason = ?3, reject_cleared = 0
             WHERE event_id = ?1 AND origin = 0 AND applied = 0
             RETURNING collection, kind, key, payload, timestamp",
        )?;
        let mut cache = RowCache::new(tx)?;
        let mut records = Vec::new();
        for r in rejected {
            let id = SqlId::new(&r.event_id);
            let Some(pending) = was.query_row([&id], |r| r.get::<_, bool>(0)).optional()? else {
                continue;
            };
            let mut rows = mark.query(params![id, r.code, r.reason])?;
            let Some(row) = rows.next()? else { continue };
            let collection: i64 = row.get(0)?;
            let key: String = row.get(2)?;
            records.push(Rejection {
                event_id: r.event_id.clone(),
                key: self.key_value(collection, &key),
                kind: row.get::<_, KindText>(1)?.0,
                payload: serde_json::from_str(&row.get::<_, String>(3)?)?,
                timestamp: row.get(4)?,
                code: r.code.clone(),
                reason: r.reason.clone(),
                collection_id: self.collection_name(collection),
            });
            drop(rows);
            let state = cache.get(collection, &key)?;
            if pending {
                state.pending -= 1;
            }
        }
        cache.rebase_all()?;
        let changes = cache.flush(self)?;
        Ok((changes, records))
    }
}
