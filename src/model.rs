//! The values the core exchanges with its callers (the wasm layer, tests):
//! mutations in, visible changes and log records out. All serialise in
//! camelCase for JavaScript.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::protocol::EventType;

/// One TanStack DB mutation, as `onInsert/onUpdate/onDelete` see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mutation {
    /// The collection's configured name.
    pub collection: String,
    /// Insert, update or delete.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The row key (string or number).
    pub key: Value,
    /// The row after the change (insert, update), as JSON text: stored as
    /// given, parsed only if a field merge needs it.
    #[serde(default)]
    pub modified: Option<RowJson>,
    /// The row before the change (update, delete).
    #[serde(default)]
    pub original: Option<RowJson>,
    /// For an update, only the changed fields, as JSON text: stored as
    /// given, parsed only when they are merged into a row.
    #[serde(default)]
    pub changes: Option<RowJson>,
    /// The event id to record this mutation under (a UUID). A caller that may
    /// send the same mutation twice (a tab retrying after a leader change)
    /// supplies it: a capture whose id is already in the log is not applied
    /// again, and reports the row as it stands. Minted here when absent.
    #[serde(default)]
    pub event_id: Option<String>,
}

/// What happened to a row of the visible state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The row appeared.
    Insert,
    /// The row changed.
    Update,
    /// The row disappeared.
    Delete,
}

/// A row as JSON text, handed on without being parsed: hydrating 100k rows or
/// replaying a page then costs a copy, not a parse and a re-serialisation.
/// Serialises as the object itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RowJson(Box<serde_json::value::RawValue>);

impl RowJson {
    /// Wraps JSON text (checked to be well-formed JSON).
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(RowJson)
    }

    /// Serialises a value straight into JSON text (well formed by
    /// construction, so not checked again).
    pub(crate) fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RowJson)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The JSON text, owned.
    pub fn into_string(self) -> String {
        String::from(Box::<str>::from(self.0))
    }

    /// The row parsed into a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).expect("RowJson holds well-formed JSON")
    }
}

/// `null`, for a missing row.
impl Default for RowJson {
    fn default() -> Self {
        RowJson::from_text("null".to_string()).expect("null is JSON")
    }
}

impl From<Value> for RowJson {
    fn from(v: Value) -> Self {
        RowJson::from_text(v.to_string()).expect("a Value serialises to valid JSON")
    }
}

impl PartialEq for RowJson {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl PartialEq<Value> for RowJson {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

/// One change of the visible state, for the JS side to write into its
/// collection with `begin/write/commit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VisibleChange {
    /// The collection.
    pub collection: String,
    /// The row key, in the collection's key type where known.
    pub key: Value,
    /// Insert, update or delete.
    #[serde(rename = "type")]
    pub kind: ChangeKind,
    /// The row after the change; for a delete, the row before it.
    pub value: RowJson,
}

/// Where an event in the log came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Captured on this device.
    Local,
    /// Pulled from the server.
    Remote,
}

/// The sync status of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Captured, not yet acknowledged by the server.
    Pending,
    /// Pushed; the server had it already and left it out of `confirmed`. It
    /// settles when it comes back through pull and is never pushed again.
    Sent,
    /// Ordered by the server (it has a `globalSeq`).
    Confirmed,
    /// Refused by the server; its effect is removed from the visible state.
    Rejected,
}

impl EventStatus {
    pub(crate) fn to_db(self) -> i64 {
        match self {
            EventStatus::Pending => 0,
            EventStatus::Sent => 1,
            EventStatus::Confirmed => 2,
            EventStatus::Rejected => 3,
        }
    }

    pub(crate) fn from_db(v: i64) -> Self {
        match v {
            0 => EventStatus::Pending,
            1 => EventStatus::Sent,
            2 => EventStatus::Confirmed,
            _ => EventStatus::Rejected,
        }
    }
}

/// One event of the log, as the event-log queries return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedEvent {
    /// Local sequence: order of arrival in this log.
    pub seq: i64,
    /// The event's id.
    pub event_id: String,
    /// The collection.
    pub collection_id: String,
    /// `insert`, `update`, `delete`, or the type of an event this version does not know.
    #[serde(rename = "type")]
    pub kind: String,
    /// The row key.
    pub key: Value,
    /// The payload as stored.
    pub payload: Value,
    /// Changed fields of an update, when known.
    pub changes: Option<Value>,
    /// Client wall clock at capture.
    pub timestamp: i64,
    /// Captured here or pulled.
    pub origin: Origin,
    /// Sync status.
    pub status: EventStatus,
    /// The server's order, once known.
    pub global_seq: Option<u64>,
    /// Rejection code, for rejected events.
    pub reject_code: Option<String>,
    /// Rejection reason, for rejected events.
    pub reject_reason: Option<String>,
}

/// A rejected event, kept until the app clears it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// The rejected event.
    pub event_id: String,
    /// Its collection.
    pub collection_id: String,
    /// Its row key.
    pub key: Value,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its payload.
    pub payload: Value,
    /// Stable reason code from the server (or `http_<status>`).
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
    /// When the event was captured.
    pub timestamp: i64,
}

/// Filter for [`crate::Store::events`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventQuery {
    /// Only this collection.
    pub collection: Option<String>,
    /// Only this row (needs `collection`).
    pub key: Option<Value>,
    /// Only events with this status.
    pub status: Option<EventStatus>,
    /// Only events with a local sequence above this.
    pub after_seq: Option<i64>,
    /// At most this many (default 1000).
    pub limit: Option<u32>,
}

/// Counts of the log, for a status display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogCounts {
    /// Local events not yet acknowledged (pending or sent).
    pub pending: u64,
    /// Rejections not yet cleared.
    pub rejected: u64,
    /// All events in the log.
    pub total: u64,
}
