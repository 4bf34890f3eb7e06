//! Nothing committed is lost across a restart, and an unreachable database is a 503 the
//! server recovers from.
//!
//! - Restart (both backends): a result submitted while no import worker runs, and an
//!   import left `running` by a crashed worker, are imported by the next server, each
//!   pending enhancement once; a lease taken before the restart is still held and can be
//!   renewed; robots, secrets and signed blob URLs survive.
//! - Import queue (both backends): workers take different queued imports, and a failed
//!   import goes back to the queue without disturbing another worker's.
//! - Outage (PostgreSQL): the server reaches its database through a TCP proxy the test
//!   cuts: requests answer 503 with a retry hint, and work again once it is back.
//!   (SQLite is a local file: it has no outage to simulate; its "database is locked"
//!   maps to 503 in `error.rs`.)

mod common;

use destiny_testkit::on_both_backends;

use common::proxy::Proxy;
use common::{
    annotation, lease_and_submit, lease_and_submit_each, poll_batch, sql, Backend, Options, Server,
    TestDb,
};
use destiny_repository::db::imports::TakenImport;
use destiny_repository::server::Jobs;
use destiny_sdk::client::RobotClient;
use reqwest::Method;
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

on_both_backends!(
    a_restart_resumes_imports_and_keeps_leases,
    import_workers_take_different_imports_and_requeue_only_their_own,
);

/// API only: results stay queued.
fn without_import() -> Options {
    Options {
        jobs: Jobs::NONE,
        ..Options::default()
    }
}

/// Takes the next due import as a worker does, under a minute's lease.
async fn take_import(s: &Server, now: i64) -> TakenImport {
    s.state
        .db
        .next_import(now, now + 60_000_000)
        .await
        .expect("queue")
        .expect("an import")
}

/// What a worker would take at `now`, if anything.
async fn take_next(s: &Server, now: i64) -> Option<TakenImport> {
    s.state
        .db
        .next_import(now, now + 60_000_000)
        .await
        .expect("queue")
}

async fn import_states(pool: &sqlx::AnyPool) -> Vec<String> {
    sqlx::query("SELECT import_state FROM batches ORDER BY created_at, id")
        .fetch_all(pool)
        .await
        .expect("import states")
        .iter()
        .map(|r| r.try_get::<String, _>(0).expect("state"))
        .collect()
}

async fn a_restart_resumes_imports_and_keeps_leases(backend: Backend) {
    let s = Server::start(backend, without_import()).await;
    let (robot, client) = s.robot("durable").await;
    let (ids, request) = s.seed(robot.id, 7).await;
    let queued = lease_and_submit(&s.http, &client, robot.id, 3, annotation)
        .await
        .id;
    let crashed = lease_and_submit(&s.http, &client, robot.id, 3, annotation)
        .await
        .id;
    let held = poll_batch(&client, robot.id, 3).await;
    let pool = s.db.pool().await;
    // A worker that crashed mid-import leaves its batch `running` (its transaction
    // never committed).
    sqlx::query("UPDATE batches SET import_state = 'running' WHERE id = $1")
        .bind(crashed.to_string())
        .execute(&pool)
        .await
        .expect("simulate a crash");
    pool.close().await;
    assert_eq!(s.request_status(request).await, "processing");
    let (db, dir, clock) = s.stop().await;

    // The next server imports both, once each.
    let s = Server::start_on(db, dir, clock, Options::default()).await;
    let client = RobotClient::new(&s.base, robot.client_secret.as_str(), robot.id)
        .expect("the robot's secret survived");
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    let pool = s.db.pool().await;
    loop {
        let states = import_states(&pool).await;
        if states.iter().filter(|s| *s == "done").count() == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "imports not resumed: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows =
        sqlx::query("SELECT reference_id, COUNT(*) AS n FROM enhancements GROUP BY reference_id")
            .fetch_all(&pool)
            .await
            .expect("enhancements");
    assert_eq!(rows.len(), 6, "six references enhanced");
    for row in &rows {
        assert_eq!(row.try_get::<i64, _>("n").expect("n"), 1, "none twice");
    }
    for batch in [queued, crashed] {
        let statuses = sqlx::query("SELECT status FROM pending_enhancements WHERE batch_id = $1")
            .bind(batch.to_string())
            .fetch_all(&pool)
            .await
            .expect("statuses");
        assert_eq!(statuses.len(), 3);
        for st in statuses {
            assert_eq!(st.try_get::<String, _>(0).expect("status"), "completed");
        }
    }

    // The lease taken before the restart is still held, and the URL signed before the
    // restart still works (the signing key lives with the blobs), on the new address.
    let fresh = client
        .get_robot_enhancement_batch(held.id)
        .await
        .expect("the held batch");
    assert_eq!(fresh.id, held.id);
    let old = held.reference_storage_url.as_str();
    let path = &old[old.find("/blobs/").expect("a blob URL")..];
    let text = s
        .http
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .expect("GET")
        .error_for_status()
        .expect("the old signature is still valid")
        .text()
        .await
        .expect("body");
    assert!(text.contains(&ids[6].to_string()), "{text}");
    client
        .renew_robot_enhancement_batch_lease(held.id, None)
        .await
        .expect("renewable after the restart");
    assert_eq!(s.request_status(request).await, "processing");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_and_the_server_recovers() {
    if common::skip_postgres() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = TestDb::create(Backend::Postgres, dir.path()).await;
    let (proxy, proxied) = Proxy::in_front_of(&db.url).await;
    let clock = destiny_repository::clock::ManualClock::new(jiff::Timestamp::now());
    let s = Server::start_on(db, dir, clock, Options::on_database(proxied)).await;
    let (robot, _) = s.robot("outage").await;
    s.seed(robot.id, 2).await;
    let poll = format!(
        "/v1/robot-enhancement-batches/?robot_id={}&limit=1",
        robot.id
    );

    proxy.down();
    let (status, health) = s.admin(Method::GET, "/v1/system/healthcheck/", None).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(
        health["detail"],
        "The database is unavailable; retry later."
    );
    let (status, answer) = s.robot_request(&robot, Method::POST, &poll, b"").await;
    assert_eq!(status, 503, "a robot request during the outage: {answer}");
    let (status, answer) = s
        .admin(Method::GET, &format!("/v1/robots/{}/", robot.id), None)
        .await;
    assert_eq!(status, 503, "an admin request during the outage: {answer}");

    proxy.up();
    let (status, health) = s.admin(Method::GET, "/v1/system/healthcheck/", None).await;
    assert_eq!(status, 200, "{health}");
    let (status, answer) = s.robot_request(&robot, Method::POST, &poll, b"").await;
    assert_eq!(status, 200, "the server recovered: {answer}");
    assert!(answer["id"].is_string());
}

async fn import_workers_take_different_imports_and_requeue_only_their_own(backend: Backend) {
    let s = Server::start(backend, without_import()).await;
    let (robot, client) = s.robot("queue").await;
    s.seed(robot.id, 6).await;
    let mut submitted = lease_and_submit_each(&s.http, &client, robot.id, 2, 3, annotation).await;
    submitted.sort();
    let pool = s.db.pool().await;
    let state_of = |batch: Uuid| {
        let pool = pool.clone();
        async move { sql::batch_import(&pool, batch).await.0 }
    };
    // Two workers take an import each, never the same one.
    let now = s.now_us();
    let taken_a = take_import(&s, now).await;
    let (a, b) = (taken_a.batch, take_import(&s, now).await.batch);
    assert_ne!(a, b);
    assert_eq!(
        (state_of(a).await, state_of(b).await),
        ("running".into(), "running".into())
    );
    // The first fails and is requeued (due at once); the second's stays `running`.
    s.state
        .db
        .retry_import_later(taken_a, now, "test failure")
        .await
        .expect("requeue");
    assert_eq!(
        (state_of(a).await, state_of(b).await),
        ("queued".into(), "running".into())
    );
    // The queue still holds the requeued import and the untouched one, and nothing else.
    let c = take_import(&s, now).await.batch;
    let d = take_import(&s, now).await.batch;
    assert_eq!(take_next(&s, now).await, None);
    let mut taken = vec![b, c, d];
    taken.sort();
    assert_eq!(taken, submitted);
    assert!([c, d].contains(&a));
    pool.close().await;
}
