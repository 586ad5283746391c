//! Core errors as JavaScript `Error` objects: `name` is always
//! [`ERROR_NAME`], `code` is the stable [`Error::code`], so the JS side can
//! map codes to its own error classes. Never a thrown string.

use wasm_bindgen::JsValue;

use crate::error::Error;

/// The `name` of every error the wasm layer throws.
pub const ERROR_NAME: &str = "EventSourcedError";

/// Builds the JS `Error` for a core error, with `code`, `transient`, and the
/// HTTP `status` where there was one.
pub fn to_js(err: &Error) -> JsValue {
    let e = js_sys::Error::new(&err.to_string());
    e.set_name(ERROR_NAME);
    set(&e, "code", &JsValue::from_str(err.code()));
    set(&e, "transient", &JsValue::from_bool(err.is_transient()));
    let status = match err {
        Error::Network { status, .. } => *status,
        Error::Unauthorized { status, .. } | Error::Http { status, .. } => Some(*status),
        _ => None,
    };
    if let Some(s) = status {
        set(&e, "status", &JsValue::from(s));
    }
    e.into()
}

impl From<Error> for JsValue {
    fn from(err: Error) -> JsValue {
        to_js(&err)
    }
}

/// A value from JavaScript that does not have the expected shape.
pub(crate) fn bad_argument(what: &str, err: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(format!("{what}: {err}"))
}

/// Best-effort message of a thrown JS value (an `Error`, a string, anything).
pub(crate) fn js_message(value: &JsValue) -> String {
    if let Some(s) = value.as_string() {
        return s;
    }
    let prop = |name: &str| {
        js_sys::Reflect::get(value, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
    };
    match (prop("name"), prop("message")) {
        (Some(n), Some(m)) => format!("{n}: {m}"),
        (None, Some(m)) => m,
        _ => format!("{value:?}"),
    }
}

fn set(target: &js_sys::Error, key: &str, value: &JsValue) {
    // Setting a data property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
}
