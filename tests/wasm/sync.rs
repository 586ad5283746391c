//! Sync with the real reference server on loopback.

use std::cell::Cell;
use std::rc::Rc;

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::server_url;
use crate::util::*;

/// `{ transport: { push, pull, snapshot, headers }, options }` for the server.
fn request(headers: Option<&JsValue>) -> JsValue {
    let base = server_url!("ESDB_TEST_SERVER");
    let req = js(json!({
        "transport": {
            "push": format!("{base}/api/events"),
            "pull": format!("{base}/api/events"),
            "snapshot": format!("{base}/api/snapshot"),
            "timeoutMs": 10_000,
        },
        "options": { "maxAttempts": 2, "baseDelayMs": 50 }
    }));
    if let Some(h) = headers {
        js_sys::Reflect::set(&prop(&req, "transport"), &"headers".into(), h).unwrap();
    }
    req
}

fn num(v: &JsValue, k: &str) -> f64 {
    prop(v, k).as_f64().unwrap()
}

#[wasm_bindgen_test]
async fn push_pull_and_the_cursor_survive_a_reopen() {
    let collection = unique("todos");
    let (a_name, b_name) = (unique("sync-a"), unique("sync-b"));
    let a = open(&a_name, "opfs").await;
    let b = open(&b_name, "opfs").await;

    capture(
        &a,
        json!([insert(
            &collection,
            "t1",
            json!({"id": "t1", "title": "from a"})
        )]),
    );
    // Headers come from a function called before every request.
    let calls = Rc::new(Cell::new(0u32));
    let counter = calls.clone();
    let headers = Closure::<dyn FnMut() -> JsValue>::new(move || {
        counter.set(counter.get() + 1);
        js(json!({ "Authorization": "Bearer test-token" }))
    });
    let result = sync(&a, request(Some(headers.as_ref()))).await;
    assert_eq!(sync_error_codes(&result), Vec::<String>::new());
    assert_eq!(num(&result, "pushed"), 1.0);
    assert!(
        calls.get() >= 2,
        "headers asked per request, got {}",
        calls.get()
    );
    let events = json(a.events(js(json!({ "collection": collection }))).unwrap());
    assert_eq!(events[0]["status"], "confirmed");
    assert!(events[0]["globalSeq"].as_u64().unwrap() > 0);

    // B pulls A's event; the pulled change is reported as it is applied.
    let seen = Rc::new(std::cell::RefCell::new(Vec::<Value>::new()));
    let sink = seen.clone();
    let on_changes = Closure::<dyn FnMut(JsValue)>::new(move |changes: JsValue| {
        let text = changes.as_string().expect("onChanges gets JSON text");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        sink.borrow_mut().extend(parsed.as_array().unwrap().clone());
    });
    let req = request(None);
    js_sys::Reflect::set(&req, &"onChanges".into(), on_changes.as_ref()).unwrap();
    let result = sync(&b, req).await;
    assert_eq!(sync_error_codes(&result), Vec::<String>::new());
    assert!(num(&result, "pulled") >= 1.0);
    assert!(seen
        .borrow()
        .iter()
        .any(|c| c["collection"] == collection.as_str()
            && c["key"] == "t1"
            && c["type"] == "insert"));
    assert_eq!(
        json(b.visible_rows(&collection).unwrap()),
        json!([{"key": "t1", "value": {"id": "t1", "title": "from a"}}])
    );
    let cursor = b.cursor().unwrap();
    assert_ne!(cursor, "0");
    b.close().unwrap();

    // The cursor survives the reopen: nothing is pulled twice.
    let b = open(&b_name, "opfs").await;
    assert_eq!(b.cursor().unwrap(), cursor);
    let result = sync(&b, request(None)).await;
    assert_eq!(num(&result, "pulled"), 0.0);
    assert_eq!(json(b.counts().unwrap())["total"], 1);

    // B writes back; A sees it.
    capture(
        &b,
        json!([{ "collection": collection, "type": "update", "key": "t1",
                 "original": {"id": "t1", "title": "from a"},
                 "modified": {"id": "t1", "title": "from b"}, "changes": {"title": "from b"} }]),
    );
    let result = sync(&b, request(None)).await;
    assert_eq!(num(&result, "pushed"), 1.0);
    let result = sync(&a, request(None)).await;
    assert_eq!(sync_error_codes(&result), Vec::<String>::new());
    assert_eq!(
        json(a.visible_rows(&collection).unwrap()),
        json!([{"key": "t1", "value": {"id": "t1", "title": "from b"}}])
    );
    assert_eq!(json(a.counts().unwrap())["pending"], 0);
    a.close().unwrap();
    b.close().unwrap();
}

#[wasm_bindgen_test]
async fn captures_go_on_while_a_sync_runs_and_close_waits_for_it() {
    let collection = unique("busy");
    let core = open(&unique("busy"), "opfs").await;
    capture(
        &core,
        json!([insert(&collection, "k1", json!({"id": "k1"}))]),
    );
    let promise = core.sync(request(None)).unwrap();
    // The round is in flight (awaiting fetch): capture still works, close refuses.
    capture(
        &core,
        json!([insert(&collection, "k2", json!({"id": "k2"}))]),
    );
    assert_eq!(
        error_code(&core.close().unwrap_err()),
        "STORAGE_UNAVAILABLE"
    );
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    let result = sync(&core, request(None)).await;
    assert_eq!(sync_error_codes(&result), Vec::<String>::new());
    assert_eq!(json(core.counts().unwrap())["pending"], 0);
    core.close().unwrap();
}

#[wasm_bindgen_test]
async fn an_unreachable_server_is_a_transient_network_error() {
    let core = open("unreachable", "memory").await;
    capture(&core, json!([insert("todos", "t1", json!({"id": "t1"}))]));
    // Port 9 (discard) on loopback: nothing listens there.
    let req = js(json!({
        "transport": { "push": "http://127.0.0.1:9/api/events", "pull": "http://127.0.0.1:9/api/events" },
        "options": { "maxAttempts": 1 }
    }));
    let result = sync(&core, req).await;
    assert_eq!(sync_error_codes(&result), vec!["NETWORK".to_string()]);
    let errors: js_sys::Array = prop(&result, "errors").into();
    assert_eq!(prop(&errors.get(0), "transient"), JsValue::TRUE);
    assert_eq!(json(core.counts().unwrap())["pending"], 1);
    core.close().unwrap();
}
