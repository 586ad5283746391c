//! The store on its own: capture, reopen, invalid input, a full disk.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::muts::{delete, insert, update, update_whole};
use common::{block_on, memory_store, FakeServer, RecordingTimer};
use eventsourced_db::env::SystemEnvironment;
use eventsourced_db::model::{ChangeKind, EventQuery, EventStatus, Mutation, Origin};
use eventsourced_db::protocol::EventType;
use eventsourced_db::{sync, Error, Journal, Store, StoreConfig, SyncOptions};
use serde_json::json;

fn file_store(path: &std::path::Path) -> Store {
    Store::open(
        path.to_str().unwrap(),
        StoreConfig::default(),
        Box::new(SystemEnvironment),
    )
    .unwrap()
}

#[test]
fn capture_appends_pending_events_and_returns_net_visible_changes() {
    let store = memory_store();
    let row = json!({"id": "t1", "title": "Buy milk", "done": false});
    let done = json!({"id": "t1", "title": "Buy milk", "done": true});
    // Insert then update of one key in one batch: one net change, the final row.
    let changes = store
        .capture(vec![
            insert("todos", row.clone()),
            update("todos", &row, done.clone()),
        ])
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Insert);
    assert_eq!(changes[0].value, done);
    assert_eq!(changes[0].key, json!("t1"));

    let events = store.events(&EventQuery::default()).unwrap();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.status == EventStatus::Pending && e.origin == Origin::Local));
    assert_eq!(events[0].kind, "insert");
    assert_eq!(events[1].kind, "update");
    assert_eq!(events[1].changes, Some(json!({"done": true})));
    assert_eq!(events[1].payload, done);
    // UUIDv7, time-ordered.
    assert_eq!(
        uuid::Uuid::parse_str(&events[0].event_id)
            .unwrap()
            .get_version_num(),
        7
    );

    let changes = store.capture(vec![delete("todos", &done)]).unwrap();
    assert_eq!(changes[0].kind, ChangeKind::Delete);
    assert_eq!(
        changes[0].value, done,
        "a delete carries the row it removed"
    );
    assert!(store.visible_rows("todos").unwrap().is_empty());
    let events = store.events(&EventQuery::default()).unwrap();
    assert_eq!(
        events[2].payload, done,
        "a delete's payload is the row before it"
    );
    assert_eq!(store.counts().unwrap().pending, 3);
}

#[test]
fn a_batch_over_two_collections_is_one_transaction() {
    let store = memory_store();
    let good = insert("projects", json!({"id": "p1", "name": "Home"}));
    let mut bad = insert("todos", json!({"id": "t1"}));
    bad.key = json!({"not": "a key"});
    let err = store.capture(vec![good.clone(), bad]).unwrap_err();
    assert_eq!(err.code(), "INVALID_MUTATION");
    assert!(err.to_string().contains("todos"), "{err}");
    assert_eq!(
        store.counts().unwrap().total,
        0,
        "nothing of the failed batch is kept"
    );
    assert!(store.visible_rows("projects").unwrap().is_empty());

    let todo = insert("todos", json!({"id": "t1", "projectId": "p1"}));
    let changes = store.capture(vec![good, todo]).unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(store.visible_rows("projects").unwrap().len(), 1);
    assert_eq!(store.visible_rows("todos").unwrap().len(), 1);
}

#[test]
fn invalid_mutations_get_typed_errors() {
    let store = memory_store();
    let mut no_row = insert("todos", json!({"id": "x"}));
    no_row.modified = None;
    let mut array_row = insert("todos", json!({"id": "x"}));
    array_row.modified = Some(json!([1, 2]).into());
    let empty_collection = insert("", json!({"id": "x"}));
    for m in [no_row, array_row, empty_collection] {
        let e = store.capture(vec![m]).unwrap_err();
        assert!(matches!(e, Error::InvalidMutation { .. }), "{e:?}");
    }
    assert_eq!(store.counts().unwrap().total, 0);
}

#[test]
fn reopening_a_file_database_keeps_events_statuses_state_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sqlite");
    let server = FakeServer::new();
    server.reject_poison_per_event.set(true);
    let (client_id, cursor);
    {
        let store = file_store(&path);
        let a = json!({"id": "a", "title": "synced"});
        store
            .capture(vec![
                insert("todos", a.clone()),
                insert("todos", json!({"id": "p", "poison": true})),
            ])
            .unwrap();
        let r = block_on(sync(
            &store,
            &server,
            &RecordingTimer::default(),
            &SyncOptions::default(),
            &mut (),
        ));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        store
            .capture(vec![update(
                "todos",
                &a,
                json!({"id": "a", "title": "edited offline"}),
            )])
            .unwrap();
        client_id = store.client_id().to_string();
        cursor = store.cursor().unwrap();
        store.close().unwrap();
    }
    let store = file_store(&path);
    assert_eq!(store.client_id(), client_id);
    assert_eq!(store.cursor().unwrap(), cursor);
    assert_eq!(cursor, "1");
    let events = store.events(&EventQuery::default()).unwrap();
    let statuses: Vec<_> = events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            EventStatus::Confirmed,
            EventStatus::Rejected,
            EventStatus::Pending
        ]
    );
    assert_eq!(events[0].global_seq, Some(1));
    assert_eq!(
        events[1].reject_reason.as_deref(),
        Some("poison is not allowed")
    );
    let rows = store.visible_rows("todos").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].value.to_value()["title"], "edited offline");
    assert_eq!(store.rejections().unwrap().len(), 1);
    // And the pending event still goes out after the reopen.
    let r = block_on(sync(
        &store,
        &server,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut (),
    ));
    assert_eq!(r.pushed, 1);
    assert_eq!(store.counts().unwrap().pending, 0);
}

#[test]
fn a_full_disk_fails_the_write_with_its_code_and_keeps_earlier_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let config = StoreConfig {
        journal: Journal::Wal,
        ..StoreConfig::default()
    };
    let store = Store::from_connection(conn, config, Box::new(SystemEnvironment)).unwrap();
    store
        .capture(vec![insert(
            "todos",
            json!({"id": "kept", "title": "small"}),
        )])
        .unwrap();
    drop(store);
    // Emulate a full device: the database may not grow past its current size + a little.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let size: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    conn.query_row(&format!("PRAGMA max_page_count = {}", size + 2), [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap();
    let store =
        Store::from_connection(conn, StoreConfig::default(), Box::new(SystemEnvironment)).unwrap();
    let big = "x".repeat(64 * 1024);
    let err = store
        .capture(vec![
            insert("todos", json!({"id": "big1", "blob": big})),
            insert("todos", json!({"id": "big2", "blob": big})),
        ])
        .unwrap_err();
    assert_eq!(err.code(), "STORAGE_FULL", "{err}");
    let rows = store.visible_rows("todos").unwrap();
    assert_eq!(rows.len(), 1, "the failed batch left nothing behind");
    assert_eq!(rows[0].key, json!("kept"));
    assert_eq!(store.counts().unwrap().total, 1);
    // Nothing of the failed transaction stays open: the next write works.
    store
        .capture(vec![insert(
            "todos",
            json!({"id": "after", "title": "small"}),
        )])
        .unwrap();
    assert_eq!(store.visible_rows("todos").unwrap().len(), 2);
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let err = Store::open(
        path.to_str().unwrap(),
        StoreConfig::default(),
        Box::new(SystemEnvironment),
    )
    .unwrap_err();
    assert_eq!(err.code(), "SCHEMA_TOO_NEW");
}

#[test]
fn history_lists_a_rows_events_in_effective_order() {
    let store = memory_store();
    let a = json!({"id": 7, "n": 1});
    let b = json!({"id": 7, "n": 2});
    store
        .capture(vec![
            insert("items", a.clone()),
            update("items", &a, b.clone()),
            delete("items", &b),
        ])
        .unwrap();
    store
        .capture(vec![insert("items", json!({"id": 8}))])
        .unwrap();
    let h = store.history("items", &json!(7)).unwrap();
    let kinds: Vec<_> = h.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["insert", "update", "delete"]);
    assert!(
        h.iter().all(|e| e.key == json!(7)),
        "numeric keys stay numeric"
    );
    assert_eq!(
        store.history("items", &json!("7")).unwrap().len(),
        3,
        "a stringified key names the same row"
    );
    let only: Vec<Mutation> = vec![];
    assert!(store.capture(only).unwrap().is_empty());
    let q = EventQuery {
        collection: Some("items".into()),
        key: Some(json!(8)),
        ..Default::default()
    };
    assert_eq!(store.events(&q).unwrap().len(), 1);
    assert_eq!(
        store.events(&q).unwrap()[0].kind,
        EventType::Insert.as_str()
    );
}

#[test]
fn a_capture_replayed_with_the_same_event_id_is_applied_once_and_reports_the_row() {
    let store = memory_store();
    let id = "01890a5d-ac96-774b-bcce-b302099a8057";
    let with_id = |mut m: Mutation, id: &str| {
        m.event_id = Some(id.to_string());
        m
    };
    let v1 = json!({"id": "t1", "title": "first"});
    let first = store
        .capture(vec![with_id(insert("todos", v1.clone()), id)])
        .unwrap();
    assert_eq!(first[0].kind, ChangeKind::Insert);
    // The same mutation again (a retry after a leader change): nothing new.
    let again = store
        .capture(vec![with_id(insert("todos", v1.clone()), id)])
        .unwrap();
    assert_eq!(store.counts().unwrap().total, 1);
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].kind, &again[0].value),
        (ChangeKind::Update, &v1.clone().into())
    );
    assert_eq!(
        store.events(&EventQuery::default()).unwrap()[0].event_id,
        id
    );

    // A replayed delete of a row that is gone reports the delete again.
    let del_id = "01890a5d-ac96-774b-bcce-b302099a8058";
    store
        .capture(vec![with_id(delete("todos", &v1), del_id)])
        .unwrap();
    let replay = store
        .capture(vec![with_id(delete("todos", &v1), del_id)])
        .unwrap();
    assert_eq!(
        (replay[0].kind, replay[0].value.to_value()),
        (ChangeKind::Delete, v1.clone())
    );
    assert_eq!(store.counts().unwrap().total, 2);

    let err = store
        .capture(vec![with_id(insert("todos", v1), "not-a-uuid")])
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_MUTATION");
}

/// The v1 schema, verbatim, as databases written by the first release hold it.
const V1_SCHEMA: &str = r#"
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE, collection TEXT NOT NULL,
        kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, changes TEXT,
        timestamp INTEGER NOT NULL, origin INTEGER NOT NULL, status INTEGER NOT NULL,
        applied INTEGER NOT NULL, global_seq INTEGER, reject_code TEXT, reject_reason TEXT,
        reject_cleared INTEGER NOT NULL DEFAULT 0, client_id TEXT, schema_version INTEGER
    );
    CREATE INDEX events_unapplied ON events(seq) WHERE origin = 0 AND applied = 0;
    CREATE INDEX events_unapplied_row ON events(collection, key, seq) WHERE origin = 0 AND applied = 0;
    CREATE TABLE rows (
        collection TEXT NOT NULL, key TEXT NOT NULL, confirmed TEXT, visible TEXT,
        overlay INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (collection, key)
    ) WITHOUT ROWID;
    CREATE TABLE collections (name TEXT PRIMARY KEY, key_kind TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    PRAGMA user_version = 1;
"#;

fn id(n: u8) -> String {
    format!("00000000-0000-7000-8000-0000000000{n:02}")
}

#[test]
fn a_v1_database_with_pending_confirmed_and_rejected_events_migrates_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(V1_SCHEMA).unwrap();
        let blob = |n: u8| uuid::Uuid::parse_str(&id(n)).unwrap().as_bytes().to_vec();
        let mut ev = conn
            .prepare(
                "INSERT INTO events (seq, event_id, collection, kind, key, payload, changes, timestamp,
                                     origin, status, applied, global_seq, reject_code, reject_reason, schema_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 100, ?8, ?9, ?10, ?11, ?12, ?13, 0)",
            )
            .unwrap();
        type V1Event<'a> = (
            i64,
            u8,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
            i64,
            i64,
            i64,
            Option<i64>,
            Option<&'a str>,
        );
        let rows: [V1Event; 6] = [
            // This device's insert of a, pending.
            (
                1,
                1,
                "todos",
                "insert",
                "a",
                r#"{"id":"a","title":"local"}"#,
                None,
                0,
                0,
                0,
                None,
                None,
            ),
            // A remote insert of b, confirmed.
            (
                2,
                2,
                "todos",
                "insert",
                "b",
                r#"{"id":"b","title":"remote"}"#,
                None,
                1,
                2,
                1,
                Some(1),
                None,
            ),
            // This device's update of b, rejected.
            (
                3,
                3,
                "todos",
                "update",
                "b",
                r#"{"id":"b","title":"bad"}"#,
                Some(r#"{"title":"bad"}"#),
                0,
                3,
                0,
                None,
                Some("validation"),
            ),
            // This device's insert of c, confirmed and applied.
            (
                4,
                4,
                "notes",
                "insert",
                "7",
                r#"{"id":7}"#,
                None,
                0,
                2,
                1,
                Some(2),
                None,
            ),
            // This device's update of a on top of its insert, pending too.
            (
                5,
                5,
                "todos",
                "update",
                "a",
                r#"{"id":"a","title":"local2"}"#,
                Some(r#"{"title":"local2"}"#),
                0,
                1,
                0,
                None,
                None,
            ),
            // An event type from a newer client, kept verbatim.
            (
                6,
                6,
                "todos",
                "upsert",
                "z",
                r#"{"id":"z"}"#,
                None,
                1,
                2,
                0,
                Some(3),
                None,
            ),
        ];
        for (seq, n, coll, kind, key, payload, changes, origin, status, applied, gs, code) in rows {
            ev.execute(rusqlite::params![
                seq,
                blob(n),
                coll,
                kind,
                key,
                payload,
                changes,
                origin,
                status,
                applied,
                gs,
                code,
                code.map(|_| "not allowed"),
            ])
            .unwrap();
        }
        conn.execute_batch(
            r#"
            INSERT INTO rows VALUES ('todos', 'a', NULL, '{"id":"a","title":"local2"}', 1);
            INSERT INTO rows VALUES ('todos', 'b', '{"id":"b","title":"remote"}', NULL, 0);
            INSERT INTO rows VALUES ('notes', '7', '{"id":7}', NULL, 0);
            INSERT INTO collections VALUES ('notes', 'number');
            INSERT INTO meta VALUES ('client_id', 'client-1'), ('cursor', '3');
            "#,
        )
        .unwrap();
    }

    let store = file_store(&path);
    // A pending key whose visible row is its newest pending event's payload
    // names that event instead of keeping a second copy of the text.
    let stored = || -> Vec<(String, Option<String>, i64, Option<i64>)> {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT key, visible, pending, visible_seq FROM rows ORDER BY collection, key")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(
        stored(),
        vec![
            ("7".to_string(), None, 0, None),
            ("a".to_string(), None, 2, Some(5)),
            ("b".to_string(), None, 0, None),
        ]
    );
    assert_eq!(store.client_id(), "client-1");
    assert_eq!(store.cursor().unwrap(), "3");
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.pending, counts.rejected, counts.total),
        (2, 1, 6),
        "pending (a's two events), the rejection and every event survive"
    );
    let visible = |coll: &str| -> Vec<(serde_json::Value, serde_json::Value)> {
        let mut v: Vec<_> = store
            .visible_rows(coll)
            .unwrap()
            .into_iter()
            .map(|r| (r.key, r.value.to_value()))
            .collect();
        v.sort_by_key(|(k, _)| k.to_string());
        v
    };
    assert_eq!(
        visible("todos"),
        vec![
            (json!("a"), json!({"id": "a", "title": "local2"})),
            (json!("b"), json!({"id": "b", "title": "remote"})),
        ]
    );
    assert_eq!(
        visible("notes"),
        vec![(json!(7), json!({"id": 7}))],
        "the learned numeric key kind survives"
    );

    let log = store.events(&EventQuery::default()).unwrap();
    let summary: Vec<(i64, &str, &str, EventStatus, Origin)> = log
        .iter()
        .map(|e| {
            (
                e.seq,
                e.collection_id.as_str(),
                e.kind.as_str(),
                e.status,
                e.origin,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "todos", "insert", EventStatus::Pending, Origin::Local),
            (2, "todos", "insert", EventStatus::Confirmed, Origin::Remote),
            (3, "todos", "update", EventStatus::Rejected, Origin::Local),
            (4, "notes", "insert", EventStatus::Confirmed, Origin::Local),
            (5, "todos", "update", EventStatus::Sent, Origin::Local),
            (6, "todos", "upsert", EventStatus::Confirmed, Origin::Remote),
        ]
    );
    assert_eq!(log[0].event_id, id(1));
    assert_eq!(log[2].changes, Some(json!({"title": "bad"})));
    let rejections = store.rejections().unwrap();
    assert_eq!(rejections.len(), 1);
    assert_eq!(
        (
            rejections[0].event_id.as_str(),
            rejections[0].kind.as_str(),
            rejections[0].code.as_str()
        ),
        (id(3).as_str(), "update", "validation")
    );

    // The outbox finds the pending event (the sent one is not pushed again).
    let batch = store.pending_batch(10).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].event_id, id(1));
    assert_eq!(batch[0].collection_id, "todos");

    // The pending chain of a was derived: a's insert comes back from the
    // server and the update is still folded over the confirmed row.
    let back = |n: u8, kind: EventType, title: &str, gs: u64| {
        let e = eventsourced_db::protocol::Event {
            event_id: id(n),
            collection_id: "todos".into(),
            kind,
            key: eventsourced_db::protocol::Key::String("a".into()),
            payload: json!({"id": "a", "title": title})
                .as_object()
                .unwrap()
                .clone(),
            timestamp: 100,
            changes: None,
            client_id: Some("client-1".into()),
            schema_version: None,
        };
        eventsourced_db::protocol::PullResponse {
            events: vec![eventsourced_db::protocol::PulledEvent::from_event(&e, gs)],
            cursor: gs.to_string(),
            has_more: false,
        }
    };
    let out = store
        .apply_pull(back(1, EventType::Insert, "local", 4))
        .unwrap();
    assert_eq!(out.settled, 1);
    assert!(out.changes.is_empty(), "a's visible row did not change");
    assert_eq!(visible("todos")[0].1, json!({"id": "a", "title": "local2"}));
    assert_eq!(store.counts().unwrap().pending, 1);
    let out = store
        .apply_pull(back(5, EventType::Update, "local2", 5))
        .unwrap();
    assert_eq!(out.settled, 1);
    assert_eq!(store.counts().unwrap().pending, 0);
    assert!(store.pending_batch(10).unwrap().is_empty());
    assert_eq!(visible("todos")[0].1, json!({"id": "a", "title": "local2"}));

    // New captures go on from there.
    store
        .capture(vec![update(
            "todos",
            &json!({"id": "b", "title": "remote"}),
            json!({"id": "b", "title": "again"}),
        )])
        .unwrap();
    assert_eq!(visible("todos")[1].1, json!({"id": "b", "title": "again"}));
    let batch = store.pending_batch(10).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].collection_id, "todos");
    let log = store.events(&EventQuery::default()).unwrap();
    assert_eq!(log.len(), 7);
    assert_eq!(log[6].seq, 7);
    // b's row was merged (its text is stored); a whole-row update is
    // named by its event, and a delete stores no row at all.
    assert_eq!(
        stored()[2],
        (
            "b".to_string(),
            Some(r#"{"id":"b","title":"again"}"#.to_string()),
            1,
            None
        )
    );
    store
        .capture(vec![update_whole(
            "todos",
            &json!({"id": "b", "title": "again"}),
            json!({"id": "b", "title": "whole"}),
        )])
        .unwrap();
    assert_eq!(stored()[2], ("b".to_string(), None, 2, Some(8)));
    assert_eq!(visible("todos")[1].1, json!({"id": "b", "title": "whole"}));
    store
        .capture(vec![delete("todos", &json!({"id": "b", "title": "whole"}))])
        .unwrap();
    assert_eq!(stored()[2], ("b".to_string(), None, 3, None));
    assert_eq!(visible("todos").len(), 1);
}

#[test]
fn a_visible_row_named_by_its_event_survives_rebase_rejection_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("named.sqlite");
    let store = file_store(&path);
    let v1 = json!({"id": "a", "title": "one"});
    let v2 = json!({"id": "a", "title": "two"});
    let v3 = json!({"id": "a", "title": "three"});
    store.capture(vec![insert("todos", v1.clone())]).unwrap();
    store
        .capture(vec![update_whole("todos", &v1, v2.clone())])
        .unwrap();
    store
        .capture(vec![update("todos", &v2, v3.clone())])
        .unwrap();
    let ids: Vec<String> = store
        .events(&EventQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    let hydrate = |store: &Store| -> Vec<serde_json::Value> {
        store
            .visible_rows("todos")
            .unwrap()
            .into_iter()
            .map(|r| r.value.to_value())
            .collect()
    };
    assert_eq!(
        hydrate(&store),
        vec![v3.clone()],
        "the merged row, stored as text"
    );
    let reject = |id: &str| eventsourced_db::protocol::RejectedEvent {
        event_id: id.to_string(),
        code: "validation".into(),
        reason: "no".into(),
    };
    // The rebase leaves the whole-row update on top: named by its event.
    let (changes, _) = store.reject(&[reject(&ids[2])]).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].value.to_value(), v2);
    assert_eq!(hydrate(&store), vec![v2.clone()]);
    store.close().unwrap();
    let store = file_store(&path);
    assert_eq!(
        hydrate(&store),
        vec![v2.clone()],
        "the link survives a reopen"
    );
    // Rejecting that one leaves the insert's payload; then nothing.
    let (changes, _) = store.reject(&[reject(&ids[1])]).unwrap();
    assert_eq!(changes[0].value.to_value(), v1);
    assert_eq!(hydrate(&store), vec![v1.clone()]);
    let (changes, _) = store.reject(&[reject(&ids[0])]).unwrap();
    assert_eq!(changes[0].kind, ChangeKind::Delete);
    assert!(hydrate(&store).is_empty());
}
