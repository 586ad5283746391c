//! Materializing rows from events, shared by snapshots and compaction.
//!
//! Events are applied in `globalSeq` order per `(collection, Key::text())`
//! with the clients' rule, `eventsourced_db::fold::apply`.
//!
//! Compaction keeps only the latest event of each row below the point and
//! rewrites it to carry the materialized row (without `changes`), so that a
//! snapshot built from the compacted log equals one built from the full log
//! even when concurrent field updates were merged.

use std::collections::{HashMap, HashSet};

use eventsourced_db::fold;
use eventsourced_db::protocol::{Event, SnapshotRow};
use serde_json::{Map, Value};

use super::{StoreError, StoredEvent};

/// One materialized row and the event that last touched it.
#[derive(Debug, Clone)]
struct Row {
    seq: u64,
    key: Value,
    value: Option<Map<String, Value>>,
}

/// Rows of every collection, built by applying events in order.
#[derive(Debug, Default)]
pub struct Rows {
    rows: HashMap<(String, String), Row>,
}

impl Rows {
    /// Applies one stored event (parsing its body).
    pub fn apply_stored(&mut self, stored: &StoredEvent) -> Result<Event, StoreError> {
        let event = parse(stored)?;
        self.apply(stored.seq, &event);
        Ok(event)
    }

    /// Applies one event at `seq`.
    pub fn apply(&mut self, seq: u64, event: &Event) {
        let id = (event.collection_id.clone(), event.key.text());
        let row = self.rows.entry(id).or_insert_with(|| Row {
            seq,
            key: event.key.to_value(),
            value: None,
        });
        row.seq = seq;
        row.key = event.key.to_value();
        // The clients' own rule, so a snapshot equals what replay builds.
        row.value = fold::apply(
            row.value.take(),
            event.kind,
            &event.payload,
            event.changes.as_ref(),
        );
    }

    /// The live rows, ordered by collection and key text.
    pub fn into_snapshot_rows(self) -> Vec<SnapshotRow> {
        let mut rows: Vec<_> = self
            .rows
            .into_iter()
            .filter_map(|((collection_id, text), row)| {
                row.value.map(|value| {
                    (
                        text,
                        SnapshotRow {
                            collection_id,
                            key: row.key,
                            value,
                        },
                    )
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.1.collection_id.as_str(), a.0.as_str())
                .cmp(&(b.1.collection_id.as_str(), b.0.as_str()))
        });
        rows.into_iter().map(|(_, r)| r).collect()
    }
}

/// What a compaction changes below its point.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sequence numbers to delete.
    pub delete: Vec<u64>,
    /// Kept events whose body changes to the materialized row.
    pub rewrite: Vec<StoredEvent>,
    /// Events kept.
    pub kept: u64,
}

/// Plans the compaction of `events` (all events below the point, ascending).
pub fn plan(events: &[StoredEvent]) -> Result<Plan, StoreError> {
    let mut rows = Rows::default();
    let mut latest: HashMap<(String, String), (u64, Event)> = HashMap::new();
    for stored in events {
        let event = rows.apply_stored(stored)?;
        latest.insert(
            (event.collection_id.clone(), event.key.text()),
            (stored.seq, event),
        );
    }
    let keep: HashSet<u64> = latest.values().map(|(seq, _)| *seq).collect();
    let mut rewrite = Vec::new();
    for (id, (seq, mut event)) in latest {
        let Some(value) = rows.rows.remove(&id).and_then(|r| r.value) else {
            continue; // a delete stays as it is: the tombstone of the row
        };
        if event.changes.is_none() && event.payload == value {
            continue;
        }
        event.payload = value;
        event.changes = None;
        rewrite.push(StoredEvent {
            seq,
            body: serde_json::to_string(&event).expect("an Event always serializes"),
        });
    }
    rewrite.sort_by_key(|e| e.seq);
    Ok(Plan {
        delete: events
            .iter()
            .map(|e| e.seq)
            .filter(|s| !keep.contains(s))
            .collect(),
        kept: keep.len() as u64,
        rewrite,
    })
}

fn parse(stored: &StoredEvent) -> Result<Event, StoreError> {
    serde_json::from_str(&stored.body).map_err(|e| StoreError::Corrupt {
        seq: stored.seq,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(seq: u64, kind: &str, key: Value, payload: Value, changes: Option<Value>) -> StoredEvent {
        let mut e = json!({
            "eventId": format!("0190a0a0-0000-7000-8000-{seq:012}"), "collectionId": "todos",
            "type": kind, "key": key, "payload": payload, "timestamp": 1
        });
        if let Some(c) = changes {
            e["changes"] = c;
        }
        StoredEvent {
            seq,
            body: e.to_string(),
        }
    }

    #[test]
    fn updates_merge_changes_and_deletes_remove() {
        let log = [
            ev(
                1,
                "insert",
                json!(1),
                json!({"id": 1, "a": 1, "b": 1}),
                None,
            ),
            // Two devices edit different fields from the same base row.
            ev(
                2,
                "update",
                json!(1),
                json!({"id": 1, "a": 2, "b": 1}),
                Some(json!({"a": 2})),
            ),
            ev(
                3,
                "update",
                json!("1"),
                json!({"id": 1, "a": 1, "b": 3}),
                Some(json!({"b": 3})),
            ),
            ev(4, "insert", json!("x"), json!({"id": "x"}), None),
            ev(5, "delete", json!("x"), json!({"id": "x"}), None),
            ev(
                6,
                "update",
                json!("y"),
                json!({"id": "y", "v": 1}),
                Some(json!({"v": 1})),
            ),
        ];
        let mut rows = Rows::default();
        for e in &log {
            rows.apply_stored(e).unwrap();
        }
        let rows = rows.into_snapshot_rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].key, json!("1"));
        assert_eq!(
            Value::Object(rows[0].value.clone()),
            json!({"id": 1, "a": 2, "b": 3})
        );
        assert_eq!(
            Value::Object(rows[1].value.clone()),
            json!({"id": "y", "v": 1})
        );
    }

    #[test]
    fn compaction_keeps_latest_per_row_with_the_materialized_row() {
        let log = [
            ev(
                1,
                "insert",
                json!(1),
                json!({"id": 1, "a": 1, "b": 1}),
                None,
            ),
            ev(
                2,
                "update",
                json!(1),
                json!({"id": 1, "a": 2, "b": 1}),
                Some(json!({"a": 2})),
            ),
            ev(
                3,
                "update",
                json!(1),
                json!({"id": 1, "a": 1, "b": 3}),
                Some(json!({"b": 3})),
            ),
            ev(4, "insert", json!("x"), json!({"id": "x"}), None),
            ev(5, "delete", json!("x"), json!({"id": "x"}), None),
            ev(6, "insert", json!("z"), json!({"id": "z"}), None),
        ];
        let p = plan(&log).unwrap();
        assert_eq!(p.delete, vec![1, 2, 4]);
        assert_eq!(p.kept, 3);
        assert_eq!(p.rewrite.len(), 1);
        let e: Event = serde_json::from_str(&p.rewrite[0].body).unwrap();
        assert_eq!(p.rewrite[0].seq, 3);
        assert_eq!(e.changes, None);
        assert_eq!(Value::Object(e.payload), json!({"id": 1, "a": 2, "b": 3}));
    }
}
