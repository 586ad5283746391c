//! The sync engine against an in-process server: convergence, rebase, lost
//! responses, poison events, retries, malformed answers.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::muts::{insert, update, update_whole};
use common::{block_on, memory_store, FakeServer, Fault, RecordingTimer};
use eventsourced_db::env::{Environment, SystemEnvironment};
use eventsourced_db::model::{ChangeKind, EventQuery, EventStatus, Rejection, VisibleChange};
use eventsourced_db::protocol::{Event, EventType, Key, PulledEvent};
use eventsourced_db::store::ReplayOutcome;
use eventsourced_db::{
    sync, CollectionDef, KeyKind, Store, StoreConfig, SyncObserver, SyncOptions, SyncResult,
};
use serde_json::{json, Value};

fn run(store: &Store, server: &FakeServer) -> SyncResult {
    block_on(sync(
        store,
        server,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut (),
    ))
}

fn rows(store: &Store, collection: &str) -> Vec<(String, Value)> {
    let mut v: Vec<_> = store
        .visible_rows(collection)
        .unwrap()
        .into_iter()
        .map(|r| (r.key.to_string(), r.value.to_value()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Pulls one page (no push) and applies it.
fn pull_only(store: &Store, server: &FakeServer) -> ReplayOutcome {
    let page = block_on(eventsourced_db::sync::Transport::pull(
        server,
        &store.cursor().unwrap(),
        1000,
    ))
    .unwrap();
    store.apply_pull(page).unwrap()
}

/// Another device's insert of row `{"id": key}`, as the server holds it.
fn remote_insert(event_id: &str, collection: &str, key: &str) -> Event {
    Event {
        event_id: event_id.into(),
        collection_id: collection.into(),
        kind: EventType::Insert,
        key: Key::String(key.into()),
        payload: json!({"id": key}).as_object().unwrap().clone(),
        timestamp: 1,
        changes: None,
        client_id: None,
        schema_version: None,
    }
}

#[derive(Default)]
struct Recorder {
    changes: Vec<VisibleChange>,
    rejections: Vec<Rejection>,
}

impl SyncObserver for Recorder {
    fn on_changes(&mut self, c: &[VisibleChange]) {
        self.changes.extend_from_slice(c);
    }
    fn on_rejections(&mut self, r: &[Rejection]) {
        self.rejections.extend_from_slice(r);
    }
}

#[test]
fn multi_device_scenario_of_the_reference_readme_converges_in_server_order() {
    let server = FakeServer::new();
    let phone = memory_store();
    let laptop = memory_store();

    // Phone, offline: insert and update.
    let milk = json!({"id": "milk", "title": "Buy milk", "status": "pending"});
    phone.capture(vec![insert("todos", milk.clone())]).unwrap();
    phone
        .capture(vec![update(
            "todos",
            &milk,
            json!({"id": "milk", "title": "Buy milk", "status": "complete"}),
        )])
        .unwrap();
    // Laptop, online: insert and sync → globalSeq 1.
    laptop
        .capture(vec![insert(
            "todos",
            json!({"id": "dentist", "title": "Call dentist", "status": "pending"}),
        )])
        .unwrap();
    let r = run(&laptop, &server);
    assert_eq!((r.pushed, r.pulled), (1, 1));

    // Phone comes online: push 1,2 → 2,3; pull 1..3.
    let mut rec = Recorder::default();
    let r = block_on(sync(
        &phone,
        &server,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut rec,
    ));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!((r.pushed, r.pulled), (2, 3));
    assert_eq!(
        rec.changes.len(),
        1,
        "only the laptop's row is new to the phone: {:?}",
        rec.changes
    );
    assert_eq!(rec.changes[0].key, json!("dentist"));

    run(&laptop, &server);
    assert_eq!(rows(&phone, "todos"), rows(&laptop, "todos"));
    assert_eq!(rows(&phone, "todos").len(), 2);
    assert_eq!(rows(&laptop, "todos")[1].1["status"], "complete");

    // Both logs hold the same events in server order, all confirmed.
    let order = |s: &Store| {
        let mut e = s.events(&EventQuery::default()).unwrap();
        assert!(e.iter().all(|e| e.status == EventStatus::Confirmed));
        e.sort_by_key(|e| e.global_seq);
        e.into_iter()
            .map(|e| (e.global_seq.unwrap(), e.event_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&phone), order(&laptop));
    assert_eq!(
        order(&phone).iter().map(|p| p.0).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(phone.counts().unwrap().pending, 0);
}

#[test]
fn a_remote_update_does_not_erase_a_pending_local_one_and_server_order_wins_after() {
    let server = FakeServer::new();
    let a = memory_store();
    let b = memory_store();
    let v0 = json!({"id": "r", "title": "v0"});
    a.capture(vec![insert("todos", v0.clone())]).unwrap();
    run(&a, &server);
    run(&b, &server);

    // A edits offline; B edits the same field and syncs first.
    a.capture(vec![update(
        "todos",
        &v0,
        json!({"id": "r", "title": "from A"}),
    )])
    .unwrap();
    b.capture(vec![update(
        "todos",
        &v0,
        json!({"id": "r", "title": "from B"}),
    )])
    .unwrap();
    run(&b, &server);

    // A pulls B's update without pushing: its own pending edit still shows.
    pull_only(&a, &server);
    assert_eq!(rows(&a, "todos")[0].1["title"], "from A");
    assert_eq!(a.counts().unwrap().pending, 1);

    // A syncs: its edit is ordered after B's, so it wins everywhere.
    run(&a, &server);
    run(&b, &server);
    assert_eq!(rows(&a, "todos")[0].1["title"], "from A");
    assert_eq!(rows(&a, "todos"), rows(&b, "todos"));

    // Rebase keeps B's later edit when A's pending one is on another key.
    b.capture(vec![update(
        "todos",
        &json!({"id": "r", "title": "from A"}),
        json!({"id": "r", "title": "B again"}),
    )])
    .unwrap();
    a.capture(vec![insert("todos", json!({"id": "other"}))])
        .unwrap();
    run(&b, &server);
    pull_only(&a, &server);
    assert_eq!(rows(&a, "todos")[1].1["title"], "B again");
}

#[test]
fn edits_of_different_fields_both_survive_with_changes_and_the_later_wins_without() {
    for with_changes in [true, false] {
        let server = FakeServer::new();
        let a = memory_store();
        let b = memory_store();
        let v0 = json!({"id": "r", "title": "t", "done": false});
        a.capture(vec![insert("todos", v0.clone())]).unwrap();
        run(&a, &server);
        run(&b, &server);
        let a_edit = json!({"id": "r", "title": "renamed", "done": false});
        let b_edit = json!({"id": "r", "title": "t", "done": true});
        let (ma, mb) = if with_changes {
            (update("todos", &v0, a_edit), update("todos", &v0, b_edit))
        } else {
            (
                update_whole("todos", &v0, a_edit),
                update_whole("todos", &v0, b_edit),
            )
        };
        a.capture(vec![ma]).unwrap();
        b.capture(vec![mb]).unwrap();
        run(&a, &server); // A is ordered first
        run(&b, &server); // then B
        run(&a, &server);
        let expected = if with_changes {
            json!({"id": "r", "title": "renamed", "done": true})
        } else {
            json!({"id": "r", "title": "t", "done": true}) // B's whole row, later in server order
        };
        assert_eq!(
            rows(&a, "todos")[0].1,
            expected,
            "with_changes={with_changes}"
        );
        assert_eq!(
            rows(&b, "todos")[0].1,
            expected,
            "with_changes={with_changes}"
        );
    }
}

#[test]
fn a_lost_push_response_duplicates_nothing_and_settles_on_pull() {
    for confirm_duplicates in [false, true] {
        let server = FakeServer::new();
        server.confirm_duplicates.set(confirm_duplicates);
        let store = memory_store();
        for i in 0..10 {
            store
                .capture(vec![insert("todos", json!({"id": format!("t{i}")}))])
                .unwrap();
        }
        server.faults.borrow_mut().push_back(Fault::LoseResponse);
        let timer = RecordingTimer::default();
        let r = block_on(sync(
            &store,
            &server,
            &timer,
            &SyncOptions::default(),
            &mut (),
        ));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(
            timer.delays.borrow().len(),
            1,
            "one retry after the lost response"
        );
        assert_eq!(
            server.log.borrow().len(),
            10,
            "the server stored each event once"
        );
        assert_eq!(r.pushed, 10);
        let events = store.events(&EventQuery::default()).unwrap();
        assert!(
            events.iter().all(|e| e.status == EventStatus::Confirmed),
            "confirm_duplicates={confirm_duplicates}"
        );
        let mut seqs: Vec<_> = events.iter().map(|e| e.global_seq.unwrap()).collect();
        seqs.sort();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(rows(&store, "todos").len(), 10, "no row applied twice");
        // Nothing is pushed again.
        let before = server.push_requests.get();
        run(&store, &server);
        assert_eq!(server.push_requests.get(), before);
    }
}

#[test]
fn events_left_out_of_confirmed_are_sent_once_and_settled_by_pull() {
    let server = FakeServer::new();
    let store = memory_store();
    let ev = {
        store
            .capture(vec![insert("todos", json!({"id": "x"}))])
            .unwrap();
        store.pending_batch(10).unwrap()
    };
    // The server got it before (say from a previous, interrupted session).
    server.inject(&ev);
    let out = store
        .settle_push(&ev, &eventsourced_db::protocol::PushResponse::default())
        .unwrap();
    assert_eq!(out.sent, 1);
    assert!(
        store.pending_batch(10).unwrap().is_empty(),
        "a sent event is not pushed again"
    );
    assert_eq!(
        store.counts().unwrap().pending,
        1,
        "but it still counts as not settled"
    );
    run(&store, &server);
    let e = &store.events(&EventQuery::default()).unwrap()[0];
    assert_eq!((e.status, e.global_seq), (EventStatus::Confirmed, Some(1)));
    assert_eq!(store.counts().unwrap().pending, 0);
}

#[test]
fn one_poison_event_in_a_batch_of_100_is_isolated_and_rolled_back() {
    for per_event in [false, true] {
        let server = FakeServer::new();
        server.refuse_poison_batches.set(!per_event);
        server.reject_poison_per_event.set(per_event);
        let store = memory_store();
        let mut muts = Vec::new();
        for i in 0..100 {
            let mut row = json!({"id": format!("t{i:03}"), "title": "ok"});
            if i == 37 {
                row["poison"] = json!(true);
            }
            muts.push(insert("todos", row));
        }
        store.capture(muts).unwrap();
        let mut rec = Recorder::default();
        let r = block_on(sync(
            &store,
            &server,
            &RecordingTimer::default(),
            &SyncOptions::default(),
            &mut rec,
        ));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!((r.pushed, r.rejected), (99, 1), "per_event={per_event}");
        assert_eq!(server.log.borrow().len(), 99);
        let events = store.events(&EventQuery::default()).unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.status == EventStatus::Confirmed)
                .count(),
            99
        );
        let rejected: Vec<_> = events
            .iter()
            .filter(|e| e.status == EventStatus::Rejected)
            .collect();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].key, json!("t037"));
        assert!(rejected[0]
            .reject_reason
            .as_deref()
            .unwrap()
            .contains("poison"));
        assert_eq!(rejected[0].reject_code.as_deref(), Some("validation"));
        // Its effect is rolled back and the app was told.
        assert_eq!(rows(&store, "todos").len(), 99);
        assert!(rows(&store, "todos").iter().all(|(k, _)| k != "\"t037\""));
        assert_eq!(rec.rejections.len(), 1);
        assert!(rec.changes.iter().any(
            |c| c.key == json!("t037") && c.kind == eventsourced_db::model::ChangeKind::Delete
        ));
        let listed = store.rejections().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(store.clear_rejection(&listed[0].event_id).unwrap());
        assert!(store.rejections().unwrap().is_empty());
        assert!(!store.clear_rejection(&listed[0].event_id).unwrap());
    }
}

#[test]
fn a_rejected_update_rolls_back_to_the_confirmed_row() {
    let server = FakeServer::new();
    server.reject_poison_per_event.set(true);
    let store = memory_store();
    let v0 = json!({"id": "r", "title": "fine"});
    store.capture(vec![insert("todos", v0.clone())]).unwrap();
    run(&store, &server);
    store
        .capture(vec![update(
            "todos",
            &v0,
            json!({"id": "r", "title": "fine", "poison": true}),
        )])
        .unwrap();
    assert_eq!(rows(&store, "todos")[0].1["poison"], true);
    let mut rec = Recorder::default();
    block_on(sync(
        &store,
        &server,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut rec,
    ));
    assert_eq!(rows(&store, "todos")[0].1, v0);
    assert_eq!(rec.changes.len(), 1);
    assert_eq!(rec.changes[0].value, v0);
}

#[test]
fn a_pulled_key_that_came_back_as_a_string_lands_on_the_numeric_row() {
    let server = FakeServer::new(); // stores keys as text
    let numbers = StoreConfig {
        collections: vec![CollectionDef {
            name: "items".into(),
            key_kind: KeyKind::Number,
        }],
        ..Default::default()
    };
    let a = memory_store();
    let b = Store::open_in_memory(numbers, Box::new(SystemEnvironment)).unwrap();
    let v = json!({"id": 5, "name": "five"});
    a.capture(vec![insert("items", v.clone())]).unwrap();
    run(&a, &server);
    assert_eq!(
        server.log.borrow()[0].key,
        json!("5"),
        "the server stringified the key"
    );
    // The author's own row is settled, not duplicated under "5".
    let ra = a.visible_rows("items").unwrap();
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].key, json!(5));

    let mut rec = Recorder::default();
    block_on(sync(
        &b,
        &server,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut rec,
    ));
    let rb = b.visible_rows("items").unwrap();
    assert_eq!(rb.len(), 1);
    assert_eq!(
        rb[0].key,
        json!(5),
        "declared numeric keys map back to numbers"
    );
    assert_eq!(rec.changes[0].key, json!(5));

    // A remote update with a string key changes the row captured with a number.
    b.capture(vec![update("items", &v, json!({"id": 5, "name": "FIVE"}))])
        .unwrap();
    run(&b, &server);
    run(&a, &server);
    let ra = a.visible_rows("items").unwrap();
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].value.to_value()["name"], "FIVE");
}

#[test]
fn events_of_unknown_types_and_collections_are_kept_reported_and_do_not_stop_sync() {
    let server = FakeServer::new();
    let config = StoreConfig {
        collections: vec![CollectionDef {
            name: "todos".into(),
            key_kind: KeyKind::String,
        }],
        ..Default::default()
    };
    let store = Store::open_in_memory(config, Box::new(SystemEnvironment)).unwrap();
    let ev = |id: &str, coll: &str| remote_insert(id, coll, id);
    server.inject(&[ev("00000000-0000-7000-8000-000000000001", "todos")]);
    server.inject(&[ev("00000000-0000-7000-8000-000000000002", "notes")]);
    server.log.borrow_mut().push(PulledEvent {
        kind: "upsert".into(),
        ..PulledEvent::from_event(&ev("00000000-0000-7000-8000-000000000003", "todos"), 3)
    });
    server.inject(&[ev("00000000-0000-7000-8000-000000000004", "todos")]);
    let r = run(&store, &server);
    assert_eq!(r.pulled, 4);
    let codes: Vec<_> = r.errors.iter().map(|e| e.code()).collect();
    assert_eq!(
        codes,
        ["UNRECOGNIZED_EVENT", "UNRECOGNIZED_EVENT"],
        "{:?}",
        r.errors
    );
    assert!(r.errors[1].to_string().contains("upsert"));
    assert_eq!(
        store.visible_rows("todos").unwrap().len(),
        2,
        "events after the unknown one applied"
    );
    assert_eq!(
        store.visible_rows("notes").unwrap().len(),
        1,
        "undeclared collections are kept"
    );
    assert_eq!(
        store.events(&EventQuery::default()).unwrap().len(),
        4,
        "all kept in the log"
    );
    assert_eq!(store.cursor().unwrap(), "4");
}

#[test]
fn a_malformed_pull_changes_nothing_and_reports_a_typed_error() {
    let server = FakeServer::new();
    let store = memory_store();
    let other = memory_store();
    other
        .capture(vec![insert("todos", json!({"id": "x"}))])
        .unwrap();
    run(&other, &server);
    server.pull_faults.borrow_mut().push_back(Fault::Malformed);
    let r = run(&store, &server);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].code(), "MALFORMED_RESPONSE");
    assert_eq!(store.cursor().unwrap(), "0");
    assert!(store.visible_rows("todos").unwrap().is_empty());
    let r = run(&store, &server);
    assert!(r.errors.is_empty());
    assert_eq!(store.visible_rows("todos").unwrap().len(), 1);
}

#[test]
fn a_malformed_push_answer_keeps_events_pending_and_the_retry_duplicates_nothing() {
    let server = FakeServer::new();
    let store = memory_store();
    store
        .capture(vec![insert("todos", json!({"id": "x"}))])
        .unwrap();
    server.faults.borrow_mut().push_back(Fault::Malformed);
    let r = run(&store, &server);
    assert_eq!(r.errors[0].code(), "MALFORMED_RESPONSE");
    assert_eq!(store.counts().unwrap().pending, 1);
    run(&store, &server);
    assert_eq!(store.counts().unwrap().pending, 0);
    assert_eq!(server.log.borrow().len(), 1);
}

#[test]
fn transient_failures_back_off_honour_retry_after_and_lose_nothing() {
    let server = FakeServer::new();
    let store = memory_store();
    store
        .capture(vec![insert("todos", json!({"id": "x"}))])
        .unwrap();
    server.faults.borrow_mut().extend([
        Fault::Transient(503, Some(2_000)),
        Fault::Transient(429, None),
    ]);
    let timer = RecordingTimer::default();
    let r = block_on(sync(
        &store,
        &server,
        &timer,
        &SyncOptions::default(),
        &mut (),
    ));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let delays = timer.delays.borrow().clone();
    assert_eq!(delays[0], 2_000, "Retry-After is honoured");
    assert!(
        (500..=1_000).contains(&delays[1]),
        "second backoff is 1 s with equal jitter: {delays:?}"
    );
    assert_eq!(server.log.borrow().len(), 1);

    // Exhausted retries: a typed NETWORK error, the event stays pending, pull is skipped.
    store
        .capture(vec![insert("todos", json!({"id": "y"}))])
        .unwrap();
    server
        .faults
        .borrow_mut()
        .extend((0..4).map(|_| Fault::Transient(502, None)));
    let pulls = server.pull_requests.get();
    let timer = RecordingTimer::default();
    let r = block_on(sync(
        &store,
        &server,
        &timer,
        &SyncOptions::default(),
        &mut (),
    ));
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].code(), "NETWORK");
    assert_eq!(timer.delays.borrow().len(), 3);
    let d = timer.delays.borrow().clone();
    assert!(
        d[0] <= 500 && d[1] <= 1_000 && d[2] <= 2_000 && d[2] >= 1_000,
        "exponential: {d:?}"
    );
    assert_eq!(server.pull_requests.get(), pulls);
    assert_eq!(store.counts().unwrap().pending, 1);
    run(&store, &server);
    assert_eq!(store.counts().unwrap().pending, 0);
    assert_eq!(server.log.borrow().len(), 2);
}

#[test]
fn unauthorized_keeps_events_pending_instead_of_rejecting_them() {
    struct Denied;
    impl eventsourced_db::sync::Transport for Denied {
        async fn push(
            &self,
            _: &[Event],
        ) -> Result<eventsourced_db::protocol::PushResponse, eventsourced_db::sync::TransportError>
        {
            Err(eventsourced_db::sync::TransportError::from_status(
                401,
                None,
                r#"{"error":{"code":"unauthorized","message":"bad token"}}"#,
            ))
        }
        async fn pull(
            &self,
            _: &str,
            _: usize,
        ) -> Result<eventsourced_db::protocol::PullResponse, eventsourced_db::sync::TransportError>
        {
            Err(eventsourced_db::sync::TransportError::from_status(
                401, None, "",
            ))
        }
    }
    let store = memory_store();
    store
        .capture(vec![
            insert("todos", json!({"id": "x"})),
            insert("todos", json!({"id": "y"})),
        ])
        .unwrap();
    let r = block_on(sync(
        &store,
        &Denied,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut (),
    ));
    assert_eq!(
        r.errors.iter().map(|e| e.code()).collect::<Vec<_>>(),
        ["UNAUTHORIZED", "UNAUTHORIZED"]
    );
    assert_eq!(store.counts().unwrap().pending, 2);
    assert!(store.rejections().unwrap().is_empty());
}

#[test]
fn pull_pages_until_has_more_is_false_and_batches_stay_within_500() {
    let server = FakeServer::new();
    server.page_limit.set(300);
    let writer = memory_store();
    let muts: Vec<_> = (0..1_234)
        .map(|i| insert("todos", json!({"id": i})))
        .collect();
    writer.capture(muts).unwrap();
    let r = run(&writer, &server);
    assert_eq!(r.pushed, 1_234);
    assert_eq!(server.push_requests.get(), 3, "500 + 500 + 234");
    let reader = memory_store();
    let r = run(&reader, &server);
    assert_eq!(r.pulled, 1_234);
    assert_eq!(reader.visible_rows("todos").unwrap().len(), 1_234);
    assert_eq!(reader.cursor().unwrap(), "1234");
}

#[test]
fn captures_during_a_sync_round_are_kept_pending_for_the_next() {
    // The engine holds only `&Store`; a capture between its steps must be safe.
    let server = FakeServer::new();
    let store = memory_store();
    store
        .capture(vec![insert("todos", json!({"id": "a"}))])
        .unwrap();
    let batch = store.pending_batch(500).unwrap();
    store
        .capture(vec![insert("todos", json!({"id": "b"}))])
        .unwrap();
    let resp = block_on(eventsourced_db::sync::Transport::push(&server, &batch)).unwrap();
    store.settle_push(&batch, &resp).unwrap();
    let pending = store.pending_batch(500).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].key, Key::String("b".into()));
}

#[test]
fn an_undeclared_collection_learns_numeric_keys_from_local_captures_not_from_stringified_pulls() {
    let server = FakeServer::new(); // stringifies keys
    let a = memory_store();
    let b = memory_store(); // declares nothing
    a.capture(vec![insert("items", json!({"id": 9, "n": 1}))])
        .unwrap();
    run(&a, &server);
    run(&b, &server);
    assert_eq!(
        b.visible_rows("items").unwrap()[0].key,
        json!("9"),
        "unknown kind: the key as the server sent it"
    );
    // B's first own capture shows the kind; the same row, now with its numeric key.
    b.capture(vec![update(
        "items",
        &json!({"id": 9, "n": 1}),
        json!({"id": 9, "n": 2}),
    )])
    .unwrap();
    let rows = b.visible_rows("items").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key, json!(9));
    assert_eq!(rows[0].value.to_value()["n"], 2);
}

#[test]
fn non_uuid_event_ids_from_a_server_are_kept_verbatim() {
    let server = FakeServer::new();
    let store = memory_store();
    let mut e = PulledEvent::from_event(&remote_insert("srv-42", "todos", "k"), 1);
    e.cursor = None;
    server.log.borrow_mut().push(e);
    let r = run(&store, &server);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(
        store.events(&EventQuery::default()).unwrap()[0].event_id,
        "srv-42"
    );
    // Pulling the same page again (a server that repeats itself) applies nothing twice.
    let page = block_on(eventsourced_db::sync::Transport::pull(&server, "0", 10)).unwrap();
    let out = store.apply_pull(page).unwrap();
    assert_eq!((out.applied, out.changes.len()), (0, 0));
}

#[test]
fn a_compacted_server_log_rebuilds_from_the_snapshot_and_keeps_pending_events() {
    let server = FakeServer::new();
    let writer = memory_store();
    let v = |i: i32, t: &str| json!({"id": format!("r{i}"), "title": t});
    writer
        .capture((0..5).map(|i| insert("todos", v(i, "first"))).collect())
        .unwrap();
    run(&writer, &server);
    let late = memory_store();
    run(&late, &server); // late has r0..r4 at cursor 5
    late.capture(vec![update(
        "todos",
        &v(1, "first"),
        v(1, "late's pending edit"),
    )])
    .unwrap();

    // Meanwhile r0 is deleted and r2 edited, then the server compacts past late's cursor.
    writer
        .capture(vec![common::muts::delete("todos", &v(0, "first"))])
        .unwrap();
    writer
        .capture(vec![update("todos", &v(2, "first"), v(2, "edited"))])
        .unwrap();
    run(&writer, &server);
    server.compacted_below.set(7);

    let mut rec = Recorder::default();
    // The push goes through; the pull gets 410 Gone and falls back to the snapshot.
    let r = block_on(sync(
        &late,
        &server,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut rec,
    ));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let rows = rows(&late, "todos");
    let titles: Vec<_> = rows
        .iter()
        .map(|(_, v)| v["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        titles,
        ["late's pending edit", "edited", "first", "first"],
        "{rows:?}"
    );
    assert!(rec
        .changes
        .iter()
        .any(|c| c.key == json!("r0") && c.kind == eventsourced_db::model::ChangeKind::Delete));
    assert_eq!(rows, {
        run(&writer, &server);
        self::rows(&writer, "todos")
    });
    assert_eq!(late.counts().unwrap().pending, 0);
}

#[test]
fn a_page_that_fails_after_the_next_was_requested_keeps_the_ones_before() {
    // The engine asks for page k+1 before applying page k: a failure of
    // page k+1 must leave page k applied (with its cursor) and nothing of
    // k+1, and the next round goes on from there.
    let server = FakeServer::new();
    server.page_limit.set(100);
    let writer = memory_store();
    writer
        .capture(
            (0..250)
                .map(|i| insert("todos", json!({"id": i})))
                .collect(),
        )
        .unwrap();
    run(&writer, &server);
    let reader = memory_store();
    let r = run_with_fault_on_second_pull(&reader, &server);
    assert_eq!(r.pulled, 100);
    assert_eq!(
        r.errors.iter().map(|e| e.code()).collect::<Vec<_>>(),
        ["MALFORMED_RESPONSE"]
    );
    assert_eq!(reader.cursor().unwrap(), "100");
    assert_eq!(reader.visible_rows("todos").unwrap().len(), 100);
    assert_eq!(reader.last_sync_at().unwrap(), None, "an incomplete round");
    let r = run(&reader, &server);
    assert_eq!(r.pulled, 150);
    assert_eq!(reader.visible_rows("todos").unwrap().len(), 250);
    assert!(reader.last_sync_at().unwrap().is_some());
}

/// A round whose second pull request answers a malformed body.
fn run_with_fault_on_second_pull(store: &Store, server: &FakeServer) -> SyncResult {
    struct SecondFails<'a> {
        server: &'a FakeServer,
        calls: std::cell::Cell<u32>,
    }
    impl eventsourced_db::sync::Transport for SecondFails<'_> {
        async fn push(
            &self,
            events: &[Event],
        ) -> Result<eventsourced_db::protocol::PushResponse, eventsourced_db::sync::TransportError>
        {
            self.server.push(events).await
        }
        async fn pull(
            &self,
            since: &str,
            limit: usize,
        ) -> Result<eventsourced_db::protocol::PullResponse, eventsourced_db::sync::TransportError>
        {
            self.calls.set(self.calls.get() + 1);
            if self.calls.get() == 2 {
                return Err(eventsourced_db::sync::TransportError::Malformed(
                    "truncated".into(),
                ));
            }
            self.server.pull(since, limit).await
        }
    }
    let t = SecondFails {
        server,
        calls: std::cell::Cell::new(0),
    };
    block_on(sync(
        store,
        &t,
        &RecordingTimer::default(),
        &SyncOptions::default(),
        &mut (),
    ))
}

#[test]
fn last_sync_at_marks_rounds_that_pulled_everything() {
    let server = FakeServer::new();
    let store = memory_store();
    assert_eq!(store.last_sync_at().unwrap(), None);
    store
        .capture(vec![insert("todos", json!({"id": "a"}))])
        .unwrap();
    let before = SystemEnvironment.now_ms();
    let r = run(&store, &server);
    assert!(r.errors.is_empty());
    let at = store
        .last_sync_at()
        .unwrap()
        .expect("set by a complete round");
    assert!(at >= before && at <= SystemEnvironment.now_ms());
    // A round whose pull fails leaves it as it was.
    server.pull_faults.borrow_mut().push_back(Fault::Malformed);
    let r = run(&store, &server);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(store.last_sync_at().unwrap(), Some(at));
}

/// The counts of a database as a fresh connection reads them (nothing kept).
fn recounted(path: &std::path::Path) -> eventsourced_db::model::LogCounts {
    Store::open(
        path.to_str().unwrap(),
        StoreConfig::default(),
        Box::new(SystemEnvironment),
    )
    .unwrap()
    .counts()
    .unwrap()
}

#[test]
fn counts_kept_across_captures_match_a_recount_after_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counts.db");
    let store = Store::open(
        path.to_str().unwrap(),
        StoreConfig::default(),
        Box::new(SystemEnvironment),
    )
    .unwrap();
    let server = FakeServer::new();
    server.reject_poison_per_event.set(true);
    let check = |step: &str| {
        let kept = store.counts().unwrap();
        assert_eq!(kept, recounted(&path), "after {step}");
        kept
    };
    check("open");
    // Captures move the kept counts on: the JS side asks after each one.
    for i in 0..3 {
        store
            .capture(vec![insert("todos", json!({"id": format!("a{i}")}))])
            .unwrap();
        assert_eq!(check("a capture").pending, i + 1);
    }
    let named = || {
        let mut m = insert("todos", json!({"id": "named"}));
        m.event_id = Some("0190a0d6-3f6b-7000-8000-000000000001".into());
        m
    };
    store.capture(vec![named()]).unwrap();
    check("a capture with its own event id");
    store.capture(vec![named()]).unwrap();
    assert_eq!(check("a retried capture").pending, 4);
    let mut bad = insert("todos", json!({"id": "bad"}));
    bad.key = Value::Null;
    assert!(store.capture(vec![bad]).is_err());
    check("a refused capture");
    store
        .capture(vec![insert("todos", json!({"id": "p", "poison": true}))])
        .unwrap();
    server.inject(&[remote_insert(
        "0190a0d6-3f6b-7000-8000-0000000000ff",
        "todos",
        "remote",
    )]);
    let r = run(&store, &server);
    assert_eq!((r.pushed, r.rejected), (4, 1), "{:?}", r.errors);
    let after = check("a sync round with a rejection and a pulled event");
    assert_eq!((after.pending, after.rejected), (0, 1));
    store
        .capture(vec![insert("todos", json!({"id": "late"}))])
        .unwrap();
    assert_eq!(check("a capture after the round").pending, 1);
    let rejected = store.rejections().unwrap();
    assert!(store.clear_rejection(&rejected[0].event_id).unwrap());
    assert_eq!(check("a cleared rejection").rejected, 0);
    store
        .capture(vec![insert("todos", json!({"id": "last"}))])
        .unwrap();
    assert_eq!(check("a last capture").pending, 2);
}

#[test]
fn a_page_the_server_repeats_is_applied_once_with_own_events_in_it() {
    let server = FakeServer::new();
    let a = memory_store();
    let b = memory_store();
    a.capture(vec![insert("todos", json!({"id": "a1", "n": 1}))])
        .unwrap();
    run(&a, &server);
    b.capture(vec![insert("todos", json!({"id": "b1", "n": 1}))])
        .unwrap();
    run(&b, &server);
    run(&a, &server);
    let total = a.counts().unwrap().total;
    // The whole log again, from the start, as a server with a broken cursor would send it.
    let page = block_on(eventsourced_db::sync::Transport::pull(&server, "0", 1000)).unwrap();
    assert_eq!(page.events.len(), 2);
    let out = a.apply_pull(page).unwrap();
    assert_eq!((out.applied, out.settled, out.changes.len()), (0, 0, 0));
    assert_eq!(a.counts().unwrap().total, total, "nothing stored twice");
    assert_eq!(rows(&a, "todos").len(), 2);
}

#[test]
fn two_events_a_broken_server_gave_one_global_seq_are_both_kept_and_applied() {
    let server = FakeServer::new();
    let store = memory_store();
    let x = PulledEvent::from_event(
        &remote_insert("0190a000-0000-7000-8000-000000000001", "todos", "x"),
        7,
    );
    let y = PulledEvent::from_event(
        &remote_insert("0190a000-0000-7000-8000-000000000002", "todos", "y"),
        7,
    );
    server.log.borrow_mut().extend([x, y]);
    let r = run(&store, &server);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(store.counts().unwrap().total, 2);
    let keys: Vec<String> = rows(&store, "todos").into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["\"x\"", "\"y\""]);
}

/// A remote whole-row write of `key` with `title`, as the server holds it.
fn remote_row(event_id: String, key: &str, title: &str) -> Event {
    let mut e = remote_insert(&event_id, "todos", key);
    e.payload = json!({"id": key, "title": title})
        .as_object()
        .unwrap()
        .clone();
    e
}

/// A store that pulled `n` remote rows `k0`, `k1`, … titled "stored".
fn with_stored_rows(n: usize) -> (FakeServer, Store) {
    let server = FakeServer::new();
    let store = memory_store();
    let stored: Vec<Event> = (0..n)
        .map(|i| remote_row(format!("s{i}"), &format!("k{i}"), "stored"))
        .collect();
    server.inject(&stored);
    pull_only(&store, &server);
    (server, store)
}

#[test]
fn a_pulled_page_tells_stored_keys_from_new_ones_however_they_interleave() {
    // 300 stored rows whose keys, in text order, interleave with the page's.
    let (server, store) = with_stored_rows(300);
    // Pages whose keys span few stored rows (a range scan finds them) and
    // pages that span more stored rows than they hold keys (each key is
    // looked up): either way a stored key is an update, a new one an insert.
    let pages: [Vec<String>; 3] = [
        (1000..1100)
            .map(|i| format!("k{i}"))
            .chain((100..110).map(|i| format!("k{i}")))
            .collect(),
        vec!["k0".into(), "k299".into(), "k3000".into(), "a-new".into()],
        (0..300)
            .step_by(7)
            .map(|i| format!("k{i}"))
            .chain(["k5000".to_string()])
            .collect(),
    ];
    for (n, keys) in pages.iter().enumerate() {
        let title = format!("page {n}");
        let events: Vec<Event> = keys
            .iter()
            .map(|k| remote_row(format!("p{n}-{k}"), k, &title))
            .collect();
        let before: std::collections::HashSet<String> =
            rows(&store, "todos").into_iter().map(|(k, _)| k).collect();
        server.inject(&events);
        let out = pull_only(&store, &server);
        assert_eq!(out.changes.len(), keys.len(), "page {n}");
        for change in &out.changes {
            let key = change.key.to_string();
            let expected = if before.contains(&key) {
                ChangeKind::Update
            } else {
                ChangeKind::Insert
            };
            assert_eq!(change.kind, expected, "page {n}, key {key}");
            assert_eq!(change.value.to_value()["title"], json!(title));
        }
    }
    let all = rows(&store, "todos");
    assert_eq!(all.len(), 300 + 100 + 2 + 1);
    assert_eq!(
        all.iter().find(|(k, _)| k == "\"k7\"").unwrap().1["title"],
        "page 2"
    );
    assert_eq!(
        all.iter().find(|(k, _)| k == "\"k1\"").unwrap().1["title"],
        "stored"
    );
}

#[test]
fn own_events_settle_whatever_the_ids_around_them() {
    let server = FakeServer::new();
    let store = memory_store();
    // Two local ids far apart, so that others fall below, between and above.
    let mut low = insert("todos", json!({"id": "mine-1"}));
    low.event_id = Some("0192f0c1-7b3a-7c4d-8e5f-0123456789ab".into());
    let mut high = insert("todos", json!({"id": "mine-2"}));
    high.event_id = Some("7fffffff-0000-7000-8000-000000000000".into());
    store.capture(vec![low, high]).unwrap();
    // Other devices' events pulled before and with them: ids below, between
    // and above the local ones, and text ids (below every UUID in SQLite).
    let others = [
        "00000000-0000-4000-8000-000000000001",
        "3fffffff-0000-4000-8000-000000000000",
        "ffffffff-ffff-4fff-bfff-ffffffffffff",
        "a-text-id",
        "zzz",
    ];
    let events: Vec<Event> = others
        .iter()
        .enumerate()
        .map(|(i, id)| remote_row(id.to_string(), &format!("other-{i}"), "theirs"))
        .collect();
    server.inject(&events[..2]);
    let r = run(&store, &server);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    server.inject(&events[2..]);
    let r = run(&store, &server);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let log = store.events(&EventQuery::default()).unwrap();
    assert_eq!(
        log.len(),
        2 + others.len(),
        "own events are not stored twice"
    );
    assert!(log.iter().all(|e| e.status == EventStatus::Confirmed));
    assert_eq!(store.counts().unwrap().pending, 0);
    assert_eq!(rows(&store, "todos").len(), 2 + others.len());
}

#[test]
fn a_page_that_returns_to_a_collection_keeps_the_rows_it_read_the_first_time() {
    let (server, store) = with_stored_rows(40);
    // todos, then notes, then todos again: the second run's range (k0 to
    // k9-19) holds rows the first run read already (k1, k3) and others.
    let mut note = remote_insert("n1", "notes", "k2");
    note.payload = json!({"id": "k2", "text": "a note"})
        .as_object()
        .unwrap()
        .clone();
    let fresh: Vec<String> = (0..20).map(|i| format!("k9-{i:02}")).collect();
    let mut events = vec![
        remote_row("p1".into(), "k1", "first run"),
        remote_row("p3".into(), "k3", "first run"),
        note,
        remote_row("p3b".into(), "k3", "second run"),
        remote_row("p0".into(), "k0", "second run"),
    ];
    events.extend(
        fresh
            .iter()
            .map(|k| remote_row(format!("p-{k}"), k, "second run")),
    );
    server.inject(&events);
    let out = pull_only(&store, &server);
    let kinds: Vec<(String, String, ChangeKind)> = out
        .changes
        .iter()
        .map(|c| (c.collection.clone(), c.key.to_string(), c.kind))
        .collect();
    let mut expected = vec![
        (
            "todos".to_string(),
            "\"k1\"".to_string(),
            ChangeKind::Update,
        ),
        ("todos".into(), "\"k3\"".into(), ChangeKind::Update),
        ("notes".into(), "\"k2\"".into(), ChangeKind::Insert),
        ("todos".into(), "\"k0\"".into(), ChangeKind::Update),
    ];
    expected.extend(
        fresh
            .iter()
            .map(|k| ("todos".into(), format!("{k:?}"), ChangeKind::Insert)),
    );
    assert_eq!(kinds, expected);
    let todos = rows(&store, "todos");
    assert_eq!(todos.len(), 60);
    assert_eq!(
        todos.iter().find(|(k, _)| k == "\"k3\"").unwrap().1["title"],
        "second run"
    );
    assert_eq!(rows(&store, "notes").len(), 1);
}

#[test]
fn pulled_keys_and_payloads_this_version_cannot_apply_are_kept_and_reported() {
    let server = FakeServer::new();
    let store = memory_store();
    let event = |n: u64, key: Value, payload: &str, kind: &str| PulledEvent {
        kind: kind.into(),
        key,
        payload: eventsourced_db::model::RowJson::from_text(payload.into()).unwrap(),
        ..PulledEvent::from_event(&remote_insert(&format!("e{n}"), "todos", "x"), n)
    };
    server.log.borrow_mut().extend([
        event(1, json!(true), r#"{"id":"b"}"#, "insert"),
        event(2, json!("s"), r#"["not", "a", "row"]"#, "insert"),
        event(3, json!(5.0), r#"{"id":5,"n":"five"}"#, "insert"),
        event(4, json!({"k": 1}), r#"{"id":"o"}"#, "upsert"),
        event(5, json!("t"), r#"{"id":"t"}"#, "insert"),
        event(6, json!("t"), "null", "delete"),
    ]);
    let r = run(&store, &server);
    assert_eq!(r.pulled, 6);
    let reasons: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].contains("neither a string nor a number"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("not an object"), "{reasons:?}");
    // The type is judged first: an unknown type with a bad key names the type.
    assert!(
        reasons[2].contains("unknown event type 'upsert'"),
        "{reasons:?}"
    );
    assert!(r.errors.iter().all(|e| e.code() == "UNRECOGNIZED_EVENT"));
    // A number key is stored as JavaScript's String(key) ("5", not "5.0");
    // the inserted and deleted string key leaves nothing.
    let rows = rows(&store, "todos");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1["n"], "five");
    let history = store.history("todos", &json!(5)).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        store.events(&EventQuery::default()).unwrap().len(),
        6,
        "all kept"
    );
}
