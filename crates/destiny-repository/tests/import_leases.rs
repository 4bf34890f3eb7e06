//! Imports are held under a lease, so several servers can share one database: an import
//! whose holder stopped is taken over once its lease runs out, the former holder changes
//! nothing after that (every write names its attempt), and a server starting on a shared
//! PostgreSQL leaves the imports of live servers alone. Also what else several servers
//! share: the automations queue (one server at a time) and the migrations (run once).
//!
//! Time is the test's [`ManualClock`](destiny_repository::clock::ManualClock): leases
//! run out when the test moves it, not by waiting.

mod common;

use destiny_testkit::on_both_backends;

use common::{annotation, lease_and_submit, sql, Backend, Options, Server};
use destiny_repository::db::imports::TakenImport;
use destiny_repository::db::Db;
use destiny_repository::import::import_batch;
use destiny_repository::server::Jobs;
use uuid::Uuid;

on_both_backends!(
    a_lapsed_import_is_taken_over_and_its_former_holder_changes_nothing,
    a_held_import_is_not_taken_until_its_lease_runs_out,
);

/// A second of the clock, in microseconds.
const SECOND: i64 = 1_000_000;

/// API only: the test takes imports itself.
fn without_jobs() -> Options {
    Options {
        jobs: Jobs::NONE,
        ..Options::default()
    }
}

/// A server holding one submitted, queued result of three references.
async fn one_queued_import(backend: Backend) -> (Server, Uuid) {
    let s = Server::start(backend, without_jobs()).await;
    let (robot, client) = s.robot("leased-import").await;
    s.seed(robot.id, 3).await;
    let batch = lease_and_submit(&s.http, &client, robot.id, 3, annotation)
        .await
        .id;
    (s, batch)
}

/// What a worker takes at `now` (in clock microseconds), with a lease of `lease` seconds.
async fn take(s: &Server, now: i64, lease: i64) -> Option<TakenImport> {
    s.state
        .db
        .next_import(now, now + lease * SECOND)
        .await
        .expect("the import queue")
}

/// The batch's import state, attempts and validation file.
async fn import_row(s: &Server, batch: Uuid) -> (String, i64, Option<String>) {
    let pool = s.db.pool().await;
    let row = sql::row(
        &pool,
        "SELECT import_state, CAST(import_attempts AS BIGINT) AS attempts, validation_file \
         FROM batches WHERE id = $1",
        &[&batch.to_string()],
    )
    .await;
    pool.close().await;
    use sqlx::Row;
    (
        row.try_get("import_state").expect("state"),
        row.try_get("attempts").expect("attempts"),
        row.try_get("validation_file").expect("validation file"),
    )
}

async fn a_lapsed_import_is_taken_over_and_its_former_holder_changes_nothing(backend: Backend) {
    let (s, batch) = one_queued_import(backend).await;
    let t0 = s.now_us();
    let first = take(&s, t0, 30).await.expect("the queued import");
    assert_eq!((first.batch, first.attempt), (batch, 1));

    // The holder extends its lease; it is not taken while it lasts.
    assert!(s
        .state
        .db
        .extend_import_lease(first, t0 + 40 * SECOND)
        .await
        .expect("extend"));
    assert_eq!(take(&s, t0 + 35 * SECOND, 30).await, None, "still held");

    // The holder falls silent; once the lease ran out another worker takes it over.
    let second = take(&s, t0 + 41 * SECOND, 30)
        .await
        .expect("the lapsed import");
    assert_eq!((second.batch, second.attempt), (batch, 2));
    assert_eq!(take(&s, t0 + 42 * SECOND, 30).await, None, "taken once");

    // The former holder is fenced out: it cannot extend, requeue or fail the import.
    let now = t0 + 42 * SECOND;
    let db = &s.state.db;
    assert!(!db.extend_import_lease(first, now).await.expect("extend"));
    db.retry_import_later(first, now, "stale holder")
        .await
        .expect("requeue");
    let failed = db
        .fail_import(first, "stale holder", None, now)
        .await
        .expect("fail");
    assert_eq!(failed, 0);
    assert_eq!(import_row(&s, batch).await.0, "running");

    // Nor apply the import, before or after the new holder does.
    let stale = import_batch(db, s.state.blobs.store(), first, now)
        .await
        .expect("the stale attempt runs");
    assert_eq!(stale, None, "the former holder applied nothing");
    let report = import_batch(db, s.state.blobs.store(), second, now)
        .await
        .expect("the new holder imports")
        .expect("and holds the import");
    assert_eq!((report.completed, report.failed), (3, 0));
    let stale = import_batch(db, s.state.blobs.store(), first, now)
        .await
        .expect("the stale attempt runs");
    assert_eq!(stale, None);

    // Done once: three enhancements, and the validation file of the attempt that
    // finished, which the former holder's did not overwrite.
    let (state, attempts, validation) = import_row(&s, batch).await;
    assert_eq!((state.as_str(), attempts), ("done", 2));
    let validation = validation.expect("a validation file");
    assert!(validation.ends_with("validation-2.jsonl"), "{validation}");
    let lines = s.batch_validation(batch).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.iter().all(|l| l["error"].is_null()),
        "no line says duplicate: {lines:?}"
    );
    let pool = s.db.pool().await;
    let stored: i64 = sql::scalar(&pool, "SELECT COUNT(*) FROM enhancements", &[]).await;
    pool.close().await;
    assert_eq!(stored, 3);
}

async fn a_held_import_is_not_taken_until_its_lease_runs_out(backend: Backend) {
    let (s, batch) = one_queued_import(backend).await;
    let t0 = s.now_us();
    let held = take(&s, t0, 30).await.expect("the queued import");
    assert_eq!(
        take(&s, t0 + 30 * SECOND, 30).await,
        None,
        "held to the end"
    );
    let again = take(&s, t0 + 30 * SECOND + 1, 30).await.expect("lapsed");
    assert_eq!((again.batch, again.attempt), (held.batch, 2));
    assert_eq!(again.batch, batch);
}

/// A server starting on a shared PostgreSQL does not take over the imports other
/// servers hold: their leases still run (SQLite is one server's file; see
/// `durability.rs` for its restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_starting_on_postgres_leaves_held_imports_alone() {
    if common::skip_postgres() {
        return;
    }
    let (s, batch) = one_queued_import(Backend::Postgres).await;
    let held = take(&s, s.now_us(), 3600).await.expect("the queued import");
    let url = s.db.url.clone();
    let blobs = s.blobs();
    let other = Server::start(
        Backend::Postgres,
        Options {
            jobs: Jobs::ALL,
            tweak: Box::new(move |c| {
                c.database = url;
                c.blob_dir = blobs;
            }),
        },
    )
    .await;
    // Its start-up (done when `start` returns) put nothing back in the queue, and its
    // worker, which looks at the queue as it starts, found nothing to take.
    let (state, attempts, _) = import_row(&s, batch).await;
    assert_eq!((state.as_str(), attempts), ("running", 1));
    other.stop().await;
    assert_eq!(
        import_row(&s, batch).await.1,
        1,
        "not taken by the other server"
    );
    // The holder still finishes it.
    let report = import_batch(&s.state.db, s.state.blobs.store(), held, s.now_us())
        .await
        .expect("import")
        .expect("still held");
    assert_eq!(report.completed, 3);
}

/// A new PostgreSQL database of the test's own (`None`: PostgreSQL skipped).
async fn new_postgres() -> Option<(tempfile::TempDir, common::TestDb)> {
    if common::skip_postgres() {
        return None;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = common::TestDb::create(Backend::Postgres, dir.path()).await;
    Some((dir, db))
}

/// Matching against the automations runs on one server at a time: a second server's
/// attempt to take the queue fails while the first holds it, and succeeds once it is
/// released, or once the holder's connection is gone (a holder that died).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_at_a_time_holds_the_automations_queue() {
    use destiny_repository::db::cluster_lock::ClusterKey;
    let Some((_dir, db)) = new_postgres().await else {
        return;
    };
    let one = Db::connect(&db.url).await.expect("first");
    let two = Db::connect(&db.url).await.expect("second");
    let key = ClusterKey::Percolation;
    let take = |db: &Db| {
        let db = db.clone();
        async move { db.try_cluster_lock(key).await.expect("lock") }
    };
    let held = take(&one).await.expect("free");
    assert!(take(&two).await.is_none());
    held.release().await.expect("release");
    let held = take(&two).await.expect("released");
    assert!(take(&one).await.is_none());
    // Dropped unreleased (its task cancelled): the session ends, and the lock with it.
    drop(held);
    common::eventually("the lock freed", common::DEADLINE, || async {
        match one.try_cluster_lock(key).await.expect("lock") {
            Some(lock) => {
                lock.release().await.expect("release");
                true
            }
            None => false,
        }
    })
    .await;
}

/// Servers starting at the same moment on a new PostgreSQL database migrate it once
/// between them (sqlx takes an advisory lock around the migrations).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_starting_together_on_a_new_database_migrate_it_once() {
    let Some((_dir, db)) = new_postgres().await else {
        return;
    };
    let connect = || Db::connect(&db.url);
    let (a, b, c) = tokio::join!(connect(), connect(), connect());
    for opened in [a, b, c] {
        opened.expect("each server opens the database");
    }
    let pool = db.pool().await;
    let applied: i64 = sql::scalar(&pool, "SELECT COUNT(*) FROM _sqlx_migrations", &[]).await;
    let distinct: i64 = sql::scalar(
        &pool,
        "SELECT COUNT(DISTINCT version) FROM _sqlx_migrations",
        &[],
    )
    .await;
    assert_eq!(applied, distinct);
    assert!(applied >= 10, "{applied} migrations");
    pool.close().await;
}

/// While an import runs, its server renews the lease (every third of `--import-lease`,
/// from the clock): moved on an hour, the lease follows; and once another worker has
/// taken the import over, the renewing stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_renews_its_lease_until_it_is_taken_over() {
    let s = Server::start(
        Backend::Sqlite,
        Options {
            jobs: Jobs::NONE,
            tweak: Box::new(|c| c.import_lease = std::time::Duration::from_millis(30)),
        },
    )
    .await;
    let (robot, client) = s.robot("renewing").await;
    s.seed(robot.id, 3).await;
    let batch = lease_and_submit(&s.http, &client, robot.id, 3, annotation)
        .await
        .id;
    let taken = take(&s, s.now_us(), 1).await.expect("the queued import");
    let state = s.state.clone();
    let renewing =
        tokio::spawn(
            async move { destiny_repository::jobs::keep_import_lease(&state, taken).await },
        );
    s.clock.advance(std::time::Duration::from_secs(3600));
    let pool = s.db.pool().await;
    let an_hour_on = s.now_us();
    common::eventually("the lease renewed", common::DEADLINE, || async {
        let until: i64 = sql::scalar(
            &pool,
            "SELECT import_lease_until FROM batches WHERE id = $1",
            &[&batch.to_string()],
        )
        .await;
        until >= an_hour_on
    })
    .await;
    // Another worker takes the import over (its attempt counted): the holder stops.
    sql::scalar::<i64>(
        &pool,
        "UPDATE batches SET import_attempts = import_attempts + 1 WHERE id = $1 RETURNING 1",
        &[&batch.to_string()],
    )
    .await;
    tokio::time::timeout(common::DEADLINE, renewing)
        .await
        .expect("the renewing stops once taken over")
        .expect("joined");
    pool.close().await;
}
