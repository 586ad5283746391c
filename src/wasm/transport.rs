//! One transport type for the sync engine: HTTP or the app's JS functions.

use crate::protocol::{Event, PullResponse, PushResponse, Snapshot};
use crate::sync::transport::{Transport, TransportError};

use super::http::HttpTransport;
use super::js_transport::JsTransport;

/// The transport a sync request named.
pub enum AnyTransport {
    /// `fetch` to the protocol's URLs.
    Http(HttpTransport),
    /// The app's `{ push, pull }` functions.
    Js(JsTransport),
}

impl Transport for AnyTransport {
    async fn push(&self, events: &[Event]) -> Result<PushResponse, TransportError> {
        match self {
            AnyTransport::Http(t) => t.push(events).await,
            AnyTransport::Js(t) => t.push(events).await,
        }
    }

    async fn pull(&self, since: &str, limit: usize) -> Result<PullResponse, TransportError> {
        match self {
            AnyTransport::Http(t) => t.pull(since, limit).await,
            AnyTransport::Js(t) => t.pull(since, limit).await,
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, TransportError> {
        match self {
            AnyTransport::Http(t) => t.snapshot().await,
            AnyTransport::Js(t) => t.snapshot().await,
        }
    }
}
