//! What an operator sees: `GET /metrics` counts polls, leases, expiries, retries and
//! imports, reads the import queue from the database and times each declared route;
//! every request has an id, answered in `X-Request-Id` and named on its log lines.

mod common;

use destiny_testkit::on_both_backends;

use common::{
    annotation, eventually, lease_and_submit, poll_batch, Backend, Options, Server, DEADLINE,
};
use destiny_repository::server::Jobs;
use std::time::Duration;

on_both_backends!(metrics_count_the_work_and_time_each_route);

/// `GET /metrics` as text, checking its status and content type.
async fn metrics(s: &Server) -> String {
    let answer = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    answer.text().await.expect("text")
}

/// The value of the sample line that starts with `series ` (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().expect("a number"))
}

async fn metrics_count_the_work_and_time_each_route(backend: Backend) {
    let s = Server::start(
        backend,
        Options {
            // The expiry job runs every 20 ms; leases run out when the test moves the
            // clock.
            jobs: Jobs::ALL,
            tweak: Box::new(|c| c.expiry_interval = Duration::from_millis(20)),
        },
    )
    .await;
    let (robot, client) = s.robot("metered").await;
    s.seed(robot.id, 5).await;
    let before = metrics(&s).await;
    assert_eq!(sample(&before, "destiny_leased_total"), 0.0);

    // Three references leased, submitted and imported.
    let batch = lease_and_submit(&s.http, &client, robot.id, 3, annotation).await;
    eventually("the import", DEADLINE, || async {
        sample(
            &metrics(&s).await,
            "destiny_imported_total{outcome=\"completed\"}",
        ) == 3.0
    })
    .await;
    // Two more leased and left to run out; then a poll finds nothing until they are
    // retried.
    let held = poll_batch(&client, robot.id, 10).await;
    assert_ne!(held.id, batch.id);
    assert!(client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect("poll")
        .is_none());
    s.clock.advance(Duration::from_secs(3600));
    eventually("the expiry", DEADLINE, || async {
        sample(&metrics(&s).await, "destiny_expired_total") == 2.0
    })
    .await;

    let text = metrics(&s).await;
    assert_eq!(sample(&text, "destiny_polls_total{outcome=\"work\"}"), 2.0);
    assert_eq!(sample(&text, "destiny_polls_total{outcome=\"empty\"}"), 1.0);
    assert_eq!(sample(&text, "destiny_leased_total"), 5.0);
    assert_eq!(sample(&text, "destiny_retried_total"), 2.0);
    assert_eq!(sample(&text, "destiny_import_queue_depth"), 0.0);
    // Each poll with work timed in its two phases (an empty poll in neither).
    for phase in ["claim", "reference_file"] {
        let count = format!("destiny_poll_phase_seconds_count{{phase=\"{phase}\"}}");
        assert_eq!(sample(&text, &count), 2.0, "{phase}");
        let sum = format!("destiny_poll_phase_seconds_sum{{phase=\"{phase}\"}}");
        assert!(sample(&text, &sum) > 0.0, "{phase}");
    }
    // Latency by declared route: the batch's result route, never its raw path.
    let submit_route = "route=\"/v1/robot-enhancement-batches/{id}/results/\"";
    assert!(
        text.lines().any(|l| l
            .starts_with("destiny_http_request_duration_seconds_count{method=\"POST\",")
            && l.contains(submit_route)
            && l.contains("status=\"202\"")),
        "{text}"
    );
    assert!(!text.contains(&batch.id.to_string()), "no raw path: {text}");
}

/// The health check looks at the blob store as well as the database: a blob directory
/// gone is a 503 naming the store, and the check passes again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_covers_the_blob_store() {
    let s = Server::start(Backend::Sqlite, Options::default()).await;
    let health = || s.admin(reqwest::Method::GET, "/v1/system/healthcheck/", None);
    let (status, body) = health().await;
    assert_eq!(
        (status, &body["blob_store"]),
        (200, &serde_json::json!("file")),
        "{body}"
    );
    let moved = s.blobs().with_extension("away");
    std::fs::rename(s.blobs(), &moved).expect("move the blob directory away");
    let (status, body) = health().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["detail"], "Blob storage is unavailable; retry later.");
    std::fs::rename(&moved, s.blobs()).expect("put it back");
    assert_eq!(health().await.0, 200);
}

/// An import queued while no worker runs is in the queue depth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_queue_depth_is_read_from_the_database() {
    let s = Server::start(
        Backend::Sqlite,
        Options {
            jobs: Jobs::NONE,
            ..Options::default()
        },
    )
    .await;
    let (robot, client) = s.robot("queued").await;
    s.seed(robot.id, 4).await;
    lease_and_submit(&s.http, &client, robot.id, 2, annotation).await;
    lease_and_submit(&s.http, &client, robot.id, 2, annotation).await;
    assert_eq!(
        sample(&metrics(&s).await, "destiny_import_queue_depth"),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_has_an_id_on_its_answer_and_its_log_lines() {
    let (logs, global) = common::capture_logs(tracing::Level::DEBUG);
    let s = Server::start(Backend::Sqlite, Options::default()).await;
    let health = format!("{}/v1/system/healthcheck/", s.base);

    // Made up when the caller sends none: 32 hex digits.
    let answer = s.http.get(&health).send().await.expect("health");
    let made_up = answer.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(made_up.len(), 32, "{made_up}");
    assert!(made_up.chars().all(|c| c.is_ascii_hexdigit()));

    // The caller's is kept when it is a plausible id, and replaced when it is not.
    let answer = s
        .http
        .get(&health)
        .header("x-request-id", "lb-7f3a.1")
        .send()
        .await
        .expect("health");
    assert_eq!(answer.headers()["x-request-id"], "lb-7f3a.1");
    let answer = s
        .http
        .get(format!("{}/no/such/route", s.base))
        .header("x-request-id", "forged level=error")
        .send()
        .await
        .expect("404");
    assert_eq!(answer.status(), 404);
    let replaced = answer.headers()["x-request-id"].to_str().expect("ascii");
    assert_ne!(replaced, "forged level=error");

    if !global {
        // Another subscriber (TEST_LOG) took the logs; the headers were checked.
        return;
    }
    let text = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    let line = |id: &str| {
        text.lines()
            .find(|l| l.contains(&format!("request_id={id}")) && l.contains("answered"))
            .map(str::to_owned)
    };
    let ours = line("lb-7f3a.1").unwrap_or_else(|| panic!("no line names the id:\n{text}"));
    assert!(ours.contains("status=200"), "{ours}");
    assert!(ours.contains("path=/v1/system/healthcheck/"), "{ours}");
    assert!(line(&made_up).is_some(), "{text}");
    assert!(line(replaced).is_some(), "{text}");
}
