//! In-process stand-in for a sync server, for the core's unit-level tests.
//! (The reference server's own tests run the engine over real HTTP.)
//!
//! It behaves like a base-contract server (keys stored as text, handed back
//! as strings; duplicates left out of `confirmed`) unless told otherwise, and
//! can inject failures: lost responses, transient errors, poison events.
#![allow(dead_code)]

pub mod muts;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use eventsourced_db::env::SystemEnvironment;
use eventsourced_db::fold::{self, Row};
use eventsourced_db::protocol::{
    Confirmation, Event, EventType, PullResponse, PulledEvent, PushResponse, RejectedEvent,
    Snapshot, SnapshotRow,
};
use eventsourced_db::sync::{Timer, Transport, TransportError};
use eventsourced_db::{Store, StoreConfig};
use serde_json::Value;

/// What to do with the next push request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Store the events, then fail as if the response was lost.
    LoseResponse,
    /// Fail before storing, with this transient status and Retry-After.
    Transient(u16, Option<u64>),
    /// Answer with a malformed 200 body.
    Malformed,
}

#[derive(Default)]
pub struct FakeServer {
    pub log: RefCell<Vec<PulledEvent>>,
    ids: RefCell<HashMap<String, u64>>,
    /// Answer re-pushed events in `confirmed` (reference server) or leave them out (base contract).
    pub confirm_duplicates: Cell<bool>,
    /// Hand keys back as strings, as a text-keyed store does.
    pub stringify_keys: Cell<bool>,
    /// Refuse a whole batch with 400 when it contains an event whose payload has `"poison": true`.
    pub refuse_poison_batches: Cell<bool>,
    /// Reject events whose payload has `"poison": true` one by one (extension).
    pub reject_poison_per_event: Cell<bool>,
    pub faults: RefCell<VecDeque<Fault>>,
    pub pull_faults: RefCell<VecDeque<Fault>>,
    pub push_requests: Cell<u32>,
    pub pull_requests: Cell<u32>,
    /// Largest page a pull returns.
    pub page_limit: Cell<usize>,
    /// Pulls from below this sequence answer 410 Gone (the log was compacted).
    pub compacted_below: Cell<u64>,
}

impl FakeServer {
    pub fn new() -> Self {
        let s = FakeServer::default();
        s.stringify_keys.set(true);
        s.page_limit.set(1000);
        s
    }

    fn is_poison(e: &Event) -> bool {
        e.payload.get("poison") == Some(&Value::Bool(true))
    }

    fn store(&self, events: &[Event]) -> PushResponse {
        let mut resp = PushResponse::default();
        let mut log = self.log.borrow_mut();
        let mut ids = self.ids.borrow_mut();
        for e in events {
            if self.reject_poison_per_event.get() && Self::is_poison(e) {
                resp.rejected.push(RejectedEvent {
                    event_id: e.event_id.clone(),
                    code: "validation".into(),
                    reason: "poison is not allowed".into(),
                });
                continue;
            }
            if let Some(seq) = ids.get(&e.event_id) {
                if self.confirm_duplicates.get() {
                    resp.confirmed.push(Confirmation {
                        event_id: e.event_id.clone(),
                        global_seq: *seq,
                    });
                }
                continue;
            }
            let seq = log.len() as u64 + 1;
            let mut pulled = PulledEvent::from_event(e, seq);
            if self.stringify_keys.get() {
                pulled.key = Value::String(e.key.text());
            }
            log.push(pulled);
            ids.insert(e.event_id.clone(), seq);
            resp.confirmed.push(Confirmation {
                event_id: e.event_id.clone(),
                global_seq: seq,
            });
        }
        resp
    }

    /// Pushes events straight into the log, as another device would.
    pub fn inject(&self, events: &[Event]) {
        self.store(events);
    }
}

impl Transport for FakeServer {
    async fn push(&self, events: &[Event]) -> Result<PushResponse, TransportError> {
        self.push_requests.set(self.push_requests.get() + 1);
        assert!(
            !events.is_empty() && events.len() <= 500,
            "push of {} events",
            events.len()
        );
        let fault = self.faults.borrow_mut().pop_front();
        match fault {
            Some(Fault::Transient(status, retry_after_ms)) => {
                return Err(TransportError::Transient {
                    status: Some(status),
                    retry_after_ms,
                    message: "injected".into(),
                })
            }
            Some(Fault::Malformed) => {
                return Err(TransportError::Malformed("<html>502</html>".into()))
            }
            Some(Fault::LoseResponse) => {
                self.store(events);
                return Err(TransportError::Transient {
                    status: None,
                    retry_after_ms: None,
                    message: "connection reset".into(),
                });
            }
            None => {}
        }
        if self.refuse_poison_batches.get() && events.iter().any(Self::is_poison) {
            return Err(TransportError::Refused {
                status: 400,
                code: Some("validation".into()),
                message: "batch contains a poison event".into(),
            });
        }
        Ok(self.store(events))
    }

    async fn snapshot(&self) -> Result<Snapshot, TransportError> {
        Ok(self.materialize())
    }

    async fn pull(&self, since: &str, limit: usize) -> Result<PullResponse, TransportError> {
        self.pull_requests.set(self.pull_requests.get() + 1);
        if let Some(f) = self.pull_faults.borrow_mut().pop_front() {
            return match f {
                Fault::Malformed => Err(TransportError::Malformed("unexpected end of JSON".into())),
                Fault::Transient(status, ra) => Err(TransportError::Transient {
                    status: Some(status),
                    retry_after_ms: ra,
                    message: "injected".into(),
                }),
                Fault::LoseResponse => Err(TransportError::Transient {
                    status: None,
                    retry_after_ms: None,
                    message: "lost".into(),
                }),
            };
        }
        let since: u64 = since.parse().expect("numeric cursor");
        if since + 1 < self.compacted_below.get() {
            return Err(TransportError::Gone);
        }
        let limit = limit.min(self.page_limit.get());
        let log = self.log.borrow();
        let events: Vec<PulledEvent> = log
            .iter()
            .filter(|e| e.global_seq > since)
            .take(limit)
            .cloned()
            .collect();
        let cursor = events
            .last()
            .map(|e| e.global_seq)
            .unwrap_or(since)
            .to_string();
        let has_more = events.len() == limit;
        Ok(PullResponse {
            events,
            cursor,
            has_more,
        })
    }
}

impl FakeServer {
    /// The materialized rows at the head of the log, as a snapshot.
    pub fn materialize(&self) -> Snapshot {
        let mut rows: BTreeMap<(String, String), (Value, Row)> = BTreeMap::new();
        let log = self.log.borrow();
        for e in log.iter() {
            let id = (
                e.collection_id.clone(),
                e.key
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| e.key.to_string()),
            );
            let kind = EventType::parse(&e.kind).unwrap();
            let payload = e
                .payload
                .to_value()
                .as_object()
                .cloned()
                .unwrap_or_default();
            let base = rows.remove(&id).map(|(_, r)| r);
            if let Some(r) = fold::apply(base, kind, &payload, e.changes.as_ref()) {
                rows.insert(id, (e.key.clone(), r));
            }
        }
        Snapshot {
            rows: rows
                .into_iter()
                .map(|((c, _), (key, value))| SnapshotRow {
                    collection_id: c,
                    key,
                    value,
                })
                .collect(),
            cursor: log.len().to_string(),
        }
    }
}

/// A timer that returns at once and records every delay asked for.
#[derive(Default)]
pub struct RecordingTimer {
    pub delays: RefCell<Vec<u64>>,
}

impl Timer for RecordingTimer {
    async fn sleep(&self, ms: u64) {
        self.delays.borrow_mut().push(ms);
    }
}

pub fn memory_store() -> Store {
    Store::open_in_memory(StoreConfig::default(), Box::new(SystemEnvironment)).unwrap()
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// Ids of the events in a set, for assertions.
pub fn id_set(events: &[Event]) -> HashSet<String> {
    events.iter().map(|e| e.event_id.clone()).collect()
}
