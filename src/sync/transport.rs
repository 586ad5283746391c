//! The boundary between the sync engine and the network. The wasm layer
//! implements it over `fetch` (gloo-net) or over JS functions; tests implement
//! it in process or over a real HTTP client.

use std::future::Future;

use crate::protocol::{Event, PullResponse, PushResponse, Snapshot};

/// How a transport call failed. The engine decides from the class whether to
/// retry, split a batch, or stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// Network failure, timeout, `408`, `429` or `5xx`: retry with backoff.
    /// `retry_after_ms` carries the server's `Retry-After`, if any.
    Transient {
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// Server-requested delay before the next attempt.
        retry_after_ms: Option<u64>,
        /// What failed.
        message: String,
    },
    /// Any other `4xx`: the request was refused. For a push, the engine
    /// splits the batch to find the refused events. `code` is the server's
    /// error code when its body had one.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's error code (`{"error": {"code"}}`), if any.
        code: Option<String>,
        /// The server's message or the body's start.
        message: String,
    },
    /// `410 Gone` on pull: the log was compacted past the cursor.
    Gone,
    /// A `200` whose body is not the protocol. Nothing may be applied.
    Malformed(String),
    /// The transport does not offer this call (for example snapshots).
    Unsupported,
}

impl TransportError {
    /// Classifies an HTTP status and body as `PROTOCOL.md` says: 408, 429 and
    /// 5xx are transient, 410 is `Gone`, every other non-2xx is refused.
    pub fn from_status(status: u16, retry_after_ms: Option<u64>, body: &str) -> Self {
        let (code, message) = match serde_json::from_str::<crate::protocol::ErrorBody>(body) {
            Ok(b) => (Some(b.error.code), b.error.message),
            Err(_) => (None, body.chars().take(200).collect()),
        };
        match status {
            408 | 429 | 500..=599 => TransportError::Transient {
                status: Some(status),
                retry_after_ms,
                message,
            },
            410 => TransportError::Gone,
            _ => TransportError::Refused {
                status,
                code,
                message,
            },
        }
    }
}

/// Parses an HTTP `Retry-After` header given in seconds. (HTTP dates are
/// ignored: the engine's own backoff applies then.)
pub fn parse_retry_after(value: &str) -> Option<u64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0) as u64)
}

/// Push and pull of the sync protocol. Futures need not be `Send`: in the
/// browser everything runs on one worker thread.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// `POST` a batch of 1 to 500 events, oldest first.
    async fn push(&self, events: &[Event]) -> Result<PushResponse, TransportError>;
    /// `GET ?since=<cursor>&limit=<limit>`.
    async fn pull(&self, since: &str, limit: usize) -> Result<PullResponse, TransportError>;
    /// `GET` the snapshot (extension). The default says the server has none.
    async fn snapshot(&self) -> Result<Snapshot, TransportError> {
        Err(TransportError::Unsupported)
    }
}

/// Waiting between retries. Native code may sleep a thread or a runtime
/// timer; the browser uses `setTimeout`; tests record the delays.
pub trait Timer {
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_protocol_says() {
        assert!(matches!(
            TransportError::from_status(503, Some(2000), ""),
            TransportError::Transient {
                status: Some(503),
                retry_after_ms: Some(2000),
                ..
            }
        ));
        assert!(matches!(
            TransportError::from_status(429, None, ""),
            TransportError::Transient { .. }
        ));
        assert!(matches!(
            TransportError::from_status(408, None, ""),
            TransportError::Transient { .. }
        ));
        assert_eq!(
            TransportError::from_status(410, None, ""),
            TransportError::Gone
        );
        match TransportError::from_status(
            400,
            None,
            r#"{"error":{"code":"bad_uuid","message":"no"}}"#,
        ) {
            TransportError::Refused {
                status,
                code,
                message,
            } => {
                assert_eq!(
                    (status, code.as_deref(), message.as_str()),
                    (400, Some("bad_uuid"), "no")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after("3"), Some(3000));
        assert_eq!(parse_retry_after(" 0.5 "), Some(500));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
