//! The sync protocol over `fetch` (gloo-net): push, pull, snapshot.
//!
//! Headers come from the app for every request: either a fixed object or a
//! JS function (sync or async) called before each request, so a fresh access
//! token is used each time. In the worker that function is a proxy that asks
//! the main thread (see `js/src/worker-host.ts`); the transport does not know.

use gloo_net::http::{Request, RequestBuilder};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::protocol::{Event, PullResponse, PushResponse, Snapshot};
use crate::sync::transport::{parse_retry_after, Transport, TransportError};

use super::errors::js_message;
use super::timer::{clear_timeout, set_timeout};

/// Default time limit of one HTTP request, body included.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Where the server is (absolute URLs: relative ones would resolve against
/// the worker script, so the main-thread client resolves them first).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpConfig {
    /// Push URL (`POST`).
    pub push: String,
    /// Pull URL (`GET ?since=&limit=`).
    pub pull: String,
    /// Snapshot URL (extension); without it snapshots are unsupported.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Time limit of one request, body included.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Where each request's headers come from.
pub enum HeaderSource {
    /// No extra headers.
    None,
    /// The same headers on every request.
    Fixed(Vec<(String, String)>),
    /// A JS function returning a headers object or a promise of one.
    Function(js_sys::Function),
}

impl HeaderSource {
    /// Reads `headers` as given from JS: absent, an object, or a function.
    pub fn from_js(value: &JsValue) -> Result<Self, String> {
        if value.is_undefined() || value.is_null() {
            Ok(HeaderSource::None)
        } else if let Some(f) = value.dyn_ref::<js_sys::Function>() {
            Ok(HeaderSource::Function(f.clone()))
        } else {
            headers_from_object(value).map(HeaderSource::Fixed)
        }
    }

    async fn resolve(&self) -> Result<Vec<(String, String)>, TransportError> {
        match self {
            HeaderSource::None => Ok(Vec::new()),
            HeaderSource::Fixed(h) => Ok(h.clone()),
            HeaderSource::Function(f) => {
                let failed = |e: &JsValue| TransportError::Transient {
                    status: None,
                    retry_after_ms: None,
                    message: format!("the headers function failed: {}", js_message(e)),
                };
                let mut value = f.call0(&JsValue::UNDEFINED).map_err(|e| failed(&e))?;
                if value.has_type::<js_sys::Promise>() {
                    value = JsFuture::from(value.unchecked_into::<js_sys::Promise>())
                        .await
                        .map_err(|e| failed(&e))?;
                }
                headers_from_object(&value).map_err(|m| TransportError::Transient {
                    status: None,
                    retry_after_ms: None,
                    message: m,
                })
            }
        }
    }
}

fn headers_from_object(value: &JsValue) -> Result<Vec<(String, String)>, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !value.is_object() {
        return Err("headers must be an object of strings".into());
    }
    let mut out = Vec::new();
    for entry in js_sys::Object::entries(value.unchecked_ref()).iter() {
        let pair: js_sys::Array = entry.unchecked_into();
        let (k, v) = (pair.get(0).as_string(), pair.get(1).as_string());
        match (k, v) {
            (Some(k), Some(v)) => out.push((k, v)),
            (Some(k), None) => return Err(format!("header '{k}' is not a string")),
            _ => return Err("headers must be an object of strings".into()),
        }
    }
    Ok(out)
}

/// The HTTP transport of `PROTOCOL.md`.
pub struct HttpTransport {
    config: HttpConfig,
    headers: HeaderSource,
}

impl HttpTransport {
    /// A transport for `config`, with headers from `headers`.
    pub fn new(config: HttpConfig, headers: HeaderSource) -> Self {
        Self { config, headers }
    }

    /// Sends one request and reads its whole body within the time limit.
    /// Returns the status, `Retry-After` in ms, and the body's bytes (read as
    /// bytes: serde parses UTF-8 directly, with no UTF-16 string between).
    async fn send(
        &self,
        builder: RequestBuilder,
        body: Option<String>,
    ) -> Result<(u16, Option<u64>, Vec<u8>), TransportError> {
        let timeout_ms = self.config.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        let network = |message: String| TransportError::Transient {
            status: None,
            retry_after_ms: None,
            message,
        };
        let mut builder = builder;
        for (k, v) in self.headers.resolve().await? {
            builder = builder.header(&k, &v);
        }
        let controller = web_sys::AbortController::new()
            .map_err(|e| network(format!("AbortController: {}", js_message(&e))))?;
        builder = builder.abort_signal(Some(&controller.signal()));
        let request: Request = match body {
            Some(b) => builder.header("Content-Type", "application/json").body(b),
            None => builder.build(),
        }
        .map_err(|e| network(format!("could not build the request: {e}")))?;

        let _deadline = Deadline::start(controller, timeout_ms);
        let response = request.send().await.map_err(|e| network(e.to_string()))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| parse_retry_after(&v));
        // A body cut off by the network (or the deadline) is a transient
        // failure; a complete body that does not parse is malformed.
        let body = response
            .binary()
            .await
            .map_err(|e| network(e.to_string()))?;
        Ok((status, retry_after, body))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
        body: Option<String>,
    ) -> Result<T, TransportError> {
        let (status, retry_after, bytes) = self.send(builder, body).await?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&bytes);
            return Err(TransportError::from_status(status, retry_after, &text));
        }
        parse_body(&bytes)
    }
}

/// Parses a `2xx` body; anything that is not the expected JSON (an HTML
/// page from a proxy, a truncated body, wrong types) is `Malformed`.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, TransportError> {
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(320)])
            .chars()
            .take(80)
            .collect();
        TransportError::Malformed(format!("{e}; the body starts with {start:?}"))
    })
}

impl Transport for HttpTransport {
    async fn push(&self, events: &[Event]) -> Result<PushResponse, TransportError> {
        let body = serde_json::to_string(events)
            .map_err(|e| TransportError::Malformed(format!("could not encode events: {e}")))?;
        self.call(Request::post(&self.config.push), Some(body))
            .await
    }

    async fn pull(&self, since: &str, limit: usize) -> Result<PullResponse, TransportError> {
        let sep = if self.config.pull.contains('?') {
            '&'
        } else {
            '?'
        };
        let since: String = js_sys::encode_uri_component(since).into();
        let url = format!("{}{sep}since={since}&limit={limit}", self.config.pull);
        self.call(Request::get(&url), None).await
    }

    async fn snapshot(&self) -> Result<Snapshot, TransportError> {
        match &self.config.snapshot {
            Some(url) => self.call(Request::get(url), None).await,
            None => Err(TransportError::Unsupported),
        }
    }
}

/// Aborts the request when the time limit passes; dropping it (the request
/// finished) cancels the timer and frees the callback.
struct Deadline {
    id: JsValue,
    _on_timeout: Closure<dyn FnMut()>,
}

impl Deadline {
    fn start(controller: web_sys::AbortController, ms: u64) -> Self {
        let on_timeout = Closure::once(move || {
            // An `Error` as the reason: gloo-net expects fetch to reject with one.
            let reason = js_sys::Error::new(&format!("timed out after {ms} ms"));
            reason.set_name("TimeoutError");
            controller.abort_with_reason(&reason);
        });
        let id = set_timeout(on_timeout.as_ref().unchecked_ref(), ms as f64);
        Self {
            id,
            _on_timeout: on_timeout,
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}
