//! Test fixtures: a real database per test (a temp SQLite file, or a fresh
//! schema on the Postgres server named by EVENTSOURCED_TEST_POSTGRES_URL),
//! a server on 127.0.0.1:0, and a real HTTP client.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventsourced_db::protocol::{PullResponse, PulledEvent};
use eventsourced_sync_server::{Database, Server, ServerBuilder};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The env var naming the Postgres server for the tests.
pub const POSTGRES_URL_VAR: &str = "EVENTSOURCED_TEST_POSTGRES_URL";

/// A database only this test uses.
pub struct TestDb {
    pub database: Database,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        TestDb {
            database: Database::Sqlite(dir.path().join("events.sqlite")),
            _dir: Some(dir),
        }
    }

    /// A fresh schema on the test Postgres server. `None` only when
    /// EVENTSOURCED_SKIP_POSTGRES=1; without the URL the test fails, so CI
    /// never skips Postgres silently.
    pub async fn postgres() -> Option<TestDb> {
        let url = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("EVENTSOURCED_SKIP_POSTGRES").as_deref() == Ok("1") => {
                eprintln!("skipping a Postgres test: EVENTSOURCED_SKIP_POSTGRES=1");
                return None;
            }
            _ => panic!(
                "{POSTGRES_URL_VAR} is not set: start a server with \
                 `export {POSTGRES_URL_VAR}=$(scripts/postgres.sh start)`, \
                 or set EVENTSOURCED_SKIP_POSTGRES=1 to skip the Postgres tests"
            ),
        };
        let schema = format!("t_{}", unique_suffix());
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test Postgres");
        let driver = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create the test schema");
        drop(client);
        let _ = driver.await;
        let sep = if url.contains('?') { '&' } else { '?' };
        Some(TestDb {
            database: Database::Postgres(format!("{url}{sep}options=-csearch_path%3D{schema}")),
            _dir: None,
        })
    }

    /// A builder on this database, on a free loopback port, with a short heartbeat.
    pub fn builder(&self) -> ServerBuilder {
        Server::builder()
            .listen("127.0.0.1:0")
            .database(self.database.clone())
            .heartbeat(Duration::from_millis(300))
    }

    pub async fn start(&self) -> Server {
        self.builder().start().await.expect("server starts")
    }
}

fn unique_suffix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh UUID (version 7 layout), unique within the test process.
pub fn new_id() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let pid = std::process::id() as u64 & 0xfff;
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        (ms >> 16) as u32,
        (ms & 0xffff) as u16,
        pid,
        (n >> 48) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// An insert event with a fresh id.
pub fn insert(collection: &str, key: Value, payload: Value) -> Value {
    json!({
        "eventId": new_id(), "collectionId": collection, "type": "insert",
        "key": key, "payload": payload, "timestamp": 1_714_490_000_000i64
    })
}

/// An update event carrying `changes`.
pub fn update(collection: &str, key: Value, payload: Value, changes: Value) -> Value {
    json!({
        "eventId": new_id(), "collectionId": collection, "type": "update",
        "key": key, "payload": payload, "changes": changes, "timestamp": 1_714_490_000_001i64
    })
}

/// A delete event.
pub fn delete(collection: &str, key: Value, payload: Value) -> Value {
    json!({
        "eventId": new_id(), "collectionId": collection, "type": "delete",
        "key": key, "payload": payload, "timestamp": 1_714_490_000_002i64
    })
}

/// `n` todo inserts.
pub fn todos(n: usize, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let key = format!("{tag}-{i}");
            insert(
                "todos",
                json!(key),
                json!({"id": key, "title": format!("todo {i}"), "done": false}),
            )
        })
        .collect()
}

/// A real HTTP client for one server, optionally with a bearer token.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(server: &Server) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: server.url(),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn push_raw(&self, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let r = self
            .req(reqwest::Method::POST, "/api/events")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("push");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn push(&self, events: &[Value]) -> (StatusCode, Value) {
        self.push_raw(serde_json::to_vec(events).unwrap()).await
    }

    /// Pushes and expects `200`; returns the body.
    pub async fn push_ok(&self, events: &[Value]) -> Value {
        let (status, body) = self.push(events).await;
        assert_eq!(status, StatusCode::OK, "push failed: {body}");
        body
    }

    pub async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        let r = self
            .req(reqwest::Method::GET, path_and_query)
            .send()
            .await
            .expect("get");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn pull(&self, since: &str, limit: Option<usize>) -> (StatusCode, Value) {
        let q = match limit {
            Some(l) => format!("/api/events?since={since}&limit={l}"),
            None => format!("/api/events?since={since}"),
        };
        self.get(&q).await
    }

    /// Pulls every event after `since`, page by page; returns them and the final cursor.
    pub async fn pull_all(&self, since: &str) -> (Vec<PulledEvent>, String) {
        let mut cursor = since.to_string();
        let mut events = Vec::new();
        loop {
            let (status, body) = self.pull(&cursor, Some(1000)).await;
            assert_eq!(status, StatusCode::OK, "pull failed: {body}");
            let page: PullResponse = serde_json::from_value(body).expect("a PullResponse");
            events.extend(page.events);
            cursor = page.cursor;
            if !page.has_more {
                return (events, cursor);
            }
        }
    }

    /// Opens the live tail.
    pub async fn stream(&self, since: &str) -> reqwest::Response {
        self.req(
            reqwest::Method::GET,
            &format!("/api/events/stream?since={since}"),
        )
        .send()
        .await
        .expect("stream")
    }
}

/// One SSE frame: a comment, or a message with its id and data.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Comment(String),
    Message { id: Option<String>, data: String },
}

/// Reads SSE frames from a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buf: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        SseReader {
            response,
            buf: String::new(),
        }
    }

    /// The next frame, or `None` when nothing arrives within `wait` or the stream ended.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                return Some(parse_frame(raw.trim_end()));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }

    /// The next message (skipping comments) as a pulled event.
    pub async fn next_event(&mut self, wait: Duration) -> Option<(Option<String>, PulledEvent)> {
        loop {
            match self.next(wait).await? {
                Frame::Comment(_) => continue,
                Frame::Message { id, data } => {
                    return Some((id, serde_json::from_str(&data).expect("a PulledEvent")))
                }
            }
        }
    }
}

fn parse_frame(raw: &str) -> Frame {
    let mut id = None;
    let mut data = Vec::new();
    let mut comment = None;
    for line in raw.lines() {
        if let Some(c) = line.strip_prefix(':') {
            comment = Some(c.trim().to_string());
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
        }
    }
    match (comment, data.is_empty()) {
        (Some(c), true) => Frame::Comment(c),
        _ => Frame::Message {
            id,
            data: data.join("\n"),
        },
    }
}

/// The `error.code` of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// The `globalSeq`s of a push response's confirmations.
pub fn seqs(body: &Value) -> Vec<u64> {
    body["confirmed"]
        .as_array()
        .expect("confirmed")
        .iter()
        .map(|c| c["globalSeq"].as_u64().unwrap())
        .collect()
}
