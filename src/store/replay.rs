//! Replay: a pulled page (or a snapshot) becomes confirmed state, rebased
//! visible state and the visible changes, in one transaction with the cursor.

use std::collections::{HashMap, HashSet};

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::batch;
use super::doc::{apply, Doc};
use super::ids::{IdText, LocalIdRange, SqlId};
use super::kind::SqlKind;
use super::rows::RowCache;
use super::Store;
use crate::error::Result;
use crate::fold::Row;
use crate::model::VisibleChange;
use crate::protocol::{number_text, EventType, Key, PullResponse, PulledEvent, Snapshot};

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

/// This device's events among a page's ids (`IN` and the ids follow).
pub(super) const OWN_EVENTS_BY_ID: &str =
    "SELECT event_id, applied, status, collection, key FROM events WHERE origin = 0 AND event_id IN";
/// Pulled events stored before the page (`?1`: the last seq then), by globalSeq.
pub(super) const PULLED_BY_GLOBAL_SEQ: &str =
    "SELECT global_seq, event_id FROM events WHERE origin = 1 AND seq <= ?1 AND global_seq IN";
/// Settles an own event that came back: `?1` its id, `?2` its globalSeq.
pub(super) const SETTLE_OWN: &str =
    "UPDATE events SET status = 2, applied = 1, global_seq = ?2, reject_code = NULL, reject_reason = NULL
     WHERE event_id = ?1 AND origin = 0";

/// A pulled event with what replay works out of it first: its type (or why
/// it is not understood), the key's text, the collection's id and the field
/// changes as text.
type Prepared = (
    PulledEvent,
    std::result::Result<EventType, String>,
    String,
    i64,
    Option<String>,
);

/// A pulled event's type, when this version understands it, and its key's
/// canonical text (the key as JSON when it is neither a string nor a
/// number). A string key's text is moved out of the event, not copied:
/// replay asks nothing of it afterwards but whether it was a number.
fn understand(e: &mut PulledEvent) -> (std::result::Result<EventType, String>, String) {
    let key_text = match &mut e.key {
        Value::String(s) => Some(std::mem::take(s)),
        Value::Number(n) => Some(number_text(n)),
        _ => None,
    };
    let kind = EventType::parse(&e.kind)
        .ok_or_else(|| format!("unknown event type '{}'", e.kind))
        .and_then(|kind| match key_text {
            None => Err("the key is neither a string nor a number".to_string()),
            Some(_) => match e.payload.as_str().trim_start().as_bytes().first() {
                Some(b'{') => Ok(kind),
                Some(b'n') if kind == EventType::Delete => Ok(kind),
                _ => Err("the payload is not an object".to_string()),
            },
        });
    let key_text = key_text.unwrap_or_else(|| e.key.to_string());
    (kind, key_text)
}

impl Store {
    /// Applies one pulled page and stores its cursor, in one transaction.
    ///
    /// Own events settle their local counterparts by `eventId`; others are
    /// appended to the log; both update the confirmed state in page order.
    /// Each touched key's visible row is then its confirmed row with the key's
    /// still-pending local events folded on top (a rebase).
    pub fn apply_pull(&self, page: PullResponse) -> Result<ReplayOutcome> {
        self.write_refetchable(|tx| {
            let mut outcome = ReplayOutcome::default();
            // 1. What each event is, in memory.
            let mut last: Option<(String, i64)> = None;
            let mut prepared: Vec<Prepared> = Vec::with_capacity(page.events.len());
            for mut e in page.events {
                let (parsed, key_text) = understand(&mut e);
                let collection = match &last {
                    Some((name, id)) if *name == e.collection_id => *id,
                    _ => {
                        let id = self.collection_id(&e.collection_id)?;
                        last = Some((e.collection_id.clone(), id));
                        id
                    }
                };
                let changes = e.changes.as_ref().map(serde_json::to_string).transpose()?;
                prepared.push((e, parsed, key_text, collection, changes));
            }
            // 2. This device's own events among them, found by id: they settle
            //    their local copy and are not stored a second time. Only ids
            //    within the range of the local ones can be; the others are
            //    not looked up.
            let mut own: HashMap<String, (bool, i64, i64, String)> = HashMap::new();
            let local = LocalIdRange::read(tx)?;
            let ids: Vec<SqlId<'_>> = match &local {
                None => Vec::new(),
                Some(range) => prepared
                    .iter()
                    .map(|(e, ..)| SqlId::new(&e.event_id))
                    .filter(|id| range.contains(id))
                    .collect(),
            };
            batch::query_in(
                tx,
                OWN_EVENTS_BY_ID,
                "",
                &[],
                &ids,
                |stmt, i, id| Ok(stmt.raw_bind_parameter(i, id)?),
                |r| {
                    let id = r.get::<_, IdText>(0)?.0;
                    own.insert(id, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?));
                    Ok(())
                },
            )?;
            // 3. Every other event into the log, many rows per statement. One
            //    the log has already (a page the server repeats: the same
            //    globalSeq and id) is left as it is.
            let last_seq: i64 = tx
                .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
                .query_row([], |r| r.get(0))?;
            let fresh: Vec<&Prepared> = prepared
                .iter()
                .filter(|p| !own.contains_key(&p.0.event_id))
                .collect();
            let inserted = batch::execute(
                tx,
                "INSERT OR IGNORE INTO events (event_id, collection, kind, key, payload, changes, timestamp,
                                               origin, status, applied, global_seq, client_id, schema_version) VALUES",
                "(?, ?, ?, ?, ?, ?, ?, 1, 2, ?, ?, ?, ?)",
                "",
                11,
                &fresh,
                |stmt, i, (e, parsed, key_text, collection, changes)| {
                    stmt.raw_bind_parameter(i, SqlId::new(&e.event_id))?;
                    stmt.raw_bind_parameter(i + 1, collection)?;
                    stmt.raw_bind_parameter(i + 2, SqlKind(&e.kind))?;
                    stmt.raw_bind_parameter(i + 3, key_text)?;
                    stmt.raw_bind_parameter(i + 4, e.payload.as_str())?;
                    stmt.raw_bind_parameter(i + 5, changes)?;
                    stmt.raw_bind_parameter(i + 6, e.timestamp)?;
                    stmt.raw_bind_parameter(i + 7, parsed.is_ok())?;
                    stmt.raw_bind_parameter(i + 8, e.global_seq as i64)?;
                    stmt.raw_bind_parameter(i + 9, &e.client_id)?;
                    stmt.raw_bind_parameter(i + 10, e.schema_version)?;
                    Ok(())
                },
            )?;
            // The pulled events that were in the log before this page, as
            // (globalSeq, id). Only looked up when some were.
            let mut stored: HashSet<(i64, String)> = HashSet::new();
            if inserted < fresh.len() {
                let seqs: Vec<i64> = fresh.iter().map(|p| p.0.global_seq as i64).collect();
                batch::query_in(
                    tx,
                    PULLED_BY_GLOBAL_SEQ,
                    "",
                    &[&last_seq],
                    &seqs,
                    |stmt, i, seq| Ok(stmt.raw_bind_parameter(i, seq)?),
                    |r| {
                        stored.insert((r.get(0)?, r.get::<_, IdText>(1)?.0));
                        Ok(())
                    },
                )?;
            }
            // 4. The rows of every key the page touches, read ahead.
            let mut cache = RowCache::new(tx)?;
            let mut start = 0;
            while start < prepared.len() {
                let collection = prepared[start].3;
                let end = prepared[start..]
                    .iter()
                    .position(|p| p.3 != collection)
                    .map_or(prepared.len(), |n| start + n);
                let keys: Vec<&str> = prepared[start..end]
                    .iter()
                    .filter(|p| p.1.is_ok())
                    .map(|p| p.2.as_str())
                    .collect();
                cache.preload(collection, &keys)?;
                start = end;
            }
            // 5. Page order: settle own events, fold the confirmed rows.
            let mut settle = tx.prepare_cached(SETTLE_OWN)?;
            let mut seen: HashSet<&str> = HashSet::with_capacity(prepared.len());
            for (e, parsed, key_text, collection, _) in &prepared {
                if !seen.insert(e.event_id.as_str()) {
                    // A repeat within the page: the first one counted.
                    continue;
                }
                if let Some((applied, status, local_collection, local_key)) = own.get(&e.event_id) {
                    if *applied {
                        // Back once more (a server that repeats itself): skip.
                        continue;
                    }
                    // This device's event, back from the server: it settles now.
                    settle.execute(params![SqlId::new(&e.event_id), e.global_seq as i64])?;
                    if *status != 3 {
                        // It was pending on its key: it is in the confirmed row now.
                        cache.get(*local_collection, local_key)?.pending -= 1;
                    }
                    outcome.settled += 1;
                } else if !stored.is_empty() && stored.contains(&(e.global_seq as i64, e.event_id.clone())) {
                    // Applied from an earlier page (a server that repeats itself): skip.
                    continue;
                }
                outcome.applied += 1;
                let kind = match parsed {
                    Ok(kind) => *kind,
                    Err(reason) => {
                        outcome.unrecognized.push(Unrecognized {
                            event_id: e.event_id.clone(),
                            collection_id: e.collection_id.clone(),
                            reason: reason.clone(),
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
                    self.learn_key_kind(*collection, &e.key)?;
                }
                let payload = if e.payload.as_str().trim_start().starts_with('{') {
                    Doc::from_json(e.payload.clone())
                } else {
                    Doc::from_row(Row::new())
                };
                let state = cache.get(*collection, key_text)?;
                state.confirmed =
                    apply(state.confirmed.take(), kind, &payload, e.changes.as_ref())?;
            }
            drop(settle);
            cache.rebase_all()?;
            outcome.changes = cache.flush(self)?;
            self.advance_outbox()?;
            // Same connection, so this is inside the transaction with the rows.
            self.set_meta("cursor", &page.cursor)?;
            Ok(outcome)
        })
    }

    /// Rebuilds the confirmed state from a snapshot (the server compacted its
    /// log past our cursor), keeps pending local events folded on top, and
    /// stores the snapshot's cursor, in one transaction.
    pub fn apply_snapshot(&self, snapshot: &Snapshot) -> Result<ReplayOutcome> {
        self.write_refetchable(|tx| {
            let mut cache = RowCache::new(tx)?;
            // Every stored key first, so rows absent from the snapshot are removed.
            let stored: Vec<(i64, String)> = tx
                .prepare("SELECT collection, key FROM rows")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (collection, key) in &stored {
                cache.get(*collection, key)?.confirmed = None;
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
                let collection = self.collection_id(&row.collection_id)?;
                if row.key.is_number() {
                    self.learn_key_kind(collection, &row.key)?;
                }
                cache.get(collection, &key.text())?.confirmed =
                    Some(Doc::from_row(row.value.clone()));
            }
            // Own events the snapshot already contains must not be folded again.
            if let Ok(upto) = snapshot.cursor.parse::<i64>() {
                cache.apply_confirmed_upto(upto)?;
            }
            cache.rebase_all()?;
            let changes = cache.flush(self)?;
            self.advance_outbox()?;
            // Same connection, so this is inside the transaction with the rows.
            self.set_meta("cursor", &snapshot.cursor)?;
            Ok(ReplayOutcome {
                applied: snapshot.rows.len() as u64,
                settled: 0,
                changes,
                unrecognized,
            })
        })
    }
}
