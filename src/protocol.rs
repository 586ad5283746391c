//! Wire types of the sync protocol (`PROTOCOL.md`), shared by the client core
//! and the reference server. Field names are camelCase on the wire.
//!
//! The base contract is fixed; the optional extensions (`changes`, `rejected`,
//! `clientId`, `schemaVersion`, snapshots) are `Option`/defaulted fields so a
//! server that knows only the base contract interoperates unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most events in one push request (`PROTOCOL.md`: a JSON array of 1 to 500 events).
pub const MAX_PUSH_BATCH: usize = 500;

/// Most events a server returns in one pull page.
pub const MAX_PULL_LIMIT: usize = 1000;

/// The kind of mutation an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// A new row; the payload is the full row.
    Insert,
    /// A changed row; the payload is the full row after the change.
    Update,
    /// A removed row; the payload is the full row before the removal.
    Delete,
}

impl EventType {
    /// The wire name: `insert`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Insert => "insert",
            EventType::Update => "update",
            EventType::Delete => "delete",
        }
    }

    /// Parses a wire name; `None` for anything else (a newer event shape).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "insert" => Some(EventType::Insert),
            "update" => Some(EventType::Update),
            "delete" => Some(EventType::Delete),
            _ => None,
        }
    }
}

/// A row key as `getKey` returned it: a string or a number.
///
/// Servers may hand keys back as strings; [`Key::text`] gives the canonical
/// text under which both forms name the same row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    /// A string key.
    String(String),
    /// A numeric key (kept as JSON number to preserve integers exactly).
    Number(serde_json::Number),
}

impl Key {
    /// Builds a key from a JSON value; `None` unless it is a string or a finite number.
    pub fn from_value(v: &Value) -> Option<Key> {
        match v {
            Value::String(s) => Some(Key::String(s.clone())),
            Value::Number(n) => Some(Key::Number(n.clone())),
            _ => None,
        }
    }

    /// The canonical text of the key: a string as is; a number in its shortest
    /// form with integral floats written as integers (`5.0` → `"5"`), which is
    /// what JavaScript's `String(key)` gives and what servers store.
    pub fn text(&self) -> String {
        match self {
            Key::String(s) => s.clone(),
            Key::Number(n) => number_text(n),
        }
    }

    /// The key as a JSON value.
    pub fn to_value(&self) -> Value {
        match self {
            Key::String(s) => Value::String(s.clone()),
            Key::Number(n) => Value::Number(n.clone()),
        }
    }
}

/// Canonical text of a JSON number, matching JavaScript's `String(n)` for
/// integers and integral floats within the safe range.
pub fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => (f as i64).to_string(),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

/// One captured mutation of one row, as pushed to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Globally unique id (the client mints UUIDv7); the idempotency key.
    pub event_id: String,
    /// The collection's configured name.
    pub collection_id: String,
    /// Insert, update or delete.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The row's key.
    pub key: Key,
    /// Insert/update: the row after the change; delete: the row before it.
    pub payload: Map<String, Value>,
    /// Client wall clock at capture, ms since the epoch.
    pub timestamp: i64,
    /// Extension: for an update, only the changed fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Map<String, Value>>,
    /// Extension: the id of the client that captured the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Extension: the app's schema version at capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
}

/// One server confirmation in a push response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Confirmation {
    /// The confirmed event.
    pub event_id: String,
    /// Its position in the server's total order (positive).
    pub global_seq: u64,
}

/// Extension: one event the server refused while accepting the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEvent {
    /// The refused event.
    pub event_id: String,
    /// A stable, machine-readable reason code (for example `validation`).
    pub code: String,
    /// A human-readable reason.
    pub reason: String,
}

/// The `200` body of a push.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResponse {
    /// Events stored (or, on the reference server, already stored) with their global sequence.
    pub confirmed: Vec<Confirmation>,
    /// Extension: events refused one by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedEvent>,
}

/// One event of a pull page.
///
/// `kind` is kept as text and `key`/`payload` as raw JSON so that events of a
/// newer shape still reach the client, which keeps and reports them instead of
/// failing the whole page (`PROTOCOL.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PulledEvent {
    /// Position in the server's total order.
    pub global_seq: u64,
    /// The event's id.
    pub event_id: String,
    /// The collection's name.
    pub collection_id: String,
    /// `insert`, `update`, `delete`, or a type this client does not know.
    #[serde(rename = "type")]
    pub kind: String,
    /// The row key (string or number; servers may stringify numbers).
    pub key: Value,
    /// The row (see [`Event::payload`]), kept as JSON text: replay stores it
    /// as is and parses it only when a field merge needs it.
    #[serde(default)]
    pub payload: crate::model::RowJson,
    /// Client wall clock at capture.
    #[serde(default)]
    pub timestamp: i64,
    /// Extension: changed fields of an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Map<String, Value>>,
    /// Extension: the capturing client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Extension: the app schema version at capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    /// The cursor that stands right after this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl PulledEvent {
    /// The pulled form of a stored event.
    pub fn from_event(event: &Event, global_seq: u64) -> Self {
        PulledEvent {
            global_seq,
            event_id: event.event_id.clone(),
            collection_id: event.collection_id.clone(),
            kind: event.kind.as_str().to_string(),
            key: event.key.to_value(),
            payload: Value::Object(event.payload.clone()).into(),
            timestamp: event.timestamp,
            changes: event.changes.clone(),
            client_id: event.client_id.clone(),
            schema_version: event.schema_version,
            cursor: Some(global_seq.to_string()),
        }
    }
}

/// The `200` body of a pull.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse {
    /// Events in ascending `globalSeq`, the client's own included.
    pub events: Vec<PulledEvent>,
    /// Opaque cursor to send back as `since`.
    pub cursor: String,
    /// More events wait: pull again at once.
    pub has_more: bool,
}

/// Extension: one row of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRow {
    /// The row's collection.
    pub collection_id: String,
    /// The row's key.
    pub key: Value,
    /// The materialized row.
    pub value: Map<String, Value>,
}

/// Extension: the materialized rows of every collection at a cursor, served
/// when the log was compacted past a client's cursor (pull answered `410`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Every live row.
    pub rows: Vec<SnapshotRow>,
    /// The cursor the rows stand at; pull continues from it.
    pub cursor: String,
}

/// The body of a `4xx`/`5xx` answer from the reference server:
/// `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// See [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code.
    pub code: String,
    /// A human-readable message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_round_trips_in_camel_case_and_omits_absent_extensions() {
        let e: Event = serde_json::from_value(json!({
            "eventId": "550e8400-e29b-41d4-a716-446655440000",
            "collectionId": "todos", "type": "insert", "key": "todo-1",
            "payload": {"id": "todo-1"}, "timestamp": 1714490000
        }))
        .unwrap();
        assert_eq!(e.kind, EventType::Insert);
        let back = serde_json::to_value(&e).unwrap();
        assert!(back.get("changes").is_none());
        assert_eq!(back["collectionId"], "todos");
    }

    #[test]
    fn numeric_keys_have_one_canonical_text() {
        let a: Key = serde_json::from_str("5").unwrap();
        let b: Key = serde_json::from_str("5.0").unwrap();
        let c: Key = serde_json::from_str("\"5\"").unwrap();
        assert_eq!(a.text(), "5");
        assert_eq!(b.text(), "5");
        assert_eq!(c.text(), "5");
        let d: Key = serde_json::from_str("0.5").unwrap();
        assert_eq!(d.text(), "0.5");
    }

    #[test]
    fn push_response_without_rejected_parses() {
        let r: PushResponse =
            serde_json::from_str(r#"{"confirmed":[{"eventId":"a","globalSeq":1}]}"#).unwrap();
        assert!(r.rejected.is_empty());
    }
}
