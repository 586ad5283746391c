//! OPFS persistence, isolation between database names, typed errors.

use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::util::*;

#[wasm_bindgen_test]
async fn captured_rows_and_events_survive_close_and_reopen_on_opfs() {
    let name = unique("persist");
    let core = open(&name, "opfs").await;
    let client_id = core.client_id().unwrap();
    let changes = capture(
        &core,
        json!([
            insert("todos", "t1", json!({"id": "t1", "title": "one"})),
            insert("todos", "t2", json!({"id": "t2", "title": "two"})),
        ]),
    );
    assert_eq!(changes.as_array().unwrap().len(), 2);
    capture(
        &core,
        json!([{ "collection": "todos", "type": "update", "key": "t1",
                 "original": {"id": "t1", "title": "one"},
                 "modified": {"id": "t1", "title": "uno"}, "changes": {"title": "uno"} }]),
    );
    core.close().unwrap();
    assert!(core.is_closed());

    let core = open(&name, "opfs").await;
    assert_eq!(core.client_id().unwrap(), client_id, "client id is durable");
    let mut rows = json(core.visible_rows("todos").unwrap());
    rows.as_array_mut()
        .unwrap()
        .sort_by_key(|r| r["key"].as_str().unwrap().to_string());
    assert_eq!(
        rows,
        json!([
            {"key": "t1", "value": {"id": "t1", "title": "uno"}},
            {"key": "t2", "value": {"id": "t2", "title": "two"}},
        ])
    );
    let events = json(core.events(js(json!({}))).unwrap());
    let kinds: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![json!("insert"), json!("insert"), json!("update")]
    );
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["status"] == "pending"));
    let history = json(core.history("todos", js(json!("t1"))).unwrap());
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(json(core.counts().unwrap())["pending"], 3);
    core.close().unwrap();
}

#[wasm_bindgen_test]
async fn two_database_names_are_isolated() {
    let (a_name, b_name) = (unique("iso-a"), unique("iso-b"));
    let a = open(&a_name, "opfs").await;
    let b = open(&b_name, "opfs").await;
    capture(&a, json!([insert("notes", "n1", json!({"id": "n1"}))]));
    assert_eq!(json(b.visible_rows("notes").unwrap()), json!([]));
    assert_eq!(json(b.counts().unwrap())["total"], 0);
    assert_ne!(a.client_id().unwrap(), b.client_id().unwrap());
    a.close().unwrap();
    b.close().unwrap();

    let b = open(&b_name, "opfs").await;
    assert_eq!(json(b.counts().unwrap())["total"], 0);
    b.close().unwrap();
    let a = open(&a_name, "opfs").await;
    assert_eq!(json(a.counts().unwrap())["total"], 1);
    a.close().unwrap();
}

#[wasm_bindgen_test]
async fn a_database_open_in_this_worker_cannot_be_opened_twice() {
    let name = unique("twice");
    let core = open(&name, "opfs").await;
    let second = eventsourced_db::wasm::EventSourcedCore::open(name.clone(), js(json!({})))
        .await
        .err()
        .expect("a second open must fail");
    assert_eq!(error_code(&second), "STORAGE_UNAVAILABLE");
    core.close().unwrap();
    // Once closed it opens again.
    open(&name, "opfs").await.close().unwrap();
}

#[wasm_bindgen_test]
async fn memory_storage_keeps_nothing_after_close() {
    let core = open("mem", "memory").await;
    capture(&core, json!([insert("todos", "t1", json!({"id": "t1"}))]));
    assert_eq!(json(core.counts().unwrap())["total"], 1);
    core.close().unwrap();
    let core = open("mem", "memory").await;
    assert_eq!(json(core.counts().unwrap())["total"], 0);
    core.close().unwrap();
}

#[wasm_bindgen_test]
async fn errors_are_error_objects_with_stable_codes() {
    let core = open("errors", "memory").await;
    let bad = core.capture(js(
        json!([{ "collection": "todos", "type": "explode", "key": "k" }]),
    ));
    assert_eq!(error_code(&bad.unwrap_err()), "INVALID_MUTATION");
    let bad = core.capture(js(
        json!([{ "collection": "todos", "type": "insert", "key": {"no": 1},
                                        "modified": {"id": 1} }]),
    ));
    assert_eq!(error_code(&bad.unwrap_err()), "INVALID_MUTATION");
    // The JSON-text form: truncated text or a wrong shape is refused too.
    let bad = core.capture_json(r#"[{"collection": "todos", "type": "insert", "key": "k""#);
    assert_eq!(error_code(&bad.unwrap_err()), "INVALID_MUTATION");
    let bad = core.capture_json(r#"{"collection": "todos"}"#);
    assert_eq!(error_code(&bad.unwrap_err()), "INVALID_MUTATION");
    // A failed capture wrote nothing.
    assert_eq!(json(core.counts().unwrap())["total"], 0);
    let ok = core
        .capture_json(
            r#"[{"collection": "todos", "type": "insert", "key": "k", "modified": {"id": "k"}}]"#,
        )
        .unwrap();
    let ok: serde_json::Value = serde_json::from_str(&ok).expect("changes as JSON text");
    assert_eq!(ok[0]["value"], json!({"id": "k"}));
    assert_eq!(json(core.counts().unwrap())["total"], 1);
    let bad =
        eventsourced_db::wasm::EventSourcedCore::open("x".into(), js(json!({"storage": "floppy"})))
            .await
            .err()
            .unwrap();
    assert_eq!(error_code(&bad), "INVALID_CONFIG");
    core.close().unwrap();
    assert_eq!(error_code(&core.counts().unwrap_err()), "CLOSED");
    assert_eq!(
        error_code(&core.capture(js(json!([]))).unwrap_err()),
        "CLOSED"
    );
}

#[wasm_bindgen_test]
async fn opfs_writes_are_coalesced_and_read_back_intact() {
    let name = unique("coalesce");
    let core = open(&name, "opfs").await;
    // The database's VFS: its pool's sahpool VFS, wrapped (`vfs_coalesce`).
    let vfs = format!("esdb-{name}+coalesce");
    let before = eventsourced_db::vfs_coalesce::write_counts(&vfs).expect("the coalescing VFS");
    for batch in 0..10 {
        let rows: Vec<_> = (0..300)
            .map(|i| {
                // Keys spread over the table, so transactions journal many pages.
                let key = format!("k{:08}", (i * 7919 + batch * 104_729) % 1_000_003);
                insert("todos", &key, json!({"id": key, "title": "x".repeat(100)}))
            })
            .collect();
        capture(&core, json!(rows));
    }
    let after = eventsourced_db::vfs_coalesce::write_counts(&vfs).unwrap();
    let (requested, issued) = (
        after.requested - before.requested,
        after.issued - before.issued,
    );
    assert!(
        issued * 2 < requested,
        "{issued} of {requested} write calls reached OPFS"
    );
    core.close().unwrap();

    let core = open(&name, "opfs").await;
    let rows = json(core.visible_rows("todos").unwrap());
    assert_eq!(rows.as_array().unwrap().len(), 3000);
    assert_eq!(json(core.counts().unwrap())["pending"], 3000);
    core.close().unwrap();
}
