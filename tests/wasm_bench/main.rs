//! Capture benchmark in headless Chromium, in a dedicated worker, on OPFS,
//! with the package's build profile (`make bench-browser`). Prints:
//! - durable capture latency of one mutation through `EventSourcedCore`
//!   (JS conversion, one SQLite transaction, fsync'd journal), p50 and p99;
//! - a burst of 10k mutations captured together (what the worker host does
//!   with captures that arrive in one tick);
//! - the floor: the same rows inserted by raw SQLite in the same worker, on
//!   the same VFS and journal settings, one transaction per row and all in one.
#![cfg(target_arch = "wasm32")]

use eventsourced_db::wasm::convert::to_js;
use eventsourced_db::wasm::{opfs, EventSourcedCore};
use serde_json::{json, Value};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

const SINGLES: usize = 1000;
const WARMUP: usize = 200;
const BURST: usize = 10_000;

fn now() -> f64 {
    let scope: web_sys::WorkerGlobalScope = wasm_bindgen::JsCast::unchecked_into(js_sys::global());
    scope.performance().expect("performance").now()
}

fn row(i: usize) -> Value {
    json!({ "id": format!("todo-{i}"), "title": format!("Buy milk #{i}"), "done": false,
            "createdAt": 1_714_490_000_000u64 + i as u64, "tags": ["home", "errand"] })
}

fn insert(i: usize) -> Value {
    json!({ "collection": "todos", "type": "insert", "key": format!("todo-{i}"), "modified": row(i) })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", js_sys::Date::now() as u64)
}

#[wasm_bindgen_test]
async fn capture_latency_burst_and_the_raw_sqlite_floor() {
    // --- the core, through the exported API ---
    let core = EventSourcedCore::open(unique("bench-core"), to_js(&json!({})).unwrap())
        .await
        .unwrap();
    let singles: Vec<_> = (0..WARMUP + SINGLES)
        .map(|i| to_js(&json!([insert(i)])).unwrap())
        .collect();
    let mut lat = Vec::with_capacity(SINGLES);
    for (i, m) in singles.into_iter().enumerate() {
        let t = now();
        core.capture(m).unwrap();
        if i >= WARMUP {
            lat.push(now() - t);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let burst = to_js(&Value::Array(
        (100_000..100_000 + BURST).map(insert).collect(),
    ))
    .unwrap();
    // The share of the JS <-> Rust conversion in the burst (both directions).
    let t = now();
    let parsed: Vec<eventsourced_db::model::Mutation> =
        eventsourced_db::wasm::convert::input("bench", &burst).unwrap();
    let changes: Vec<Value> = parsed
        .iter()
        .map(|m| json!({"collection": m.collection, "key": m.key, "type": "insert", "value": m.modified}))
        .collect();
    eventsourced_db::wasm::convert::output(&changes).unwrap();
    let convert_ms = now() - t;
    let t = now();
    core.capture(burst).unwrap();
    let burst_ms = now() - t;
    // As the worker gets them from the page: the mutations as JSON text.
    let text = serde_json::to_string(&Value::Array(
        (200_000..200_000 + BURST).map(insert).collect(),
    ))
    .unwrap();
    let t = now();
    core.capture_json(&text).unwrap();
    let text_ms = now() - t;
    core.close().unwrap();

    // --- the floor: raw SQLite, same VFS, journal and sync settings ---
    let db = opfs::open(&unique("bench-floor")).await.unwrap();
    let conn = &db.connection;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE rows (collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                            PRIMARY KEY (collection, key)) WITHOUT ROWID;",
    )
    .unwrap();
    let rows: Vec<String> = (0..WARMUP + SINGLES + BURST)
        .map(|i| row(i).to_string())
        .collect();
    let mut floor_lat = Vec::with_capacity(SINGLES);
    for (i, value) in rows.iter().take(WARMUP + SINGLES).enumerate() {
        let t = now();
        let tx = conn.unchecked_transaction().unwrap();
        tx.prepare_cached("INSERT INTO rows VALUES ('todos', ?1, ?2)")
            .unwrap()
            .execute(rusqlite::params![format!("todo-{i}"), value])
            .unwrap();
        tx.commit().unwrap();
        if i >= WARMUP {
            floor_lat.push(now() - t);
        }
    }
    floor_lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let t = now();
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut stmt = tx
            .prepare_cached("INSERT INTO rows VALUES ('todos', ?1, ?2)")
            .unwrap();
        for (i, value) in rows.iter().enumerate().skip(WARMUP + SINGLES) {
            stmt.execute(rusqlite::params![format!("todo-{}", 100_000 + i), value])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    let floor_burst_ms = now() - t;
    drop(db);

    let rate = |ms: f64| BURST as f64 / (ms / 1000.0);
    console_log!("bench-browser: capture of 1 mutation (core API, OPFS, durable), {SINGLES} runs:");
    console_log!(
        "bench-browser:   p50 {:.3} ms   p99 {:.3} ms   (raw SQLite floor, 1 row per transaction: p50 {:.3} ms   p99 {:.3} ms)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&floor_lat, 0.5),
        percentile(&floor_lat, 0.99)
    );
    console_log!(
        "bench-browser: burst of {BURST} mutations in one capture: {:.1} ms = {:.0} events/s",
        burst_ms,
        rate(burst_ms)
    );
    console_log!(
        "bench-browser:   of which JS <-> Rust conversion of the mutations and changes: about {:.1} ms",
        convert_ms
    );
    console_log!(
        "bench-browser: the same burst given as JSON text (what the worker receives): {:.1} ms = {:.0} events/s",
        text_ms,
        rate(text_ms)
    );
    console_log!(
        "bench-browser: raw SQLite floor, {BURST} rows in one transaction: {:.1} ms = {:.0} rows/s; core/floor time = {:.2}x",
        floor_burst_ms,
        rate(floor_burst_ms),
        burst_ms / floor_burst_ms
    );
    console_log!(
        "bench-browser:   JSON-text burst / floor time = {:.2}x",
        text_ms / floor_burst_ms
    );
    console_log!("bench-browser: (performance.now() in a worker without cross-origin isolation has 0.1 ms resolution)");
}
