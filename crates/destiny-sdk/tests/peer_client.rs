//! The Rust `RobotClient` against a repository stand-in built from the REAL Python
//! `destiny_sdk` 0.7.4 (`crates/destiny-testkit/python/peer_server.py`): the SDK's own `HMACAuth` checks
//! every signature, FastAPI and the SDK's pydantic models validate methods, paths, query
//! parameters (`robot_id` a UUID4, `limit` an int, `lease` a `timedelta`) and bodies.
//! The peer records what it received; the tests assert on it.
//!
//! Each test starts one peer and runs its steps in order, each with its own message.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{PeerServer, RecordedRequest};
use destiny_sdk::auth::pyfloat;
use destiny_sdk::client::{
    python_isoformat, ClientError, RetryPolicy, RobotClient, DEFAULT_USER_AGENT,
};
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::models::{
    EnhancementRequestStatus, RobotEnhancementBatchResult, RobotError, RobotResult,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// A secret shaped like the repository's (64 lowercase hex characters).
fn random_secret() -> String {
    let id = Uuid::new_v4().simple().to_string();
    format!("{id}{}", Uuid::new_v4().simple())
}

fn lease(text: &str) -> LeaseDuration {
    LeaseDuration::parse_pydantic(text).unwrap_or_else(|e| panic!("lease {text}: {e}"))
}

/// The robot API requests a peer received (the `/_peer` routes are not recorded).
async fn api_requests(server: &PeerServer) -> Vec<RecordedRequest> {
    server.requests().await
}

/// Checks the headers every signed request of the Rust client carries.
fn assert_signed_by(r: &RecordedRequest, client_id: Uuid, step: &str) {
    let auth = r.header("authorization").unwrap_or_default();
    let hex = auth
        .strip_prefix("Signature ")
        .unwrap_or_else(|| panic!("{step}: Authorization {auth:?}"));
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{step}: signature is not 64 lowercase hex characters: {hex:?}"
    );
    assert_eq!(
        r.header("x-client-id"),
        Some(client_id.to_string().as_str()),
        "{step}: X-Client-Id"
    );
    let stamp = r.header("x-request-timestamp").unwrap_or_default();
    let parsed = pyfloat::parse(stamp)
        .unwrap_or_else(|e| panic!("{step}: X-Request-Timestamp {stamp:?}: {e}"));
    assert_eq!(
        pyfloat::repr(parsed),
        stamp,
        "{step}: the timestamp header is Python's repr of a float"
    );
    assert_eq!(
        r.header("user-agent"),
        Some(DEFAULT_USER_AGENT),
        "{step}: User-Agent"
    );
    assert!(
        DEFAULT_USER_AGENT.contains("rust") && DEFAULT_USER_AGENT.contains("destiny-sdk"),
        "{DEFAULT_USER_AGENT}"
    );
}

#[tokio::test]
async fn peer_rust_client_drives_the_python_peer() {
    let secret = random_secret();
    let robot_id = Uuid::new_v4();
    let server = PeerServer::start(&secret, robot_id).await;
    // The base URL is normalised as in the Python SDK (`/v1/` stripped, `/v1` appended).
    let client = RobotClient::builder(
        &format!("{}/v1/", server.base_url()),
        secret.as_str(),
        robot_id,
    )
    .retry_policy(RetryPolicy::none())
    .build()
    .expect("client");
    assert_eq!(client.base_url(), format!("{}/v1", server.base_url()));

    // 1. Poll with a lease: 200 and a batch the SDK model validated.
    let batch = client
        .poll_robot_enhancement_batch(robot_id, 25, Some(lease("PT10M")))
        .await
        .expect("poll 1")
        .expect("poll 1 returns a batch");
    let extra = batch
        .extra_fields
        .clone()
        .expect("the peer echoes what it parsed");
    assert_eq!(
        extra["robot_id"],
        json!(robot_id.to_string()),
        "poll 1: robot_id as pydantic read it"
    );
    assert_eq!(
        extra["limit"],
        json!(25),
        "poll 1: limit as pydantic read it"
    );
    assert_eq!(
        extra["lease_seconds"],
        json!(600.0),
        "poll 1: lease as pydantic read it"
    );
    assert_eq!(
        batch.reference_storage_url.as_str(),
        format!(
            "https://storage.example.org/references/{}.jsonl?sig=abc%2Fdef&se=2030-01-01",
            batch.id
        )
    );

    // 2. Poll without a lease (server default), and 3. with a lease in hours, days and a
    // fraction of a second, which pydantic must read as the same timedelta.
    let default = client
        .poll_robot_enhancement_batch(robot_id, 10, None)
        .await
        .expect("poll 2")
        .expect("poll 2 returns a batch");
    assert_eq!(
        default.extra_fields.expect("extra")["lease_seconds"],
        json!(600.0),
        "poll 2: default lease"
    );
    let odd = lease("P1DT1H30M0.25S");
    let odd_batch = client
        .poll_robot_enhancement_batch(robot_id, 1, Some(odd))
        .await
        .expect("poll 3")
        .expect("poll 3 returns a batch");
    assert_eq!(
        odd_batch.extra_fields.expect("extra")["lease_seconds"],
        json!(odd.as_micros() as f64 / 1e6),
        "poll 3: pydantic reads {odd} as the same duration"
    );

    // 4. Nothing pending: 204 -> None.
    server.set_mode(json!({"poll": "empty"})).await;
    let none = client
        .poll_robot_enhancement_batch(robot_id, 10, Some(lease("PT10M")))
        .await
        .expect("poll 4");
    assert!(none.is_none(), "poll 4: a 204 is None, got {none:?}");

    // 5. Renew (PATCH): the expiry the client returns is the raw text the server sent;
    // 6. again with an expiry that has no microseconds (isoformat omits them).
    let before = jiff::Timestamp::now();
    let expiry = client
        .renew_robot_enhancement_batch_lease(batch.id, Some(lease("PT5M")))
        .await
        .expect("renew 1");
    let expected_min = before + jiff::SignedDuration::from_secs(300);
    assert!(
        expiry >= expected_min - jiff::SignedDuration::from_secs(1),
        "renew 1: {expiry} < {expected_min}"
    );
    server.set_mode(json!({"renew": "whole_seconds"})).await;
    let whole = client
        .renew_robot_enhancement_batch_lease(batch.id, None)
        .await
        .expect("renew 2");
    assert_eq!(whole.subsec_nanosecond(), 0, "renew 2: {whole}");

    // 7. Get the batch again.
    let again = client
        .get_robot_enhancement_batch(batch.id)
        .await
        .expect("get batch");
    assert_eq!(again.id, batch.id, "get batch: id");
    assert_eq!(
        again.result_storage_url, batch.result_storage_url,
        "get batch: URL"
    );
    assert_eq!(again.extra_fields, None, "get batch: extra_fields");

    // 8. Submit a batch result (202), 9. one with an error (200).
    let ok = client
        .send_robot_enhancement_batch_result(&RobotEnhancementBatchResult {
            request_id: batch.id,
            error: None,
        })
        .await
        .expect("submit ok");
    assert_eq!(
        (ok.id, ok.robot_id, ok.error.as_deref()),
        (batch.id, robot_id, None),
        "submit ok"
    );
    assert!(ok.validation_result_url.is_some(), "submit ok: {ok:?}");
    let message = "Échec: réseau indisponible \u{2028} 😀";
    let failed = client
        .send_robot_enhancement_batch_result(&RobotEnhancementBatchResult {
            request_id: default.id,
            error: Some(RobotError {
                message: message.to_owned(),
            }),
        })
        .await
        .expect("submit error");
    assert_eq!(
        failed.error.as_deref(),
        Some(message),
        "submit error: the peer read the message"
    );

    // 10. Legacy single-request results.
    let request_id = Uuid::new_v4();
    let read = client
        .send_robot_result(&RobotResult {
            request_id,
            error: None,
        })
        .await
        .expect("legacy result");
    assert_eq!(
        (read.id, read.robot_id, read.request_status),
        (request_id, robot_id, EnhancementRequestStatus::Importing)
    );
    let read = client
        .send_robot_result(&RobotResult {
            request_id,
            error: Some(RobotError {
                message: "boom".into(),
            }),
        })
        .await
        .expect("legacy error");
    assert_eq!(
        (read.request_status, read.error.as_deref()),
        (EnhancementRequestStatus::Failed, Some("boom"))
    );

    // What the Python side received.
    let recorded = api_requests(&server).await;
    let summary: Vec<_> = recorded
        .iter()
        .map(|r| (r.method.as_str(), r.path.clone(), r.status))
        .collect();
    let batches = "/v1/robot-enhancement-batches";
    let poll = format!("{batches}/");
    let renew = format!("{batches}/{}/renew-lease/", batch.id);
    let results = |id: Uuid| format!("{batches}/{id}/results/");
    let legacy = format!("/v1/enhancement-requests/{request_id}/results/");
    let expected = vec![
        ("POST", poll.clone(), Some(200)),
        ("POST", poll.clone(), Some(200)),
        ("POST", poll.clone(), Some(200)),
        ("POST", poll, Some(204)),
        ("PATCH", renew.clone(), Some(200)),
        ("PATCH", renew, Some(200)),
        ("GET", format!("{batches}/{}/", batch.id), Some(200)),
        ("POST", results(batch.id), Some(202)),
        ("POST", results(default.id), Some(200)),
        ("POST", legacy.clone(), Some(200)),
        ("POST", legacy, Some(200)),
    ];
    assert_eq!(
        summary, expected,
        "methods, paths and statuses the peer saw"
    );
    for (i, r) in recorded.iter().enumerate() {
        assert_signed_by(
            r,
            robot_id,
            &format!("request {i} ({} {})", r.method, r.path),
        );
    }

    // Query parameters, as sent.
    let robot = robot_id.to_string();
    let queries: Vec<_> = recorded.iter().map(|r| r.query.clone()).collect();
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        queries[0],
        pairs(&[("robot_id", &robot), ("limit", "25"), ("lease", "PT10M")]),
        "poll 1 query"
    );
    assert_eq!(
        queries[1],
        pairs(&[("robot_id", &robot), ("limit", "10")]),
        "poll 2 query"
    );
    assert_eq!(
        queries[2],
        pairs(&[
            ("robot_id", &robot),
            ("limit", "1"),
            ("lease", &odd.to_string())
        ]),
        "poll 3 query"
    );
    assert_eq!(queries[4], pairs(&[("lease", "PT5M")]), "renew 1 query");
    assert!(
        queries[5].is_empty() && queries[6].is_empty(),
        "renew 2 / get: no query"
    );
    assert_eq!(
        recorded[0].query_string,
        format!("robot_id={robot}&limit=25&lease=PT10M"),
        "poll 1 raw query"
    );

    // The renewal's expiry is exactly the text the server answered.
    assert_eq!(
        python_isoformat(&expiry),
        recorded[4].response_body,
        "renew 1: parsed expiry"
    );
    assert_eq!(
        python_isoformat(&whole),
        recorded[5].response_body,
        "renew 2: parsed expiry"
    );
    assert!(
        !recorded[5].response_body.contains('.'),
        "renew 2: {}",
        recorded[5].response_body
    );

    // Bodies: none on polls, renewals and gets; compact JSON with Content-Type on results,
    // byte for byte what the Python SDK sends (`json=model_dump(mode="json")`).
    for r in &recorded[..7] {
        assert!(
            r.body.is_empty(),
            "{} {}: unexpected body {:?}",
            r.method,
            r.path,
            r.body
        );
    }
    let bodies = [
        format!(r#"{{"request_id":"{}","error":null}}"#, batch.id),
        format!(
            r#"{{"request_id":"{}","error":{{"message":{}}}}}"#,
            default.id,
            json!(message)
        ),
        format!(r#"{{"request_id":"{request_id}","error":null}}"#),
        format!(r#"{{"request_id":"{request_id}","error":{{"message":"boom"}}}}"#),
    ];
    for (r, body) in recorded[7..].iter().zip(&bodies) {
        assert_eq!(&r.body, body, "{} {}: body", r.method, r.path);
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{} {}: Content-Type",
            r.method,
            r.path
        );
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Asserts a typed API error with `status` and `detail`.
fn assert_api_error<T: std::fmt::Debug>(
    result: Result<T, ClientError>,
    status: u16,
    detail: &str,
    step: &str,
) {
    match result {
        Err(err @ ClientError::Api { .. }) => {
            assert_eq!(err.status(), Some(status), "{step}: status of {err}");
            assert_eq!(err.detail(), Some(detail), "{step}: detail of {err}");
        }
        other => panic!("{step}: expected HTTP {status} {detail:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn peer_python_peer_errors_surface_as_typed_errors() {
    let secret = random_secret();
    let robot_id = Uuid::new_v4();
    let server = PeerServer::start(&secret, robot_id).await;
    let base = server.base_url().to_owned();

    // 1. A wrong secret: the SDK's HMACAuth answers 401, not retried.
    let wrong = RobotClient::new(&base, random_secret(), robot_id).expect("client");
    assert_api_error(
        wrong.poll_robot_enhancement_batch(robot_id, 10, None).await,
        401,
        "Signature is invalid.",
        "wrong secret",
    );
    assert_eq!(
        api_requests(&server).await.len(),
        1,
        "wrong secret: a 401 is not retried"
    );

    // 2. A clock 400 s behind: Python says the timestamp expired; the client retries once
    // with a fresh timestamp (from the same stale clock here), then gives up.
    let stale = RobotClient::builder(&base, secret.as_str(), robot_id)
        .clock(|| now_secs() - 400.0)
        .build()
        .expect("client");
    assert_api_error(
        stale.get_robot_enhancement_batch(Uuid::new_v4()).await,
        401,
        "Request timestamp has expired.",
        "stale clock",
    );
    let seen = api_requests(&server).await;
    assert_eq!(
        seen.len(),
        3,
        "stale clock: one retry with a fresh timestamp"
    );
    assert_ne!(
        seen[1].header("x-request-timestamp"),
        seen[2].header("x-request-timestamp")
    );

    let client = RobotClient::builder(&base, secret.as_str(), robot_id)
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    // 3. A limit over the server's cap: FastAPI's 422 with its list of errors as detail.
    let err = client
        .poll_robot_enhancement_batch(robot_id, 10_001, None)
        .await
        .expect_err("limit over the cap");
    assert_eq!(err.status(), Some(422), "limit over the cap: {err}");
    let detail: Value = serde_json::from_str(err.detail().unwrap_or_default())
        .unwrap_or_else(|e| panic!("422 detail is FastAPI's JSON list ({e}): {err}"));
    assert_eq!(
        detail[0]["loc"],
        json!(["query", "limit"]),
        "422 detail: {detail}"
    );

    // 4. Request ID mismatch (400), 5. a renewal of a finished batch (409), 6. an unknown
    // batch (404), as the real repository answers them.
    let batch_id = Uuid::new_v4();
    server
        .set_mode(json!({"fail_next": {"status": 400, "detail": "Request ID mismatch"}}))
        .await;
    assert_api_error(
        client
            .send_robot_enhancement_batch_result(&RobotEnhancementBatchResult {
                request_id: batch_id,
                error: None,
            })
            .await,
        400,
        "Request ID mismatch",
        "request id mismatch",
    );
    let conflict =
        "This batch has no pending enhancements. They may have already expired or been completed.";
    server
        .set_mode(json!({"fail_next": {"status": 409, "detail": conflict}}))
        .await;
    assert_api_error(
        client
            .renew_robot_enhancement_batch_lease(batch_id, None)
            .await,
        409,
        conflict,
        "renew conflict",
    );
    let missing = format!("RobotEnhancementBatch with id {batch_id} does not exist.");
    server
        .set_mode(json!({"fail_next": {"status": 404, "detail": missing}}))
        .await;
    assert_api_error(
        client.get_robot_enhancement_batch(batch_id).await,
        404,
        &missing,
        "unknown batch",
    );

    let seen = api_requests(&server).await;
    let statuses: Vec<_> = seen.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [401, 401, 401, 422, 400, 409, 404].map(Some).to_vec(),
        "statuses the peer answered: {seen:#?}"
    );
}
