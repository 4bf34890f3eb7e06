//! The `destiny` binary as a user runs it: `sign` against the shared signature vectors,
//! usage errors, and `client` calls (batches; enhancement requests, automations and
//! search requests, with their file inputs) against a small in-process server.

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
    let data = destiny_testkit::fixture_text("signature-vectors.json");
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

/// `destiny sign --secret s` with `args` after it and an empty body: the exit code and
/// stderr.
fn sign_with(args: &[&str]) -> (Option<i32>, String) {
    let out = destiny(&[&["sign", "--secret", "s"], args].concat(), &[], b"");
    (out.status.code(), text(&out.stderr))
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

    let (code, stderr) = sign_with(&["--client-id", ROBOT_ID, "--timestamp", "yesterday"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("could not convert string to float: \"yesterday\""),
        "{stderr}"
    );

    let (code, stderr) = sign_with(&["--client-id", ROBOT_ID, "--body-file", "/nonexistent/body"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("error: cannot read the body file /nonexistent/body"),
        "{stderr}"
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

impl Seen {
    /// The method and the path, with `?` and the query when there was one.
    fn call(&self) -> String {
        match &self.query {
            Some(query) => format!("{} {}?{query}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
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
    client_stdin(url, args, b"").await
}

/// [`client`] with `stdin` fed to the command.
async fn client_stdin(url: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["client"];
    all.extend_from_slice(args);
    let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
    let url = url.to_owned();
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        destiny(
            &args,
            &[
                ("DESTINY_REPOSITORY_URL", url.as_str()),
                ("ROBOT_ID", ROBOT_ID),
                ("ROBOT_SECRET", SECRET),
            ],
            &stdin,
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

const REQUEST_ID: &str = "019384a2-7c1e-7b3a-9f00-1a2b3c4d5e6f";
const AUTOMATION_ID: &str = "6f1e3d2c-1b0a-4f9e-8d7c-6b5a49382716";
const REFERENCE_IDS: [&str; 2] = [
    "3a533776-c9ad-4aac-a089-d654d509490c",
    "7d1f0c2e-9b8a-4c3d-8e7f-6a5b4c3d2e1f",
];

/// A file in a fresh temporary directory (kept alive by the returned handle).
fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn client_requests_automations_and_search_requests() {
    let request = json!({
        "robot_id": ROBOT_ID, "reference_ids": REFERENCE_IDS, "source": "cli", "id": REQUEST_ID,
        "request_status": "received", "reference_data_url": null, "result_storage_url": null,
        "validation_result_url": null, "error": null,
    });
    let query = json!({"bool": {"must": [{"term": {"changeset.enhancements.content.annotations.label": "include"}}]}});
    let automation = json!({"robot_id": ROBOT_ID, "query": query, "id": AUTOMATION_ID});
    let search = json!({
        "id": REQUEST_ID, "robot_id": ROBOT_ID, "source": null, "search_status": "completed",
        "request_status": "completed", "n_matched": 2, "n_enhancements_requested": 2,
        "enhancement_status_counts": {"completed": 2}, "error": null,
    });
    let (url, seen) = server(vec![
        (202, request.to_string()),
        (200, request.to_string()),
        (201, automation.to_string()),
        (201, automation.to_string()),
        (200, json!([automation]).to_string()),
        (
            200,
            json!({"count": 2, "is_lower_bound": false}).to_string(),
        ),
        (202, search.to_string()),
        (200, search.to_string()),
        (
            422,
            json!({"detail": "Robot with id x does not exist."}).to_string(),
        ),
    ])
    .await;
    let (_ids_dir, ids_file) = temp_file("ids.txt", &format!("# second\n{}\n\n", REFERENCE_IDS[1]));
    let (_query_dir, query_file) = temp_file("query.json", &query.to_string());
    let printed = |out: &Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).lines().count(),
            1,
            "compact JSON on one line"
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };

    let out = client(
        &url,
        &[
            "request",
            "--reference-id",
            REFERENCE_IDS[0],
            "--references-file",
            &ids_file,
            "--source",
            "cli",
        ],
    )
    .await;
    assert_eq!(printed(&out), request);
    assert_eq!(
        printed(&client(&url, &["request-status", REQUEST_ID]).await),
        request
    );
    let out = client(&url, &["automation", "add", "--query-file", &query_file]).await;
    assert_eq!(printed(&out), automation);
    let query_text = query.to_string();
    let out = client_stdin(
        &url,
        &[
            "automation",
            "update",
            AUTOMATION_ID,
            "--query-file",
            "-",
            "--robot-id",
            ROBOT_ID,
        ],
        query_text.as_bytes(),
    )
    .await;
    assert_eq!(printed(&out), automation);
    assert_eq!(
        printed(&client(&url, &["automation", "list"]).await),
        json!([automation])
    );
    let out = client(
        &url,
        &["search-request", "--search-query", "malaria", "--dry-run"],
    )
    .await;
    assert_eq!(printed(&out), json!({"count": 2, "is_lower_bound": false}));
    let out = client(&url, &["search-request", "--search-query", "malaria"]).await;
    assert_eq!(printed(&out), search);
    assert_eq!(
        printed(&client(&url, &["search-request-status", REQUEST_ID]).await),
        search
    );
    let out = client(&url, &["request", "--reference-id", REFERENCE_IDS[0]]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: 422 Robot with id x does not exist.\n"
    );

    let seen = seen.lock().unwrap().clone();
    let calls: Vec<String> = seen.iter().map(Seen::call).collect();
    assert_eq!(
        calls,
        [
            "POST /v1/enhancement-requests/".to_owned(),
            format!("GET /v1/enhancement-requests/{REQUEST_ID}/"),
            "POST /v1/enhancement-requests/automations/".to_owned(),
            format!("PUT /v1/enhancement-requests/automations/{AUTOMATION_ID}/"),
            "GET /v1/enhancement-requests/automations/".to_owned(),
            "POST /v1/enhancement-requests/search/?dry_run=true".to_owned(),
            "POST /v1/enhancement-requests/search/?dry_run=false".to_owned(),
            format!("GET /v1/enhancement-requests/search/{REQUEST_ID}/"),
            "POST /v1/enhancement-requests/".to_owned(),
        ]
    );
    assert!(seen.iter().all(|s| s.signed));
    assert_eq!(
        text(&seen[0].body),
        format!(
            r#"{{"robot_id":"{ROBOT_ID}","reference_ids":["{}","{}"],"source":"cli"}}"#,
            REFERENCE_IDS[0], REFERENCE_IDS[1]
        )
    );
    let automation_body = format!(r#"{{"robot_id":"{ROBOT_ID}","query":{query}}}"#);
    assert_eq!(text(&seen[2].body), automation_body);
    assert_eq!(
        text(&seen[3].body),
        automation_body,
        "the query read from stdin"
    );
    assert_eq!(
        text(&seen[5].body),
        format!(r#"{{"robot_id":"{ROBOT_ID}","search_query":"malaria","source":null}}"#)
    );
}

#[tokio::test]
async fn client_request_inputs_are_checked_before_anything_is_sent() {
    let (url, seen) = server(vec![]).await;
    let (_dir, bad_ids) = temp_file("ids.txt", &format!("{}\nnot-an-id\n", REFERENCE_IDS[0]));
    let (_dir2, twice) = temp_file("twice.txt", &format!("{0}\n{0}\n", REFERENCE_IDS[0]));
    let (_dir3, not_json) = temp_file("query.json", "{\"term\": ");
    let (_dir4, array) = temp_file("array.json", "[{\"term\": {}}]");
    let cases: Vec<(Vec<&str>, &'static [u8], i32, String)> = vec![
        (
            vec!["request", "--references-file", "/nonexistent/ids.txt"],
            b"",
            1,
            "error: cannot read /nonexistent/ids.txt: No such file or directory (os error 2)"
                .to_owned(),
        ),
        (
            vec!["request", "--references-file", &bad_ids],
            b"",
            1,
            format!("error: {bad_ids} line 2: \"not-an-id\" is not a reference id"),
        ),
        (
            vec!["request", "--references-file", &twice],
            b"",
            1,
            format!("error: reference id {} is given twice", REFERENCE_IDS[0]),
        ),
        (
            vec!["request"],
            b"",
            1,
            "error: no reference ids: give --reference-id or --references-file".to_owned(),
        ),
        (
            vec!["request", "--reference-id", "nope"],
            b"",
            2,
            "error: invalid value 'nope' for '--reference-id <ID>'".to_owned(),
        ),
        (
            vec!["automation", "add", "--query-file", &not_json],
            b"",
            1,
            format!("error: the query in {not_json} is not valid JSON: EOF while parsing"),
        ),
        (
            vec!["automation", "add", "--query-file", &array],
            b"",
            1,
            format!("error: the query in {array} must be a JSON object, not an array"),
        ),
        (
            vec!["automation", "update", AUTOMATION_ID, "--query-file", "-"],
            b"\"just text\"",
            1,
            "error: the query in stdin must be a JSON object, not a string".to_owned(),
        ),
        (
            vec!["automation", "update", AUTOMATION_ID, "--query-file", "-"],
            b"",
            1,
            "error: the query in stdin is not valid JSON: EOF while parsing".to_owned(),
        ),
        (
            vec!["automation", "add"],
            b"",
            2,
            "error: the following required arguments were not provided".to_owned(),
        ),
        (
            vec!["search-request", "--dry-run"],
            b"",
            2,
            "error: the following required arguments were not provided".to_owned(),
        ),
    ];
    for (args, stdin, code, start) in cases {
        let out = client_stdin(&url, &args, stdin).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.starts_with(&start), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(seen.lock().unwrap().is_empty(), "no request was sent");
}

#[test]
fn serve_start_up_failures_exit_1_and_usage_errors_2() {
    // The port is taken: a start-up failure, not a usage error.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    // `destiny serve` on `listen` and `database` exits 1 saying `why`.
    let fails_at_start = |listen: &str, database: &str, why: &str| {
        let args = [
            "serve",
            "--listen",
            listen,
            "--database",
            database,
            "--blob-dir",
            blobs.to_str().unwrap(),
        ];
        let out = destiny(&args, &[], b"");
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(why), "{}", text(&out.stderr));
    };
    let db = format!("sqlite://{}/db.sqlite", dir.path().display());
    fails_at_start(&port, &db, "starting the repository");
    // On PostgreSQL the admin token must be given; refused before connecting.
    fails_at_start(
        "127.0.0.1:0",
        "postgres://nobody@127.0.0.1:1/none",
        "on PostgreSQL the admin token must be given",
    );
    // A flag that is not one stays a usage error.
    let out = destiny(&["serve", "--poll-queue", "many"], &[], b"");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
