//! Capture: a batch of local mutations becomes pending events and new visible
//! rows, in one transaction.

use rusqlite::params;
use serde_json::Value;

use super::doc::{apply, Doc};
use super::rows::RowCache;
use super::Store;
use crate::env::new_event_ids;
use crate::error::{Error, Result};
use crate::fold::Row;
use crate::model::{Mutation, RowJson, VisibleChange};
use crate::protocol::{EventType, Key};

/// A mutation checked and turned into the parts of an event.
struct Checked {
    collection: String,
    kind: EventType,
    key: Value,
    key_text: String,
    payload: String,
    event_id: Option<uuid::Uuid>,
    changes: Option<Row>,
}

fn object(collection: &str, what: &str, v: Option<Value>) -> Result<Option<Row>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(Error::invalid(
            collection,
            format!("{what} must be an object, got {}", json_type(&other)),
        )),
    }
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

/// The text of a row given as JSON: `None` for absent or `null`, an error
/// unless it is an object.
fn row_text(collection: &str, what: &str, v: Option<RowJson>) -> Result<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    match v.as_str().trim_start().as_bytes().first() {
        Some(b'{') => Ok(Some(v.into_string())),
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
    let key_text = Key::from_value(&m.key)
        .ok_or_else(|| {
            Error::invalid(
                c,
                format!(
                    "the key must be a string or a number, got {}",
                    json_type(&m.key)
                ),
            )
        })?
        .text();
    let (payload, changes) = match m.kind {
        EventType::Insert | EventType::Update => {
            let payload = row_text(c, "the modified row", m.modified)?.ok_or_else(|| {
                Error::invalid(c, format!("an {} needs the modified row", m.kind.as_str()))
            })?;
            let changes = match m.kind {
                EventType::Update => object(c, "changes", m.changes)?,
                _ => None,
            };
            (payload, changes)
        }
        // A delete records the row as it was; TanStack always passes it.
        EventType::Delete => (
            row_text(c, "the original row", m.original)?.unwrap_or_else(|| "{}".to_string()),
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
        let ids = new_event_ids(&*self.env, now, checked.len());
        let tx = self.conn.unchecked_transaction()?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (event_id, collection, kind, key, payload, changes, timestamp,
                                 origin, status, applied, schema_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, 0, ?8)
             ON CONFLICT (event_id) DO NOTHING",
        )?;
        let mut cache = RowCache::new(&tx)?;
        for (c, minted) in checked.into_iter().zip(ids) {
            self.learn_key_kind(&c.collection, &c.key)?;
            let id = c.event_id.unwrap_or(minted);
            let payload = Doc::from_text(c.payload);
            let inserted = insert.execute(params![
                &id.as_bytes()[..],
                c.collection,
                c.kind.as_str(),
                c.key_text,
                payload.text()?,
                c.changes.as_ref().map(serde_json::to_string).transpose()?,
                now,
                self.config.schema_version,
            ])?;
            let state = cache.get(&c.collection, &c.key_text)?;
            if inserted == 0 {
                // Captured before (a retry): report the row as it stands.
                state.report = Some(payload);
                continue;
            }
            state.visible = apply(state.visible.take(), c.kind, &payload, c.changes.as_ref())?;
            state.overlay = true;
        }
        drop(insert);
        let changes = cache.flush(|coll, key| self.key_value(coll, key))?;
        tx.commit()?;
        Ok(changes)
    }
}
