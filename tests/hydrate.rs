//! Hydration pages: `visible_rows_page_json` gives every visible row once,
//! in key order, as the JSON `visible_rows` would make, page by page.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::memory_store;
use common::muts::{delete, insert, update};
use eventsourced_db::{PageShape, Store};
use serde_json::{json, Value};

/// Every page of a collection, keyed, with the `after` of each request.
fn pages(store: &Store, collection: &str, limit: usize) -> Vec<Vec<Value>> {
    shaped_pages(store, collection, limit, PageShape::Keyed)
}

fn shaped_pages(
    store: &Store,
    collection: &str,
    limit: usize,
    shape: PageShape,
) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .visible_rows_page_json(collection, after.as_deref(), limit, shape)
            .unwrap();
        let rows: Value = serde_json::from_str(&page.json).expect("a page is JSON");
        out.push(rows.as_array().unwrap().clone());
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

/// The rows as `visible_rows` gives them, as JSON values, in key-text order.
fn expected(store: &Store, collection: &str) -> Vec<Value> {
    let mut rows: Vec<Value> = store
        .visible_rows(collection)
        .unwrap()
        .into_iter()
        .map(|r| json!({ "key": r.key, "value": r.value.to_value() }))
        .collect();
    let text = |v: &Value| match &v["key"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    rows.sort_by_key(text);
    rows
}

#[test]
fn pages_hold_every_visible_row_once_in_key_order() {
    let store = memory_store();
    let mut muts = Vec::new();
    for i in 0..10 {
        muts.push(insert("todos", json!({ "id": format!("k{i}"), "n": i })));
    }
    // Keys that JSON must escape, and one beyond ASCII.
    muts.push(insert("todos", json!({ "id": "a\"b\\c", "n": 10 })));
    muts.push(insert("todos", json!({ "id": "ü", "n": 11 })));
    store.capture(muts).unwrap();
    store
        .capture(vec![
            delete("todos", &json!({ "id": "k3", "n": 3 })),
            update(
                "todos",
                &json!({ "id": "k4", "n": 4 }),
                json!({ "id": "k4", "n": 40 }),
            ),
        ])
        .unwrap();
    let want = expected(&store, "todos");
    assert_eq!(want.len(), 11);
    for limit in [1, 3, 11, 12, 1000] {
        let got = pages(&store, "todos", limit);
        assert!(got.iter().all(|p| p.len() <= limit), "limit {limit}");
        // Only the last page may be short, and none is empty.
        assert_eq!(got.len(), want.len().div_ceil(limit), "limit {limit}");
        assert!(got.iter().all(|p| !p.is_empty()), "limit {limit}");
        let flat: Vec<Value> = got.into_iter().flatten().collect();
        assert_eq!(flat, want, "limit {limit}");
        // Values only: the same rows, in the same pages, without their keys.
        let values = shaped_pages(&store, "todos", limit, PageShape::Values);
        assert_eq!(values.len(), want.len().div_ceil(limit), "limit {limit}");
        let values: Vec<Value> = values.into_iter().flatten().collect();
        let want_values: Vec<Value> = want.iter().map(|r| r["value"].clone()).collect();
        assert_eq!(values, want_values, "limit {limit}");
    }
}

#[test]
fn numeric_keys_come_back_as_numbers() {
    let store = memory_store();
    let muts = [1, 2, 10, 25]
        .iter()
        .map(|&k| insert("nums", json!({ "id": k, "label": format!("n{k}") })))
        .collect();
    store.capture(muts).unwrap();
    let flat: Vec<Value> = pages(&store, "nums", 2).into_iter().flatten().collect();
    assert_eq!(flat, expected(&store, "nums"));
    let mut keys: Vec<i64> = flat.iter().map(|r| r["key"].as_i64().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, vec![1, 2, 10, 25]);
}

#[test]
fn an_unknown_collection_is_one_empty_page() {
    let store = memory_store();
    for shape in [PageShape::Keyed, PageShape::Values] {
        let page = store
            .visible_rows_page_json("nothing", None, 10, shape)
            .unwrap();
        assert_eq!(page.json, "[]");
        assert_eq!(page.next, None);
    }
}
