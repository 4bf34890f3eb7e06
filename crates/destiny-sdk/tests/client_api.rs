//! The RobotClient against an in-process recording server: what goes on the wire (method,
//! path, query, headers, exact body bytes, a signature that verifies) and how answers are
//! read (204, raw and JSON-quoted expiry text, typed errors).

mod client_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use client_support::*;
use destiny_sdk::client::{ClientError, RobotClient, DEFAULT_USER_AGENT};
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::models::{RobotEnhancementBatchResult, RobotError, RobotResult};
use serde_json::json;

#[tokio::test]
async fn poll_posts_signed_query_without_body() {
    let server = TestServer::start([Reply::json(200, batch_json(BATCH_ID))]).await;
    let client = server.builder().clock(|| 1_733_380_000.5).build().unwrap();
    let batch = client
        .poll_robot_enhancement_batch(ROBOT_ID, 25, Some("10m".parse().unwrap()))
        .await
        .unwrap()
        .expect("a batch");
    assert_eq!(batch.id, BATCH_ID);
    assert_eq!(
        batch.reference_storage_url.as_str(),
        format!("https://storage.example.org/references/{BATCH_ID}.jsonl?sig=abc")
    );

    let req = server.single_request_to("POST", "/v1/robot-enhancement-batches/");
    assert_eq!(
        req.query.as_deref(),
        Some(format!("robot_id={ROBOT_ID}&limit=25&lease=PT10M").as_str())
    );
    assert!(req.body.is_empty());
    assert_eq!(
        req.header("content-type"),
        None,
        "no JSON body, no content type"
    );
    assert_eq!(req.header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert!(DEFAULT_USER_AGENT.starts_with("rust/destiny-sdk-rs@"));
    assert_eq!(req.header("x-request-timestamp"), Some("1733380000.5"));
    req.assert_signed(SECRET, ROBOT_ID);
}

#[tokio::test]
async fn poll_204_is_none_and_lease_is_optional() {
    let server = TestServer::start([Reply::no_content()]).await;
    let got = server
        .client()
        .poll_robot_enhancement_batch(ROBOT_ID, 10, None)
        .await
        .unwrap();
    assert_eq!(got, None);
    let req = server.single_request();
    assert_eq!(
        req.query.as_deref(),
        Some(format!("robot_id={ROBOT_ID}&limit=10").as_str())
    );
    req.assert_signed(SECRET, ROBOT_ID);
}

#[tokio::test]
async fn renew_patches_and_reads_raw_or_quoted_expiry() {
    let want: jiff::Timestamp = "2025-12-05T04:26:55.123456Z".parse().unwrap();
    let (server, client) = TestServer::with_client([
        Reply::text(200, "2025-12-05T04:26:55.123456+00:00"),
        Reply::json(200, json!("2025-12-05T04:26:55.123456+00:00")),
        Reply::text(200, "2025-12-05T04:26:55.123456Z"),
        Reply::text(200, "soon"),
    ])
    .await;
    let lease = LeaseDuration::parse_pydantic("PT1H30M").unwrap();
    for lease in [Some(lease), None, None] {
        let expiry = client
            .renew_robot_enhancement_batch_lease(BATCH_ID, lease)
            .await
            .unwrap();
        assert_eq!(expiry, want);
    }
    let err = client
        .renew_robot_enhancement_batch_lease(BATCH_ID, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("\"soon\""), "{err}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "a decode error is not retried");
    for req in &reqs {
        assert_eq!(req.method, "PATCH");
        assert_eq!(
            req.path,
            format!("/v1/robot-enhancement-batches/{BATCH_ID}/renew-lease/")
        );
        assert!(req.body.is_empty());
        req.assert_signed(SECRET, ROBOT_ID);
    }
    assert_eq!(reqs[0].query.as_deref(), Some("lease=PT1H30M"));
    assert_eq!(reqs[1].query, None);
}

#[tokio::test]
async fn get_batch() {
    let server = TestServer::start([Reply::json(200, batch_json(BATCH_ID))]).await;
    let batch = server
        .client()
        .get_robot_enhancement_batch(BATCH_ID)
        .await
        .unwrap();
    assert_eq!(batch.id, BATCH_ID);
    let req =
        server.single_request_to("GET", &format!("/v1/robot-enhancement-batches/{BATCH_ID}/"));
    assert_eq!(req.query, None);
    req.assert_signed(SECRET, ROBOT_ID);
}

#[tokio::test]
async fn submit_batch_result_sends_compact_json_signed_over_its_bytes() {
    let read = json!({
        "robot_id": ROBOT_ID, "source": "test", "id": BATCH_ID,
        "reference_data_url": null, "result_storage_url": null,
        "validation_result_url": null, "error": "Échec: réseau indisponible",
    });
    let (server, client) =
        TestServer::with_client([Reply::json(202, read.clone()), Reply::json(202, read)]).await;
    let got = client
        .send_robot_enhancement_batch_result(&batch_ok())
        .await
        .unwrap();
    assert_eq!(got.id, BATCH_ID);
    assert_eq!(got.error.as_deref(), Some("Échec: réseau indisponible"));
    let failed = RobotEnhancementBatchResult {
        request_id: BATCH_ID,
        error: Some(RobotError {
            message: "Échec: réseau indisponible".to_owned(),
        }),
    };
    client
        .send_robot_enhancement_batch_result(&failed)
        .await
        .unwrap();

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for req in &reqs {
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.path,
            format!("/v1/robot-enhancement-batches/{BATCH_ID}/results/")
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
    }
    assert_all_signed(&reqs);
    // The bytes of the signature vectors' bodies (compact JSON, as the Python SDK sends).
    assert_eq!(
        reqs[0].body,
        br#"{"request_id":"5b0e6a1e-2d8c-4a4e-9b51-0c7f0c0a6f11","error":null}"#.as_slice()
    );
    assert_eq!(
        std::str::from_utf8(&reqs[1].body).unwrap(),
        r#"{"request_id":"5b0e6a1e-2d8c-4a4e-9b51-0c7f0c0a6f11","error":{"message":"Échec: réseau indisponible"}}"#
    );
}

#[tokio::test]
async fn submit_legacy_robot_result() {
    let read = json!({
        "robot_id": ROBOT_ID, "reference_ids": [BATCH_ID], "source": null, "id": BATCH_ID,
        "request_status": "importing",
    });
    let server = TestServer::start([Reply::json(200, read)]).await;
    let result = RobotResult {
        request_id: BATCH_ID,
        error: None,
    };
    let got = server.client().send_robot_result(&result).await.unwrap();
    assert_eq!(got.id, BATCH_ID);
    let req = server.single_request_to(
        "POST",
        &format!("/v1/enhancement-requests/{BATCH_ID}/results/"),
    );
    assert_eq!(req.body, serde_json::to_vec(&result).unwrap());
    req.assert_signed(SECRET, ROBOT_ID);
}

#[tokio::test]
async fn non_2xx_becomes_api_error_with_detail() {
    let server = TestServer::start([
        Reply::detail(404, &format!("RobotEnhancementBatch with id {BATCH_ID} does not exist.")),
        Reply::json(
            422,
            json!({"detail": [{"type": "time_delta_parsing", "loc": ["query", "lease"], "msg": "bad", "input": "10m"}]}),
        ),
        Reply::text(409, "plain conflict"),
        Reply::detail(401, "Signature is invalid."),
    ])
    .await;
    let client = server.client_retrying(1);

    let err = client
        .get_robot_enhancement_batch(BATCH_ID)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.detail(),
        Some(format!("RobotEnhancementBatch with id {BATCH_ID} does not exist.").as_str())
    );
    assert_eq!(
        err.to_string(),
        format!(
            "GET /v1/robot-enhancement-batches/{BATCH_ID}/: HTTP 404 Not Found: \
             RobotEnhancementBatch with id {BATCH_ID} does not exist."
        )
    );
    assert!(!err.is_retryable());

    let err = poll_error(&client).await;
    assert_eq!(err.status(), Some(422));
    let detail: serde_json::Value = serde_json::from_str(err.detail().unwrap()).unwrap();
    assert_eq!(detail[0]["loc"], json!(["query", "lease"]));

    let err = client
        .renew_robot_enhancement_batch_lease(BATCH_ID, None)
        .await
        .unwrap_err();
    assert_refused(&err, 409, "plain conflict");

    let err = poll_error(&client).await;
    assert_eq!(err.detail(), Some("Signature is invalid."));
    assert_eq!(server.requests().len(), 4);
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
    }
}

#[tokio::test]
async fn malformed_success_body_is_a_decode_error_naming_the_path() {
    let mut bad = batch_json(BATCH_ID);
    bad["result_storage_url"] = json!("ftp://nope");
    let server = TestServer::start([Reply::json(200, bad)]).await;
    let err = server
        .client()
        .poll_robot_enhancement_batch(ROBOT_ID, 10, None)
        .await
        .unwrap_err();
    match &err {
        ClientError::Decode { source, .. } => assert_eq!(source.path(), "result_storage_url"),
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn clock_is_injected_per_attempt() {
    // A skewed clock: the header carries exactly its reading, as Python's repr.
    let ticks = Arc::new(AtomicU64::new(0));
    let t = ticks.clone();
    let server = TestServer::start([Reply::no_content(), Reply::no_content()]).await;
    let client = server
        .builder()
        .clock(move || 1e9 + 0.25 * t.fetch_add(1, Ordering::SeqCst) as f64)
        .build()
        .unwrap();
    for _ in 0..2 {
        client
            .poll_robot_enhancement_batch(ROBOT_ID, 1, None)
            .await
            .unwrap();
    }
    let stamps: Vec<_> = server
        .requests()
        .iter()
        .map(|r| {
            r.assert_signed(SECRET, ROBOT_ID);
            r.header("x-request-timestamp").unwrap().to_owned()
        })
        .collect();
    assert_eq!(stamps, ["1000000000.0", "1000000000.25"]);
}

#[tokio::test]
async fn base_url_normalisation_reaches_the_right_paths() {
    let server = TestServer::start((0..5).map(|_| Reply::no_content())).await;
    let root = server.url();
    let cases = [
        (root.clone(), "/v1/robot-enhancement-batches/"),
        (format!("{root}/"), "/v1/robot-enhancement-batches/"),
        (format!("{root}/v1"), "/v1/robot-enhancement-batches/"),
        (format!("{root}/v1/"), "/v1/robot-enhancement-batches/"),
        (
            format!("{root}/api/v1"),
            "/api/v1/robot-enhancement-batches/",
        ),
    ];
    for (base, _) in &cases {
        let client = RobotClient::new(base, SECRET, ROBOT_ID).unwrap();
        client
            .poll_robot_enhancement_batch(ROBOT_ID, 1, None)
            .await
            .unwrap();
    }
    let paths: Vec<_> = server.requests().into_iter().map(|r| r.path).collect();
    let want: Vec<_> = cases.iter().map(|(_, p)| p.to_string()).collect();
    assert_eq!(paths, want);

    for (given, normalised) in [
        ("http://h", "http://h/v1"),
        ("http://h/", "http://h/v1"),
        ("http://h/v1", "http://h/v1"),
        ("http://h/v1/", "http://h/v1"),
        ("http://h/api/v1", "http://h/api/v1"),
    ] {
        let client = RobotClient::new(given, SECRET, ROBOT_ID).unwrap();
        assert_eq!(client.base_url(), normalised, "{given}");
    }
    for bad in ["", "localhost:8000", "ftp://h", "http://h/?x=1"] {
        let err = RobotClient::new(bad, SECRET, ROBOT_ID).unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidBaseUrl { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[tokio::test]
async fn user_agent_can_be_replaced() {
    let server = TestServer::start([Reply::no_content()]).await;
    let client = server.builder().user_agent("my-robot/2.0").build().unwrap();
    client
        .poll_robot_enhancement_batch(ROBOT_ID, 1, None)
        .await
        .unwrap();
    assert_eq!(
        server.single_request().header("user-agent"),
        Some("my-robot/2.0")
    );
    let err = server
        .builder()
        .user_agent("bad\nagent")
        .build()
        .unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err:?}");
}

#[test]
fn blocking_client_makes_the_same_calls() {
    // The server runs on its own runtime thread; the blocking client has its own.
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let server_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let server = TestServer::start([
                Reply::no_content(),
                Reply::json(200, batch_json(BATCH_ID)),
                Reply::text(200, "2025-12-05T04:26:55+00:00"),
            ])
            .await;
            tx.send(server.url()).unwrap();
            // Serve until the test has made its calls.
            let _ = done_rx.await;
            server.requests()
        })
    });
    let url = rx.recv().unwrap();
    let client = destiny_sdk::client::blocking::RobotClient::new(&url, SECRET, ROBOT_ID).unwrap();
    assert_eq!(
        client
            .poll_robot_enhancement_batch(ROBOT_ID, 5, None)
            .unwrap(),
        None
    );
    assert_eq!(
        client.get_robot_enhancement_batch(BATCH_ID).unwrap().id,
        BATCH_ID
    );
    let expiry = client
        .renew_robot_enhancement_batch_lease(BATCH_ID, None)
        .unwrap();
    assert_eq!(
        expiry,
        "2025-12-05T04:26:55Z".parse::<jiff::Timestamp>().unwrap()
    );
    done_tx.send(()).unwrap();
    let reqs = server_thread.join().unwrap();
    let methods: Vec<_> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "GET", "PATCH"]);
    assert_all_signed(&reqs);
}
