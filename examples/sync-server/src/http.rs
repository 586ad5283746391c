//! Routes: push, pull, snapshot, health (the live tail is in [`crate::sse`]).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use eventsourced_db::protocol::{Confirmation, PushResponse, RejectedEvent, MAX_PULL_LIMIT};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{Access, Auth};
use crate::config::{Cors, Limits};
use crate::error::ApiError;
use crate::heads::Heads;
use crate::ingest;
use crate::store::{Backend, Incoming, Outcome, Page, ScopeInfo, StoredEvent};
use crate::validate::Validators;
use crate::{snapshot, sse};

/// Pull page size when the client sends no `limit`.
pub const DEFAULT_PULL_LIMIT: usize = 500;

/// Everything a request handler needs.
pub struct AppState {
    /// The event store.
    pub backend: Arc<dyn Backend>,
    /// Token table.
    pub auth: Auth,
    /// Per-event validators.
    pub validators: Validators,
    /// Request size limits.
    pub limits: Limits,
    /// Wakes live tails on commits.
    pub heads: Heads,
    /// SSE heartbeat interval.
    pub heartbeat: Duration,
    /// Becomes `true` when the server shuts down (ends live tails).
    pub shutdown: watch::Receiver<bool>,
}

/// The HTTP API with CORS and request tracing.
pub fn router(state: Arc<AppState>, cors: &Cors) -> Router {
    Router::new()
        .route("/api/events", get(pull).post(push))
        .route("/api/events/stream", get(sse::stream))
        .route("/api/snapshot", get(snapshot_handler))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(state)
        .layer(cors_layer(cors))
        .layer(TraceLayer::new_for_http())
}

fn cors_layer(cors: &Cors) -> CorsLayer {
    let origin = if cors.any {
        AllowOrigin::any()
    } else {
        let origins = cors.origins.clone();
        let loopback = cors.loopback;
        AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            origins.iter().any(|o| o == origin) || (loopback && is_loopback_origin(origin))
        })
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// `http(s)://localhost`, `127.x.x.x` or `[::1]`, any port.
pub fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if rest.starts_with('[') {
        rest.split_inclusive(']').next().unwrap_or("")
    } else {
        rest.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn push(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PushResponse>, ApiError> {
    let scope = app.auth.authorize(&headers, Access::ReadWrite)?;
    let bytes = read_body(&headers, body, app.limits.max_body_bytes).await?;
    let parsed = ingest::parse_batch(&bytes, &app.limits)?;

    let mut ids = Vec::with_capacity(parsed.len());
    let mut incoming = Vec::with_capacity(parsed.len());
    for p in parsed {
        let rejection = app.validators.check(&scope, &p.event);
        incoming.push(Incoming {
            id: p.id,
            body: p.body,
            rejected: rejection.is_some(),
        });
        ids.push((p.event.event_id, rejection));
    }
    let result = app.backend.push(&scope, incoming).await?;

    let mut response = PushResponse::default();
    let mut stored = 0usize;
    for ((event_id, rejection), outcome) in ids.into_iter().zip(result.outcomes) {
        match outcome {
            Outcome::Stored(global_seq) | Outcome::Duplicate(global_seq) => {
                stored += matches!(outcome, Outcome::Stored(_)) as usize;
                response.confirmed.push(Confirmation {
                    event_id,
                    global_seq,
                });
            }
            Outcome::Rejected => {
                let r = rejection.expect("only validator-refused events are rejected");
                response.rejected.push(RejectedEvent {
                    event_id,
                    code: r.code,
                    reason: r.reason,
                });
            }
        }
    }
    if stored > 0 {
        app.heads.publish(&scope, result.head);
    }
    tracing::debug!(
        %scope,
        stored,
        duplicates = response.confirmed.len() - stored,
        rejected = response.rejected.len(),
        head = result.head,
        "push"
    );
    Ok(Json(response))
}

/// Reads a body of at most `limit` bytes. A larger one is still read (and
/// dropped) up to 4 × `limit`, so that the client gets its `413` instead of a
/// reset connection, which it would take for a transient failure and retry.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body exceeds {limit} bytes; push fewer events at once"),
        )
    };
    let drain_cap = limit.saturating_mul(4);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > drain_cap) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut total = 0usize;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("body_read_failed", format!("reading the body: {e}"))
        })?;
        total += chunk.len();
        if total <= limit {
            buf.extend_from_slice(&chunk);
        } else if total > drain_cap {
            return Err(too_large());
        }
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(buf)
}

/// Query of pull and stream: `since` (cursor) and `limit`.
#[derive(Debug, Default, Deserialize)]
pub struct PullQuery {
    /// The cursor to continue from.
    pub since: Option<String>,
    /// Page size (pull only).
    pub limit: Option<String>,
}

/// The cursor a client sent (`0` when absent).
pub fn parse_since(since: Option<&str>) -> Result<u64, ApiError> {
    match since.map(str::trim) {
        None | Some("") => Ok(0),
        Some(s) => s.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_cursor",
                format!("`since` must be a cursor this server returned, got `{s}`"),
            )
        }),
    }
}

fn parse_limit(limit: Option<&str>) -> Result<usize, ApiError> {
    match limit.map(str::trim) {
        None | Some("") => Ok(DEFAULT_PULL_LIMIT),
        Some(s) => match s.parse::<u64>() {
            Ok(0) | Err(_) => Err(ApiError::bad_request(
                "invalid_limit",
                format!("`limit` must be a positive integer, got `{s}`"),
            )),
            Ok(n) => Ok(n.min(MAX_PULL_LIMIT as u64) as usize),
        },
    }
}

/// `410 Gone` when the log no longer holds every event after `since`:
/// compacted past it, or `since` is beyond the log (the store was reset).
pub fn check_cursor(since: u64, info: &ScopeInfo) -> Result<(), ApiError> {
    if since < info.compacted_through {
        return Err(ApiError::new(
            StatusCode::GONE,
            "compacted",
            format!(
                "the log was compacted through {}; fetch the snapshot",
                info.compacted_through
            ),
        ));
    }
    if since > info.head {
        return Err(ApiError::new(
            StatusCode::GONE,
            "cursor_ahead",
            format!(
                "cursor {since} is beyond this server's log (head {}); fetch the snapshot",
                info.head
            ),
        ));
    }
    Ok(())
}

async fn pull(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let scope = app.auth.authorize(&headers, Access::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let since = parse_since(q.since.as_deref())?;
    let limit = parse_limit(q.limit.as_deref())?;
    let page = app.backend.pull(&scope, since, limit).await?;
    check_cursor(since, &page.info)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        render_page(&page, since),
    )
        .into_response())
}

/// A `PullResponse` as JSON, splicing the stored event text.
pub fn render_page(page: &Page, since: u64) -> String {
    let size: usize = page.events.iter().map(|e| e.body.len() + 48).sum();
    let mut out = String::with_capacity(size + 64);
    out.push_str("{\"events\":[");
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        render_event(&mut out, e);
    }
    let cursor = page.events.last().map_or(since, |e| e.seq);
    let _ = write!(
        out,
        "],\"cursor\":\"{cursor}\",\"hasMore\":{}}}",
        page.has_more
    );
    out
}

/// One `PulledEvent`: the stored `{"eventId":…}` with `globalSeq` and `cursor` added.
pub fn render_event(out: &mut String, e: &StoredEvent) {
    let inner = e
        .body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .unwrap_or("");
    let _ = write!(out, "{{\"globalSeq\":{},", e.seq);
    out.push_str(inner);
    let _ = write!(out, ",\"cursor\":\"{}\"}}", e.seq);
}

async fn snapshot_handler(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = app.auth.authorize(&headers, Access::Read)?;
    let snapshot = snapshot::build(app.backend.as_ref(), &scope).await?;
    Ok(Json(snapshot).into_response())
}

async fn healthz(State(app): State<Arc<AppState>>) -> Result<Response, ApiError> {
    app.backend.health().await?;
    Ok(Json(serde_json::json!({ "status": "ok" })).into_response())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins() {
        assert!(is_loopback_origin("http://localhost:5173"));
        assert!(is_loopback_origin("http://127.0.0.1:4000"));
        assert!(is_loopback_origin("http://[::1]:80"));
        assert!(is_loopback_origin("https://localhost"));
        assert!(!is_loopback_origin("http://localhost.evil.com"));
        assert!(!is_loopback_origin("http://example.com"));
        assert!(!is_loopback_origin("null"));
    }

    #[test]
    fn pages_render_as_pull_responses() {
        let page = Page {
            events: vec![StoredEvent {
                seq: 7,
                body: r#"{"eventId":"e","collectionId":"c","type":"insert","key":"k","payload":{},"timestamp":1}"#.into(),
            }],
            has_more: true,
            info: ScopeInfo::default(),
        };
        let r: eventsourced_db::protocol::PullResponse =
            serde_json::from_str(&render_page(&page, 3)).unwrap();
        assert_eq!(r.cursor, "7");
        assert!(r.has_more);
        assert_eq!(r.events[0].global_seq, 7);
        assert_eq!(r.events[0].cursor.as_deref(), Some("7"));
        let empty = render_page(&Page::default(), 3);
        assert_eq!(empty, r#"{"events":[],"cursor":"3","hasMore":false}"#);
    }

    #[test]
    fn limits_and_cursors_parse() {
        assert_eq!(parse_limit(None).unwrap(), 500);
        assert_eq!(parse_limit(Some("5000")).unwrap(), 1000);
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("-1")).is_err());
        assert_eq!(parse_since(Some("42")).unwrap(), 42);
        assert!(parse_since(Some("abc")).is_err());
    }
}
