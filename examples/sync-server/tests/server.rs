//! What does not depend on the backend: CORS, health, startup rules, and the
//! real binary (flags, graceful shutdown on SIGTERM, the `compact` command).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use eventsourced_sync_server::{Cors, Server, StartError};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn health_and_unknown_routes_answer_json() {
    let db = TestDb::sqlite();
    let server = db.start().await;
    let c = Client::new(&server);
    assert_eq!(
        c.get("/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let (status, err) = c.get("/nope").await;
    assert_eq!((status, code(&err)), (StatusCode::NOT_FOUND, "not_found"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn cors_allows_loopback_and_configured_origins() {
    let db = TestDb::sqlite();
    let server = db
        .builder()
        .cors(Cors {
            origins: vec!["https://app.example.com".into()],
            ..Cors::default()
        })
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/api/events", server.url()),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
    };
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:41234",
        "https://app.example.com",
    ] {
        let r = preflight(origin).await.unwrap();
        assert!(r.status().is_success(), "{origin}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], origin);
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    }
    let r = preflight("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Simple requests carry the header too.
    let r = http
        .get(format!("{}/api/events?since=0", server.url()))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_tokens_only_loopback_is_served() {
    let db = TestDb::sqlite();
    let err = db
        .builder()
        .listen("0.0.0.0:0")
        .start()
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, StartError::Config(ref m) if m.contains("without tokens")),
        "{err}"
    );
    // With a token it may bind any address.
    let server = db
        .builder()
        .listen("0.0.0.0:0")
        .token("t", "s")
        .start()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}

/// Starts the real binary and returns it with its bound address.
fn spawn_binary(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventsourced-sync-server"))
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("EVENTSOURCED_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server logs before it listens")
            .unwrap();
        let Ok(log) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if log["fields"]["message"] == "sync server listening" {
            break log["fields"]["addr"].as_str().unwrap().to_string();
        }
    };
    // Keep draining the logs so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn terminate(child: &mut std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful exit, got {status}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn the_binary_serves_validates_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", dir.path().join("cli.sqlite").display());
    let (mut child, addr) = spawn_binary(&[
        "--database",
        &database,
        "--demo-rules",
        "--token",
        "tok=team",
    ]);
    let c = Client {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
        token: Some("tok".into()),
    };
    let mut events = todos(4, "cli");
    events.push(insert(
        "todos",
        json!("bad"),
        json!({"id": "bad", "title": " "}),
    ));
    events.push(update(
        "todos",
        json!("cli-0"),
        json!({"id": "cli-0", "title": "x", "done": true}),
        json!({"done": true}),
    ));
    let body = c.push_ok(&events).await;
    assert_eq!(seqs(&body), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        body["rejected"][0]["reason"],
        "todos.title must be a non-empty string"
    );
    let (status, _) = c.with_token("other").pull("0", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    terminate(&mut child);

    let out = Command::new(env!("CARGO_BIN_EXE_eventsourced-sync-server"))
        .args(["compact", "--below", "5", "--database", &database])
        .env("EVENTSOURCED_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "scope team: removed 0 events, kept 4, compacted through 4"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_eventsourced-sync-server"))
        .args(["compact", "--keep-last", "0", "--database", &database])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "scope team: removed 1 events, kept 4, compacted through 5"
    );

    let server = Server::builder()
        .listen("127.0.0.1:0")
        .database(database.parse().unwrap())
        .token("tok", "team")
        .start()
        .await
        .unwrap();
    let c = Client::new(&server).with_token("tok");
    let (status, err) = c.pull("0", None).await;
    assert_eq!((status, code(&err)), (StatusCode::GONE, "compacted"));
    let (_, snap) = c.get("/api/snapshot").await;
    assert_eq!(snap["cursor"], "5");
    assert_eq!(snap["rows"].as_array().unwrap().len(), 4);
    assert_eq!(
        snap["rows"][0]["value"],
        json!({"id": "cli-0", "title": "todo 0", "done": true})
    );
    server.shutdown().await.unwrap();
}

#[test]
fn the_binary_refuses_bad_flags() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_eventsourced-sync-server"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--rule", "todos"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COLLECTION:FIELD=TYPE"));
    let out = run(&["--database", "mysql://x"]);
    assert!(!out.status.success());
    let out = run(&["--token", "secret-without-scope"]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret-without-scope"));
    let out = run(&[
        "--listen",
        "0.0.0.0:0",
        "--database",
        "sqlite:/tmp/never-created/x.sqlite",
    ]);
    assert!(!out.status.success(), "non-loopback without tokens");
}
