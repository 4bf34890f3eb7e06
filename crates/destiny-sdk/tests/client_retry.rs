//! Retries of the RobotClient: an expired timestamp is retried once; idempotent calls
//! are retried on 5xx, timeouts and transport errors; polls and submits only when the
//! request never left (connection refused), and polls also on 503 with `Retry-After`.
//! Also the storage helpers.

mod client_support;

use std::time::Duration;

use client_support::*;
use destiny_sdk::client::{ClientError, RobotClient};
use futures_util::StreamExt;

/// The expiry text of 2025's repository (SDK 0.7.4).
const EXPIRED: &str = "Request timestamp has expired.";
/// Today's (SDK 0.17.6, the live repository).
const TOKEN_EXPIRED: &str = "Token is expired.";

#[tokio::test]
async fn expired_timestamp_is_retried_once_with_a_fresh_one() {
    for text in [TOKEN_EXPIRED, EXPIRED] {
        expired_is_retried_once(text).await;
    }
}

async fn expired_is_retried_once(text: &'static str) {
    let server = TestServer::start([
        Reply::detail(401, text),
        Reply::json(200, batch_json(BATCH_ID)),
    ])
    .await;
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let t = ticks.clone();
    let client = server
        .builder()
        .retry_policy(fast_retries(1)) // the expired retry does not count as an attempt
        .clock(move || 1_700_000_000.0 + t.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as f64)
        .build()
        .unwrap();
    assert!(client
        .poll_robot_enhancement_batch(ROBOT_ID, 1, None)
        .await
        .unwrap()
        .is_some());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("x-request-timestamp"), Some("1700000000.0"));
    assert_eq!(reqs[1].header("x-request-timestamp"), Some("1700000001.0"));
    assert_all_signed(&reqs);
}

#[tokio::test]
async fn expired_twice_is_surfaced() {
    let server = TestServer::start([
        Reply::detail(401, EXPIRED),
        Reply::detail(401, EXPIRED),
        Reply::no_content(),
    ])
    .await;
    let err = server
        .client()
        .send_robot_enhancement_batch_result(&batch_ok())
        .await
        .unwrap_err();
    assert_refused(&err, 401, EXPIRED);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one retry only");
    assert_eq!(reqs[0].body, reqs[1].body);
}

#[tokio::test]
async fn other_401_is_not_retried() {
    let server = TestServer::start([Reply::detail(401, "Signature is invalid.")]).await;
    let err = server
        .client()
        .get_robot_enhancement_batch(BATCH_ID)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn get_and_renew_are_retried_on_5xx() {
    let (server, client) = TestServer::with_client([
        Reply::detail(503, "busy"),
        Reply::text(502, "bad gateway"),
        Reply::json(200, batch_json(BATCH_ID)),
        Reply::detail(500, "oops"),
        Reply::text(200, "2025-12-05T04:26:55+00:00"),
    ])
    .await;
    assert_eq!(
        client
            .get_robot_enhancement_batch(BATCH_ID)
            .await
            .unwrap()
            .id,
        BATCH_ID
    );
    assert_eq!(server.requests().len(), 3);
    client
        .renew_robot_enhancement_batch_lease(BATCH_ID, None)
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let server = TestServer::start((0..5).map(|_| Reply::detail(503, "busy"))).await;
    let err = server
        .client()
        .get_robot_enhancement_batch(BATCH_ID)
        .await
        .unwrap_err();
    assert_refused(&err, 503, "busy");
    assert!(err.is_retryable());
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn poll_and_submits_are_not_retried_on_5xx() {
    let (server, client) =
        TestServer::with_client((0..9).map(|_| Reply::detail(500, "boom"))).await;
    assert_eq!(poll_error(&client).await.status(), Some(500));
    assert_eq!(
        server.requests().len(),
        1,
        "a poll that reached the server may have leased"
    );
    client
        .send_robot_enhancement_batch_result(&batch_ok())
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 2);
    let legacy = destiny_sdk::models::RobotResult {
        request_id: BATCH_ID,
        error: None,
    };
    client.send_robot_result(&legacy).await.unwrap_err();
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_poll_refused_with_retry_after_is_retried() {
    let server = TestServer::start([
        Reply::Busy("0"),
        Reply::Busy("0"),
        Reply::json(200, batch_json(BATCH_ID)),
    ])
    .await;
    let batch = server
        .client_retrying(3)
        .poll_robot_enhancement_batch(ROBOT_ID, 10, None)
        .await
        .unwrap();
    assert_eq!(batch.map(|b| b.id), Some(BATCH_ID));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_all_signed(&reqs);
}

#[tokio::test]
async fn a_poll_waits_at_least_what_retry_after_says() {
    let server =
        TestServer::start([Reply::Busy("1"), Reply::json(200, batch_json(BATCH_ID))]).await;
    let client = server.client_retrying(2);
    let started = std::time::Instant::now();
    client
        .poll_robot_enhancement_batch(ROBOT_ID, 10, None)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_retries_polls_only_and_within_the_attempts() {
    let server = TestServer::start([
        Reply::detail(503, "no Retry-After"),
        Reply::Busy("0"),
        Reply::Busy("0"),
        Reply::Busy("0"),
    ])
    .await;
    let client = server.client_retrying(2);
    assert_eq!(poll_error(&client).await.status(), Some(503));
    assert_eq!(server.requests().len(), 1, "a 503 without Retry-After");
    assert_refused(&poll_error(&client).await, 503, "busy");
    assert_eq!(server.requests().len(), 3, "two attempts in all");
    client
        .send_robot_enhancement_batch_result(&batch_ok())
        .await
        .unwrap_err();
    assert_eq!(server.requests().len(), 4, "a submit is never repeated");
}

#[tokio::test]
async fn timeouts_retry_get_but_not_poll() {
    let server = TestServer::start((0..6).map(|_| Reply::Hang)).await;
    let client = server
        .builder()
        .poll_timeout(Duration::from_millis(200))
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = poll_error(&client).await;
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "POST /v1/robot-enhancement-batches/: timed out"
    );
    assert_eq!(server.requests().len(), 1);
    let err = client
        .get_robot_enhancement_batch(BATCH_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn hang_up_after_sending_retries_get_but_not_poll() {
    let server = HangUpServer::start().await;
    let client = RobotClient::builder(&server.url(), SECRET, ROBOT_ID)
        .retry_policy(fast_retries(3))
        .build()
        .unwrap();
    let err = poll_error(&client).await;
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(!err.is_unsent());
    assert_eq!(
        server.accepted(),
        1,
        "the poll was sent, so it is not repeated"
    );
    let err = client
        .get_robot_enhancement_batch(BATCH_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert_eq!(server.accepted(), 4);
}

#[tokio::test]
async fn connection_refused_is_retried_even_for_poll() {
    // The clock is read once per attempt (each attempt signs afresh): it counts them.
    let url = closed_port_url().await;
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = attempts.clone();
    let client = RobotClient::builder(&url, SECRET, ROBOT_ID)
        .retry_policy(fast_retries(3))
        .clock(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            1_700_000_000.0
        })
        .build()
        .unwrap();
    let err = poll_error(&client).await;
    assert!(err.is_unsent(), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .starts_with("POST /v1/robot-enhancement-batches/: "),
        "{err}"
    );
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);

    let err = client
        .send_robot_enhancement_batch_result(&batch_ok())
        .await
        .unwrap_err();
    assert!(err.is_unsent(), "{err:?}");
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 6);
}

#[tokio::test]
async fn download_streams_unsigned_and_hides_the_query_in_errors() {
    let (server, client) = TestServer::with_client([
        Reply::detail(503, "busy"),
        Reply::text(200, "{\"id\":1}\n{\"id\":2}\n"),
        Reply::text(403, "<Error>AuthenticationFailed</Error>"),
    ])
    .await;
    let url = server.storage_url("/storage/refs.jsonl?sig=SECRETSIG&se=2030");
    let mut stream = client.download_stream(&url).await.unwrap();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(body, b"{\"id\":1}\n{\"id\":2}\n");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "503 retried");
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[1].path, "/storage/refs.jsonl");
    assert_eq!(reqs[1].query.as_deref(), Some("sig=SECRETSIG&se=2030"));
    assert_eq!(
        reqs[1].header("authorization"),
        None,
        "storage URLs are not HMAC-signed"
    );

    let err = client.download_stream(&url).await.err().expect("403");
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.detail(), Some("<Error>AuthenticationFailed</Error>"));
    assert!(!err.to_string().contains("SECRETSIG"), "{err}");
    assert!(!format!("{err:?}").contains("SECRETSIG"));
}

#[tokio::test]
async fn upload_puts_a_block_blob() {
    let (server, client) = TestServer::with_client([
        Reply::text(201, ""),
        Reply::text(201, ""),
        Reply::text(500, "nope"),
    ])
    .await;
    let url = server.storage_url("/storage/results.jsonl?sig=SECRETSIG");
    client.upload_file(&url, "{\"a\":1}\n").await.unwrap();
    let stream = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"b\":")),
        Ok(bytes::Bytes::from_static(b"2}\n")),
    ]);
    client
        .upload_stream(&url, reqwest::Body::wrap_stream(stream), 8)
        .await
        .unwrap();
    let err = client.upload_file(&url, "x").await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(!err.to_string().contains("SECRETSIG"), "{err}");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "uploads are not retried");
    for r in &reqs {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.header("x-ms-blob-type"), Some("BlockBlob"));
        assert_eq!(r.header("content-type"), Some("application/jsonl"));
        assert_eq!(r.header("authorization"), None);
    }
    assert_eq!(reqs[0].body, b"{\"a\":1}\n".as_slice());
    assert_eq!(reqs[0].header("content-length"), Some("8"));
    assert_eq!(reqs[1].body, b"{\"b\":2}\n".as_slice());
    assert_eq!(reqs[1].header("content-length"), Some("8"), "not chunked");
    assert_eq!(reqs[1].header("transfer-encoding"), None);
}
