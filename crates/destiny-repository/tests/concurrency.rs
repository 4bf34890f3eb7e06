//! Concurrent polls never lease a pending enhancement twice, and never put two pending
//! enhancements of one reference in one batch: 32 robots' clients polling at once over
//! 5,000 pending enhancements, checked in the database and in the reference files, on
//! SQLite and PostgreSQL.
//!
//! Backpressure: a poll that finds every turn taken waits for one instead of failing; a
//! poll refused (queue full) answers 503 with `Retry-After`, claims nothing, and the
//! Rust client polls again; a poll whose reference file cannot be written gives exactly
//! its claim back (fenced: rows the expiry job moved on stay as they are).
//!
//! A large reference import is written in chunks, so a poll made while it runs is served
//! between two of them, not after the whole import.

mod common;

use destiny_testkit::on_both_backends;

use common::{
    fetch_text, reference_ids, refuse_inserts, sql, start, Backend, Options, Server, DEADLINE,
};
use destiny_repository::config::Config;
use destiny_sdk::client::{ClientError, RetryPolicy, RobotClient};
use destiny_sdk::models::{ProvisionedRobot, RobotEnhancementBatch};
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

on_both_backends!(
    thirty_two_pollers_lease_each_pending_enhancement_once,
    two_pending_enhancements_of_a_reference_never_share_a_batch,
    a_poll_waits_for_its_turn_instead_of_failing,
    a_refused_poll_claims_nothing_and_the_client_polls_again,
    a_poll_that_cannot_write_its_file_gives_its_claim_back,
    giving_a_claim_back_leaves_rows_the_expiry_moved_on,
    concurrent_expiry_passes_retry_each_enhancement_once,
    a_poll_during_a_large_import_does_not_wait_for_it,
    a_large_import_is_all_or_nothing,
    two_imports_naming_one_reference_store_one_of_them_whole,
);

/// Concurrent clients of one robot.
const POLLERS: usize = 32;
/// Pending enhancements per poll.
const LIMIT: u32 = 50;

/// Runs `POLLERS` clients of `robot`, each polling until it gets 204; answers every
/// batch handed out.
async fn poll_concurrently(s: &Server, robot: &ProvisionedRobot) -> Vec<RobotEnhancementBatch> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..POLLERS {
        let client =
            RobotClient::new(&s.base, robot.client_secret.as_str(), robot.id).expect("a client");
        let robot_id = robot.id;
        tasks.spawn(async move {
            let mut got = Vec::new();
            while let Some(batch) = client
                .poll_robot_enhancement_batch(robot_id, LIMIT, None)
                .await
                .expect("a poll succeeds")
            {
                got.push(batch);
            }
            got
        });
    }
    let mut batches = Vec::new();
    let all = tokio::time::timeout(DEADLINE, async {
        while let Some(done) = tasks.join_next().await {
            batches.extend(done.expect("poller task"));
        }
    });
    all.await.expect("the pollers finish in time");
    batches
}

/// The reference ids listed in a batch's reference file, in order.
async fn reference_file(s: &Server, batch: &RobotEnhancementBatch) -> Vec<Uuid> {
    reference_ids(&fetch_text(&s.http, batch.reference_storage_url.as_str()).await)
}

/// Checks, in the database and the reference files, that every pending enhancement of
/// `robot` was leased exactly once, no batch holds a reference twice, and each batch's
/// file lists exactly the references the database says it leased.
async fn check_leased_once(s: &Server, batches: &[RobotEnhancementBatch], expected: usize) {
    let pool = s.db.pool().await;
    let counts = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM pending_enhancements WHERE status = 'processing') AS processing, \
           (SELECT COUNT(*) FROM pending_enhancements WHERE status <> 'processing') AS other, \
           (SELECT COUNT(*) FROM pending_enhancements WHERE batch_id IS NULL) AS unbatched, \
           (SELECT COUNT(*) FROM batches) AS batches",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    let get = |name: &str| counts.try_get::<i64, _>(name).expect(name);
    assert_eq!(get("processing"), expected as i64, "every one is leased");
    assert_eq!(get("other"), 0, "none is left in another status");
    assert_eq!(get("unbatched"), 0, "every one is in a batch");
    assert_eq!(
        get("batches"),
        batches.len() as i64,
        "every stored batch was handed out (no empty or lost batch)"
    );
    let doubled = sqlx::query(
        "SELECT batch_id, reference_id, COUNT(*) AS n FROM pending_enhancements \
         GROUP BY batch_id, reference_id HAVING COUNT(*) > 1",
    )
    .fetch_all(&pool)
    .await
    .expect("doubles query");
    assert!(
        doubled.is_empty(),
        "{} batch(es) hold a reference twice",
        doubled.len()
    );

    // The database's view of each batch.
    let rows = sqlx::query("SELECT batch_id, reference_id FROM pending_enhancements")
        .fetch_all(&pool)
        .await
        .expect("leases");
    let mut in_db: HashMap<Uuid, HashSet<Uuid>> = HashMap::new();
    for row in &rows {
        let batch: String = row.try_get("batch_id").expect("batch_id");
        let reference: String = row.try_get("reference_id").expect("reference_id");
        in_db
            .entry(batch.parse().expect("uuid"))
            .or_default()
            .insert(reference.parse().expect("uuid"));
    }
    // What the robots were told: a pending enhancement leased twice would show in two
    // files while the database names one batch.
    let mut handed_out = 0usize;
    let mut ids = HashSet::new();
    for batch in batches {
        assert!(ids.insert(batch.id), "batch {} handed out twice", batch.id);
        let listed = reference_file(s, batch).await;
        assert!(!listed.is_empty() && listed.len() <= LIMIT as usize);
        let unique: HashSet<Uuid> = listed.iter().copied().collect();
        assert_eq!(unique.len(), listed.len(), "a reference twice in one file");
        assert_eq!(
            Some(&unique),
            in_db.get(&batch.id),
            "batch {}: the file and the database disagree",
            batch.id
        );
        handed_out += listed.len();
    }
    assert_eq!(handed_out, expected, "leases handed out in all");
    pool.close().await;
}

async fn thirty_two_pollers_lease_each_pending_enhancement_once(backend: Backend) {
    let s = start(backend).await;
    let (robot, _) = s.robot("busy").await;
    s.seed(robot.id, 5_000).await;
    let batches = poll_concurrently(&s, &robot).await;
    check_leased_once(&s, &batches, 5_000).await;
}

async fn two_pending_enhancements_of_a_reference_never_share_a_batch(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("twice").await;
    let ids = s.references(600).await;
    s.request(robot.id, &ids).await;
    s.request(robot.id, &ids).await;
    let mut batches = poll_concurrently(&s, &robot).await;
    // A poll may answer 204 while another holds the older enhancements of the remaining
    // references (their newer ones wait their turn); what is left is handed out now.
    while let Some(batch) = client
        .poll_robot_enhancement_batch(robot.id, LIMIT, None)
        .await
        .expect("a poll")
    {
        batches.push(batch);
    }
    check_leased_once(&s, &batches, 1_200).await;
}

/// A server whose polls take turns one at a time, with `tweak` applied too.
async fn one_turn(backend: Backend, tweak: impl FnOnce(&mut Config) + Send + 'static) -> Server {
    Server::start(
        backend,
        Options {
            tweak: Box::new(move |c: &mut Config| {
                c.poll_concurrency = Some(1);
                tweak(c);
            }),
            ..Options::default()
        },
    )
    .await
}

/// Pending enhancements by status.
async fn by_status(s: &Server) -> HashMap<String, i64> {
    let pool = s.db.pool().await;
    let rows =
        sqlx::query("SELECT status, COUNT(*) AS n FROM pending_enhancements GROUP BY status")
            .fetch_all(&pool)
            .await
            .expect("statuses");
    pool.close().await;
    rows.iter()
        .map(|r| {
            (
                r.try_get("status").expect("status"),
                r.try_get("n").expect("n"),
            )
        })
        .collect()
}

/// Yields until `done` holds (each check is cheap; the condition is an event of the
/// server's, not a duration).
async fn until(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !done() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the condition holds in time");
}

/// A poll of 10 for `robot` by a client with `retry`, in a task of its own, so the test
/// can hold the turns while it waits.
fn spawn_poll(
    s: &Server,
    robot: &ProvisionedRobot,
    retry: RetryPolicy,
) -> tokio::task::JoinHandle<Result<Option<RobotEnhancementBatch>, ClientError>> {
    let client = RobotClient::builder(&s.base, robot.client_secret.as_str(), robot.id)
        .retry_policy(retry)
        .build()
        .expect("a client");
    let robot = robot.id;
    tokio::spawn(async move { client.poll_robot_enhancement_batch(robot, 10, None).await })
}

async fn a_poll_waits_for_its_turn_instead_of_failing(backend: Backend) {
    let s = one_turn(backend, |_| {}).await;
    let (robot, _) = s.robot("patient").await;
    s.seed(robot.id, 20).await;
    let held = s.state.admission.enter().await.expect("the only turn");
    let poll = spawn_poll(&s, &robot, RetryPolicy::none());
    until(|| s.state.admission.waiting() == 1).await;
    assert!(!poll.is_finished(), "the poll waits while the turn is held");
    drop(held);
    let batch = poll.await.expect("poll task").expect("the poll succeeds");
    assert!(batch.is_some(), "and leases work");
    assert_eq!(s.state.admission.refused(), 0);
    assert_eq!(by_status(&s).await.get("processing"), Some(&10));
}

async fn a_refused_poll_claims_nothing_and_the_client_polls_again(backend: Backend) {
    let s = one_turn(backend, |c| c.poll_queue = 0).await;
    let (robot, _) = s.robot("refused").await;
    s.seed(robot.id, 20).await;
    let held = s.state.admission.enter().await.expect("the only turn");
    let path = format!(
        "/v1/robot-enhancement-batches/?robot_id={}&limit=10",
        robot.id
    );
    let headers = common::signed_headers(
        robot.client_secret.as_str(),
        &robot.id.to_string(),
        destiny_sdk::auth::system_now(),
        b"",
    );
    let mut req = s.http.post(format!("{}{path}", s.base));
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let resp = req.send().await.expect("a refused poll");
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .map(|v| v.to_str().expect("text")),
        Some("1")
    );
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["detail"], "The repository is busy; retry later.");
    assert_eq!(s.state.admission.refused(), 1);
    assert_eq!(
        by_status(&s).await,
        HashMap::from([("pending".to_owned(), 20)]),
        "nothing claimed"
    );

    // The Rust client polls again after Retry-After (at least 1 s); the turn is freed
    // once the server has refused its first attempt. Attempts to spare, so a test task
    // starved for a second on a busy machine cannot use them all up.
    let poll = spawn_poll(
        &s,
        &robot,
        RetryPolicy {
            max_attempts: 10,
            ..RetryPolicy::default()
        },
    );
    until(|| s.state.admission.refused() == 2).await;
    drop(held);
    let batch = poll
        .await
        .expect("poll task")
        .expect("the retried poll succeeds");
    assert!(batch.is_some());
    assert_eq!(by_status(&s).await.get("processing"), Some(&10));
}

async fn a_poll_that_cannot_write_its_file_gives_its_claim_back(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("unwritable").await;
    s.seed(robot.id, 30).await;
    // A plain file where the batches' directory goes: every reference file write fails.
    let batches_dir = s.dir.path().join("blobs").join("batches");
    std::fs::write(&batches_dir, b"in the way").expect("block the directory");
    let refused = client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect_err("the poll cannot answer");
    assert_eq!(refused.status(), Some(503), "{refused}");
    let pool = s.db.pool().await;
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM pending_enhancements WHERE status = 'pending' \
           AND batch_id IS NULL AND expires_at IS NULL) AS pending, \
         (SELECT COUNT(*) FROM batches) AS batches",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(
        counts.try_get::<i64, _>("pending").expect("pending"),
        30,
        "all given back"
    );
    assert_eq!(
        counts.try_get::<i64, _>("batches").expect("batches"),
        0,
        "no batch without its file"
    );
    // Unblocked, a poll gets the same work, at its old place in the queue.
    std::fs::remove_file(&batches_dir).expect("unblock");
    let first = client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect("poll")
        .expect("a batch");
    let oldest: Vec<String> =
        sqlx::query("SELECT reference_id FROM pending_enhancements ORDER BY seq LIMIT 10")
            .fetch_all(&pool)
            .await
            .expect("oldest")
            .iter()
            .map(|r| r.try_get(0).expect("id"))
            .collect();
    let leased: Vec<String> = reference_file(&s, &first)
        .await
        .iter()
        .map(Uuid::to_string)
        .collect();
    assert_eq!(leased, oldest);
    pool.close().await;
}

/// A server whose robot `name` holds `batches` claims of `per_batch` references each,
/// leased for one second from the answered time (µs).
async fn leased(
    backend: Backend,
    name: &str,
    batches: usize,
    per_batch: i64,
) -> (Server, Vec<destiny_repository::db::batches::Claimed>, i64) {
    let s = start(backend).await;
    let (robot, _) = s.robot(name).await;
    s.seed(robot.id, batches * per_batch as usize).await;
    let now = s.now_us();
    let mut claims = Vec::with_capacity(batches);
    for _ in 0..batches {
        let claimed = s
            .state
            .db
            .claim(robot.id, per_batch, now + 1_000_000, now)
            .await
            .expect("claim")
            .expect("work");
        claims.push(claimed);
    }
    (s, claims, now)
}

async fn giving_a_claim_back_leaves_rows_the_expiry_moved_on(backend: Backend) {
    let (s, claims, now) = leased(backend, "fenced", 1, 10).await;
    let db = &s.state.db;
    let claimed = &claims[0];
    // The lease runs out before the claim is given back.
    db.expire_due(now + 2_000_000, None).await.expect("expiry");
    let before = by_status(&s).await;
    assert_eq!(before.get("expired"), Some(&10), "{before:?}");
    let released = db
        .release_claim(claimed.batch.id, now + 3_000_000)
        .await
        .expect("release");
    assert_eq!(released, 0, "nothing of the claim is still processing");
    assert_eq!(
        by_status(&s).await,
        before,
        "the expired rows and their retries are untouched"
    );
    db.batch(claimed.batch.id, None)
        .await
        .expect("the batch stays: rows refer to it");
}

/// SQLite serves one instance: a second server on the same file is refused, naming the
/// file, until the first stops.
#[tokio::test]
async fn a_second_server_on_one_sqlite_file_is_refused_while_the_first_runs() {
    let s = start(Backend::Sqlite).await;
    let blobs = s.dir.path().join("other-blobs");
    let config = |db: &str| {
        let mut c = Config::new(db, &blobs);
        c.listen = "127.0.0.1:0".parse().expect("address");
        c
    };
    let clock = std::sync::Arc::new(s.clock.clone());
    let second = destiny_repository::server::prepare(config(&s.db.url), clock.clone()).await;
    let Err(refusal) = second else {
        panic!("a second server on {} started", s.db.url);
    };
    let text = refusal.to_string();
    assert!(
        text.contains("another destiny serve is using the SQLite database")
            && text.contains("destiny"),
        "{text}"
    );
    let (db, dir, _clock) = s.stop().await;
    let again = destiny_repository::server::prepare(config(&db.url), clock)
        .await
        .expect("the file is free once the first server stopped");
    drop(again);
    drop(dir);
}

/// Expiry passes running at once (as on several servers sharing one PostgreSQL) expire
/// each lapsed lease once and create one retry for it, never two.
async fn concurrent_expiry_passes_retry_each_enhancement_once(backend: Backend) {
    let (s, _, now) = leased(backend, "storm", 30, 100).await;
    let db = &s.state.db;
    let later = now + 2_000_000;
    let passes = futures_util::future::join_all((0..4).map(|_| db.expire_due(later, None))).await;
    let (mut expired, mut retried) = (0, 0);
    for pass in passes {
        let report = pass.expect("an expiry pass");
        expired += report.expired;
        retried += report.retried;
    }
    assert_eq!((expired, retried), (3_000, 3_000));
    let pool = s.db.pool().await;
    let row = sql::row(
        &pool,
        "SELECT COUNT(*), COUNT(DISTINCT retry_of) FROM pending_enhancements \
         WHERE retry_of IS NOT NULL",
        &[],
    )
    .await;
    pool.close().await;
    let (retries, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        (retries, distinct),
        (3_000, 3_000),
        "one retry per expired lease"
    );
}

/// `n` references, one JSON line each, with OpenAlex ids `W<first>`, `W<first + 1>`, ….
fn open_alex_lines(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| {
            format!("{}\n", json!({"identifiers": [{"identifier": format!("W{i}"), "identifier_type": "open_alex"}]}))
        })
        .collect()
}

/// How many references the server has stored.
async fn stored_references(pool: &sqlx::AnyPool) -> i64 {
    sql::scalar(pool, "SELECT COUNT(*) FROM refs", &[]).await
}

/// Imports `body` as the admin in a task of its own; the task answers the status and the
/// answer's text.
fn spawn_import(s: &Server, body: String) -> tokio::task::JoinHandle<(u16, String)> {
    let (http, url, token) = (
        s.http.clone(),
        format!("{}/v1/references/", s.base),
        s.token.clone(),
    );
    tokio::spawn(async move {
        let answer = http
            .post(url)
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .expect("the import answers");
        let status = answer.status().as_u16();
        (status, answer.text().await.expect("the answer's text"))
    })
}

/// A poll made once a 60,000-reference import has begun writing answers while the import
/// still runs: the import gives the writer up between chunks (one transaction for the
/// whole body held SQLite's writer for all of it, and a poll waited behind). "Still
/// runs" is read from the server's state: fewer references stored than the import holds.
async fn a_poll_during_a_large_import_does_not_wait_for_it(backend: Backend) {
    const IMPORTED: i64 = 60_000;
    const SEEDED: i64 = 5;
    let s = start(backend).await;
    let (robot, client) = s.robot("beside-an-import").await;
    s.seed(robot.id, SEEDED as usize).await;
    let import = spawn_import(&s, open_alex_lines(10_000_000, IMPORTED as usize));
    let pool = s.db.pool().await;
    let stored = || stored_references(&pool);
    // The first chunk is committed (an event of the server's): then poll. Waiting for
    // the writer meanwhile, as a claim would, the import commits at each step.
    let wanting = s.want_the_writer();
    tokio::time::timeout(DEADLINE, async {
        while stored().await == SEEDED {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the import begins");
    drop(wanting);
    let batch = client
        .poll_robot_enhancement_batch(robot.id, 5, None)
        .await
        .expect("a poll beside the import");
    assert!(batch.is_some(), "the seeded work is leased");
    // Read once the poll answered: had it waited for the import, all would be stored.
    let after_poll = stored().await;
    assert!(
        after_poll < SEEDED + IMPORTED,
        "the poll was answered only once the whole import was stored ({after_poll})"
    );
    assert_eq!(import.await.expect("the import task").0, 201);
    assert_eq!(stored().await, SEEDED + IMPORTED);
}

/// A large import stays all or nothing though it is written in several transactions: a
/// stored id among its last lines is a 409 before anything is written; a database
/// refusal in its last transaction removes the transactions already committed (seen while
/// the import ran), so nothing of it is left.
async fn a_large_import_is_all_or_nothing(backend: Backend) {
    const LINES: usize = 30_000;
    let s = start(backend).await;
    let stored_before = s.references(1).await;
    let pool = s.db.pool().await;
    let count = || stored_references(&pool);
    let body = |last: Value| format!("{}{last}", open_alex_lines(20_000_000, LINES));

    let (status, detail) = s
        .admin(
            reqwest::Method::POST,
            "/v1/references/",
            Some(body(json!({"id": stored_before[0]}))),
        )
        .await;
    assert_eq!(status, 409, "{detail}");
    assert_eq!(count().await, 1, "nothing written before the 409");

    refuse_inserts(&s, "refused last", "22023").await;
    let last = Uuid::new_v4();
    let refused = json!({"id": last, "enhancements": [{"reference_id": last, "source": "refused last",
        "visibility": "public", "content": {"enhancement_type": "abstract", "process": "other", "abstract": "a"}}]});
    // Waiting for the writer until a commit is seen, the import commits at each step.
    let mut wanting = Some(s.want_the_writer());
    let import = spawn_import(&s, body(refused));
    let mut most = 0;
    while !import.is_finished() {
        most = most.max(count().await);
        if most > 1 {
            wanting = None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(wanting);
    let (status, _) = import.await.expect("the import task");
    assert!((400..600).contains(&status), "the import answered {status}");
    assert!(
        most > 1,
        "no transaction of the import was seen committed ({most} references at most)"
    );
    assert_eq!(
        count().await,
        1,
        "the committed transactions were removed again"
    );
}

/// Two large imports posted at once whose last lines name the same new reference: one
/// is stored whole (201) and the other is refused with a 409 naming that reference,
/// nothing of it kept, whether it lost before writing or in a transaction once both were
/// writing.
async fn two_imports_naming_one_reference_store_one_of_them_whole(backend: Backend) {
    const LINES: usize = 10_000;
    let s = start(backend).await;
    let pool = s.db.pool().await;
    let shared = Uuid::new_v4();
    let body = |first: usize| format!("{}{}", open_alex_lines(first, LINES), json!({"id": shared}));
    let (a, b) = (
        spawn_import(&s, body(30_000_000)),
        spawn_import(&s, body(40_000_000)),
    );
    let mut answers = [a.await.expect("an import"), b.await.expect("an import")];
    answers.sort_unstable();
    let [(stored, _), (refused, detail)] = answers;
    assert_eq!(
        (stored, refused),
        (201, 409),
        "one stored, one refused: {detail}"
    );
    assert!(
        detail.contains(&format!("Reference {shared} already exists.")),
        "the refusal names the reference: {detail}"
    );
    assert_eq!(
        stored_references(&pool).await,
        LINES as i64 + 1,
        "the refused import left nothing behind"
    );
}
