//! Security, each claim a test that can fail, on both backends:
//!
//! - a robot cannot poll, renew, read or submit another robot's batches (403, nothing
//!   changes), nor the legacy request of another robot;
//! - a captured signed request replays only inside the ±300 s window: HMAC has no nonce, so
//!   within the window a replayed poll is accepted (documented), outside it 401;
//! - a blob URL opens only its own path and only until it expires;
//! - admin routes refuse anonymous callers, robots (signed requests, or their secret as a
//!   bearer token) and near-miss tokens, and robot routes refuse the admin token;
//! - secrets (robot secrets, old and new, and the admin token) never appear in the
//!   server's logs nor in any error response.

mod common;

use destiny_testkit::on_both_backends;

use std::time::Duration;

use common::{poll_batch, signed_headers, start, submit, Backend, Options, Server};
use destiny_repository::clock::Clock;
use destiny_repository::config::SignatureClock;
use destiny_sdk::models::ProvisionedRobot;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row as _;

on_both_backends!(
    a_robot_cannot_touch_another_robots_work,
    a_captured_request_replays_only_inside_the_window,
    a_blob_url_opens_only_its_path_until_it_expires,
    admin_routes_refuse_robots_and_anonymous_callers,
    secrets_are_never_logged,
);

/// Headers to send.
type Headers = Vec<(&'static str, String)>;

/// An answer: status, JSON body (or `Null`) and the raw text.
struct Answer {
    status: u16,
    json: Value,
    text: String,
}

/// Sends a request with exactly these headers and body.
async fn send(
    s: &Server,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Answer {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", s.base)
    };
    let mut req = s.http.request(method, url).body(body.to_vec());
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    Answer {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// Headers of `robot` signing `body` at `at` (seconds since the epoch).
fn signed_at(robot: &ProvisionedRobot, at: f64, body: &[u8]) -> Headers {
    signed_headers(
        robot.client_secret.as_str(),
        &robot.id.to_string(),
        at,
        body,
    )
}

/// Headers of `robot` signing `body` now (the robot's clock: the system clock).
fn signed_now(robot: &ProvisionedRobot, body: &[u8]) -> Headers {
    signed_at(robot, destiny_sdk::auth::system_now(), body)
}

/// The server's clock in seconds.
fn server_now(s: &Server) -> f64 {
    s.clock.now().as_microsecond() as f64 / 1e6
}

/// What a robot's interference could change: every pending enhancement with its status
/// and lease, every batch with its error, validation file and import state, and the
/// robots' secrets.
async fn state_of(s: &Server) -> Vec<String> {
    let pool = s.db.pool().await;
    let mut out = Vec::new();
    for r in sqlx::query("SELECT id, status, expires_at FROM pending_enhancements ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("pending")
    {
        let (id, status, expires): (String, String, Option<i64>) = (r.get(0), r.get(1), r.get(2));
        out.push(format!("pending {id} {status} {expires:?}"));
    }
    for r in sqlx::query("SELECT id, error, validation_file, import_state FROM batches ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("batches")
    {
        let (id, error, validation, import): (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3));
        out.push(format!("batch {id} {error:?} {validation:?} {import:?}"));
    }
    for r in sqlx::query("SELECT id, client_secret FROM robots ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("robots")
    {
        let (id, secret): (String, String) = (r.get(0), r.get(1));
        out.push(format!("robot {id} {secret}"));
    }
    pool.close().await;
    out
}

// ---------------------------------------------------------------------------------------

async fn a_robot_cannot_touch_another_robots_work(backend: Backend) {
    let s = start(backend).await;
    let (mallory, mallory_client) = s.robot("mallory").await;
    let (alice, alice_client) = s.robot("alice").await;
    let (_, alice_request) = s.seed(alice.id, 2).await;
    let batch = poll_batch(&alice_client, alice.id, 1).await;
    let before = state_of(&s).await;

    // Mallory's own poll finds nothing: Alice's pending work is not Mallory's.
    let own = mallory_client
        .poll_robot_enhancement_batch(mallory.id, 10, None)
        .await
        .expect("mallory polls");
    assert!(own.is_none(), "{own:?}");

    let owned = format!(
        "RobotEnhancementBatch {} belongs to another robot.",
        batch.id
    );
    let result = json!({"request_id": batch.id}).to_string();
    let failure = json!({"request_id": batch.id, "error": {"message": "sabotage"}}).to_string();
    let legacy = json!({"request_id": alice_request, "error": {"message": "sabotage"}}).to_string();
    let attempts: Vec<(&str, Method, String, String, String)> = vec![
        (
            "poll as alice",
            Method::POST,
            format!("/v1/robot-enhancement-batches/?robot_id={}", alice.id),
            String::new(),
            "robot_id does not match the authenticated robot.".into(),
        ),
        (
            "read alice's batch",
            Method::GET,
            format!("/v1/robot-enhancement-batches/{}/", batch.id),
            String::new(),
            owned.clone(),
        ),
        (
            "renew alice's batch (PATCH)",
            Method::PATCH,
            format!(
                "/v1/robot-enhancement-batches/{}/renew-lease/?lease=P1D",
                batch.id
            ),
            String::new(),
            owned.clone(),
        ),
        (
            "renew alice's batch (POST, SDK 0.7.4)",
            Method::POST,
            format!("/v1/robot-enhancement-batches/{}/renew-lease/", batch.id),
            String::new(),
            owned.clone(),
        ),
        (
            "submit alice's result",
            Method::POST,
            format!("/v1/robot-enhancement-batches/{}/results/", batch.id),
            result,
            owned.clone(),
        ),
        (
            "fail alice's batch",
            Method::POST,
            format!("/v1/robot-enhancement-batches/{}/results/", batch.id),
            failure,
            owned,
        ),
        (
            "fail alice's legacy request",
            Method::POST,
            format!("/v1/enhancement-requests/{alice_request}/results/"),
            legacy,
            format!("EnhancementRequest {alice_request} belongs to another robot."),
        ),
    ];
    for (what, method, path, body, detail) in attempts {
        let answer = send(
            &s,
            method,
            &path,
            &signed_now(&mallory, body.as_bytes()),
            body.as_bytes(),
        )
        .await;
        assert_eq!(answer.status, 403, "{what}: {}", answer.text);
        assert_eq!(answer.json["detail"], detail.as_str(), "{what}");
        assert_eq!(state_of(&s).await, before, "{what} changed something");
    }

    // Alice's work is intact: her batch is hers to finish, the rest still waits for her.
    let read = submit(&alice_client, batch.id, Some("alice gives up"))
        .await
        .expect("alice submits");
    assert_eq!(read.error.as_deref(), Some("alice gives up"));
    let next = poll_batch(&alice_client, alice.id, 10).await;
    assert_ne!(next.id, batch.id);
}

// ---------------------------------------------------------------------------------------

async fn a_captured_request_replays_only_inside_the_window(backend: Backend) {
    let s = Server::start(
        backend,
        Options {
            tweak: Box::new(|c| c.signature_clock = SignatureClock::Server),
            ..Options::default()
        },
    )
    .await;
    let (robot, _) = s.robot("replayed").await;
    s.seed(robot.id, 3).await;
    let path = format!(
        "/v1/robot-enhancement-batches/?robot_id={}&limit=1",
        robot.id
    );
    let captured = signed_at(&robot, server_now(&s), b"");
    let poll = |headers: Headers, path: String| {
        let s = &s;
        async move { send(s, Method::POST, &path, &headers, b"").await }
    };

    // The original request.
    let first = poll(captured.clone(), path.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);

    // Replayed 299 s later: accepted. HMAC carries no nonce; the window is the only
    // defence (as in the real repository). The query is not signed either, so the
    // replay may even ask for more.
    s.clock.advance(Duration::from_secs(299));
    let replay = poll(captured.clone(), path.clone()).await;
    assert_eq!(
        replay.status, 200,
        "replay inside the window: {}",
        replay.text
    );
    assert_ne!(replay.json["id"], first.json["id"]);
    let bigger = path.replace("limit=1", "limit=10");
    let replay = poll(captured.clone(), bigger.clone()).await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    // A replay with another body is refused: the body is signed.
    let mut tampered = s
        .http
        .post(format!("{}{path}", s.base))
        .body("{}".to_owned());
    for (name, value) in &captured {
        tampered = tampered.header(*name, value);
    }
    let resp = tampered.send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 401);

    // 301 s after it was signed: refused.
    s.clock.advance(Duration::from_secs(2));
    for p in [&path, &bigger] {
        let late = poll(captured.clone(), p.clone()).await;
        assert_eq!(late.status, 401, "{}", late.text);
        assert_eq!(late.json["detail"], "Token is expired.");
    }

    // Stamped ahead of the server's clock by more than the window: refused (DEVIATION:
    // the Python check is past-only, so such a request could be replayed until then).
    for ahead in [301.0, 3600.0, 86_400.0 * 365.0] {
        let future = poll(signed_at(&robot, server_now(&s) + ahead, b""), path.clone()).await;
        assert_eq!(future.status, 401, "{ahead} s ahead: {}", future.text);
        assert_eq!(
            future.json["detail"], "Request timestamp is too far in the future.",
            "{ahead} s ahead"
        );
    }
    // Within the window ahead: accepted (clock skew is tolerated both ways).
    let skewed = poll(signed_at(&robot, server_now(&s) + 299.0, b""), path.clone()).await;
    assert!(
        matches!(skewed.status, 200 | 204),
        "299 s ahead: {}",
        skewed.text
    );
}

// ---------------------------------------------------------------------------------------

async fn a_blob_url_opens_only_its_path_until_it_expires(backend: Backend) {
    let s = start(backend).await;
    let (alice, alice_client) = s.robot("alice").await;
    let (bob, bob_client) = s.robot("bob").await;
    s.seed(alice.id, 1).await;
    s.seed(bob.id, 1).await;
    let mine = poll_batch(&alice_client, alice.id, 10).await;
    let theirs = poll_batch(&bob_client, bob.id, 10).await;
    let read = mine.reference_storage_url.as_str().to_owned();
    let write = mine.result_storage_url.as_str().to_owned();
    let their_write = theirs.result_storage_url.as_str().to_owned();
    let their_read = theirs.reference_storage_url.as_str().to_owned();
    let path_of = |url: &str| url.split_once('?').expect("signed").0.to_owned();
    let query_of = |url: &str| url.split_once('?').expect("signed").1.to_owned();
    let block = [("x-ms-blob-type", "BlockBlob".to_owned())];
    let root = s
        .state
        .blobs
        .store()
        .root()
        .expect("a file:// store")
        .to_path_buf();
    let their_result = root.join(format!("batches/{}/results.jsonl", theirs.id));
    let their_refs = std::fs::read(root.join(format!("batches/{}/references.jsonl", theirs.id)))
        .expect("bob's reference file");

    // My signed query on other paths: `on(a, b)` is URL `a`'s path with URL `b`'s query.
    let on = |path: &str, query: &str| format!("{}?{}", path_of(path), query_of(query));
    let reuses = [
        ("bob's result file", Method::PUT, on(&their_write, &write)),
        ("bob's reference file", Method::GET, on(&their_read, &read)),
        (
            "my result file with my read query",
            Method::PUT,
            on(&write, &read),
        ),
        (
            "my reference file with my write query",
            Method::GET,
            on(&read, &write),
        ),
        (
            "a sibling name",
            Method::PUT,
            write.replacen('?', ".bak?", 1),
        ),
    ];
    for (what, method, url) in reuses {
        let answer = send(&s, method, &url, &block, b"{}\n").await;
        assert_eq!(answer.status, 403, "{what}: {}", answer.text);
        assert_eq!(answer.json["detail"], "Signature is invalid.", "{what}");
    }
    assert!(!their_result.exists(), "bob's result file was written");
    assert!(!root
        .join(format!("batches/{}/results.jsonl.bak", mine.id))
        .exists());

    // The URLs work on their own paths until they expire...
    let ok = send(&s, Method::GET, &read, &[], b"").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    s.clock.advance(Duration::from_secs(3600));
    let ok = send(&s, Method::PUT, &write, &block, b"").await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    // ...and not a second longer.
    s.clock.advance(Duration::from_secs(1));
    for (what, method, url) in [
        ("read", Method::GET, read.as_str()),
        ("write", Method::PUT, write.as_str()),
        ("bob's read", Method::GET, their_read.as_str()),
    ] {
        let late = send(&s, method, url, &block, b"{}\n").await;
        assert_eq!(late.status, 403, "{what}: {}", late.text);
        assert_eq!(late.json["detail"], "URL has expired.", "{what}");
    }
    assert_eq!(
        std::fs::read(root.join(format!("batches/{}/results.jsonl", mine.id))).expect("mine"),
        b"",
        "the expired write URL wrote nothing"
    );
    assert_eq!(
        std::fs::read(root.join(format!("batches/{}/references.jsonl", theirs.id))).expect("bob's"),
        their_refs
    );

    // A fresh URL (GET batch) works again; the expired one stays refused.
    let fresh = alice_client
        .get_robot_enhancement_batch(mine.id)
        .await
        .expect("fresh URLs");
    assert_ne!(fresh.reference_storage_url.as_str(), read);
    let ok = send(
        &s,
        Method::GET,
        fresh.reference_storage_url.as_str(),
        &[],
        b"",
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let late = send(&s, Method::GET, &read, &[], b"").await;
    assert_eq!(late.status, 403);
}

// ---------------------------------------------------------------------------------------

async fn admin_routes_refuse_robots_and_anonymous_callers(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("intruder").await;
    let reference = s.references(1).await[0];
    s.request(robot.id, &[reference]).await;
    let before = state_of(&s).await;
    let robot_in = json!({"name": "evil", "description": "d", "owner": "o"}).to_string();
    let routes: Vec<(Method, String, String)> = vec![
        (Method::POST, "/v1/robots/".into(), robot_in.clone()),
        (Method::GET, "/v1/robots/".into(), String::new()),
        (
            Method::GET,
            format!("/v1/robots/{}/", robot.id),
            String::new(),
        ),
        (Method::PUT, format!("/v1/robots/{}/", robot.id), robot_in),
        (
            Method::POST,
            format!("/v1/robots/{}/secret/", robot.id),
            String::new(),
        ),
        (
            Method::POST,
            "/v1/references/".into(),
            json!({"identifiers": []}).to_string(),
        ),
        (
            Method::GET,
            format!("/v1/references/{reference}/"),
            String::new(),
        ),
    ];
    let missing = "Admin routes require an Authorization: Bearer <admin token> header.";
    let invalid = "Invalid admin token.";
    let token = s.token.clone();
    let mut last_char_changed = token.clone();
    let last = last_char_changed.pop().expect("a token");
    last_char_changed.push(if last == '0' { '1' } else { '0' });
    for (method, path, body) in &routes {
        let callers: Vec<(&str, Headers, &str)> = vec![
            ("anonymous", vec![], missing),
            (
                "a robot (signed)",
                signed_now(&robot, body.as_bytes()),
                missing,
            ),
            (
                "a robot's secret as the token",
                vec![(
                    "authorization",
                    format!("Bearer {}", robot.client_secret.as_str()),
                )],
                invalid,
            ),
            (
                "the token with its last character changed",
                vec![("authorization", format!("Bearer {last_char_changed}"))],
                invalid,
            ),
            (
                "a prefix of the token",
                vec![(
                    "authorization",
                    format!("Bearer {}", &token[..token.len() - 1]),
                )],
                invalid,
            ),
            (
                "the token twice",
                vec![("authorization", format!("Bearer {token}{token}"))],
                invalid,
            ),
            // HTTP drops the trailing space: the header reads `Bearer`.
            (
                "an empty token",
                vec![("authorization", "Bearer ".to_owned())],
                missing,
            ),
            (
                "the token under another scheme",
                vec![("authorization", format!("Token {token}"))],
                missing,
            ),
            (
                "the token without a scheme",
                vec![("authorization", token.clone())],
                missing,
            ),
        ];
        for (who, headers, detail) in callers {
            let answer = send(&s, method.clone(), path, &headers, body.as_bytes()).await;
            assert_eq!(answer.status, 401, "{who} {method} {path}: {}", answer.text);
            assert_eq!(answer.json["detail"], detail, "{who} {method} {path}");
        }
    }
    assert_eq!(
        state_of(&s).await,
        before,
        "a refused admin call changed something"
    );
    let (status, robots) = s.admin(Method::GET, "/v1/robots/", None).await;
    assert_eq!(status, 200, "the admin token itself works");
    assert_eq!(
        robots.as_array().map(Vec::len),
        Some(1),
        "no robot was added"
    );
    // The refused secret cycle did not happen: the robot's secret still works.
    client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect("the robot's secret was not cycled");

    // And the other way round: the admin token opens no robot route.
    let answer = send(
        &s,
        Method::POST,
        &format!("/v1/robot-enhancement-batches/?robot_id={}", robot.id),
        &[("authorization", format!("Bearer {token}"))],
        b"",
    )
    .await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(answer.json["detail"], "Authorization type not supported.");
}

// ---------------------------------------------------------------------------------------

async fn secrets_are_never_logged(backend: Backend) {
    // At TRACE, without colours: everything the server logs in this process.
    let (logs, installed) = common::capture_logs(tracing::Level::TRACE);
    assert!(installed, "no other global subscriber in this test binary");
    let s = start(backend).await;
    let (robot, client) = s.robot("discreet").await;
    let (other, _) = s.robot("other").await;
    let (ids, _) = s.seed(robot.id, 2).await;
    let mut errors: Vec<Answer> = Vec::new();
    let secret = robot.client_secret.as_str().to_owned();
    let poll_path = format!("/v1/robot-enhancement-batches/?robot_id={}", robot.id);

    // A normal round: poll, upload, submit.
    let batch = poll_batch(&client, robot.id, 10).await;
    let lines: Vec<String> = ids.iter().map(|id| common::annotation(*id)).collect();
    client
        .upload_file(
            &batch.result_storage_url,
            format!("{}\n", lines.join("\n")).into_bytes(),
        )
        .await
        .expect("upload");
    submit(&client, batch.id, None).await.expect("submit");

    // Failures, each with the secret or the token somewhere in the request.
    let bearer = |token: &str| vec![("authorization", format!("Bearer {token}"))];
    let wrong_body = signed_headers(
        &secret,
        &robot.id.to_string(),
        destiny_sdk::auth::system_now(),
        b"{}",
    );
    let mut secret_as_id = signed_now(&robot, b"");
    secret_as_id[1].1 = secret.clone();
    let mut secret_as_time = signed_now(&robot, b"");
    secret_as_time[2].1 = secret.clone();
    let mut secret_as_signature = signed_now(&robot, b"");
    secret_as_signature[0].1 = format!("Signature {secret}");
    // The secret in a body, where validation echoes input.
    let body = json!({"name": secret, "description": 1, "owner": "o"}).to_string();
    // Another robot's request signed with this robot's secret.
    let forged = signed_headers(
        &secret,
        &other.id.to_string(),
        destiny_sdk::auth::system_now(),
        b"",
    );
    let other_poll_path = format!("/v1/robot-enhancement-batches/?robot_id={}", other.id);
    let failures: [(Method, &str, Headers, &[u8]); 9] = [
        (Method::POST, &poll_path, wrong_body, b""),
        (Method::POST, &poll_path, secret_as_id, b""),
        (Method::POST, &poll_path, secret_as_time, b""),
        (Method::POST, &poll_path, secret_as_signature, b""),
        (Method::POST, &poll_path, bearer(&s.token), b""),
        (Method::GET, "/v1/robots/", bearer(&secret), b""),
        (
            Method::GET,
            "/v1/robots/",
            bearer(&format!("{}x", s.token)),
            b"",
        ),
        (
            Method::POST,
            "/v1/robots/",
            bearer(&s.token),
            body.as_bytes(),
        ),
        (Method::POST, &other_poll_path, forged, b""),
    ];
    for (method, path, headers, body) in failures {
        errors.push(send(&s, method, path, &headers, body).await);
    }

    // A secret cycle; the old secret then fails, the new one works.
    let (status, cycled) = s
        .admin(
            Method::POST,
            &format!("/v1/robots/{}/secret/", robot.id),
            None,
        )
        .await;
    assert_eq!(status, 201, "{cycled}");
    let cycled: ProvisionedRobot = serde_json::from_value(cycled).expect("ProvisionedRobot");
    errors.push(send(&s, Method::POST, &poll_path, &signed_now(&robot, b""), b"").await);
    let renewed = send(&s, Method::POST, &poll_path, &signed_now(&cycled, b""), b"").await;
    assert_eq!(renewed.status, 204, "{}", renewed.text);

    for e in &errors {
        assert!((400..500).contains(&e.status), "{} {}", e.status, e.text);
    }
    let secrets = [
        ("the robot's first secret", secret.as_str()),
        ("the robot's cycled secret", cycled.client_secret.as_str()),
        ("the other robot's secret", other.client_secret.as_str()),
        ("the admin token", s.token.as_str()),
    ];
    for e in &errors {
        for (what, value) in secrets {
            assert!(
                !e.text.contains(value),
                "an error response holds {what}: {} {}",
                e.status,
                e.text
            );
        }
    }
    let logged =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    // The capture sees the server: its refusals are logged (without their secrets).
    assert!(
        logged.contains("request not authenticated"),
        "the log capture saw nothing of the server:\n{logged}"
    );
    for (what, value) in secrets {
        let at = logged.find(value);
        assert!(
            at.is_none(),
            "the logs hold {what}: …{}…",
            at.map(|i| &logged[i.saturating_sub(200)..(i + 64).min(logged.len())])
                .unwrap_or_default()
        );
    }
}
