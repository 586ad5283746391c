//! One sync round: push the outbox oldest first, then pull until the server
//! has nothing more. Every step that changes the store is one transaction, so
//! a failure at any await loses nothing and applies nothing twice.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use serde::{Deserialize, Serialize};

use super::transport::{Timer, Transport, TransportError};
use crate::error::Error;
use crate::model::{Rejection, VisibleChange};
use crate::protocol::{Event, PullResponse, RejectedEvent, MAX_PUSH_BATCH};
use crate::store::Store;

/// Tuning of a sync round. The defaults follow `PROTOCOL.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncOptions {
    /// Events per push request (at most 500).
    pub batch_size: usize,
    /// `limit` of each pull request.
    pub pull_limit: usize,
    /// Tries of one request before a transient failure is reported.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt, with jitter.
    pub base_delay_ms: u64,
    /// Longest retry delay (also caps a server's `Retry-After`).
    pub max_delay_ms: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            batch_size: MAX_PUSH_BATCH,
            pull_limit: 1000,
            max_attempts: 4,
            base_delay_ms: 500,
            max_delay_ms: 30_000,
        }
    }
}

/// Receives what a sync round changes as it happens, page by page, so the UI
/// shows pulled rows without waiting for the whole round.
pub trait SyncObserver {
    /// Visible rows changed (replayed remote events, rolled-back rejections).
    fn on_changes(&mut self, _changes: &[VisibleChange]) {}
    /// Events were rejected by the server.
    fn on_rejections(&mut self, _rejections: &[Rejection]) {}
}

/// An observer that ignores everything.
impl SyncObserver for () {}

/// What a sync round did. Errors are non-fatal: push may fail while pull
/// succeeds, and nothing is lost either way.
#[derive(Debug, Default)]
pub struct SyncResult {
    /// Events of this device the server confirmed or already had.
    pub pushed: u64,
    /// Events pulled from the server.
    pub pulled: u64,
    /// Events the server rejected in this round.
    pub rejected: u64,
    /// What went wrong, in order.
    pub errors: Vec<Error>,
}

/// Runs one sync round. See the module docs.
pub async fn sync<T: Transport, M: Timer>(
    store: &Store,
    transport: &T,
    timer: &M,
    opts: &SyncOptions,
    observer: &mut dyn SyncObserver,
) -> SyncResult {
    let mut round = Round {
        store,
        transport,
        timer,
        opts,
        observer,
        result: SyncResult::default(),
    };
    let push_failed = match round.push_all().await {
        Ok(()) => None,
        Err(e) => {
            let unreachable = e.is_transient();
            round.result.errors.push(e);
            Some(unreachable)
        }
    };
    // A server that could not be reached for the push will not answer the
    // pull either; any other push failure still lets the pull settle events.
    if push_failed != Some(true) {
        let pulled = round
            .pull_all()
            .await
            .and_then(|()| store.set_last_sync_at(store.env().now_ms()));
        if let Err(e) = pulled {
            round.result.errors.push(e);
        }
    }
    round.result
}

/// The parties of one round.
struct Round<'a, T, M> {
    store: &'a Store,
    transport: &'a T,
    timer: &'a M,
    opts: &'a SyncOptions,
    observer: &'a mut dyn SyncObserver,
    result: SyncResult,
}

impl<T: Transport, M: Timer> Round<'_, T, M> {
    async fn push_all(&mut self) -> Result<(), Error> {
        let Round {
            store,
            transport,
            timer,
            opts,
            ..
        } = *self;
        let batch_size = opts.batch_size.clamp(1, MAX_PUSH_BATCH);
        loop {
            let batch = store.pending_batch(batch_size)?;
            if batch.is_empty() {
                return Ok(());
            }
            // A refused batch is split in halves until the refused events stand
            // alone, so one poison event never blocks the others.
            let mut work: Vec<Vec<Event>> = vec![batch];
            while let Some(events) = work.pop() {
                match retry(timer, store, opts, || transport.push(&events)).await {
                    Ok(response) => {
                        let outcome = store.settle_push(&events, &response)?;
                        self.result.pushed += outcome.confirmed + outcome.sent;
                        report(
                            self.observer,
                            &mut self.result,
                            outcome.changes,
                            outcome.rejections,
                        );
                    }
                    Err(TransportError::Refused {
                        status,
                        code,
                        message,
                    }) => match status {
                        // Not the events' fault: credentials or a wrong URL. Keep them pending.
                        401 | 403 => return Err(Error::Unauthorized { status, message }),
                        404 | 405 => return Err(Error::Http { status, message }),
                        _ if events.len() > 1 => {
                            let mut left = events;
                            let right = left.split_off(left.len() / 2);
                            // Popped last-in first: push the older half last so it goes first.
                            work.push(right);
                            work.push(left);
                        }
                        _ => {
                            let rejected = RejectedEvent {
                                event_id: events[0].event_id.clone(),
                                code: code.unwrap_or_else(|| format!("http_{status}")),
                                reason: message,
                            };
                            let (changes, rejections) = store.reject(&[rejected])?;
                            report(self.observer, &mut self.result, changes, rejections);
                        }
                    },
                    Err(e) => return Err(transport_error(e)),
                }
            }
        }
    }

    async fn pull_all(&mut self) -> Result<(), Error> {
        let Round {
            store,
            transport,
            timer,
            opts,
            ..
        } = *self;
        let mut since = store.cursor()?;
        // The next page, asked for while the previous one was being applied.
        let mut prefetched: Option<Result<PullResponse, TransportError>> = None;
        loop {
            let fetched = match prefetched.take() {
                Some(r) => r,
                None => pull_page(store, transport, timer, opts, &since).await,
            };
            let page = match fetched {
                Ok(page) => page,
                Err(TransportError::Gone) => {
                    let snapshot = match retry(timer, store, opts, || transport.snapshot()).await {
                        Ok(s) => s,
                        Err(TransportError::Unsupported) => return Err(Error::Http {
                            status: 410,
                            message:
                                "the server compacted its log past our cursor and offers no snapshot"
                                    .into(),
                        }),
                        Err(e) => return Err(transport_error(e)),
                    };
                    let outcome = store.apply_snapshot(&snapshot)?;
                    self.observer.on_changes(&outcome.changes);
                    since = store.cursor()?;
                    continue;
                }
                Err(e) => return Err(transport_error(e)),
            };
            let (count, has_more) = (page.events.len(), page.has_more);
            let stalled = count == 0 && page.cursor == since;
            // Ask for the next page before applying this one, so the server
            // and the network work while SQLite does. The page's cursor is
            // the one it stores. Nothing of the next page is applied before
            // this one committed; a failure here drops the request.
            let next_since = page.cursor.clone();
            let mut next = (has_more && !stalled)
                .then(|| Box::pin(pull_page(store, transport, timer, opts, &next_since)));
            let early = next.as_mut().and_then(|f| start(f.as_mut()));
            let outcome = store.apply_pull(page)?;
            self.result.pulled += count as u64;
            if !outcome.changes.is_empty() {
                self.observer.on_changes(&outcome.changes);
            }
            for u in outcome.unrecognized {
                self.result.errors.push(Error::UnrecognizedEvent {
                    event_id: u.event_id,
                    collection: u.collection_id,
                    reason: u.reason,
                });
            }
            if !has_more {
                return Ok(());
            }
            if stalled {
                return Err(Error::MalformedResponse(
                    "hasMore is true but the page is empty and the cursor did not move".into(),
                ));
            }
            prefetched = Some(match (early, next) {
                (Some(r), _) => r,
                (None, next) => {
                    next.expect("the next page is requested whenever hasMore is true")
                        .await
                }
            });
            since = next_since;
        }
    }
}

/// One pull request, tried again while it fails transiently.
async fn pull_page(
    store: &Store,
    transport: &impl Transport,
    timer: &impl Timer,
    opts: &SyncOptions,
    since: &str,
) -> Result<PullResponse, TransportError> {
    retry(timer, store, opts, || {
        transport.pull(since, opts.pull_limit)
    })
    .await
}

/// Polls `future` once, so the request it makes is under way; its output
/// if that is ready already. Later polls register the real waker.
fn start<F: Future>(future: Pin<&mut F>) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match future.poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn report(
    observer: &mut dyn SyncObserver,
    result: &mut SyncResult,
    changes: Vec<VisibleChange>,
    rejections: Vec<Rejection>,
) {
    if !changes.is_empty() {
        observer.on_changes(&changes);
    }
    if !rejections.is_empty() {
        result.rejected += rejections.len() as u64;
        observer.on_rejections(&rejections);
    }
}

/// Tries `call` until it succeeds, fails for good, or runs out of attempts.
/// Only transient failures are retried, after an exponential, jittered delay
/// (or the server's `Retry-After`, capped).
async fn retry<R, F, Fut>(
    timer: &impl Timer,
    store: &Store,
    opts: &SyncOptions,
    mut call: F,
) -> Result<R, TransportError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<R, TransportError>>,
{
    let mut attempt = 0u32;
    loop {
        match call().await {
            Err(TransportError::Transient { retry_after_ms, .. })
                if attempt + 1 < opts.max_attempts.max(1) =>
            {
                let backoff = opts
                    .base_delay_ms
                    .saturating_mul(1u64 << attempt.min(20))
                    .min(opts.max_delay_ms);
                let delay = match retry_after_ms {
                    Some(ms) => ms.min(opts.max_delay_ms),
                    None => jitter(store, backoff),
                };
                timer.sleep(delay).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// "Equal jitter": half the delay fixed, half random, so clients that failed
/// together do not retry together.
fn jitter(store: &Store, delay: u64) -> u64 {
    let mut b = [0u8; 8];
    store.env().fill_random(&mut b);
    let half = delay / 2;
    half + u64::from_le_bytes(b) % (half + 1)
}

fn transport_error(e: TransportError) -> Error {
    match e {
        TransportError::Transient {
            status, message, ..
        } => Error::Network { status, message },
        TransportError::Refused {
            status, message, ..
        } => match status {
            401 | 403 => Error::Unauthorized { status, message },
            _ => Error::Http { status, message },
        },
        TransportError::Gone => Error::Http {
            status: 410,
            message: "gone".into(),
        },
        TransportError::Malformed(m) => Error::MalformedResponse(m),
        TransportError::Unsupported => Error::Http {
            status: 501,
            message: "the transport does not support this call".into(),
        },
    }
}
