//! Helpers: JSON ↔ JS values, unique names, error fields.

use eventsourced_db::wasm::EventSourcedCore;
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};

/// A JSON value as a plain JS value.
pub fn js(v: Value) -> JsValue {
    eventsourced_db::wasm::convert::to_js(&v).unwrap()
}

/// A JS value as JSON.
pub fn json(v: JsValue) -> Value {
    eventsourced_db::wasm::convert::input("test value", &v).unwrap()
}

/// A name no earlier run used (OPFS outlives one test run in a profile).
pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom(&mut b);
    format!(
        "{prefix}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn getrandom(buf: &mut [u8]) {
    use eventsourced_db::Environment;
    eventsourced_db::wasm::env::BrowserEnvironment::new()
        .unwrap()
        .fill_random(buf);
}

/// Opens `name` on OPFS, or in memory with `memory`.
pub async fn open(name: &str, storage: &str) -> EventSourcedCore {
    EventSourcedCore::open(name.to_string(), js(json!({ "storage": storage })))
        .await
        .unwrap_or_else(|e| panic!("open {name}: {}", error_text(&e)))
}

/// `{ collection, type: insert, key, modified }`.
pub fn insert(collection: &str, key: &str, row: Value) -> Value {
    json!({ "collection": collection, "type": "insert", "key": key, "modified": row })
}

/// Captures and returns the visible changes as JSON.
pub fn capture(core: &EventSourcedCore, mutations: Value) -> Value {
    json(
        core.capture(js(mutations))
            .unwrap_or_else(|e| panic!("capture: {}", error_text(&e))),
    )
}

/// A JS property as JSON (`null` when missing).
pub fn prop(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap()
}

/// `name: code: message` of a thrown error, for assertions and panics.
pub fn error_text(e: &JsValue) -> String {
    format!(
        "{}: {}: {}",
        prop(e, "name").as_string().unwrap_or_default(),
        prop(e, "code").as_string().unwrap_or_default(),
        prop(e, "message").as_string().unwrap_or_default()
    )
}

/// The `code` of a thrown error, after checking it is a real `Error`.
pub fn error_code(e: &JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "not an Error: {e:?}");
    assert_eq!(
        prop(e, "name").as_string().as_deref(),
        Some("EventSourcedError")
    );
    prop(e, "code").as_string().expect("error without a code")
}

/// Runs a sync round with `request` (JSON part) and returns the JS result.
pub async fn sync(core: &EventSourcedCore, request: JsValue) -> JsValue {
    let promise = core
        .sync(request)
        .unwrap_or_else(|e| panic!("sync: {}", error_text(&e)));
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap()
}

/// The `errors[].code` of a sync result.
pub fn sync_error_codes(result: &JsValue) -> Vec<String> {
    let errors: js_sys::Array = prop(result, "errors").into();
    errors.iter().map(|e| error_code(&e)).collect()
}

/// A compile-time URL, or a clear failure telling how to run the test.
#[macro_export]
macro_rules! server_url {
    ($var:literal) => {
        option_env!($var).unwrap_or_else(|| {
            panic!(concat!(
                $var,
                " is not set: run `make test-wasm`, which starts the servers"
            ))
        })
    };
}
