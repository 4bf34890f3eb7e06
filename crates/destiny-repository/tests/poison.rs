//! Imports that cannot succeed do not hold the queue (issue 16), on both backends:
//!
//! - A poison batch (its import fails for a reason a retry cannot fix: here the database
//!   refuses its enhancements, through a trigger the test installs) queued before 50 good
//!   batches: the good ones are imported within seconds, the poison one ends `failed`,
//!   its pending enhancements `failed`, its validation file saying why.
//! - A transient failure (PostgreSQL: a serialization failure raised by a trigger) is
//!   retried after a backoff on the server's clock while the other imports go on, and
//!   given up after the last attempt.
//! - NUL in a stored text field of a result line (`source`) refuses that line, with a
//!   validation line saying which field; NUL inside the content is kept exactly.

mod common;

use destiny_testkit::on_both_backends;

use common::{
    annotation, lease_and_submit, lease_and_submit_each, refuse_inserts, sql, Backend, Options,
    Server, DEADLINE,
};
use destiny_repository::blob::BlobKey;
use destiny_repository::jobs::{FIRST_IMPORT_BACKOFF, MAX_IMPORT_ATTEMPTS};
use destiny_repository::server::Jobs;
use destiny_sdk::models::RobotResultValidationEntry;
use serde_json::{json, Value};
use sqlx::Row as _;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

on_both_backends!(
    a_poison_batch_fails_and_fifty_good_ones_go_on,
    nul_in_a_stored_field_refuses_its_line_and_nul_in_content_is_kept,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transient_failure_backs_off_and_gives_up_after_the_last_attempt() {
        if crate::common::skip_postgres() {
            return;
        }
        super::transient_failure_backs_off(crate::common::Backend::Postgres).await
    }
}

/// The `source` of the poison robot's enhancements, which the trigger refuses.
const POISON: &str = "Poison Robot";
/// The `source` whose inserts fail with a serialization failure (PostgreSQL).
const FLAKY: &str = "Flaky Robot";

/// An annotation of `reference` whose `source` is `source`.
fn annotation_from(source: &str) -> impl Fn(Uuid) -> String + '_ {
    move |reference| {
        let mut v: Value = serde_json::from_str(&annotation(reference)).expect("JSON");
        v["source"] = source.into();
        v.to_string()
    }
}

/// How many of `batches` are in `state`.
async fn count_in(pool: &sqlx::AnyPool, batches: &[Uuid], state: &str) -> usize {
    let mut n = 0;
    for b in batches {
        if sql::batch_import(pool, *b).await.0 == state {
            n += 1;
        }
    }
    n
}

/// Waits (with a deadline) until `ok` holds; `tick` runs between looks.
async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut ok: impl FnMut() -> F,
    tick: impl Fn(),
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !ok().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tick();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The validation file of a polled batch, parsed.
async fn validation_lines(s: &Server, batch: Uuid) -> Vec<RobotResultValidationEntry> {
    // The file the batch records (each import attempt writes its own).
    let record = s.state.db.batch(batch, None).await.expect("the batch");
    let key = BlobKey::new(record.validation_file.expect("a validation file")).expect("key");
    let mut file = s
        .state
        .blobs
        .store()
        .open(&key)
        .await
        .expect("validation file");
    let mut text = String::new();
    file.read_to_string(&mut text).await.expect("read");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a validation line"))
        .collect()
}

/// The statuses of a batch's pending enhancements.
async fn pending_statuses(pool: &sqlx::AnyPool, batch: Uuid) -> Vec<String> {
    let statuses = "SELECT status FROM pending_enhancements WHERE batch_id = $1 ORDER BY seq";
    sql::rows(pool, statuses, &[&batch.to_string()])
        .await
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn a_poison_batch_fails_and_fifty_good_ones_go_on(backend: Backend) {
    // Everything is submitted with no import worker running, so the poison batch is the
    // oldest queued import when the worker starts.
    let s = Server::start(
        backend,
        Options {
            jobs: Jobs::NONE,
            ..Options::default()
        },
    )
    .await;
    refuse_inserts(&s, POISON, "P0001").await;
    let (poisoner, poison_client) = s.robot("poisoner").await;
    let (good, good_client) = s.robot("good").await;
    let (_, poison_request) = s.seed(poisoner.id, 3).await;
    s.seed(good.id, 50).await;
    let poison = lease_and_submit(
        &s.http,
        &poison_client,
        poisoner.id,
        3,
        annotation_from(POISON),
    )
    .await
    .id;
    let goods = lease_and_submit_each(&s.http, &good_client, good.id, 1, 50, annotation).await;

    let (db, dir, clock) = s.stop().await;
    let started = Instant::now();
    let s = Server::start_on(db, dir, clock, Options::default()).await;
    let pool = s.db.pool().await;
    until(
        "the 50 good batches imported",
        || count_in_done(&pool, &goods),
        || {},
    )
    .await;
    let good_elapsed = started.elapsed();
    until(
        "the poison batch failed",
        || async { sql::batch_import(&pool, poison).await.0 == "failed" },
        || {},
    )
    .await;
    let poison_elapsed = started.elapsed();
    eprintln!(
        "{backend:?}: 50 good batches imported in {good_elapsed:?}; the poison batch failed after {poison_elapsed:?}"
    );

    // Failed once, not retried: a retry cannot help.
    assert_eq!(
        sql::batch_import(&pool, poison).await,
        ("failed".to_owned(), 1)
    );
    assert_eq!(pending_statuses(&pool, poison).await, vec!["failed"; 3]);
    assert_eq!(s.request_status(poison_request).await, "failed");
    let lines = validation_lines(&s, poison).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        let error = line.error.as_deref().expect("an error");
        assert!(line.reference_id.is_some());
        assert!(
            error.starts_with("The result could not be imported: ")
                && error.contains("enhancement refused by the test trigger"),
            "{error}"
        );
    }
    let stored: i64 = sql::scalar(&pool, "SELECT COUNT(*) FROM enhancements", &[]).await;
    assert_eq!(stored, 50, "the good ones only");
    pool.close().await;
}

async fn count_in_done(pool: &sqlx::AnyPool, batches: &[Uuid]) -> bool {
    count_in(pool, batches, "done").await == batches.len()
}

async fn transient_failure_backs_off(backend: Backend) {
    let s = Server::start(backend, Options::default()).await;
    // 40001, serialization_failure: a condition that passes.
    refuse_inserts(&s, FLAKY, "40001").await;
    let pool = s.db.pool().await;
    let (flaky, flaky_client) = s.robot("flaky").await;
    let (good, good_client) = s.robot("good").await;
    let (_, flaky_request) = s.seed(flaky.id, 2).await;
    s.seed(good.id, 5).await;
    let batch = lease_and_submit(&s.http, &flaky_client, flaky.id, 2, annotation_from(FLAKY))
        .await
        .id;
    until(
        "the first attempt is recorded",
        || async { sql::batch_import(&pool, batch).await == ("queued".to_owned(), 1) },
        || {},
    )
    .await;
    // Waiting out its backoff, it holds nobody up.
    let goods = lease_and_submit_each(&s.http, &good_client, good.id, 1, 5, annotation).await;
    until(
        "the good batches imported",
        || count_in_done(&pool, &goods),
        || {},
    )
    .await;
    assert_eq!(
        sql::batch_import(&pool, batch).await,
        ("queued".to_owned(), 1)
    );
    assert_eq!(pending_statuses(&pool, batch).await, vec!["importing"; 2]);
    // With the server's clock moving, it is retried, and given up after the last attempt.
    let clock = s.clock.clone();
    until(
        "the flaky batch given up",
        || async { sql::batch_import(&pool, batch).await.0 == "failed" },
        || clock.advance(FIRST_IMPORT_BACKOFF),
    )
    .await;
    assert_eq!(
        sql::batch_import(&pool, batch).await,
        ("failed".to_owned(), i64::from(MAX_IMPORT_ATTEMPTS))
    );
    assert_eq!(pending_statuses(&pool, batch).await, vec!["failed"; 2]);
    assert_eq!(s.request_status(flaky_request).await, "failed");
    let lines = validation_lines(&s, batch).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let want = format!("The result could not be imported in {MAX_IMPORT_ATTEMPTS} attempts; ");
    for line in &lines {
        let error = line.error.as_deref().expect("an error");
        assert!(error.starts_with(&want), "{error}");
    }
    pool.close().await;
}

async fn nul_in_a_stored_field_refuses_its_line_and_nul_in_content_is_kept(backend: Backend) {
    let s = common::start(backend).await;
    let (robot, client) = s.robot("nul").await;
    let (ids, request) = s.seed(robot.id, 3).await;
    let (bad_source, bad_version, kept) = (ids[0], ids[1], ids[2]);
    let batch = lease_and_submit(&s.http, &client, robot.id, 3, |reference| {
        let mut v: Value = serde_json::from_str(&annotation(reference)).expect("JSON");
        if reference == bad_source {
            v["source"] = "Toy\u{0}Robot".into();
        } else if reference == bad_version {
            v["robot_version"] = "0.1\u{0}".into();
        } else {
            v["content"]["annotations"][0]["data"] = json!({"text": "a\u{0}b"});
        }
        v.to_string()
    })
    .await
    .id;
    s.wait_status(request, "partial_failed").await;
    let lines = validation_lines(&s, batch).await;
    let error_of = |r: Uuid| {
        lines
            .iter()
            .find(|l| l.reference_id == Some(r))
            .map(|l| l.error.clone())
            .expect("a line")
    };
    assert_eq!(
        error_of(bad_source).as_deref(),
        Some("Enhancement cannot be stored: source: String should not contain the NUL character (U+0000).")
    );
    assert_eq!(
        error_of(bad_version).as_deref(),
        Some("Enhancement cannot be stored: robot_version: String should not contain the NUL character (U+0000).")
    );
    assert_eq!(error_of(kept), None);
    let reference = s.reference(kept).await;
    assert_eq!(
        reference["enhancements"][0]["content"]["annotations"][0]["data"]["text"], "a\u{0}b",
        "NUL inside the content is kept exactly"
    );
    for r in [bad_source, bad_version] {
        let reference = s.reference(r).await;
        assert_eq!(
            reference["enhancements"],
            json!([]),
            "nothing stored for {r}"
        );
    }
}
