//! Capture: a batch of local mutations becomes pending events and new visible
//! rows, in one transaction.

use std::collections::HashSet;

use serde_json::Value;

use super::batch;
use super::doc::{apply, Doc};
use super::kind;
use super::rows::RowCache;
use super::Store;
use crate::env::new_event_ids;
use crate::error::{Error, Result};
use crate::fold::Row;
use crate::model::{Mutation, RowJson, VisibleChange};
use crate::protocol::{number_text, EventType};

/// Which of the ids a caller supplied are local events already (`IN` and
/// the ids follow).
pub(super) const RETRIED_IDS: &str = "SELECT event_id FROM events WHERE origin = 0 AND event_id IN";

/// An event about to be written.
struct NewEvent {
    seq: i64,
    id: uuid::Uuid,
    collection: i64,
    kind: i64,
    key: String,
    payload: Doc,
    changes: Option<RowJson>,
    prev_pending: Option<i64>,
}

/// A mutation checked and turned into the parts of an event.
struct Checked {
    collection: String,
    kind: EventType,
    key: Value,
    key_text: String,
    payload: RowJson,
    event_id: Option<uuid::Uuid>,
    /// An update's changed fields (an object), as given.
    changes: Option<RowJson>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A row given as JSON (well formed: `RowJson` checked it on the way in):
/// `None` for absent or `null`, an error unless it is an object. The text is
/// kept as it came, not parsed.
fn row_json(collection: &str, what: &str, v: Option<RowJson>) -> Result<Option<RowJson>> {
    let Some(v) = v else { return Ok(None) };
    match v.as_str().trim_start().as_bytes().first() {
        Some(b'{') => Ok(Some(v)),
        Some(b'n') => Ok(None),
        _ => Err(Error::invalid(
            collection,
            format!("{what} must be an object, got {}", json_type(&v.to_value())),
        )),
    }
}

fn check(m: Mutation) -> Result<Checked> {
    let c = m.collection.as_str();
    if c.is_empty() {
        return Err(Error::invalid(c, "the collection name is empty"));
    }
    let key_text = match &m.key {
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n),
        other => {
            return Err(Error::invalid(
                c,
                format!(
                    "the key must be a string or a number, got {}",
                    json_type(other)
                ),
            ))
        }
    };
    let (payload, changes) = match m.kind {
        EventType::Insert | EventType::Update => {
            let payload = row_json(c, "the modified row", m.modified)?.ok_or_else(|| {
                Error::invalid(c, format!("an {} needs the modified row", m.kind.as_str()))
            })?;
            let changes = match m.kind {
                EventType::Update => row_json(c, "changes", m.changes)?,
                _ => None,
            };
            (payload, changes)
        }
        // A delete records the row as it was; TanStack always passes it.
        EventType::Delete => (
            match row_json(c, "the original row", m.original)? {
                Some(row) => row,
                None => RowJson::serialize(&Row::new())?,
            },
            None,
        ),
    };
    let event_id = match &m.event_id {
        None => None,
        Some(id) => Some(
            uuid::Uuid::try_parse(id)
                .map_err(|_| Error::invalid(c, format!("the event id '{id}' is not a UUID")))?,
        ),
    };
    Ok(Checked {
        event_id,
        collection: m.collection,
        kind: m.kind,
        key: m.key,
        key_text,
        payload,
        changes,
    })
}

impl Store {
    /// Appends `mutations` as pending events and updates the visible state,
    /// all in one SQLite transaction: either every event is durable when this
    /// returns, or none is (a full disk, an invalid mutation). Returns the
    /// visible changes, one per touched key, for the JS side to write.
    pub fn capture(&self, mutations: Vec<Mutation>) -> Result<Vec<VisibleChange>> {
        // Check everything before writing anything.
        let checked = mutations
            .into_iter()
            .map(check)
            .collect::<Result<Vec<_>>>()?;
        let now = self.env.now_ms();
        // Ids for the mutations that bring none (the JS side mints its own).
        let unnamed = checked.iter().filter(|c| c.event_id.is_none()).count();
        let mut ids = new_event_ids(&*self.env, now, unnamed).into_iter();
        let changes_before = self.conn.total_changes();
        let (appended, last_seq, changes) = self.write(|tx| {
            // The collection of each mutation (a batch is usually one: its id
            // is looked up once).
            let mut collections = Vec::with_capacity(checked.len());
            let mut last: Option<(&str, i64)> = None;
            for c in &checked {
                let id = match last {
                    Some((name, id)) if name == c.collection => id,
                    _ => self.collection_id(&c.collection)?,
                };
                last = Some((&c.collection, id));
                self.learn_key_kind(id, &c.key)?;
                collections.push(id);
            }
            let event_ids: Vec<uuid::Uuid> = checked
                .iter()
                .map(|c| c.event_id.or_else(|| ids.next()).expect("one id minted per unnamed mutation"))
                .collect();
            // Ids the caller supplied may be in the log already (a retry).
            let mut retried: HashSet<uuid::Uuid> = HashSet::new();
            let supplied: Vec<&uuid::Uuid> = checked
                .iter()
                .zip(&event_ids)
                .filter(|(c, _)| c.event_id.is_some())
                .map(|(_, id)| id)
                .collect();
            batch::query_in(
                tx,
                RETRIED_IDS,
                "",
                &[],
                &supplied,
                |stmt, i, id| Ok(stmt.raw_bind_parameter(i, &id.as_bytes()[..])?),
                |r| {
                    if let Ok(id) = uuid::Uuid::from_slice(&r.get::<_, Vec<u8>>(0)?) {
                        retried.insert(id);
                    }
                    Ok(())
                },
            )?;
            // Every touched row, read ahead in a few statements.
            let mut cache = RowCache::new(tx)?;
            let mut entries: Vec<usize> = Vec::with_capacity(checked.len());
            let mut start = 0;
            while start < checked.len() {
                let collection = collections[start];
                let end = collections[start..]
                    .iter()
                    .position(|&c| c != collection)
                    .map_or(checked.len(), |n| start + n);
                let keys: Vec<&str> = checked[start..end]
                    .iter()
                    .map(|c| c.key_text.as_str())
                    .collect();
                entries.extend(cache.preload(collection, &keys)?);
                start = end;
            }
            // Fold in memory with the seqs the inserts will have (the next
            // rowids: nothing else writes in this transaction), then write
            // the events many rows per statement.
            let mut next_seq: i64 = tx
                .prepare_cached("SELECT coalesce(max(seq), 0) + 1 FROM events")?
                .query_row([], |r| r.get(0))?;
            let mut rows: Vec<NewEvent> = Vec::with_capacity(checked.len());
            for (((c, collection), id), entry) in checked
                .into_iter()
                .zip(collections)
                .zip(event_ids)
                .zip(entries)
            {
                let state = cache.at(entry);
                let payload = Doc::from_json(c.payload);
                if c.event_id.is_some() && !retried.insert(id) {
                    // Captured before (a retry): report the row as it stands.
                    state.report = Some(payload);
                    continue;
                }
                let seq = next_seq;
                next_seq += 1;
                let prev_pending = if state.pending > 0 {
                    state.last_pending
                } else {
                    None
                };
                // The changed fields are parsed only to be merged into a row.
                let merge: Option<Row> = match (&c.changes, state.visible.is_some()) {
                    (Some(changes), true) => Some(serde_json::from_str(changes.as_str())?),
                    _ => None,
                };
                state.visible = apply(state.visible.take(), c.kind, &payload, merge.as_ref())?;
                // The row is this event's payload (no merge): the row table
                // names the event instead of storing the text again.
                state.visible_seq = state
                    .visible
                    .as_ref()
                    .is_some_and(|v| Doc::ptr_eq(v, &payload))
                    .then_some(seq);
                state.pending += 1;
                state.last_pending = Some(seq);
                rows.push(NewEvent {
                    seq,
                    id,
                    collection,
                    kind: kind::code(c.kind),
                    key: c.key_text,
                    changes: c.changes,
                    payload,
                    prev_pending,
                });
            }
            let schema_version = self.config.schema_version;
            // The seqs are left to SQLite (the next rowids, the ones folded
            // with above, checked below): a rowid given as a value might not
            // be an integer, and that possibility alone makes SQLite keep a
            // statement journal (a copy of every page the statement touches)
            // for a multi-row insert. Nor does any constraint abort only the
            // statement (`OR FAIL`): an error rolls the transaction back.
            batch::execute(
                tx,
                "INSERT OR FAIL INTO events (event_id, collection, kind, key, payload, changes, timestamp,
                                             origin, status, applied, schema_version, prev_pending) VALUES",
                "(?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
                "",
                9,
                &rows,
                |stmt, i, e| {
                    stmt.raw_bind_parameter(i, &e.id.as_bytes()[..])?;
                    stmt.raw_bind_parameter(i + 1, e.collection)?;
                    stmt.raw_bind_parameter(i + 2, e.kind)?;
                    stmt.raw_bind_parameter(i + 3, &e.key)?;
                    stmt.raw_bind_parameter(i + 4, e.payload.text()?)?;
                    stmt.raw_bind_parameter(i + 5, e.changes.as_ref().map(RowJson::as_str))?;
                    stmt.raw_bind_parameter(i + 6, now)?;
                    stmt.raw_bind_parameter(i + 7, schema_version)?;
                    stmt.raw_bind_parameter(i + 8, e.prev_pending)?;
                    Ok(())
                },
            )?;
            if let Some(last) = rows.last() {
                if tx.last_insert_rowid() != last.seq {
                    return Err(Error::Storage(format!(
                        "the events were stored under seqs up to {}, folded with seqs up to {}",
                        tx.last_insert_rowid(),
                        last.seq
                    )));
                }
            }
            let (appended, last_seq) = (rows.len() as u64, rows.last().map(|r| r.seq));
            drop(rows);
            Ok((appended, last_seq, cache.flush(self)?))
        })?;
        self.counts_captured(changes_before, appended, last_seq);
        Ok(changes)
    }
}
