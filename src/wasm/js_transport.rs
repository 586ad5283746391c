//! A transport given by the app as JS functions `{ push(events), pull(since,
//! limit), snapshot?() }` (WebSocket, gRPC, tests). In the worker those
//! functions are proxies that forward each call to the main thread, where the
//! app's real functions live (functions cannot be posted to a worker).
//!
//! - `push` resolves to `{ confirmed, rejected? }` or just the `confirmed` array;
//! - `pull` resolves to `{ events, cursor, hasMore }`;
//! - a thrown error with a numeric `status` (and optional `retryAfterMs`) is
//!   classified like an HTTP answer; any other thrown error is transient.

use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::protocol::{Confirmation, Event, PullResponse, PushResponse, Snapshot};
use crate::sync::transport::{Transport, TransportError};

use super::convert::{input, to_js};
use super::errors::js_message;

/// The app's transport functions.
pub struct JsTransport {
    target: JsValue,
    push: js_sys::Function,
    pull: js_sys::Function,
    snapshot: Option<js_sys::Function>,
}

impl JsTransport {
    /// Reads `{ push, pull, snapshot? }`; `None` when `value` has no `push`
    /// function (it is then an HTTP configuration).
    pub fn from_js(value: &JsValue) -> Option<Self> {
        let get = |name: &str| {
            js_sys::Reflect::get(value, &JsValue::from_str(name))
                .ok()
                .and_then(|v| v.dyn_into::<js_sys::Function>().ok())
        };
        Some(Self {
            target: value.clone(),
            push: get("push")?,
            pull: get("pull")?,
            snapshot: get("snapshot"),
        })
    }

    async fn invoke(
        &self,
        f: &js_sys::Function,
        args: &[JsValue],
    ) -> Result<JsValue, TransportError> {
        let array: js_sys::Array = args.iter().collect();
        let mut value = f.apply(&self.target, &array).map_err(|e| classify(&e))?;
        if value.has_type::<js_sys::Promise>() {
            value = JsFuture::from(value.unchecked_into::<js_sys::Promise>())
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(value)
    }
}

fn decode<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T, TransportError> {
    input(what, &value)
        .map_err(|e| TransportError::Malformed(format!("the transport's {what} returned {e}")))
}

/// A thrown value: HTTP-like when it carries a numeric `status`.
fn classify(thrown: &JsValue) -> TransportError {
    let get = |k: &str| js_sys::Reflect::get(thrown, &JsValue::from_str(k)).ok();
    let message = js_message(thrown);
    match get("status").and_then(|s| s.as_f64()) {
        Some(status) if (100.0..600.0).contains(&status) => {
            let retry = get("retryAfterMs")
                .and_then(|r| r.as_f64())
                .map(|r| r as u64);
            let body = serde_json::json!({"error": {"code": get("code").and_then(|c| c.as_string()).unwrap_or_default(), "message": message}});
            TransportError::from_status(status as u16, retry, &body.to_string())
        }
        _ => TransportError::Transient {
            status: None,
            retry_after_ms: None,
            message,
        },
    }
}

impl Transport for JsTransport {
    async fn push(&self, events: &[Event]) -> Result<PushResponse, TransportError> {
        let arg = to_js(events)
            .map_err(|e| TransportError::Malformed(format!("could not encode events: {e}")))?;
        let value = self.invoke(&self.push, &[arg]).await?;
        // The reference README's transports return only `confirmed`.
        if js_sys::Array::is_array(&value) {
            let confirmed: Vec<Confirmation> = decode("push", value)?;
            return Ok(PushResponse {
                confirmed,
                rejected: Vec::new(),
            });
        }
        decode("push", value)
    }

    async fn pull(&self, since: &str, limit: usize) -> Result<PullResponse, TransportError> {
        let args = [JsValue::from_str(since), JsValue::from(limit as u32)];
        let value = self.invoke(&self.pull, &args).await?;
        decode("pull", value)
    }

    async fn snapshot(&self) -> Result<Snapshot, TransportError> {
        match &self.snapshot {
            Some(f) => decode("snapshot", self.invoke(f, &[]).await?),
            None => Err(TransportError::Unsupported),
        }
    }
}
