//! The `destiny` binary as a user runs it: `sign` against the shared signature vectors,
//! usage errors, and `client` calls against a small in-process server.

use std::collections::VecDeque;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use destiny_sdk::auth::{create_signature, pyfloat};
use serde_json::{json, Value};

const SECRET: &str = "cli-test-secret-do-not-print";
const ROBOT_ID: &str = "8b1e3f36-8c3e-4a8c-9d2a-0f0f6a8e1c11";
const BATCH_ID: &str = "5b0e6a1e-2d8c-4a4e-9b51-0c7f0c0a6f11";

/// `destiny` with `args`, `stdin` fed, no inherited robot environment.
fn destiny(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_destiny"));
    cmd.args(args)
        .env_remove("DESTINY_REPOSITORY_URL")
        .env_remove("ROBOT_ID")
        .env_remove("ROBOT_SECRET")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run destiny");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn vectors() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/signature-vectors.json");
    let data = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the shared fixtures are needed at {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&data).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

#[test]
fn sign_prints_the_python_sdks_headers_for_every_vector() {
    let vectors = vectors();
    assert!(vectors.len() >= 5);
    for v in vectors {
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        let body = s("body_utf8");
        let out = destiny(
            &[
                "sign",
                "--secret",
                &s("secret"),
                "--client-id",
                &s("client_id"),
                "--timestamp",
                &s("timestamp_header"),
                "--body-file",
                "-",
            ],
            &[],
            body.as_bytes(),
        );
        assert!(out.status.success(), "{v}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            format!(
                "Authorization: Signature {}\nX-Client-Id: {}\nX-Request-Timestamp: {}\n",
                s("signature"),
                s("client_id"),
                s("signed_timestamp_text")
            ),
            "vector {v}"
        );
    }
}

#[test]
fn sign_reads_env_and_body_files_and_defaults_to_now() {
    let dir = std::env::temp_dir().join(format!("destiny-cli-sign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body_path = dir.join("body.json");
    std::fs::write(&body_path, br#"{"message": "info"}"#).unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let out = destiny(
        &["sign", "--body-file", body_path.to_str().unwrap()],
        &[("ROBOT_SECRET", SECRET), ("ROBOT_ID", ROBOT_ID)],
        b"",
    );
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains(SECRET));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let stamp = lines[2].strip_prefix("X-Request-Timestamp: ").unwrap();
    let ts = pyfloat::parse(stamp).unwrap();
    assert!(
        (ts - before).abs() < 60.0,
        "timestamp {ts} is not now ({before})"
    );
    let id = uuid::Uuid::parse_str(ROBOT_ID).unwrap();
    let want = create_signature(SECRET, br#"{"message": "info"}"#, &id, ts);
    assert_eq!(lines[0], format!("Authorization: Signature {want}"));
    assert_eq!(lines[1], format!("X-Client-Id: {ROBOT_ID}"));
}

#[test]
fn sign_usage_and_io_errors() {
    let out = destiny(
        &["sign", "--secret", "s", "--client-id", "not-a-uuid"],
        &[],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--client-id"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let out = destiny(
        &[
            "sign",
            "--secret",
            "s",
            "--client-id",
            ROBOT_ID,
            "--timestamp",
            "yesterday",
        ],
        &[],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("could not convert string to float: \"yesterday\""),
        "{}",
        text(&out.stderr)
    );

    let out = destiny(
        &[
            "sign",
            "--secret",
            "s",
            "--client-id",
            ROBOT_ID,
            "--body-file",
            "/nonexistent/body",
        ],
        &[],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: cannot read the body file /nonexistent/body"),
        "{}",
        text(&out.stderr)
    );

    // The secret from the environment is never shown, not even by --help.
    let out = destiny(&["sign", "--help"], &[("ROBOT_SECRET", SECRET)], b"");
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains(SECRET));
}

/// One request as the test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    body: Vec<u8>,
    signed: bool,
}

type Replies = Arc<Mutex<VecDeque<(u16, String)>>>;

/// A recording server answering from a script; checks each request's signature.
async fn server(replies: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let replies: Replies = Arc::new(Mutex::new(replies.into()));
    let state = (seen.clone(), replies);
    let app = axum::Router::new()
        .fallback(
            |State((seen, replies)): State<(Arc<Mutex<Vec<Seen>>>, Replies)>, req: Request| async move {
                let (parts, body) = req.into_parts();
                let body = to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
                let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
                let signed = pyfloat::parse(header("x-request-timestamp")).is_ok_and(|ts| {
                    let id = uuid::Uuid::parse_str(header("x-client-id")).unwrap_or_default();
                    header("authorization")
                        == format!("Signature {}", create_signature(SECRET, &body, &id, ts))
                });
                seen.lock().unwrap().push(Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    body,
                    signed,
                });
                let (status, body) = replies
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((500, "no reply scripted".to_owned()));
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                response
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Runs `destiny client <args>` against `url` with credentials in the environment.
async fn client(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["client"];
    all.extend_from_slice(args);
    let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        destiny(
            &args,
            &[
                ("DESTINY_REPOSITORY_URL", url.as_str()),
                ("ROBOT_ID", ROBOT_ID),
                ("ROBOT_SECRET", SECRET),
            ],
            b"",
        )
    })
    .await
    .unwrap()
}

fn batch() -> Value {
    json!({
        "id": BATCH_ID,
        "reference_storage_url": "https://storage.example.org/r.jsonl?sig=a",
        "result_storage_url": "https://storage.example.org/w.jsonl?sig=b",
        "extra_fields": null,
    })
}

#[tokio::test]
async fn client_poll_204_prints_nothing_and_401_names_status_and_detail() {
    let (url, seen) = server(vec![
        (204, String::new()),
        (401, json!({"detail": "Signature is invalid."}).to_string()),
        (200, batch().to_string()),
    ])
    .await;

    let out = client(&url, &["poll"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    let out = client(&url, &["poll", "--limit", "3", "--lease", "10m"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: 401 Signature is invalid.\n");
    assert!(out.stdout.is_empty());

    let other_robot = "0190b3f6-0000-7000-8000-000000000000";
    let out = client(&url, &["poll", "--robot-id", other_robot]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, batch());
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "compact JSON on one line"
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.path.as_str()),
            ("POST", "/v1/robot-enhancement-batches/")
        );
        assert!(s.signed, "{s:?}");
    }
    assert_eq!(
        seen[0].query.as_deref(),
        Some(format!("robot_id={ROBOT_ID}&limit=10").as_str())
    );
    assert_eq!(
        seen[1].query.as_deref(),
        Some(format!("robot_id={ROBOT_ID}&limit=3&lease=PT10M").as_str())
    );
    assert_eq!(
        seen[2].query.as_deref(),
        Some(format!("robot_id={other_robot}&limit=10").as_str())
    );
}

#[tokio::test]
async fn client_renew_get_and_submits() {
    let read = json!({
        "robot_id": ROBOT_ID, "source": null, "id": BATCH_ID, "reference_data_url": null,
        "result_storage_url": null, "validation_result_url": null, "error": "gave up",
    });
    let request = json!({
        "robot_id": ROBOT_ID, "reference_ids": [BATCH_ID], "source": null, "id": BATCH_ID,
        "request_status": "failed", "reference_data_url": null, "result_storage_url": null,
        "validation_result_url": null, "error": "gave up",
    });
    let (url, seen) = server(vec![
        (200, "2025-12-05T04:26:55.123456+00:00".to_owned()),
        (200, batch().to_string()),
        (200, read.to_string()),
        (200, request.to_string()),
        (422, json!({"detail": "Cannot process results: Cannot transition from status 'expired' to 'importing'"}).to_string()),
    ])
    .await;

    let out = client(&url, &["renew", BATCH_ID, "--lease", "PT30M"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2025-12-05T04:26:55.123456+00:00\n");

    let out = client(&url, &["get", BATCH_ID]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        batch()
    );

    let out = client(&url, &["submit", BATCH_ID, "--error", "gave up"]).await;
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), read);

    let out = client(&url, &["submit-request", BATCH_ID, "--error", "gave up"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        request
    );

    let out = client(&url, &["submit", BATCH_ID]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: 422 Cannot process results: Cannot transition from status 'expired' to 'importing'\n"
    );

    let seen = seen.lock().unwrap().clone();
    let calls: Vec<_> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "PATCH",
                format!("/v1/robot-enhancement-batches/{BATCH_ID}/renew-lease/")
            ),
            ("GET", format!("/v1/robot-enhancement-batches/{BATCH_ID}/")),
            (
                "POST",
                format!("/v1/robot-enhancement-batches/{BATCH_ID}/results/")
            ),
            (
                "POST",
                format!("/v1/enhancement-requests/{BATCH_ID}/results/")
            ),
            (
                "POST",
                format!("/v1/robot-enhancement-batches/{BATCH_ID}/results/")
            ),
        ]
    );
    assert!(seen.iter().all(|s| s.signed));
    assert_eq!(seen[0].query.as_deref(), Some("lease=PT30M"));
    assert_eq!(
        text(&seen[2].body),
        format!(r#"{{"request_id":"{BATCH_ID}","error":{{"message":"gave up"}}}}"#)
    );
    assert_eq!(
        text(&seen[4].body),
        format!(r#"{{"request_id":"{BATCH_ID}","error":null}}"#)
    );
}

#[tokio::test]
async fn client_needs_credentials_and_never_prints_the_secret() {
    let out = tokio::task::spawn_blocking(|| destiny(&["client", "poll"], &[], b""))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --base-url is required (or set DESTINY_REPOSITORY_URL)\n"
    );
    // Flags override the environment; a bad URL is a usage error.
    let (url, _seen) = server(vec![(
        401,
        json!({"detail": "Signature is invalid."}).to_string(),
    )])
    .await;
    let out = client(&url, &["poll", "--base-url", "ftp://nowhere"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = client(&url, &["get", BATCH_ID, "--secret", "another-secret"]).await;
    assert_eq!(out.status.code(), Some(1));
    for output in [&out.stdout, &out.stderr] {
        let t = text(output);
        assert!(!t.contains(SECRET) && !t.contains("another-secret"), "{t}");
    }
}
