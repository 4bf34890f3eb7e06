//! The RobotClient against the Python peer (`crates/destiny-testkit/python/peer_server.py`): the REAL
//! `destiny_sdk` 0.7.4 `HMACAuth` verifies every signature and FastAPI/pydantic parse
//! every path, query and body, as the real repository would.

mod client_support;
mod common;

use client_support::assert_refused;
use common::PeerServer;
use destiny_sdk::client::{ClientError, RetryPolicy, RobotClient};
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::models::{
    EnhancementRequestStatus, RobotEnhancementBatchResult, RobotError, RobotResult,
};
use serde_json::json;
use uuid::Uuid;

const SECRET: &str = "4f1e0c5c2b7a4d8e9f1e0c5c2b7a4d8e9f1e0c5c2b7a4d8e9f1e0c5c2b7a4d8e";

fn client(peer: &PeerServer, robot_id: Uuid) -> RobotClient {
    RobotClient::builder(peer.base_url(), SECRET, robot_id)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_call_passes_the_python_sdks_auth_and_models() {
    let robot_id = Uuid::new_v4();
    let peer = PeerServer::start(SECRET, robot_id).await;
    let client = client(&peer, robot_id);

    // Poll: pydantic reads the lease we write back to the same duration.
    let lease: LeaseDuration = "1h30m".parse().unwrap();
    let batch = client
        .poll_robot_enhancement_batch(robot_id, 7, Some(lease))
        .await
        .unwrap()
        .expect("a batch");
    let extra = batch.extra_fields.clone().unwrap();
    assert_eq!(extra["robot_id"], json!(robot_id.to_string()));
    assert_eq!(extra["limit"], json!(7));
    assert_eq!(extra["lease_seconds"], json!(5400.0));

    peer.set_mode(json!({"poll": "empty"})).await;
    assert_eq!(
        client
            .poll_robot_enhancement_batch(robot_id, 1, None)
            .await
            .unwrap(),
        None
    );

    // Renew: raw isoformat text, with and without microseconds.
    let before = jiff::Timestamp::now();
    let expiry = client
        .renew_robot_enhancement_batch_lease(batch.id, Some(lease))
        .await
        .unwrap();
    let ahead = expiry.duration_since(before).as_secs_f64();
    assert!(
        (5399.0..5460.0).contains(&ahead),
        "expiry {expiry} is {ahead} s ahead"
    );
    peer.set_mode(json!({"renew": "whole_seconds"})).await;
    let expiry = client
        .renew_robot_enhancement_batch_lease(batch.id, None)
        .await
        .unwrap();
    assert_eq!(expiry.subsec_nanosecond(), 0);

    let again = client.get_robot_enhancement_batch(batch.id).await.unwrap();
    assert_eq!(again.id, batch.id);

    let ok = RobotEnhancementBatchResult {
        request_id: batch.id,
        error: None,
    };
    let read = client
        .send_robot_enhancement_batch_result(&ok)
        .await
        .unwrap();
    assert_eq!(
        (read.id, read.robot_id, read.error),
        (batch.id, robot_id, None)
    );
    let failed = RobotEnhancementBatchResult {
        request_id: batch.id,
        error: Some(RobotError {
            message: "Échec: réseau indisponible \u{2028}".to_owned(),
        }),
    };
    let read = client
        .send_robot_enhancement_batch_result(&failed)
        .await
        .unwrap();
    assert_eq!(
        read.error.as_deref(),
        Some("Échec: réseau indisponible \u{2028}")
    );

    let legacy = RobotResult {
        request_id: batch.id,
        error: None,
    };
    let read = client.send_robot_result(&legacy).await.unwrap();
    assert_eq!(read.request_status, EnhancementRequestStatus::Importing);

    let reqs = peer.requests().await;
    let seen: Vec<_> = reqs.iter().map(|r| (r.method.as_str(), r.status)).collect();
    assert_eq!(
        seen,
        [
            ("POST", Some(200)),
            ("POST", Some(204)),
            ("PATCH", Some(200)),
            ("PATCH", Some(200)),
            ("GET", Some(200)),
            ("POST", Some(202)),
            ("POST", Some(200)),
            ("POST", Some(200)),
        ]
    );
    assert_eq!(reqs[0].query_values("lease"), ["PT1H30M"]);
    assert_eq!(reqs[5].body, serde_json::to_string(&ok).unwrap());
}

#[tokio::test]
async fn lease_display_texts_are_read_back_by_pydantic() {
    let robot_id = Uuid::new_v4();
    let peer = PeerServer::start(SECRET, robot_id).await;
    let client = client(&peer, robot_id);
    for text in [
        "PT0.5S",
        "30s",
        "10m",
        "1h30m",
        "P1DT2H",
        "P1W",
        "1 day, 00:10:00",
        "PT0.000001S",
    ] {
        let lease: LeaseDuration = text.parse().unwrap();
        let batch = client
            .poll_robot_enhancement_batch(robot_id, 1, Some(lease))
            .await
            .unwrap()
            .unwrap();
        let seconds = batch.extra_fields.unwrap()["lease_seconds"]
            .as_f64()
            .unwrap();
        let want = lease.as_std().as_secs_f64();
        assert!(
            (seconds - want).abs() < 1e-9,
            "{text}: pydantic read {seconds}, want {want}"
        );
    }
}

#[tokio::test]
async fn errors_from_the_python_peer() {
    let robot_id = Uuid::new_v4();
    let peer = PeerServer::start(SECRET, robot_id).await;

    let client = client(&peer, robot_id);
    let detail =
        "This batch has no pending enhancements. They may have already expired or been completed.";
    peer.set_mode(json!({"fail_next": {"status": 409, "detail": detail}}))
        .await;
    let err = client
        .renew_robot_enhancement_batch_lease(Uuid::new_v4(), None)
        .await
        .unwrap_err();
    assert_refused(&err, 409, detail);

    let wrong = RobotClient::builder(peer.base_url(), "not-the-secret", robot_id)
        .build()
        .unwrap();
    let err = wrong
        .get_robot_enhancement_batch(Uuid::new_v4())
        .await
        .unwrap_err();
    assert_refused(&err, 401, "Signature is invalid.");

    // pydantic rejects a limit above the cap: FastAPI's list detail comes back as JSON.
    let err = client
        .poll_robot_enhancement_batch(robot_id, 10_001, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    let detail: serde_json::Value = serde_json::from_str(err.detail().unwrap()).unwrap();
    assert_eq!(detail[0]["loc"], json!(["query", "limit"]));

    // A clock 10 minutes slow: the SDK answers "expired"; the client retries once with a
    // fresh (still slow) timestamp and then reports it.
    let before = peer.requests().await.len();
    let slow = RobotClient::builder(peer.base_url(), SECRET, robot_id)
        .clock(|| jiff::Timestamp::now().as_millisecond() as f64 / 1000.0 - 600.0)
        .build()
        .unwrap();
    let err = slow
        .poll_robot_enhancement_batch(robot_id, 1, None)
        .await
        .unwrap_err();
    assert_refused(&err, 401, "Request timestamp has expired.");
    assert!(matches!(err, ClientError::Api { .. }));
    assert_eq!(peer.requests().await.len() - before, 2);
}
