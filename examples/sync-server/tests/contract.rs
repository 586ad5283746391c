//! The protocol contract, written once and run against both backends:
//! `sqlite::*` on a temp file, `postgres::*` on the server named by
//! EVENTSOURCED_TEST_POSTGRES_URL (each test in its own schema).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use eventsourced_db::protocol::{Snapshot, MAX_PUSH_BATCH};
use eventsourced_sync_server::{CollectionRules, Limits, Rejection};
use reqwest::StatusCode;
use serde_json::{json, Value};

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::TestDb::postgres().await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

contract!(
    push_then_pull_round_trips,
    pull_pages_and_caps_the_limit,
    concurrent_pushers_get_a_contiguous_order,
    restart_keeps_the_log_and_the_cursor,
    bad_input_is_refused_and_nothing_is_stored,
    scopes_are_isolated,
    re_pushed_events_are_confirmed_once,
    validators_reject_single_events,
    compaction_answers_gone_and_snapshot_has_the_rows,
    live_tail_delivers_new_events,
);

async fn push_then_pull_round_trips(db: TestDb) {
    let server = db.start().await;
    let c = Client::new(&server);
    let mut upd = update(
        "todos",
        json!("a"),
        json!({"id": "a", "title": "A2"}),
        json!({"title": "A2"}),
    );
    upd["clientId"] = json!("device-1");
    upd["schemaVersion"] = json!(3);
    let events = vec![
        insert("todos", json!("a"), json!({"id": "a", "title": "A"})),
        insert("users", json!(42), json!({"id": 42, "name": "ann"})),
        upd,
    ];
    let body = c.push_ok(&events).await;
    assert_eq!(seqs(&body), vec![1, 2, 3]);
    assert!(body.get("rejected").is_none());
    for (sent, conf) in events.iter().zip(body["confirmed"].as_array().unwrap()) {
        assert_eq!(conf["eventId"], sent["eventId"]);
    }

    let (status, page) = c.pull("0", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["cursor"], json!("3"));
    assert_eq!(page["hasMore"], json!(false));
    let pulled = page["events"].as_array().unwrap();
    assert_eq!(pulled.len(), 3);
    for (i, (p, sent)) in pulled.iter().zip(&events).enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(p["globalSeq"], json!(seq));
        assert_eq!(p["cursor"], json!(seq.to_string()));
        for field in [
            "eventId",
            "collectionId",
            "type",
            "key",
            "payload",
            "timestamp",
        ] {
            assert_eq!(p[field], sent[field], "field {field}");
        }
    }
    assert_eq!(
        pulled[1]["key"],
        json!(42),
        "numeric keys come back as pushed"
    );
    assert_eq!(pulled[2]["changes"], json!({"title": "A2"}));
    assert_eq!(pulled[2]["clientId"], json!("device-1"));
    assert_eq!(pulled[2]["schemaVersion"], json!(3));

    let (_, page) = c.pull("3", None).await;
    assert_eq!(page, json!({"events": [], "cursor": "3", "hasMore": false}));
    let (_, page) = c.pull("1", Some(1)).await;
    assert_eq!(page["events"][0]["globalSeq"], json!(2));
    assert_eq!(
        (page["cursor"].clone(), page["hasMore"].clone()),
        (json!("2"), json!(true))
    );
    server.shutdown().await.unwrap();
}

async fn pull_pages_and_caps_the_limit(db: TestDb) {
    let server = db.start().await;
    let c = Client::new(&server);
    for chunk in todos(1200, "p").chunks(MAX_PUSH_BATCH) {
        c.push_ok(chunk).await;
    }
    let (_, page) = c.pull("0", None).await;
    assert_eq!(
        page["events"].as_array().unwrap().len(),
        500,
        "default limit"
    );
    assert_eq!(page["hasMore"], json!(true));
    let (_, page) = c.pull("0", Some(5000)).await;
    assert_eq!(
        page["events"].as_array().unwrap().len(),
        1000,
        "limit capped at 1000"
    );
    assert_eq!(page["cursor"], json!("1000"));
    let (_, page) = c.pull("1000", Some(1000)).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 200);
    assert_eq!(
        (page["cursor"].clone(), page["hasMore"].clone()),
        (json!("1200"), json!(false))
    );
    server.shutdown().await.unwrap();
}

async fn concurrent_pushers_get_a_contiguous_order(db: TestDb) {
    const PUSHERS: usize = 20;
    const EACH: usize = 500;
    let server = db.start().await;
    let c = Client::new(&server);
    let mut tasks = Vec::new();
    for p in 0..PUSHERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let events = todos(EACH, &format!("w{p}"));
            let mut confirmed = Vec::new();
            // Several batches per pusher, so their commits interleave.
            for chunk in events.chunks(100) {
                let body = c.push_ok(chunk).await;
                for conf in body["confirmed"].as_array().unwrap() {
                    confirmed.push((
                        conf["eventId"].as_str().unwrap().to_string(),
                        conf["globalSeq"].as_u64().unwrap(),
                    ));
                }
            }
            let ids: Vec<String> = events
                .iter()
                .map(|e| e["eventId"].as_str().unwrap().to_string())
                .collect();
            (ids, confirmed)
        }));
    }
    let mut confirmed_seq: HashMap<String, u64> = HashMap::new();
    let mut pushed_order = Vec::new();
    for t in tasks {
        let (ids, confirmed) = t.await.unwrap();
        assert_eq!(ids.len(), confirmed.len());
        for (id, (cid, seq)) in ids.iter().zip(&confirmed) {
            assert_eq!(id, cid);
            assert!(confirmed_seq.insert(id.clone(), *seq).is_none());
        }
        pushed_order.push(ids);
    }

    let (events, cursor) = c.pull_all("0").await;
    let total = PUSHERS * EACH;
    assert_eq!(events.len(), total, "every event stored once");
    assert_eq!(cursor, total.to_string());
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.global_seq, i as u64 + 1, "contiguous from 1, in order");
        assert_eq!(
            confirmed_seq[&e.event_id], e.global_seq,
            "pull agrees with the confirmation"
        );
    }
    let unique: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(unique.len(), total);
    // Each pusher's events keep their order in the global order.
    for ids in pushed_order {
        let seqs: Vec<u64> = ids.iter().map(|id| confirmed_seq[id]).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    }
    server.shutdown().await.unwrap();
}

async fn restart_keeps_the_log_and_the_cursor(db: TestDb) {
    let first = todos(300, "r1");
    let server = db.start().await;
    let c = Client::new(&server);
    c.push_ok(&first[..150]).await;
    c.push_ok(&first[150..]).await;
    let (_, page) = c.pull("0", Some(100)).await;
    let cursor = page["cursor"].as_str().unwrap().to_string();
    assert_eq!(cursor, "100");
    server.shutdown().await.unwrap();

    let server = db.start().await;
    let c = Client::new(&server);
    let (events, end) = c.pull_all(&cursor).await;
    assert_eq!(events.len(), 200);
    assert_eq!(events[0].global_seq, 101);
    assert_eq!(end, "300");
    // The sequence continues, and old events are still known.
    let again = c.push_ok(&[first[0].clone()]).await;
    assert_eq!(seqs(&again), vec![1]);
    let more = c.push_ok(&todos(5, "r2")).await;
    assert_eq!(seqs(&more), vec![301, 302, 303, 304, 305]);
    let (events, end) = c.pull_all(&end).await;
    assert_eq!(events.len(), 5);
    assert_eq!(end, "305");
    server.shutdown().await.unwrap();
}

async fn bad_input_is_refused_and_nothing_is_stored(db: TestDb) {
    let server = db.start().await;
    let c = Client::new(&server);
    let good = || insert("todos", json!("k"), json!({"id": "k", "title": "t"}));
    let with = |field: &str, value: Value| {
        let mut e = good();
        e[field] = value;
        e
    };
    let without = |field: &str| {
        let mut e = good();
        e.as_object_mut().unwrap().remove(field);
        e
    };
    let limits = Limits::default();
    let big_payload = json!({"id": "k", "blob": "x".repeat(limits.max_payload_bytes)});
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            b"[{\"eventId\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "not JSON at all",
            b"hello".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "an object, not an array",
            serde_json::to_vec(&good()).unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_batch",
        ),
        (
            "empty batch",
            b"[]".to_vec(),
            StatusCode::BAD_REQUEST,
            "empty_batch",
        ),
        (
            "501 events",
            serde_json::to_vec(&todos(501, "big")).unwrap(),
            StatusCode::BAD_REQUEST,
            "batch_too_large",
        ),
        (
            "eventId a number",
            json_batch(with("eventId", json!(7))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "bad UUID",
            json_batch(with("eventId", json!("not-a-uuid"))),
            StatusCode::BAD_REQUEST,
            "invalid_event_id",
        ),
        (
            "empty collection",
            json_batch(with("collectionId", json!(""))),
            StatusCode::BAD_REQUEST,
            "invalid_collection",
        ),
        (
            "collection a number",
            json_batch(with("collectionId", json!(1))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "unknown type",
            json_batch(with("type", json!("upsert"))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "key an object",
            json_batch(with("key", json!({"a": 1}))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "key null",
            json_batch(with("key", Value::Null)),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "payload an array",
            json_batch(with("payload", json!([1]))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "timestamp zero",
            json_batch(with("timestamp", json!(0))),
            StatusCode::BAD_REQUEST,
            "invalid_timestamp",
        ),
        (
            "timestamp negative",
            json_batch(with("timestamp", json!(-5))),
            StatusCode::BAD_REQUEST,
            "invalid_timestamp",
        ),
        (
            "timestamp a float",
            json_batch(with("timestamp", json!(1.5))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "timestamp a string",
            json_batch(with("timestamp", json!("1"))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "missing payload",
            json_batch(without("payload")),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "missing key",
            json_batch(without("key")),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            "payload over the limit",
            json_batch(with("payload", big_payload)),
            StatusCode::BAD_REQUEST,
            "payload_too_large",
        ),
        (
            "body over 5 MiB",
            vec![b' '; limits.max_body_bytes + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (what, body, status, want) in cases {
        let (got, err) = c.push_raw(body).await;
        assert_eq!(got, status, "{what}: {err}");
        assert_eq!(code(&err), want, "{what}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    // One bad event refuses the whole batch, good ones included.
    let (status, err) = c.push(&[good(), good(), with("timestamp", json!(0))]).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::BAD_REQUEST, "invalid_timestamp")
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("event 2"));

    for (query, want) in [
        ("/api/events?since=abc", "invalid_cursor"),
        ("/api/events?since=-1", "invalid_cursor"),
        ("/api/events?since=0&limit=0", "invalid_limit"),
        ("/api/events?since=0&limit=x", "invalid_limit"),
    ] {
        let (status, err) = c.get(query).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::BAD_REQUEST, want),
            "{query}"
        );
    }
    let (events, cursor) = c.pull_all("0").await;
    assert!(events.is_empty(), "nothing was stored");
    assert_eq!(cursor, "0");
    // The server still works after all that.
    assert_eq!(seqs(&c.push_ok(&[good()]).await), vec![1]);
    server.shutdown().await.unwrap();
}

fn json_batch(event: Value) -> Vec<u8> {
    serde_json::to_vec(&[event]).unwrap()
}

async fn scopes_are_isolated(db: TestDb) {
    let server = db
        .builder()
        .token("token-a", "team-a")
        .token("token-b", "team-b")
        .read_only_token("token-a-ro", "team-a")
        .start()
        .await
        .unwrap();
    let anon = Client::new(&server);
    let a = anon.with_token("token-a");
    let b = anon.with_token("token-b");
    let a_ro = anon.with_token("token-a-ro");

    let shared = insert("todos", json!("x"), json!({"id": "x", "title": "A's"}));
    assert_eq!(
        seqs(&a.push_ok(std::slice::from_ref(&shared)).await),
        vec![1]
    );
    assert_eq!(seqs(&a.push_ok(&todos(2, "a")).await), vec![2, 3]);

    // B sees nothing of A, and A's event id means nothing in B's stream.
    let (events, cursor) = b.pull_all("0").await;
    assert!(events.is_empty());
    assert_eq!(cursor, "0");
    let mut b_version = shared.clone();
    b_version["payload"]["title"] = json!("B's");
    assert_eq!(seqs(&b.push_ok(&[b_version]).await), vec![1]);
    let (events, _) = b.pull_all("0").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload.to_value()["title"], json!("B's"));
    let (events, _) = a.pull_all("0").await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].payload.to_value()["title"], json!("A's"));

    let (_, snap) = b.get("/api/snapshot").await;
    let snap: Snapshot = serde_json::from_value(snap).unwrap();
    assert_eq!((snap.rows.len(), snap.cursor.as_str()), (1, "1"));

    // Missing or unknown tokens: 401 everywhere; read-only may not push: 403.
    for path in [
        "/api/events?since=0",
        "/api/snapshot",
        "/api/events/stream?since=0",
    ] {
        let (status, err) = anon.get(path).await;
        assert_eq!(
            (status, code(&err)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path}"
        );
        let (status, _) = anon.with_token("nope").get(path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = anon
        .http
        .get(format!("{}/api/events", anon.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (status, err) = anon.push(&todos(1, "anon")).await;
    assert_eq!(
        (status, code(&err)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (status, err) = a_ro.push(&todos(1, "ro")).await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "forbidden"));
    let (events, _) = a_ro.pull_all("0").await;
    assert_eq!(events.len(), 3, "read-only token reads its own scope");
    // Nothing leaked in either direction.
    assert_eq!(b.pull_all("0").await.0.len(), 1);
    server.shutdown().await.unwrap();
}

async fn re_pushed_events_are_confirmed_once(db: TestDb) {
    let server = db.start().await;
    let c = Client::new(&server);
    let e: Vec<Value> = todos(4, "i");
    // A duplicate inside one batch is stored once and confirmed twice.
    let body = c
        .push_ok(&[e[0].clone(), e[1].clone(), e[0].clone(), e[2].clone()])
        .await;
    assert_eq!(seqs(&body), vec![1, 2, 1, 3]);
    // A re-push (lost response) gets the original globalSeq.
    let body = c.push_ok(&[e[1].clone(), e[3].clone()]).await;
    assert_eq!(seqs(&body), vec![2, 4]);
    // The id is the UUID, not its spelling.
    let mut upper = e[2].clone();
    upper["eventId"] = json!(e[2]["eventId"].as_str().unwrap().to_uppercase());
    assert_eq!(seqs(&c.push_ok(&[upper]).await), vec![3]);
    let (events, _) = c.pull_all("0").await;
    let ids: Vec<&str> = events.iter().map(|p| p.event_id.as_str()).collect();
    let want: Vec<&str> = e.iter().map(|x| x["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids, want);
    server.shutdown().await.unwrap();
}

async fn validators_reject_single_events(db: TestDb) {
    let server = db
        .builder()
        .rule(CollectionRules::demo())
        .rule(CollectionRules::parse("notes:body=string,pinned?=boolean").unwrap())
        .validator(|_scope: &str, e: &eventsourced_db::protocol::Event| {
            if e.collection_id == "secrets" {
                Err(Rejection {
                    code: "forbidden_collection".into(),
                    reason: "secrets are not synced".into(),
                })
            } else {
                Ok(())
            }
        })
        .start()
        .await
        .unwrap();
    let c = Client::new(&server);
    let ok = insert("todos", json!("t1"), json!({"id": "t1", "title": "milk"}));
    let empty = insert("todos", json!("t2"), json!({"id": "t2", "title": ""}));
    let missing = insert("todos", json!("t3"), json!({"id": "t3"}));
    let gone = delete("todos", json!("t4"), json!({"id": "t4", "title": ""}));
    let secret = insert("secrets", json!(1), json!({"id": 1}));
    let note = insert(
        "notes",
        json!("n"),
        json!({"id": "n", "body": "hi", "pinned": "yes"}),
    );
    let note_ok = insert("notes", json!("m"), json!({"id": "m", "body": "hi"}));
    let batch = vec![
        ok.clone(),
        empty.clone(),
        missing.clone(),
        gone.clone(),
        secret.clone(),
        note.clone(),
        note_ok.clone(),
    ];
    let body = c.push_ok(&batch).await;

    let confirmed: Vec<(&str, u64)> = body["confirmed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["eventId"].as_str().unwrap(),
                c["globalSeq"].as_u64().unwrap(),
            )
        })
        .collect();
    let id = |e: &Value| e["eventId"].as_str().unwrap().to_string();
    assert_eq!(
        confirmed,
        vec![
            (id(&ok).as_str(), 1),
            (id(&gone).as_str(), 2),
            (id(&note_ok).as_str(), 3)
        ]
    );
    let rejected = body["rejected"].as_array().unwrap();
    let r: Vec<(String, &str, &str)> = rejected
        .iter()
        .map(|r| {
            (
                r["eventId"].as_str().unwrap().to_string(),
                r["code"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        r,
        vec![
            (
                id(&empty),
                "validation",
                "todos.title must be a non-empty string"
            ),
            (
                id(&missing),
                "validation",
                "todos.title must be a non-empty string"
            ),
            (
                id(&secret),
                "forbidden_collection",
                "secrets are not synced"
            ),
            (id(&note), "validation", "notes.pinned must be a boolean"),
        ]
    );
    // Rejected events were not stored; re-pushing one is rejected again.
    let (events, _) = c.pull_all("0").await;
    assert_eq!(events.len(), 3);
    let body = c.push_ok(std::slice::from_ref(&empty)).await;
    assert_eq!(body["confirmed"], json!([]));
    assert_eq!(body["rejected"][0]["eventId"], json!(id(&empty)));
    server.shutdown().await.unwrap();
}

async fn compaction_answers_gone_and_snapshot_has_the_rows(db: TestDb) {
    let server = db.start().await;
    let c = Client::new(&server);
    let log = vec![
        insert(
            "todos",
            json!("a"),
            json!({"id": "a", "title": "A", "done": false}),
        ), // 1
        // Two devices change different fields of the same row.
        update(
            "todos",
            json!("a"),
            json!({"id": "a", "title": "A2", "done": false}),
            json!({"title": "A2"}),
        ), // 2
        update(
            "todos",
            json!("a"),
            json!({"id": "a", "title": "A", "done": true}),
            json!({"done": true}),
        ), // 3
        insert("todos", json!("b"), json!({"id": "b", "title": "B"})), // 4
        delete("todos", json!("b"), json!({"id": "b", "title": "B"})), // 5
        insert("users", json!(7), json!({"id": 7, "name": "ann"})),    // 6
        json!({"eventId": new_id(), "collectionId": "users", "type": "update", "key": 7.0,
               "payload": {"id": 7, "name": "bob"}, "timestamp": 9}), // 7
        insert("todos", json!("c"), json!({"id": "c", "title": "C"})), // 8
        update(
            "todos",
            json!("c"),
            json!({"id": "c", "title": "C2"}),
            json!({"title": "C2"}),
        ), // 9
    ];
    c.push_ok(&log).await;
    let (_, before) = c.get("/api/snapshot").await;
    let before: Snapshot = serde_json::from_value(before).unwrap();
    assert_eq!(before.cursor, "9");
    let rows: Vec<(String, Value, Value)> = before
        .rows
        .iter()
        .map(|r| {
            (
                r.collection_id.clone(),
                r.key.clone(),
                Value::Object(r.value.clone()),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "todos".into(),
                json!("a"),
                json!({"id": "a", "title": "A2", "done": true})
            ),
            (
                "todos".into(),
                json!("c"),
                json!({"id": "c", "title": "C2"})
            ),
            ("users".into(), json!(7.0), json!({"id": 7, "name": "bob"})),
        ]
    );

    let report = server.backend().compact("default", 9).await.unwrap();
    assert_eq!(report.compacted_through, 8);
    assert_eq!(report.removed, 4, "seqs 1, 2, 4, 6 folded away");

    let (status, err) = c.pull("0", None).await;
    assert_eq!((status, code(&err)), (StatusCode::GONE, "compacted"));
    let (status, _) = c.pull("7", None).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, page) = c.pull("8", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a cursor at the compaction point still pulls"
    );
    assert_eq!(page["events"][0]["globalSeq"], json!(9));
    let (status, _) = c.pull("100", None).await;
    assert_eq!(
        status,
        StatusCode::GONE,
        "a cursor beyond the log (reset server) is gone too"
    );

    let (_, after) = c.get("/api/snapshot").await;
    let after: Snapshot = serde_json::from_value(after).unwrap();
    assert_eq!(
        after, before,
        "the snapshot does not change with compaction"
    );
    // The client continues from the snapshot's cursor.
    let (status, page) = c.pull(&after.cursor, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["events"], json!([]));
    // Folded-away events keep their idempotency: a late re-push of one
    // (a client offline since before the compaction) is confirmed, not stored.
    assert_eq!(
        seqs(&c.push_ok(&[log[0].clone(), log[5].clone()]).await),
        vec![1, 6]
    );
    assert_eq!(seqs(&c.push_ok(&todos(1, "z")).await), vec![10]);
    server.shutdown().await.unwrap();
}

async fn live_tail_delivers_new_events(db: TestDb) {
    let server = db.start().await;
    let c = Client::new(&server);
    c.push_ok(&todos(2, "before")).await;

    let response = c.stream("1").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut sse = SseReader::new(response);
    let wait = Duration::from_secs(5);
    let (id, e) = sse.next_event(wait).await.expect("the backlog after since");
    assert_eq!(
        (id.as_deref(), e.global_seq, e.cursor.as_deref()),
        (Some("2"), 2, Some("2"))
    );

    // New commits wake the tail at once.
    let pusher = c.clone();
    let later = todos(3, "after");
    let ids: Vec<String> = later
        .iter()
        .map(|e| e["eventId"].as_str().unwrap().to_string())
        .collect();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pusher.push_ok(&later[..1]).await;
        pusher.push_ok(&later[1..]).await;
    });
    for (i, want) in ids.iter().enumerate() {
        let (_, e) = sse.next_event(wait).await.expect("a live event");
        assert_eq!(&e.event_id, want);
        assert_eq!(e.global_seq, 3 + i as u64);
    }
    // Idle: heartbeat comments keep the connection alive.
    match sse.next(Duration::from_secs(3)).await {
        Some(Frame::Comment(text)) => assert_eq!(text, "heartbeat"),
        other => panic!("expected a heartbeat, got {other:?}"),
    }
    // Reconnecting with Last-Event-ID resumes after it.
    let r = c
        .http
        .get(format!("{}/api/events/stream?since=0", c.base))
        .header("last-event-id", "4")
        .send()
        .await
        .unwrap();
    let mut resumed = SseReader::new(r);
    let (_, e) = resumed.next_event(wait).await.unwrap();
    assert_eq!(e.global_seq, 5);

    server.backend().compact("default", 3).await.unwrap();
    let (status, err) = c.get("/api/events/stream?since=0").await;
    assert_eq!((status, code(&err)), (StatusCode::GONE, "compacted"));
    // Shutdown ends open streams instead of hanging.
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown with open streams")
        .unwrap();
}

/// Postgres serves several instances at once: a push to one wakes live tails
/// on another (without NOTIFY the tail on `one` would never wake: heartbeats
/// do not read the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_live_tail_wakes_across_instances() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let one = db.start().await;
    let two = db.start().await;
    let mut sse = SseReader::new(Client::new(&one).stream("0").await);
    // `one` LISTENs from a task of its own: push until its first wake-up.
    let mut pushed = Vec::new();
    let mut received = Vec::new();
    for attempt in 0..50 {
        let batch = todos(1, &format!("two-{attempt}"));
        Client::new(&two).push_ok(&batch).await;
        pushed.extend(batch);
        if let Some((_, e)) = sse.next_event(Duration::from_millis(200)).await {
            received.push(e);
            break;
        }
    }
    assert!(
        !received.is_empty(),
        "never woken by a push to the other instance"
    );
    while received.len() < pushed.len() {
        let (_, e) = sse
            .next_event(Duration::from_secs(5))
            .await
            .expect("the rest");
        received.push(e);
    }
    let later = todos(3, "later");
    Client::new(&two).push_ok(&later).await;
    pushed.extend(later);
    while received.len() < pushed.len() {
        let (_, e) = sse
            .next_event(Duration::from_secs(5))
            .await
            .expect("woken by NOTIFY");
        received.push(e);
    }
    for (got, want) in received.iter().zip(&pushed) {
        assert_eq!(got.event_id, want["eventId"].as_str().unwrap());
    }
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}
