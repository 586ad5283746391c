//! JS ↔ Rust conversions, through JSON text: `JSON.stringify` / `JSON.parse`
//! on the JS side, serde_json on ours. One serde backend for everything
//! (HTTP bodies, SQLite payloads, JS values) keeps the wasm small, V8's JSON
//! is fast for large batches, and rows keep exactly their JSON meaning.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::error::Error;

use super::errors::{bad_argument, js_message};

/// Rust → JS: plain objects and arrays, as `JSON.parse` gives them.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    js_sys::JSON::parse(&text).map_err(|e| js_message(&e))
}

/// Rust → JS for results handed back to the app.
pub fn output<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Error> {
    to_js(value).map_err(|e| Error::Storage(format!("could not convert a result for JS: {e}")))
}

/// JS → JSON text. A `BigInt` or a cycle cannot be stored: `NOT_SERIALIZABLE`.
pub fn to_json_text(what: &str, value: &JsValue) -> Result<String, Error> {
    match js_sys::JSON::stringify(value) {
        Ok(s) => s
            .as_string()
            .ok_or_else(|| bad_argument(what, "undefined is not a JSON value")),
        Err(e) => Err(Error::NotSerializable {
            collection: String::new(),
            path: what.to_string(),
            reason: js_message(&e),
        }),
    }
}

/// JS → Rust for an argument; a wrong shape is `INVALID_CONFIG` naming `what`.
pub fn input<T: DeserializeOwned>(what: &str, value: &JsValue) -> Result<T, Error> {
    let text = to_json_text(what, value)?;
    serde_json::from_str(&text).map_err(|e| bad_argument(what, e))
}
