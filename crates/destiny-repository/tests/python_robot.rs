//! The Python SDK 0.7.4 `RobotClient` as the robot, unchanged, against the repository
//! served in this process (SQLite and PostgreSQL): poll, download, renew (SDK 0.7.4
//! sends POST), upload, submit, and the legacy `send_robot_result` flow; the request
//! status reaches `completed` or `partial_failed`, checked over the admin API and in the
//! database. The robot is `crates/destiny-testkit/python/robot.py`.

mod common;

use destiny_testkit::on_both_backends;

use common::{run_python, sql, start, start_seeded, Backend, Server};
use destiny_sdk::models::{ProvisionedRobot, RobotResult};
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashSet;
use uuid::Uuid;

on_both_backends!(
    python_robot_enhances_every_reference,
    python_robot_errors_make_the_request_partial_failed,
    python_legacy_flow_imports_the_request_result,
);

/// Runs the Python robot over `jobs`, one answer per job.
async fn python_robot(s: &Server, robot: &ProvisionedRobot, jobs: Vec<Value>) -> Vec<Value> {
    let n = jobs.len();
    let answers = run_python(
        "robot.py",
        vec![
            s.base.clone(),
            robot.id.to_string(),
            robot.client_secret.clone(),
        ],
        jobs,
    )
    .await;
    assert_eq!(answers.len(), n, "one answer per job: {answers:?}");
    answers
}

/// Runs one `drain` job of the Python robot (`options` say how) and answers the batches
/// it handled.
async fn drain(s: &Server, robot: &ProvisionedRobot, mut options: Value) -> Vec<Value> {
    options["op"] = "drain".into();
    let answers = python_robot(s, robot, vec![options]).await;
    answers[0]["batches"].as_array().expect("batches").clone()
}

/// The reference ids of a JSON list.
fn ids_of(list: &Value) -> Vec<Uuid> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("text").parse().expect("uuid"))
        .collect()
}

async fn python_robot_enhances_every_reference(backend: Backend) {
    let (s, robot, _, ids, request) = start_seeded(backend, "python", 25).await;
    let renewing = json!({"limit": 10, "lease": "PT5M", "renew": "PT10M"});
    let batches = drain(&s, &robot, renewing).await;
    assert_eq!(
        batches.len(),
        3,
        "25 references in batches of 10: {batches:?}"
    );
    let leased: Vec<Uuid> = batches
        .iter()
        .flat_map(|b| ids_of(&b["references"]))
        .collect();
    assert_eq!(leased, ids, "each reference once, oldest first");

    let pool = s.db.pool().await;
    for b in &batches {
        let read = &b["read"];
        assert_eq!(read["id"], b["id"]);
        assert_eq!(read["robot_id"], json!(robot.id));
        assert_eq!(read["source"], "test");
        assert!(read["reference_data_url"].is_string(), "{read}");
        assert!(read["error"].is_null());
        // The renewal (POST, as SDK 0.7.4 sends it) moved the lease to now + 10 min.
        let expiries = sql::rows(
            &pool,
            "SELECT expires_at FROM pending_enhancements WHERE batch_id = $1",
            &[b["id"].as_str().expect("id")],
        )
        .await;
        assert!(!expiries.is_empty());
        for row in expiries {
            let at: i64 = row.try_get(0).expect("expires_at");
            assert_eq!(at, s.now_us() + 600_000_000, "renewed to PT10M from now");
        }
    }

    s.wait_status(request, "completed").await;
    let stored: i64 = sql::scalar(
        &pool,
        "SELECT COUNT(*) FROM enhancements WHERE source = $1",
        &["python-toy-robot"],
    )
    .await;
    assert_eq!(stored, 25, "one enhancement per reference, none twice");
    let reference = s.reference(ids[7]).await;
    assert_eq!(
        reference["enhancements"][0]["content"]["annotations"][0]["data"]["robot"], "python",
        "{reference}"
    );
    let first = Uuid::parse_str(batches[0]["id"].as_str().expect("id")).expect("uuid");
    let lines = s.batch_validation(first).await;
    assert_eq!(lines.len(), 10);
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");

    // Nothing is left: the robot's next drain gets 204 at once.
    let again = drain(&s, &robot, json!({"limit": 10})).await;
    assert!(again.is_empty(), "{again:?}");
    pool.close().await;
}

async fn python_robot_errors_make_the_request_partial_failed(backend: Backend) {
    let (s, robot, _, ids, request) = start_seeded(backend, "python-flaky", 12).await;
    let batches = drain(&s, &robot, json!({"limit": 5, "fail_every": 3})).await;
    assert_eq!(batches.len(), 3);
    s.wait_status(request, "partial_failed").await;

    let mut failed = HashSet::new();
    for b in batches {
        let id = Uuid::parse_str(b["id"].as_str().expect("id")).expect("uuid");
        for line in s.batch_validation(id).await {
            if let Some(error) = line["error"].as_str() {
                let reference = line["reference_id"].as_str().expect("reference_id");
                assert_eq!(error, format!("toy robot gave up on {reference}"));
                failed.insert(reference.parse::<Uuid>().expect("uuid"));
            }
        }
    }
    let expected: HashSet<Uuid> = [2, 5, 8, 11].iter().map(|&i| ids[i]).collect();
    assert_eq!(failed, expected, "every third reference failed");
    let pool = s.db.pool().await;
    let by_status =
        "SELECT status, COUNT(*) AS n FROM pending_enhancements GROUP BY status ORDER BY status";
    let statuses: Vec<(String, i64)> = sql::rows(&pool, by_status, &[])
        .await
        .iter()
        .map(|r| (r.try_get(0).expect("status"), r.try_get(1).expect("n")))
        .collect();
    assert_eq!(
        statuses,
        vec![("completed".to_owned(), 8), ("failed".to_owned(), 4)]
    );
    pool.close().await;
}

async fn python_legacy_flow_imports_the_request_result(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("python-legacy").await;
    let (other, other_client) = s.robot("someone-else").await;
    let (ids, request) = s.seed(robot.id, 5).await;
    let read = s.read_request(request).await;
    assert!(read["reference_data_url"].is_string(), "{read}");
    assert!(read["result_storage_url"].is_string(), "{read}");
    assert!(read["validation_result_url"].is_null());

    // Another robot may not report this request.
    let refused = other_client
        .send_robot_result(&RobotResult {
            request_id: request,
            error: None,
        })
        .await
        .expect_err("403");
    assert_eq!(refused.status(), Some(403), "{refused}");
    let _ = other;

    let answers = python_robot(
        &s,
        &robot,
        vec![
            json!({"op": "legacy", "request": read, "fail_every": 5}),
            json!({"op": "send_robot_result", "request_id": request}),
        ],
    )
    .await;
    assert_eq!(ids_of(&answers[0]["references"]), ids);
    let first = &answers[0]["read"];
    assert_eq!(first["id"], json!(request));
    assert!(
        ["processing", "partial_failed"].contains(&first["request_status"].as_str().unwrap_or("")),
        "{first}"
    );
    let twice = &answers[1]["http_error"];
    assert_eq!(twice["status"], 422, "{answers:?}");
    let detail: Value = serde_json::from_str(twice["body"].as_str().expect("body")).expect("JSON");
    let detail = detail["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("Cannot process results: Cannot transition from status '")
            && detail.ends_with("' to 'importing'"),
        "{detail}"
    );

    s.wait_status(request, "partial_failed").await;
    let read = s.read_request(request).await;
    let url = read["validation_result_url"]
        .as_str()
        .expect("the request's validation file");
    let lines = s.json_lines(url).await;
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0], json!({"reference_id": ids[0]}));
    assert_eq!(
        lines[4],
        json!({"reference_id": ids[4], "error": format!("toy robot gave up on {}", ids[4])})
    );

    // A legacy error fails the whole request and is recorded on it.
    let (more, failing) = s.seed(robot.id, 2).await;
    let read = s.read_request(failing).await;
    let answers = python_robot(
        &s,
        &robot,
        vec![json!({"op": "legacy", "request": read, "error": "model offline"})],
    )
    .await;
    assert_eq!(ids_of(&answers[0]["references"]), more);
    assert_eq!(answers[0]["read"]["request_status"], "failed");
    assert_eq!(answers[0]["read"]["error"], "model offline");
    assert_eq!(s.request_status(failing).await, "failed");

    // Its batches are the robot's own: polling finds nothing left.
    assert!(client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect("poll")
        .is_none());
}
