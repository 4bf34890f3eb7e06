//! The enhancement-request routes are hybrid, on both backends: a robot signing with HMAC
//! (the Python SDK 0.17.6 and the Rust client) or the admin with its bearer token creates
//! and reads requests; a robot acts only for itself; a wrong token or signature is 401.

mod common;

use destiny_sdk::client::ClientError;
use destiny_sdk::models::EnhancementRequestIn;
use destiny_testkit::on_both_backends;
use destiny_testkit::python::answer;

use common::{sql, start, Backend, Options, Server};
use destiny_repository::server::Jobs;
use destiny_sdk::models::RobotResult;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

on_both_backends!(
    a_large_request_is_answered_before_its_reference_file_is_written,
    a_large_request_is_answered_before_all_its_pending_enhancements_are_written,
    python_0176_robots_request_their_own_enhancements,
    rust_robots_request_their_own_and_only_their_own,
    the_admin_and_bad_credentials,
);

/// A request over `request_rows::INLINE` references is answered before its reference
/// file exists; a poll right after leases from it, and the file appears, complete and in
/// the request's order, once the import worker has written it.
async fn a_large_request_is_answered_before_its_reference_file_is_written(backend: Backend) {
    use destiny_repository::request_rows::INLINE;
    let (logs, global) = common::capture_logs(tracing::Level::INFO);
    assert!(global, "the logs are captured (unset TEST_LOG)");
    let s = start(backend).await;
    let (robot, client) = s.robot("large").await;
    let mut ids = s.references(INLINE + 1).await;
    ids.reverse();
    let request = s.request(robot.id, &ids).await;
    let batch = client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .unwrap();
    assert!(
        batch.is_some(),
        "a poll right after leases from the request"
    );
    // Woken by the server's committed changes (the worker's included), not a timer.
    let has_file = || async { s.read_request(request).await["reference_data_url"].is_string() };
    let changes = s.state.changes.subscribe();
    destiny_testkit::on_change("the reference file", common::DEADLINE, changes, has_file).await;
    let url = s.read_request(request).await["reference_data_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = destiny_testkit::fetch_text(&reqwest::Client::new(), &url).await;
    let lines: Vec<Uuid> = file
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, ids);
    // Its pending enhancements: one per reference, in the request's order.
    assert_eq!(pending_references(&s, request).await, ids);
    // Both written by the import worker, after the answer (not with the request).
    let logged = |what: &str, request: Uuid| {
        let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        logs.lines()
            .any(|l| l.contains(what) && l.contains(&request.to_string()))
    };
    let (file, rows) = (
        "request reference file written",
        "request's pending enhancements written",
    );
    assert!(logged(file, request), "the worker wrote {request}'s file");
    assert!(logged(rows, request), "the worker wrote {request}'s rows");

    // At the limit, the file and the rows come with the request.
    let small = s.request(robot.id, &ids[..INLINE]).await;
    assert!(s.read_request(small).await["reference_data_url"].is_string());
    assert!(!logged(file, small), "{small}'s file was written with it");
    assert!(!logged(rows, small), "{small}'s rows were written with it");
    assert_eq!(pending_references(&s, small).await, ids[..INLINE]);
}

/// The references of `request`'s pending enhancements, in the order polls lease them.
async fn pending_references(s: &Server, request: Uuid) -> Vec<Uuid> {
    let pool = s.db.pool().await;
    let order = "SELECT reference_id FROM pending_enhancements WHERE request_id = $1 ORDER BY seq";
    sql::column::<String>(&pool, order, &[&request.to_string()])
        .await
        .iter()
        .map(|r| r.parse().unwrap())
        .collect()
}

/// Of a request over `request_rows::INLINE` references, the first `request_rows::FIRST`
/// pending enhancements are written with it and the rest by the import worker: until then
/// a poll leases from the first, the rest count as pending in the request's status, and a
/// legacy result is refused. (The server here has no import worker; the test runs its
/// step by hand.)
async fn a_large_request_is_answered_before_all_its_pending_enhancements_are_written(
    backend: Backend,
) {
    use destiny_repository::request_rows::{self, FIRST, INLINE};
    let idle = Options {
        jobs: Jobs::NONE,
        ..Options::default()
    };
    let s = Server::start(backend, idle).await;
    let (robot, client) = s.robot("large").await;
    let mut ids = s.references(INLINE + 1).await;
    ids.reverse();
    let request = s.request(robot.id, &ids).await;
    assert_eq!(pending_references(&s, request).await, ids[..FIRST]);
    assert!(s.state.db.request_rows_due().await.unwrap());

    // A poll leases from the written ones at once.
    destiny_testkit::poll_batch(&client, robot.id, 10).await;
    let read = s.read_request(request).await;
    assert_eq!(read["request_status"], "processing");
    assert!(read["reference_data_url"].is_null());
    let legacy = RobotResult {
        request_id: request,
        error: None,
    };
    let err = client.send_robot_result(&legacy).await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert!(
        err.detail()
            .unwrap_or_default()
            .contains("still being created"),
        "{err}"
    );
    // Were every written one completed, the request would still not be: the unwritten
    // are pending.
    let pool = s.db.pool().await;
    let complete = "UPDATE pending_enhancements SET status = 'completed' WHERE request_id = $1";
    sql::rows(&pool, complete, &[&request.to_string()]).await;
    let read = s.read_request(request).await;
    assert_eq!(read["request_status"], "processing");

    request_rows::drain(&s.state).await.unwrap();
    assert!(!s.state.db.request_rows_due().await.unwrap());
    assert_eq!(pending_references(&s, request).await, ids);
    let statuses = sql::statuses(&pool, request).await;
    let expected = [
        ("completed".to_owned(), FIRST as i64),
        ("pending".to_owned(), (INLINE + 1 - FIRST) as i64),
    ];
    assert_eq!(statuses, expected);
}

async fn python_0176_robots_request_their_own_enhancements(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("self-serving").await;
    let other = s.register("other").await;
    let ids = s.references(3).await;
    let own = json!({"robot_id": robot.id, "reference_ids": ids, "source": "bulk"});
    let created = s
        .python_0176(
            &robot,
            vec![json!({"op": "create_enhancement_request", "body": own})],
        )
        .await;
    let created = answer(&created[0]);
    assert_eq!(created["robot_id"], json!(robot.id));
    assert_eq!(created["request_status"], "received");
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();

    let for_other = json!({"robot_id": other.id, "reference_ids": ids});
    let duplicate = json!({"robot_id": robot.id, "reference_ids": [ids[0], ids[0]]});
    let lines = s
        .python_0176(
            &robot,
            vec![
                json!({"op": "get_enhancement_request", "id": id}),
                json!({"op": "create_enhancement_request", "body": for_other}),
            ],
        )
        .await;
    assert_eq!(answer(&lines[0])["id"], json!(id));
    assert_eq!(lines[1]["status"], 403, "{}", lines[1]);
    assert!(
        lines[1]["text"]
            .as_str()
            .unwrap()
            .contains("a robot may only act for itself"),
        "{}",
        lines[1]
    );
    // The SDK's own model refuses duplicate ids before sending; the server refuses them
    // with the same text (a client without the model).
    let (status, refused) = s
        .robot_request(
            &robot,
            Method::POST,
            "/v1/enhancement-requests/",
            duplicate.to_string().as_bytes(),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("reference_ids must not contain duplicate ids."),
        "{refused}"
    );

    // The robot polls the work it asked for.
    let batch = client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .unwrap()
        .expect("the requested work");
    let file = s.json_lines(batch.reference_storage_url.as_str()).await;
    assert_eq!(file.len(), 3);
    assert_eq!(s.request_status(id).await, "processing");
}

async fn rust_robots_request_their_own_and_only_their_own(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("rust-robot").await;
    let (other, other_client) = s.robot("other").await;
    let ids = s.references(2).await;
    let request = |robot_id: Uuid| EnhancementRequestIn {
        robot_id,
        reference_ids: ids.clone(),
        source: Some("rust".into()),
    };
    let read = client
        .create_enhancement_request(&request(robot.id))
        .await
        .unwrap();
    assert_eq!(read.robot_id, robot.id);
    assert_eq!(
        client.get_enhancement_request(read.id).await.unwrap().id,
        read.id
    );
    let refused = |e: ClientError| match e {
        ClientError::Api { status, detail, .. } => (status.as_u16(), detail),
        other => panic!("{other:?}"),
    };
    let (status, detail) = refused(
        client
            .create_enhancement_request(&request(other.id))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert_eq!(
        detail,
        "The robot_id belongs to another robot; a robot may only act for itself."
    );
    let (status, detail) = refused(
        other_client
            .get_enhancement_request(read.id)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 403, "{detail}");
    assert_eq!(
        detail,
        format!(
            "EnhancementRequest {} belongs to another robot; a robot may only act for itself.",
            read.id
        )
    );
    // The admin reads any.
    assert_eq!(s.read_request(read.id).await["id"], json!(read.id));
}

async fn the_admin_and_bad_credentials(backend: Backend) {
    let s = start(backend).await;
    let robot = s.register("robot").await;
    let ids = s.references(1).await;
    let body = json!({"robot_id": robot.id, "reference_ids": ids}).to_string();
    // The admin creates requests for any robot (the test kit's `request` is the admin's).
    let id = s.request(robot.id, &ids).await;
    assert_eq!(s.read_request(id).await["robot_id"], json!(robot.id));

    let http = reqwest::Client::new();
    let url = format!("{}/v1/enhancement-requests/", s.base);
    let detail = |resp: reqwest::Response| async move {
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        (status, body["detail"].clone())
    };
    // A bearer token is the admin's or refused; anything else goes to the HMAC check,
    // which refuses an unsigned request. Nothing refused creates a request.
    let mut near = s.token.clone();
    let last = near.pop().unwrap();
    near.push(if last == '0' { '1' } else { '0' });
    let invalid = json!("Invalid admin token.");
    let callers: [(&str, Option<String>, Option<&Value>); 6] = [
        ("anonymous", None, None),
        (
            "a robot's secret as the token",
            Some(format!("Bearer {}", robot.client_secret.as_str())),
            Some(&invalid),
        ),
        (
            "the token with its last character changed",
            Some(format!("Bearer {near}")),
            Some(&invalid),
        ),
        (
            "a prefix of the token",
            Some(format!("Bearer {}", &s.token[..s.token.len() - 1])),
            Some(&invalid),
        ),
        (
            "the token under another scheme",
            Some(format!("Token {}", s.token)),
            None,
        ),
        ("the token without a scheme", Some(s.token.clone()), None),
    ];
    for (who, authorization, want) in callers {
        let mut req = http.post(&url).body(body.clone());
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        let (status, got) = detail(req.send().await.unwrap()).await;
        assert_eq!(status, 401, "{who}: {got}");
        if let Some(want) = want {
            assert_eq!(&got, want, "{who}");
        }
    }
    let pool = s.db.pool().await;
    let requests: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enhancement_requests")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(requests, 1, "only the admin's request exists");
    // Signed with a wrong secret: the HMAC layer's refusal.
    let mut wrong = robot.clone();
    wrong.client_secret = "0".repeat(64).as_str().into();
    let (status, refused) = s
        .robot_request(
            &wrong,
            Method::POST,
            "/v1/enhancement-requests/",
            body.as_bytes(),
        )
        .await;
    assert_eq!(
        (status, &refused["detail"]),
        (401, &json!("Signature is invalid."))
    );
    // A robot route is not hybrid: the admin's token is not a signature there.
    let poll = http
        .post(format!(
            "{}/v1/robot-enhancement-batches/?robot_id={}",
            s.base, robot.id
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status().as_u16(), 401);
}
