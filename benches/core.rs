//! Native benchmark of the core on a file database (WAL, synchronous=FULL):
//! capture, replay, rebase, hydration. Prints figures; asserts nothing about
//! time. Run with `make bench` (or `cargo bench --bench core`).

use std::time::Instant;

use eventsourced_db::env::SystemEnvironment;
use eventsourced_db::model::{EventType, Mutation};
use eventsourced_db::protocol::{Event, Key, PullResponse, PulledEvent};
use eventsourced_db::{Store, StoreConfig};
use serde_json::json;

const BATCH: usize = 1_000;
const RUNS: usize = 3;

/// Events per case: 100k, or `BENCH_N` (for profiling runs).
static N_EVENTS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
});

fn row(i: usize) -> serde_json::Value {
    json!({"id": format!("todo-{i:06}"), "title": format!("Task number {i}"), "done": i.is_multiple_of(3),
           "projectId": format!("p{}", i % 50), "createdAt": 1_714_490_000_000u64 + i as u64})
}

fn open(dir: &tempfile::TempDir, name: &str) -> Store {
    if std::env::var_os("BENCH_IN_MEMORY").is_some() {
        return Store::open_in_memory(StoreConfig::default(), Box::new(SystemEnvironment)).unwrap();
    }
    let path = dir.path().join(name);
    Store::open(
        path.to_str().unwrap(),
        StoreConfig::default(),
        Box::new(SystemEnvironment),
    )
    .unwrap()
}

fn pulled_pages(offset: usize) -> Vec<PullResponse> {
    let mut pages = Vec::new();
    for start in (0..*N_EVENTS).step_by(BATCH) {
        let events = (start..start + BATCH)
            .map(|i| {
                let r = row(i + offset);
                let e = Event {
                    event_id: format!("00000000-0000-7000-8000-{:012}", i + offset),
                    collection_id: "todos".into(),
                    kind: EventType::Insert,
                    key: Key::String(r["id"].as_str().unwrap().into()),
                    payload: r.as_object().unwrap().clone(),
                    timestamp: 1,
                    changes: None,
                    client_id: None,
                    schema_version: None,
                };
                PulledEvent::from_event(&e, (i + 1) as u64)
            })
            .collect::<Vec<_>>();
        let cursor = events.last().unwrap().cursor.clone().unwrap();
        pages.push(PullResponse {
            events,
            cursor,
            has_more: start + BATCH < *N_EVENTS,
        });
    }
    pages
}

/// The floor: the same rows written by raw SQLite with the same schema and
/// prepared statements, no product logic (one event row + one state row each,
/// as capture writes them: a 16-byte id, collection and type as integers, the
/// key's pending count and newest pending event on its row, which names the
/// event holding the visible row instead of a copy of its text).
fn floor(dir: &tempfile::TempDir) -> f64 {
    let store = open(dir, "floor.sqlite");
    drop(store); // creates the schema
    let conn = if std::env::var_os("BENCH_IN_MEMORY").is_some() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let s =
            Store::from_connection(c, StoreConfig::default(), Box::new(SystemEnvironment)).unwrap();
        drop(s);
        return 0.0;
    } else {
        rusqlite::Connection::open(dir.path().join("floor.sqlite")).unwrap()
    };
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -16384;",
    )
    .unwrap();
    conn.execute("INSERT INTO collections (id, name) VALUES (1, 'todos')", [])
        .unwrap();
    let texts: Vec<(Vec<u8>, String, String)> = (0..*N_EVENTS)
        .map(|i| {
            let r = row(i);
            (
                uuid::Uuid::parse_str(&format!("00000000-0000-7000-8000-{i:012}"))
                    .unwrap()
                    .as_bytes()
                    .to_vec(),
                r["id"].as_str().unwrap().to_string(),
                r.to_string(),
            )
        })
        .collect();
    let t = Instant::now();
    for chunk in texts.chunks(BATCH) {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut ev = tx
                .prepare_cached(
                    "INSERT INTO events (event_id, collection, kind, key, payload, timestamp, origin, status, applied, schema_version)
                     VALUES (?1, 1, 0, ?2, ?3, 1, 0, 0, 0, 0)",
                )
                .unwrap();
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO rows (collection, key, pending, last_pending, visible_seq) VALUES (1, ?1, 1, ?2, ?2)",
                )
                .unwrap();
            for (id, key, payload) in chunk {
                ev.execute(rusqlite::params![id, key, payload]).unwrap();
                st.execute(rusqlite::params![key, tx.last_insert_rowid()])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    *N_EVENTS as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut capture = Vec::new();
    let mut replay = Vec::new();
    let mut rebase = Vec::new();
    let mut hydrate = Vec::new();
    let mut floors = Vec::new();
    for run in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        floors.push(floor(&dir));

        // 1. Capture 100k inserts in batches of 1000 (one transaction each).
        let store = open(&dir, "capture.sqlite");
        let muts: Vec<Vec<Mutation>> = (0..*N_EVENTS)
            .step_by(BATCH)
            .map(|s| {
                (s..s + BATCH)
                    .map(|i| {
                        let r = row(i);
                        Mutation {
                            collection: "todos".into(),
                            kind: EventType::Insert,
                            key: r["id"].clone(),
                            modified: Some(r.clone().into()),
                            original: None,
                            changes: Some(r.into()),
                            event_id: None,
                        }
                    })
                    .collect()
            })
            .collect();
        let t = Instant::now();
        for batch in muts {
            store.capture(batch).unwrap();
        }
        capture.push(*N_EVENTS as f64 / t.elapsed().as_secs_f64());

        // 4. Hydrate: read the 100k visible rows back.
        let t = Instant::now();
        let rows = store.visible_rows("todos").unwrap();
        assert_eq!(rows.len(), *N_EVENTS);
        hydrate.push(*N_EVENTS as f64 / t.elapsed().as_secs_f64());
        drop(store);

        // 2. Replay 100k pulled remote events into a fresh store.
        let pages = pulled_pages(0);
        let store = open(&dir, "replay.sqlite");
        let t = Instant::now();
        for p in pages {
            store.apply_pull(p).unwrap();
        }
        replay.push(*N_EVENTS as f64 / t.elapsed().as_secs_f64());
        drop(store);

        // 3. Replay with rebase: 10k keys have pending local edits that must
        //    be folded over the incoming remote rows.
        let store = open(&dir, "rebase.sqlite");
        let local: Vec<Mutation> = (0..*N_EVENTS)
            .step_by(10)
            .map(|i| {
                let mut r = row(i);
                r["title"] = json!("edited locally");
                Mutation {
                    collection: "todos".into(),
                    kind: EventType::Update,
                    key: r["id"].clone(),
                    modified: Some(r.into()),
                    original: None,
                    changes: Some(json!({"title": "edited locally"}).into()),
                    event_id: None,
                }
            })
            .collect();
        store.capture(local).unwrap();
        let pages = pulled_pages(0);
        let t = Instant::now();
        for p in pages {
            store.apply_pull(p).unwrap();
        }
        rebase.push(*N_EVENTS as f64 / t.elapsed().as_secs_f64());
        let rows = store.visible_rows("todos").unwrap();
        assert_eq!(
            rows.iter()
                .filter(|r| r.value.to_value()["title"] == "edited locally")
                .count(),
            *N_EVENTS / 10
        );
        eprintln!("run {} done", run + 1);
    }
    println!("core benchmark: {} events, batches/pages of {BATCH}, file database (WAL, synchronous=FULL), median of {RUNS} runs", *N_EVENTS);
    println!("| case | events/s | target |");
    println!("|---|---:|---:|");
    println!(
        "| capture (batched inserts) | {:.0} | >= 300000 |",
        median(capture)
    );
    println!(
        "| floor: raw SQLite, same rows and schema, no logic | {:.0} | |",
        median(floors)
    );
    println!(
        "| replay (pulled remote inserts) | {:.0} | >= 200000 |",
        median(replay)
    );
    println!(
        "| replay with rebase (10% keys pending locally) | {:.0} | |",
        median(rebase)
    );
    println!("| hydrate (read visible rows) | {:.0} | |", median(hydrate));
}
