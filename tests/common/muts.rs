//! Building TanStack-shaped mutations in tests.
#![allow(dead_code)]

use eventsourced_db::model::{EventType, Mutation};
use serde_json::{Map, Value};

pub fn insert(collection: &str, row: Value) -> Mutation {
    Mutation {
        collection: collection.into(),
        kind: EventType::Insert,
        key: row["id"].clone(),
        modified: Some(row.clone().into()),
        original: None,
        changes: Some(row.into()),
        event_id: None,
    }
}

/// An update as TanStack reports it: `changes` holds only the changed fields.
pub fn update(collection: &str, before: &Value, after: Value) -> Mutation {
    let mut changes = Map::new();
    for (k, v) in after.as_object().unwrap() {
        if before.get(k) != Some(v) {
            changes.insert(k.clone(), v.clone());
        }
    }
    Mutation {
        collection: collection.into(),
        kind: EventType::Update,
        key: after["id"].clone(),
        modified: Some(after.into()),
        original: Some(before.clone().into()),
        changes: Some(Value::Object(changes).into()),
        event_id: None,
    }
}

/// An update from a client that sends no `changes` (whole-row replace).
pub fn update_whole(collection: &str, before: &Value, after: Value) -> Mutation {
    let mut m = update(collection, before, after);
    m.changes = None;
    m
}

pub fn delete(collection: &str, row: &Value) -> Mutation {
    Mutation {
        collection: collection.into(),
        kind: EventType::Delete,
        key: row["id"].clone(),
        modified: None,
        original: Some(row.clone().into()),
        changes: None,
        event_id: None,
    }
}
