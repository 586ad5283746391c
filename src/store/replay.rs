//! Replay: a pulled page (or a snapshot) becomes confirmed state, rebased
//! visible state and the visible changes, in one transaction with the cursor.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::doc::{apply, Doc};
use super::ids::SqlId;
use super::rows::RowCache;
use super::Store;
use crate::error::Result;
use crate::fold::Row;
use crate::model::VisibleChange;
use crate::protocol::{EventType, Key, PullResponse, PulledEvent, Snapshot};

/// A pulled event the client kept in its log but could not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unrecognized {
    /// The event.
    pub event_id: String,
    /// Its collection.
    pub collection_id: String,
    /// Why it was not applied (unknown type, bad key, unknown collection).
    pub reason: String,
}

/// What replaying a page changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayOutcome {
    /// Events new to this log (own events settled count too; duplicates don't).
    pub applied: u64,
    /// This device's events that came back and settled.
    pub settled: u64,
    /// Visible changes for the JS side.
    pub changes: Vec<VisibleChange>,
    /// Events kept but not applied (unknown type or shape), and events of
    /// collections the app did not declare (applied to their own state, so
    /// that declaring the collection later shows them).
    pub unrecognized: Vec<Unrecognized>,
}

/// A pulled event's type and key, when this version understands it.
fn understand(e: &PulledEvent) -> std::result::Result<(EventType, Key), String> {
    let kind =
        EventType::parse(&e.kind).ok_or_else(|| format!("unknown event type '{}'", e.kind))?;
    let key = Key::from_value(&e.key)
        .ok_or_else(|| "the key is neither a string nor a number".to_string())?;
    match e.payload.as_str().trim_start().as_bytes().first() {
        Some(b'{') => Ok((kind, key)),
        Some(b'n') if kind == EventType::Delete => Ok((kind, key)),
        _ => Err("the payload is not an object".to_string()),
    }
}

impl Store {
    /// Applies one pulled page and stores its cursor, in one transaction.
    ///
    /// Own events settle their local counterparts by `eventId`; others are
    /// appended to the log; both update the confirmed state in page order.
    /// Each touched key's visible row is then its confirmed row with the key's
    /// still-pending local events folded on top (a rebase).
    pub fn apply_pull(&self, page: PullResponse) -> Result<ReplayOutcome> {
        let tx = self.conn.unchecked_transaction()?;
        let mut outcome = ReplayOutcome::default();
        let mut cache = RowCache::new(&tx)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (event_id, collection, kind, key, payload, changes, timestamp,
                                               origin, status, applied, global_seq, client_id, schema_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 2, ?8, ?9, ?10, ?11)",
            )?;
            let mut existing =
                tx.prepare_cached("SELECT origin, applied FROM events WHERE event_id = ?1")?;
            let mut settle = tx.prepare_cached(
                "UPDATE events SET status = 2, applied = 1, global_seq = ?2, reject_code = NULL, reject_reason = NULL
                 WHERE event_id = ?1",
            )?;
            for e in page.events {
                let parsed = understand(&e);
                let key_text = match &parsed {
                    Ok((_, key)) => key.text(),
                    Err(_) => e.key.to_string(),
                };
                let payload_text = e.payload.as_str();
                let inserted = insert.execute(params![
                    SqlId(&e.event_id),
                    e.collection_id,
                    e.kind,
                    key_text,
                    payload_text,
                    e.changes.as_ref().map(serde_json::to_string).transpose()?,
                    e.timestamp,
                    parsed.is_ok(),
                    e.global_seq as i64,
                    e.client_id,
                    e.schema_version,
                ])?;
                if inserted == 0 {
                    let known: Option<(i64, bool)> = existing
                        .query_row([SqlId(&e.event_id)], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    match known {
                        // This device's event, back from the server: it settles now.
                        Some((0, false)) => {
                            settle.execute(params![SqlId(&e.event_id), e.global_seq as i64])?;
                            outcome.settled += 1;
                        }
                        // Already applied (a server that repeats itself): skip.
                        _ => continue,
                    }
                }
                outcome.applied += 1;
                let (kind, _key) = match parsed {
                    Ok(p) => p,
                    Err(reason) => {
                        outcome.unrecognized.push(Unrecognized {
                            event_id: e.event_id.clone(),
                            collection_id: e.collection_id.clone(),
                            reason,
                        });
                        continue;
                    }
                };
                if !self.is_known(&e.collection_id) {
                    outcome.unrecognized.push(Unrecognized {
                        event_id: e.event_id.clone(),
                        collection_id: e.collection_id.clone(),
                        reason: format!("collection '{}' is not declared", e.collection_id),
                    });
                }
                // Servers may stringify keys: only a number proves the kind.
                if e.key.is_number() {
                    self.learn_key_kind(&e.collection_id, &e.key)?;
                }
                let payload = if e.payload.as_str().trim_start().starts_with('{') {
                    Doc::from_text(e.payload.into_string())
                } else {
                    Doc::from_row(Row::new())
                };
                let state = cache.get(&e.collection_id, &key_text)?;
                state.confirmed =
                    apply(state.confirmed.take(), kind, &payload, e.changes.as_ref())?;
            }
        }
        cache.rebase_all()?;
        outcome.changes = cache.flush(|c, k| self.key_value(c, k))?;
        // Same connection, so this is inside the transaction with the rows.
        self.set_meta("cursor", &page.cursor)?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Rebuilds the confirmed state from a snapshot (the server compacted its
    /// log past our cursor), keeps pending local events folded on top, and
    /// stores the snapshot's cursor, in one transaction.
    pub fn apply_snapshot(&self, snapshot: &Snapshot) -> Result<ReplayOutcome> {
        let tx = self.conn.unchecked_transaction()?;
        let mut cache = RowCache::new(&tx)?;
        // Every stored key first, so rows absent from the snapshot are removed.
        let stored: Vec<(String, String)> = tx
            .prepare("SELECT collection, key FROM rows")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (collection, key) in &stored {
            cache.get(collection, key)?.confirmed = None;
        }
        let mut unrecognized = Vec::new();
        for row in &snapshot.rows {
            let Some(key) = Key::from_value(&row.key) else {
                unrecognized.push(Unrecognized {
                    event_id: String::new(),
                    collection_id: row.collection_id.clone(),
                    reason: "a snapshot row's key is neither a string nor a number".into(),
                });
                continue;
            };
            if row.key.is_number() {
                self.learn_key_kind(&row.collection_id, &row.key)?;
            }
            cache.get(&row.collection_id, &key.text())?.confirmed =
                Some(Doc::from_row(row.value.clone()));
        }
        // Own events the snapshot already contains must not be folded again.
        if let Ok(upto) = snapshot.cursor.parse::<i64>() {
            tx.execute(
                "UPDATE events SET applied = 1 WHERE origin = 0 AND applied = 0 AND status = 2 AND global_seq <= ?1",
                [upto],
            )?;
        }
        cache.rebase_all()?;
        let changes = cache.flush(|c, k| self.key_value(c, k))?;
        // Same connection, so this is inside the transaction with the rows.
        self.set_meta("cursor", &snapshot.cursor)?;
        tx.commit()?;
        Ok(ReplayOutcome {
            applied: snapshot.rows.len() as u64,
            settled: 0,
            changes,
            unrecognized,
        })
    }
}
