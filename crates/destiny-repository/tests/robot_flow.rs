//! The robot API over real HTTP on port 0, on a fresh SQLite file and a fresh
//! PostgreSQL database, driven by the Rust `RobotClient`, with the repository's clock
//! injected so leases can run out on demand.

mod common;

use destiny_testkit::on_both_backends;

use common::{
    annotation, fetch_text, partial_result, poll_batch, put_result, reference_ids, start,
    start_seeded, submit, Backend,
};
use destiny_repository::clock::Clock;
use destiny_sdk::duration::LeaseDuration;
use serde_json::{json, Value};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

on_both_backends!(
    poll_download_upload_submit_import,
    expiry_retries_and_late_submit_is_refused,
    robots_only_touch_their_own_batches,
    exact_duplicates_are_discarded,
    a_lease_is_retried_three_times_then_no_more,
    deep_and_undecodable_lines_are_refused_and_what_is_kept_stays_readable,
    free_form_numbers_are_kept_as_python_keeps_them,
);

/// Polls one batch, uploads `result` as its result file, submits it and returns the
/// validation file's lines once the import wrote them.
async fn enhance_once(
    s: &common::Server,
    client: &destiny_sdk::client::RobotClient,
    robot: Uuid,
    request: Uuid,
    result: impl Into<Vec<u8>>,
    want_status: &str,
) -> Vec<Value> {
    let batch = poll_batch(client, robot, 10).await;
    let put = put_result(&s.http, batch.result_storage_url.as_str(), result.into()).await;
    assert_eq!(put.status(), 201);
    submit(client, batch.id, None).await.unwrap();
    s.wait_status(request, want_status).await;
    s.batch_validation(batch.id).await
}

/// A result line of `reference` whose annotation `data` nests so that the whole line is
/// `depth` levels deep.
fn nested_annotation(reference: Uuid, depth: usize) -> String {
    let flat = annotation(reference).replace(r#"{"toy":"Woody"}"#, r#"{"toy":null}"#);
    let levels = depth - destiny_sdk::jsonl::nesting_depth(&flat);
    let line = flat.replace(
        r#""toy":null"#,
        &format!(r#""toy":{}{}"#, "[".repeat(levels), "]".repeat(levels)),
    );
    assert_eq!(destiny_sdk::jsonl::nesting_depth(&line), depth);
    line
}

async fn deep_and_undecodable_lines_are_refused_and_what_is_kept_stays_readable(backend: Backend) {
    use destiny_sdk::result_file::MAX_RESULT_DEPTH;
    let (s, robot, client, ids, request) = start_seeded(backend, "deep", 3).await;
    let mut result = Vec::new();
    result.extend(nested_annotation(ids[0], MAX_RESULT_DEPTH).into_bytes());
    result.push(b'\n');
    result.extend(nested_annotation(ids[1], MAX_RESULT_DEPTH + 1).into_bytes());
    result.push(b'\n');
    // An invalid byte inside a string: refused, not stored as U+FFFD.
    result.extend(
        annotation(ids[2])
            .replace("Woody", "Wo\u{1}dy")
            .into_bytes(),
    );
    let at = result.iter().rposition(|&b| b == 1).unwrap();
    result[at] = 0xFF;
    result.push(b'\n');
    let lines = enhance_once(&s, &client, robot.id, request, result, "partial_failed").await;
    assert_eq!(lines[0], json!({"reference_id": ids[0]}), "{lines:?}");
    let deep = lines[1]["error"].as_str().unwrap();
    assert!(
        deep.starts_with("Entry 2 could not be parsed: it nests 126 levels deep"),
        "{deep}"
    );
    let undecodable = lines[2]["error"].as_str().unwrap();
    assert!(
        undecodable.starts_with("Entry 3 could not be parsed: the line is not valid UTF-8"),
        "{undecodable}"
    );
    // The kept one sits two levels deeper in the next reference file, which the SDK reads.
    let again = s.request(robot.id, &ids[..1]).await;
    let text = s.next_reference_file(&client, robot.id, 10).await;
    let line = text.lines().next().unwrap();
    assert_eq!(
        destiny_sdk::jsonl::nesting_depth(line),
        destiny_sdk::jsonl::MAX_DEPTH
    );
    let reference: destiny_sdk::models::Reference =
        destiny_sdk::jsonl::parse_line(line).expect("the reference file stays readable");
    assert_eq!(reference.id, ids[0]);
    assert_eq!(s.request_status(again).await, "processing");
}

/// Integers beyond 64 bits and float spellings in free-form `data`, from an import and
/// from a robot's result, through storage to the API and the next reference file.
async fn free_form_numbers_are_kept_as_python_keeps_them(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("numbers").await;
    let id = Uuid::new_v4();
    let imported = r#"{"id": "ID", "identifiers": [{"identifier": "W1", "identifier_type": "open_alex"}], "enhancements": [{"reference_id": "ID", "source": "s", "visibility": "public", "content": {"enhancement_type": "annotation", "annotations": [{"annotation_type": "score", "scheme": "a", "label": "b", "score": 0.5, "data": {"big": 18446744073709551617, "neg": -170141183460469231731687303715884105729, "f": 1e5, "g": 1.50}}]}}]}"#
        .replace("ID", &id.to_string());
    let (status, ids) = s
        .admin(reqwest::Method::POST, "/v1/references/", Some(imported))
        .await;
    assert_eq!(status, 201, "{ids}");
    assert_eq!(ids, json!([id]));
    let request = s.request(robot.id, &[id]).await;
    let result = annotation(id).replace(
        r#"{"toy":"Woody"}"#,
        r#"{"big":99999999999999999999999,"f":2E3}"#,
    );
    let lines = enhance_once(&s, &client, robot.id, request, result, "completed").await;
    assert_eq!(lines, vec![json!({"reference_id": id})]);

    let read = s
        .http
        .get(format!("{}/v1/references/{id}/", s.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let again = s.request(robot.id, &[id]).await;
    let file = s.next_reference_file(&client, robot.id, 10).await;
    for (what, text) in [("the API", &read), ("the reference file", &file)] {
        for kept in [
            r#""big":18446744073709551617"#,
            r#""neg":-170141183460469231731687303715884105729"#,
            r#""f":100000.0"#,
            r#""g":1.5"#,
            r#""big":99999999999999999999999"#,
            r#""f":2000.0"#,
        ] {
            assert!(text.contains(kept), "{what} lacks {kept}: {text}");
        }
    }
    assert_eq!(s.request_status(again).await, "processing");
}

async fn exact_duplicates_are_discarded(backend: Backend) {
    let (s, robot, client, ids, first) = start_seeded(backend, "twice", 1).await;
    let result = annotation(ids[0]);
    let lines = enhance_once(&s, &client, robot.id, first, result.clone(), "completed").await;
    assert_eq!(lines, vec![json!({"reference_id": ids[0]})]);

    // The same enhancement again, from a second request: discarded, not stored twice.
    let second = s.request(robot.id, &ids).await;
    let lines = enhance_once(&s, &client, robot.id, second, result, "partial_failed").await;
    assert_eq!(
        lines,
        vec![
            json!({"reference_id": ids[0], "error": "Exact duplicate enhancement already exists on reference."})
        ]
    );
    let reference = s.reference(ids[0]).await;
    assert_eq!(
        reference["enhancements"].as_array().unwrap().len(),
        1,
        "{reference}"
    );
}

async fn poll_download_upload_submit_import(backend: Backend) {
    let (s, robot, client, ids, request) = start_seeded(backend, "flow", 3).await;

    let batch = poll_batch(&client, robot.id, 10).await;
    assert_eq!(s.request_status(request).await, "processing");
    let refs = s
        .http
        .get(batch.reference_storage_url.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(refs.status(), 200);
    let text = refs.text().await.unwrap();
    assert_eq!(
        reference_ids(&text),
        ids,
        "the reference file lists the batch's references, oldest first"
    );

    let result = partial_result(&ids);
    let put = s
        .http
        .put(batch.result_storage_url.as_str())
        .header("x-ms-blob-type", "BlockBlob")
        .header("content-type", "application/jsonl")
        .body(result)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let read = submit(&client, batch.id, None).await.unwrap();
    assert_eq!(read.id, batch.id);
    assert_eq!(read.robot_id, robot.id);
    s.wait_status(request, "partial_failed").await;

    let req = s.read_request(request).await;
    assert!(req["validation_result_url"].is_null());
    s.assert_partial_import(batch.id, &ids).await;

    // Nothing left: 204, and submitting twice is a refused transition.
    assert!(client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .unwrap()
        .is_none());
    let again = submit(&client, batch.id, None).await.unwrap_err();
    assert_eq!(again.status(), Some(422));
}

async fn expiry_retries_and_late_submit_is_refused(backend: Backend) {
    let (s, robot, client, ids, request) = start_seeded(backend, "slow", 2).await;
    let lease: LeaseDuration = "PT1M".parse().unwrap();
    let batch = client
        .poll_robot_enhancement_batch(robot.id, 10, Some(lease))
        .await
        .unwrap()
        .unwrap();

    // Renewal keeps it alive past its first lease.
    s.clock.advance(Duration::from_secs(50));
    let expiry = client
        .renew_robot_enhancement_batch_lease(batch.id, Some(lease))
        .await
        .unwrap();
    assert_eq!(expiry.as_second(), s.clock.now().as_second() + 60);
    let report = s.advance_and_expire(Duration::from_secs(50)).await;
    assert_eq!(report.expired, 0);

    // Then it runs out: expired, retried, and the late result refused.
    let report = s.advance_and_expire(Duration::from_secs(61)).await;
    assert_eq!((report.expired, report.retried), (2, 2));
    assert_eq!(s.request_status(request).await, "received");
    let late = submit(&client, batch.id, None).await.unwrap_err();
    assert_eq!(late.status(), Some(422));
    assert_eq!(
        late.detail(),
        Some("Cannot process results: Cannot transition from status 'expired' to 'importing'")
    );
    let renew = client
        .renew_robot_enhancement_batch_lease(batch.id, None)
        .await
        .unwrap_err();
    assert_eq!(renew.status(), Some(409));

    // The retries are handed out again; failing the batch fails them.
    let retry = poll_batch(&client, robot.id, 10).await;
    assert_ne!(retry.id, batch.id);
    let text = fetch_text(&s.http, retry.reference_storage_url.as_str()).await;
    assert_eq!(text.lines().count(), ids.len());
    let read = submit(&client, retry.id, Some("model offline"))
        .await
        .unwrap();
    assert_eq!(read.error.as_deref(), Some("model offline"));
    assert_eq!(s.request_status(request).await, "failed");
}

async fn robots_only_touch_their_own_batches(backend: Backend) {
    let s = start(backend).await;
    let (a, client_a) = s.robot("a").await;
    let (b, client_b) = s.robot("b").await;
    s.seed(a.id, 1).await;
    let other = client_b
        .poll_robot_enhancement_batch(a.id, 10, None)
        .await
        .unwrap_err();
    assert_eq!(other.status(), Some(403));
    assert!(client_b
        .poll_robot_enhancement_batch(b.id, 10, None)
        .await
        .unwrap()
        .is_none());
    let batch = poll_batch(&client_a, a.id, 10).await;
    for err in [
        client_b
            .get_robot_enhancement_batch(batch.id)
            .await
            .unwrap_err(),
        client_b
            .renew_robot_enhancement_batch_lease(batch.id, None)
            .await
            .unwrap_err(),
        submit(&client_b, batch.id, None).await.unwrap_err(),
    ] {
        assert_eq!(err.status(), Some(403), "{err}");
    }
    let fresh = client_a
        .get_robot_enhancement_batch(batch.id)
        .await
        .unwrap();
    assert_eq!(fresh.id, batch.id);
    let missing = client_a
        .get_robot_enhancement_batch(Uuid::new_v4())
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
    // Admin routes refuse robots and anonymous callers.
    let anon = s
        .http
        .get(format!("{}/v1/robots/", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
}

/// README: "retries a pending enhancement up to 3 times": the original and its three
/// retries each expire, and the fourth expiry creates no retry.
async fn a_lease_is_retried_three_times_then_no_more(backend: Backend) {
    let (s, robot, client, ids, _request) = start_seeded(backend, "forgetful", 1).await;
    let lease: LeaseDuration = "PT1M".parse().unwrap();
    for round in 0..4 {
        let batch = client
            .poll_robot_enhancement_batch(robot.id, 10, Some(lease))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("round {round}: no work to lease"));
        assert!(!batch.id.is_nil());
        let report = s.advance_and_expire(Duration::from_secs(61)).await;
        let want_retry = u64::from(round < 3);
        assert_eq!(
            (report.expired, report.retried),
            (1, want_retry),
            "round {round}"
        );
    }
    assert!(client
        .poll_robot_enhancement_batch(robot.id, 10, Some(lease))
        .await
        .unwrap()
        .is_none());
    let pool = s.db.pool().await;
    let statuses: Vec<String> =
        sqlx::query("SELECT status FROM pending_enhancements WHERE reference_id = $1 ORDER BY seq")
            .bind(ids[0].to_string())
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>(0).unwrap())
            .collect();
    assert_eq!(statuses, ["expired"; 4]);
    pool.close().await;
}
