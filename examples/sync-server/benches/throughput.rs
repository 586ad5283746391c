//! Push and pull throughput over loopback HTTP, per backend, with 1 and 8
//! concurrent clients. Prints a table of events/s.
//!
//!   cargo run -p eventsourced-sync-server --profile bench --example throughput
//!
//! Postgres is measured when EVENTSOURCED_TEST_POSTGRES_URL is set (see
//! scripts/postgres.sh). BENCH_EVENTS sets the events pushed per run
//! (default 100000). The server runs on its own runtime, as it would in its
//! own process; request bodies are serialized before the clock starts, so the
//! figures measure the server, not the client's JSON encoder.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourced_sync_server::{Database, Server, SqliteSync};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::json;

const BATCH: usize = 500;
const PULL_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    events: Vec<IgnoredAny>,
    cursor: String,
    has_more: bool,
}

struct Row {
    backend: String,
    clients: usize,
    push: f64,
    pull: f64,
}

fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .unwrap();
    let batches = Arc::new(make_batches(events));
    let postgres = std::env::var("EVENTSOURCED_TEST_POSTGRES_URL").ok();
    let tmp = tempfile::tempdir().unwrap();

    let mut rows = Vec::new();
    let mut backends = vec![
        ("sqlite (synchronous=FULL)", SqliteSync::Full),
        ("sqlite (synchronous=NORMAL)", SqliteSync::Normal),
    ]
    .into_iter()
    .map(|(name, sync)| (name.to_string(), Some(sync)))
    .collect::<Vec<_>>();
    if postgres.is_some() {
        backends.push(("postgres".to_string(), None));
    } else {
        eprintln!("EVENTSOURCED_TEST_POSTGRES_URL unset: Postgres not measured");
    }
    for (run, (name, sync)) in backends.into_iter().enumerate() {
        for clients in [1usize, 8] {
            let database = match sync {
                Some(_) => {
                    Database::Sqlite(tmp.path().join(format!("bench-{run}-{clients}.sqlite")))
                }
                None => Database::Postgres(client_rt.block_on(fresh_schema(
                    postgres.as_deref().unwrap(),
                    &format!("bench_{}_{clients}", std::process::id()),
                ))),
            };
            let server = server_rt
                .block_on(
                    Server::builder()
                        .listen("127.0.0.1:0")
                        .database(database)
                        .sqlite_sync(sync.unwrap_or_default())
                        .start(),
                )
                .expect("server starts");
            let url = server.url();
            let push = client_rt.block_on(push_all(&url, batches.clone(), clients));
            let pull = client_rt.block_on(pull_all(&url, events, clients));
            server_rt.block_on(server.shutdown()).unwrap();
            eprintln!("{name:<28} clients={clients}  push {push:>9.0}/s  pull {pull:>9.0}/s");
            rows.push(Row {
                backend: name.clone(),
                clients,
                push,
                pull,
            });
        }
    }

    println!();
    println!("{events} events, batches of {BATCH}, pull limit {PULL_LIMIT}, loopback HTTP/1.1");
    println!(
        "| {:<28} | {:>7} | {:>15} | {:>15} |",
        "backend", "clients", "push events/s", "pull events/s"
    );
    println!("|{:-<30}|{:->9}|{:->17}|{:->17}|", "", "", "", "");
    for r in rows {
        println!(
            "| {:<28} | {:>7} | {:>15.0} | {:>15.0} |",
            r.backend, r.clients, r.push, r.pull
        );
    }
}

/// Todo-shaped events, pre-serialized in batches of 500.
fn make_batches(events: usize) -> Vec<Vec<u8>> {
    let all: Vec<_> = (0..events)
        .map(|i| {
            json!({
                "eventId": format!("0190a0a0-{:04x}-7{:03x}-8000-{:012x}", (i >> 24) & 0xffff, (i >> 12) & 0xfff, i),
                "collectionId": "todos",
                "type": if i % 4 == 3 { "update" } else { "insert" },
                "key": format!("todo-{}", i / 2),
                "payload": {"id": format!("todo-{}", i / 2), "title": format!("Buy item number {i}"),
                            "done": i % 3 == 0, "order": i, "tags": ["home", "errand"]},
                "timestamp": 1_714_490_000_000i64 + i as i64,
                "clientId": "bench-client",
            })
        })
        .collect();
    all.chunks(BATCH)
        .map(|c| serde_json::to_vec(c).unwrap())
        .collect()
}

async fn fresh_schema(url: &str, schema: &str) -> String {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to Postgres");
    let driver = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

/// All batches, shared by `clients` concurrent pushers; events/s.
async fn push_all(url: &str, batches: Arc<Vec<Vec<u8>>>, clients: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, batches, next, url) =
            (http.clone(), batches.clone(), next.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = batches.get(i) else { return };
                let r = http
                    .post(format!("{url}/api/events"))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "push: {}", r.status());
                r.bytes().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n: usize = batches.len() * BATCH;
    n as f64 / start.elapsed().as_secs_f64()
}

/// Every client pulls the whole log; events/s summed over clients.
async fn pull_all(url: &str, events: usize, clients: usize) -> f64 {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url) = (http.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut cursor = "0".to_string();
            let mut seen = 0;
            loop {
                let body = http
                    .get(format!(
                        "{url}/api/events?since={cursor}&limit={PULL_LIMIT}"
                    ))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let page: Page = serde_json::from_slice(&body).expect("a pull page");
                seen += page.events.len();
                cursor = page.cursor;
                if !page.has_more {
                    return seen;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        let seen = t.await.unwrap();
        assert_eq!(seen, events, "every event pulled");
        total += seen;
    }
    total as f64 / start.elapsed().as_secs_f64()
}
