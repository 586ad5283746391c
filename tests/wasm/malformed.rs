//! Malformed server answers give typed errors and change nothing locally.

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::server_url;
use crate::util::*;

fn request(mode: &str) -> JsValue {
    let base = server_url!("ESDB_TEST_BAD_SERVER");
    js(json!({
        "transport": {
            "push": format!("{base}/{mode}/api/events"),
            "pull": format!("{base}/{mode}/api/events"),
            "timeoutMs": 500,
        },
        "options": { "maxAttempts": 2, "baseDelayMs": 10, "maxDelayMs": 20 }
    }))
}

/// Everything a test can observe of the local state.
fn state(core: &eventsourced_db::wasm::EventSourcedCore) -> Value {
    json!({
        "rows": json(core.visible_rows("todos").unwrap()),
        "events": json(core.events(JsValue::UNDEFINED).unwrap()),
        "cursor": core.cursor().unwrap(),
        "counts": json(core.counts().unwrap()),
    })
}

async fn assert_sync_fails_cleanly(mode: &str, expected: &str) {
    // With a pending event (push fails) and without one (pull fails).
    for pending in [true, false] {
        let core = open(&format!("bad-{mode}"), "memory").await;
        if pending {
            capture(&core, json!([insert("todos", "t1", json!({"id": "t1"}))]));
        }
        let before = state(&core);
        let result = sync(&core, request(mode)).await;
        let codes = sync_error_codes(&result);
        assert!(!codes.is_empty(), "{mode}: no error");
        assert!(codes.iter().all(|c| c == expected), "{mode}: {codes:?}");
        assert_eq!(state(&core), before, "{mode}: local state changed");
        core.close().unwrap();
    }
}

#[wasm_bindgen_test]
async fn an_html_page_with_status_200_is_malformed() {
    assert_sync_fails_cleanly("html", "MALFORMED_RESPONSE").await;
}

#[wasm_bindgen_test]
async fn truncated_json_is_malformed() {
    assert_sync_fails_cleanly("truncated", "MALFORMED_RESPONSE").await;
}

#[wasm_bindgen_test]
async fn json_of_the_wrong_types_is_malformed() {
    assert_sync_fails_cleanly("wrongtypes", "MALFORMED_RESPONSE").await;
}

#[wasm_bindgen_test]
async fn a_500_html_page_is_a_transient_network_error() {
    assert_sync_fails_cleanly("error500", "NETWORK").await;
}

#[wasm_bindgen_test]
async fn a_body_cut_mid_transfer_is_a_transient_network_error() {
    assert_sync_fails_cleanly("cut", "NETWORK").await;
}

#[wasm_bindgen_test]
async fn a_server_that_never_answers_times_out() {
    assert_sync_fails_cleanly("hang", "NETWORK").await;
}

#[wasm_bindgen_test]
async fn a_custom_transport_returning_garbage_is_malformed() {
    let core = open("bad-custom", "memory").await;
    capture(&core, json!([insert("todos", "t1", json!({"id": "t1"}))]));
    let before = state(&core);
    let push =
        Closure::<dyn FnMut(JsValue) -> JsValue>::new(|_events| js(json!({"confirmed": "nope"})));
    let pull = Closure::<dyn FnMut(JsValue, JsValue) -> JsValue>::new(|_since, _limit| {
        js_sys::Promise::resolve(&js(json!({"events": [{"globalSeq": "one"}]}))).into()
    });
    let transport = js_sys::Object::new();
    js_sys::Reflect::set(&transport, &"push".into(), push.as_ref()).unwrap();
    js_sys::Reflect::set(&transport, &"pull".into(), pull.as_ref()).unwrap();
    let req = js(json!({ "options": { "maxAttempts": 1 } }));
    js_sys::Reflect::set(&req, &"transport".into(), &transport).unwrap();
    let result = sync(&core, req).await;
    assert_eq!(
        sync_error_codes(&result),
        vec!["MALFORMED_RESPONSE", "MALFORMED_RESPONSE"]
    );
    assert_eq!(state(&core), before);
    core.close().unwrap();
}

#[wasm_bindgen_test]
async fn a_custom_transport_error_with_a_status_is_classified_like_http() {
    let core = open("custom-401", "memory").await;
    capture(&core, json!([insert("todos", "t1", json!({"id": "t1"}))]));
    let push = Closure::<dyn FnMut(JsValue) -> JsValue>::new(|_events| {
        let e = js_sys::Error::new("token expired");
        js_sys::Reflect::set(&e, &"status".into(), &JsValue::from(401)).unwrap();
        js_sys::Promise::reject(&e).into()
    });
    let pull = Closure::<dyn FnMut(JsValue, JsValue) -> JsValue>::new(|_s, _l| {
        js(json!({"events": [], "cursor": "0", "hasMore": false}))
    });
    let transport = js_sys::Object::new();
    js_sys::Reflect::set(&transport, &"push".into(), push.as_ref()).unwrap();
    js_sys::Reflect::set(&transport, &"pull".into(), pull.as_ref()).unwrap();
    let req = js_sys::Object::new();
    js_sys::Reflect::set(&req, &"transport".into(), &transport).unwrap();
    let result = sync(&core, req.into()).await;
    assert_eq!(sync_error_codes(&result), vec!["UNAUTHORIZED"]);
    assert_eq!(json(core.counts().unwrap())["pending"], 1);
    core.close().unwrap();
}
