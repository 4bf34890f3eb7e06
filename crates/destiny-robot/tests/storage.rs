//! The runner's storage handling against a scripted fake repository (axum on port 0): a
//! reference URL that has expired (403, refreshed through GET batch), a download that
//! breaks off mid-file (resumed without repeating lines), an upload that fails once
//! (retried from the spool) and the headers and length of the upload.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use destiny_robot::{Runner, ToyRobot};
use destiny_sdk::client::RobotClient;
use destiny_sdk::jsonl::JsonlReader;
use destiny_sdk::models::{EnhancementResultEntry, Reference};
use serde_json::{json, Value};
use uuid::Uuid;

/// What the fake repository saw, and how it answers.
#[derive(Default)]
struct Script {
    base: String,
    batch: Uuid,
    reference_file: Vec<u8>,
    polls: usize,
    batch_gets: usize,
    downloads: Vec<String>,
    uploads: Vec<(HeaderMap, Bytes)>,
    submits: Vec<Value>,
}

type Shared = Arc<Mutex<Script>>;

fn batch_json(s: &Script, sig: &str) -> Value {
    json!({
        "id": s.batch,
        "reference_storage_url": format!("{}/blobs/refs?sig={sig}", s.base),
        "result_storage_url": format!("{}/blobs/result?sig={sig}", s.base),
    })
}

async fn poll(State(s): State<Shared>) -> Response {
    let mut s = s.lock().unwrap();
    s.polls += 1;
    if s.polls == 1 {
        Json(batch_json(&s, "old")).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn get_batch(State(s): State<Shared>, Path(id): Path<Uuid>) -> Response {
    let mut s = s.lock().unwrap();
    assert_eq!(id, s.batch);
    s.batch_gets += 1;
    Json(batch_json(&s, "new")).into_response()
}

async fn renew() -> &'static str {
    "2030-01-01T00:00:00+00:00"
}

async fn download(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let sig = q
        .iter()
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let (file, attempt) = {
        let mut s = s.lock().unwrap();
        s.downloads.push(sig.clone());
        (s.reference_file.clone(), s.downloads.len())
    };
    if sig == "old" {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"detail": "URL has expired."})),
        )
            .into_response();
    }
    if attempt == 2 {
        // Twelve lines and a half, then the connection breaks.
        let cut = file
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(11)
            .map(|(i, _)| i + 20)
            .unwrap();
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::copy_from_slice(&file[..cut])),
            Err(std::io::Error::other("connection reset")),
        ];
        return Body::from_stream(futures_util::stream::iter(chunks)).into_response();
    }
    Body::from(file).into_response()
}

async fn upload(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut s = s.lock().unwrap();
    s.uploads.push((headers, body));
    if s.uploads.len() == 1 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::CREATED
    }
}

async fn submit(
    State(s): State<Shared>,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = s.lock().unwrap();
    s.submits.push(body);
    let read = json!({"robot_id": Uuid::new_v4(), "id": id, "source": "fake", "error": null});
    (StatusCode::ACCEPTED, Json(read)).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_urls_broken_downloads_and_failed_uploads_are_recovered() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let refs: Vec<Reference> = destiny_sdk::samples::ReferenceGenerator::new(3)
        .take(30)
        .collect();
    let mut file = Vec::new();
    for r in &refs {
        destiny_sdk::jsonl::append_line(&mut file, r).unwrap();
    }
    let script: Shared = Arc::new(Mutex::new(Script {
        base: base.clone(),
        batch: Uuid::new_v4(),
        reference_file: file,
        ..Script::default()
    }));
    let app = Router::new()
        .route("/v1/robot-enhancement-batches/", post(poll))
        .route("/v1/robot-enhancement-batches/{id}/", get(get_batch))
        .route(
            "/v1/robot-enhancement-batches/{id}/renew-lease/",
            patch(renew),
        )
        .route("/v1/robot-enhancement-batches/{id}/results/", post(submit))
        .route("/blobs/refs", get(download))
        .route("/blobs/result", put(upload))
        .with_state(script.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let robot_id = Uuid::new_v4();
    let mut running = common::spawn(
        Runner::builder(ToyRobot::new().with_seed(4))
            .client(RobotClient::new(&base, "secret", robot_id).unwrap())
            .poll_interval(Duration::from_millis(20)),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while running.metrics.snapshot().batches_completed == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            running.metrics.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = running.finish().await;
    assert_eq!(report.references_enhanced, 30);

    let s = script.lock().unwrap();
    assert_eq!(
        s.downloads,
        ["old", "new", "new"],
        "refreshed once, resumed once"
    );
    assert_eq!(s.batch_gets, 1);
    assert_eq!(report.url_refreshes, 1);
    assert_eq!(s.uploads.len(), 2, "the 503 upload was retried");
    assert_eq!(
        s.uploads[0].1, s.uploads[1].1,
        "the same spooled file both times"
    );
    let (headers, body) = &s.uploads[1];
    assert_eq!(headers["x-ms-blob-type"], "BlockBlob");
    assert_eq!(headers["content-type"], "application/jsonl");
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
    assert!(
        headers.get("transfer-encoding").is_none(),
        "a known length, not chunked"
    );
    let entries: Vec<EnhancementResultEntry> = JsonlReader::new(&body[..])
        .collect::<Result<_, _>>()
        .unwrap();
    let mut got: Vec<Uuid> = entries.iter().map(|e| e.reference_id()).collect();
    let mut want: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "every reference once: the resumed download skipped what was read"
    );
    assert_eq!(s.submits.len(), 1, "submitted once: {:?}", s.submits);
    assert_eq!(s.submits[0]["request_id"], json!(s.batch));
    assert!(s.submits[0]["error"].is_null(), "{}", s.submits[0]);
}
