//! `GET /api/events/stream?since=`: the live tail as Server-Sent Events.
//!
//! Each message is one pulled event (`data:` its JSON, `id:` its cursor, so a
//! reconnecting `EventSource` resumes through `Last-Event-ID`). A task per
//! stream sends the backlog page by page, then sleeps on the scope's head
//! channel until a commit wakes it. Comments keep idle connections alive.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::{mpsc, watch};

use crate::auth::Access;
use crate::error::ApiError;
use crate::http::{check_cursor, parse_since, render_event, AppState, PullQuery};
use crate::store::Page;

/// Events read per backend call while catching up.
const PAGE: usize = 500;

/// Opens a live tail.
pub async fn stream(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let scope = app.auth.authorize(&headers, Access::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    // A reconnecting EventSource sends the last id it saw, newer than `since`.
    let last_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let since = match last_id {
        Some(id) => parse_since(Some(id))?,
        None => parse_since(q.since.as_deref())?,
    };
    // Subscribe before the first read so no commit slips between the two.
    let mut heads = app.heads.subscribe(&scope);
    heads.borrow_and_update();
    let first = app.backend.pull(&scope, since, PAGE).await?;
    check_cursor(since, &first.info)?;

    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(tail(app.clone(), scope, since, first, heads, tx));
    let events = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(app.heartbeat).text("heartbeat")))
}

async fn tail(
    app: Arc<AppState>,
    scope: String,
    mut cursor: u64,
    mut page: Page,
    mut heads: watch::Receiver<u64>,
    tx: mpsc::Sender<SseEvent>,
) {
    let mut shutdown = app.shutdown.clone();
    loop {
        for e in &page.events {
            let mut data = String::with_capacity(e.body.len() + 48);
            render_event(&mut data, e);
            let message = SseEvent::default().id(e.seq.to_string()).data(data);
            if tx.send(message).await.is_err() {
                return; // the client went away
            }
            cursor = e.seq;
        }
        if !page.has_more {
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
                _ = shutdown.wait_for(|down| *down) => return,
            }
            heads.borrow_and_update();
        }
        page = match app.backend.pull(&scope, cursor, PAGE).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%scope, error = %e, "live tail ends: store failed");
                return;
            }
        };
        if page.info.compacted_through > cursor {
            // Compacted under our feet: end the stream; the reconnect gets 410.
            return;
        }
    }
}
