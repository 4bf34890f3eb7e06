//! Every HMAC row of spec §1 against the real server (both backends), with the exact
//! `detail` texts, plus the documented deviations and secret cycling.

mod common;

use destiny_testkit::on_both_backends;

use common::{signed_headers as signed, start, Backend, Server};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::ProvisionedRobot;
use serde_json::Value;
use uuid::Uuid;

on_both_backends!(
    every_signature_check_answers_its_detail,
    a_cycled_secret_stops_working_at_once
);

/// Seconds since the epoch, as the robot's clock reads it.
fn now() -> f64 {
    destiny_sdk::auth::system_now()
}

/// Headers to send.
type Headers = Vec<(&'static str, String)>;

/// `headers` with `name` replaced by `value` (or removed when `None`).
fn with(
    mut headers: Vec<(&'static str, String)>,
    name: &str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    let at = headers
        .iter()
        .position(|(n, _)| *n == name)
        .expect("header");
    match value {
        Some(v) => headers[at].1 = v.to_owned(),
        None => {
            headers.remove(at);
        }
    }
    headers
}

/// Polls for `robot` with exactly these headers and body; answers (status, JSON body).
async fn poll(
    s: &Server,
    robot: Uuid,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = s
        .http
        .post(format!(
            "{}/v1/robot-enhancement-batches/?robot_id={robot}&limit=1",
            s.base
        ))
        .body(body.to_vec());
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn every_signature_check_answers_its_detail(backend: Backend) {
    let s = start(backend).await;
    let (robot, _) = s.robot("signed").await;
    let id = robot.id.to_string();
    let secret = robot.client_secret.as_str();
    let good = signed(secret, &id, now(), b"");
    let unknown_v4 = Uuid::new_v4();
    let unknown_v7 = Uuid::now_v7();
    let v1 = "c232ab00-9414-11ec-b3c8-9f6bdeced846";
    let other_secret = "0".repeat(64);
    let unknown_v4_detail = format!("robot client {unknown_v4} does not exist.");
    let unknown_v7_detail = format!("robot client {unknown_v7} does not exist.");

    // One row a line: what is wrong, the headers sent (with an empty body), the detail.
    #[rustfmt::skip]
    let rows: [(&str, Headers, &str); 16] = [
        ("no Authorization header", with(good.clone(), "authorization", None), "Authorization header missing."),
        ("scheme is not Signature", with(good.clone(), "authorization", Some("Bearer abc")), "Authorization type not supported."),
        ("no X-Client-Id", with(good.clone(), "x-client-id", None), "X-Client-Id header missing"),
        ("client id is not a UUID", with(good.clone(), "x-client-id", Some("robot-1")), "Invalid format for client id, expected UUIDv4 or UUIDv7."),
        ("no X-Request-Timestamp", with(good.clone(), "x-request-timestamp", None), "X-Request-Timestamp header missing"),
        ("timestamp older than 300 s", signed(secret, &id, now() - 301.0, b""), "Token is expired."),
        ("unknown robot (v4)", signed(secret, &unknown_v4.to_string(), now(), b""), &unknown_v4_detail),
        ("unknown robot (v7 ids are accepted)", signed(secret, &unknown_v7.to_string(), now(), b""), &unknown_v7_detail),
        ("signature made with another secret", signed(&other_secret, &id, now(), b""), "Signature is invalid."),
        ("signature of another body", signed(secret, &id, now(), b"{}"), "Signature is invalid."),
        ("signature that is not hex", with(good.clone(), "authorization", Some("Signature zz")), "Signature is invalid."),
        ("DEVIATION: timestamp is not a number", with(good.clone(), "x-request-timestamp", Some("yesterday")), "Invalid format for request timestamp, expected a number."),
        ("DEVIATION: timestamp is nan", with(good.clone(), "x-request-timestamp", Some("nan")), "Invalid request timestamp, expected a finite number."),
        ("DEVIATION: timestamp is inf", with(good.clone(), "x-request-timestamp", Some("inf")), "Invalid request timestamp, expected a finite number."),
        ("DEVIATION: client id is a v1 UUID", signed(secret, v1, now(), b""), "Invalid format for client id, expected UUIDv4 or UUIDv7."),
        ("DEVIATION: timestamp more than 300 s ahead", signed(secret, &id, now() + 301.0, b""), "Request timestamp is too far in the future."),
    ];
    for (what, headers, detail) in rows {
        let (status, answer) = poll(&s, robot.id, &headers, b"").await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(answer["detail"], detail, "{what}");
    }

    // Within the window both ways, and an integer timestamp (verified as `repr(float)`),
    // the request passes: 204, nothing pending.
    for (what, headers) in [
        ("now", signed(secret, &id, now(), b"")),
        ("299 s old", signed(secret, &id, now() - 299.0, b"")),
        ("299 s ahead", signed(secret, &id, now() + 299.0, b"")),
    ] {
        let (status, answer) = poll(&s, robot.id, &headers, b"").await;
        assert_eq!(status, 204, "{what}: {answer}");
    }
    let whole = now().floor();
    let mut headers = signed(secret, &id, whole, b"");
    headers[2].1 = format!("{}", whole as i64);
    let (status, answer) = poll(&s, robot.id, &headers, b"").await;
    assert_eq!(status, 204, "integer timestamp: {answer}");
}

async fn a_cycled_secret_stops_working_at_once(backend: Backend) {
    let s = start(backend).await;
    let (robot, old_client) = s.robot("cycled").await;
    s.seed(robot.id, 1).await;
    let batch = old_client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect("the old secret works before cycling")
        .expect("a batch");

    let (status, body) = s
        .admin(
            reqwest::Method::POST,
            &format!("/v1/robots/{}/secret/", robot.id),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cycled: ProvisionedRobot = serde_json::from_value(body).expect("ProvisionedRobot");
    assert_eq!(cycled.id, robot.id);
    assert_ne!(cycled.client_secret, robot.client_secret);
    assert_eq!(cycled.client_secret.len(), 64);

    let refused = old_client
        .get_robot_enhancement_batch(batch.id)
        .await
        .expect_err("the old secret is refused at once");
    assert_eq!(refused.status(), Some(401));
    assert_eq!(refused.detail(), Some("Signature is invalid."));
    let new_client =
        RobotClient::new(&s.base, cycled.client_secret.as_str(), robot.id).expect("client");
    let fresh = new_client
        .get_robot_enhancement_batch(batch.id)
        .await
        .expect("the new secret works");
    assert_eq!(fresh.id, batch.id);
}
