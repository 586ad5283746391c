//! How one event changes one row. The same function builds the confirmed
//! state (server events in `globalSeq` order) and the visible state (pending
//! local events folded on top), so every client that sees the same events in
//! the same order holds the same rows.

use serde_json::{Map, Value};

use crate::protocol::EventType;

/// A row: a JSON object.
pub type Row = Map<String, Value>;

/// What one event does to a row; [`apply`] spells it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect<'a> {
    /// The row becomes the event's payload.
    Payload,
    /// These fields are merged into the existing row.
    Merge(&'a Row),
    /// The row is gone.
    Remove,
}

/// Decides what an event does to a row (see [`apply`]). `has_row` says
/// whether there is a row to merge into.
pub fn effect(kind: EventType, has_row: bool, changes: Option<&Row>) -> Effect<'_> {
    match (kind, changes) {
        (EventType::Delete, _) => Effect::Remove,
        (EventType::Update, Some(changes)) if has_row => Effect::Merge(changes),
        _ => Effect::Payload,
    }
}

/// Merges changed fields into a row.
pub fn merge(row: &mut Row, changes: &Row) {
    for (field, value) in changes {
        row.insert(field.clone(), value.clone());
    }
}

/// Applies one event to a row.
///
/// - insert: the row becomes the payload;
/// - update with `changes`: the changed fields are merged into the row, so
///   concurrent edits of different fields both survive; with no row to merge
///   into, the payload (the full row) stands;
/// - update without `changes`: the row becomes the payload (last writer in
///   server order wins);
/// - delete: the row is gone.
pub fn apply(
    base: Option<Row>,
    kind: EventType,
    payload: &Row,
    changes: Option<&Row>,
) -> Option<Row> {
    match effect(kind, base.is_some(), changes) {
        Effect::Payload => Some(payload.clone()),
        Effect::Merge(changes) => base.map(|mut row| {
            merge(&mut row, changes);
            row
        }),
        Effect::Remove => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn update_with_changes_merges_fields() {
        let base = row(json!({"id": 1, "title": "a", "done": false}));
        let payload = row(json!({"id": 1, "title": "stale", "done": true}));
        let changes = row(json!({"done": true}));
        let out = apply(Some(base), EventType::Update, &payload, Some(&changes)).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"id": 1, "title": "a", "done": true})
        );
    }

    #[test]
    fn update_without_changes_replaces_and_delete_removes() {
        let base = row(json!({"id": 1, "title": "a"}));
        let payload = row(json!({"id": 1, "title": "b"}));
        let out = apply(Some(base), EventType::Update, &payload, None).unwrap();
        assert_eq!(out["title"], "b");
        assert!(apply(Some(out), EventType::Delete, &payload, None).is_none());
    }

    #[test]
    fn update_of_a_missing_row_restores_the_payload() {
        let payload = row(json!({"id": 1, "title": "b"}));
        let changes = row(json!({"title": "b"}));
        let out = apply(None, EventType::Update, &payload, Some(&changes)).unwrap();
        assert_eq!(out, payload);
    }
}
