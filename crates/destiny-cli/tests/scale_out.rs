//! Three `destiny serve` processes on one PostgreSQL database and one blob store, with
//! faults, and nothing lost or doubled:
//!
//! 1. One server takes a 5,000-reference import and is SIGKILLed while it runs. Two more
//!    start on the same database (nothing is requeued at their start-up); once the dead
//!    holder's import lease runs out, one of them takes the import over and applies it
//!    once: every pending enhancement `completed`, one enhancement per reference, the
//!    validation file present with one line per reference.
//! 2. The dead server comes back; three robot runners, one per server, share a request
//!    of 1,500 references. Then:
//!    - one server is SIGKILLed mid-poll: a poll of another robot reaches it through a
//!      proxy that keeps the server's answer from the robot; once the server has
//!      answered (the claim committed), it is killed, so the claim's answer is lost with
//!      it. The runners polling it lose theirs too. It is started again on its port;
//!    - PostgreSQL (a cluster of this test's own) is stopped under load until every
//!      server reports it unavailable, and started again.
//!
//!    Both requests complete with each reference enhanced exactly once, the lost claim's
//!    enhancements expired and retried once each, no expired enhancement retried twice,
//!    no import left behind, and every import's validation file present.
//!
//! The blob store is one Azure Blob Storage container (Azurite, `--blob-store az://`):
//! robots read and write it directly through the SAS URLs any server hands out.

mod robot_support;

use std::path::Path;
use std::time::Duration;

use destiny_repository::blob::object::ObjectBlobs;
use destiny_repository::blob::{BlobKey, Store};
use destiny_robot::toy::TOY_SOURCE;
use destiny_robot::{Runner, ToyRobot};
use destiny_sdk::client::{RetryPolicy, RobotClient};
use destiny_testkit::pg_cluster::PgCluster;
use destiny_testkit::proxy::Proxy;
use destiny_testkit::serve_process::{
    import_and_request, kill_while_importing, openalex_lines, register, score_line,
};
use destiny_testkit::{eventually, skip_postgres, sql, wait_for};
use robot_support::{serve_with, Serve, DEADLINE};

/// The references of the import that is interrupted.
const BIG: usize = 5_000;
/// The references the robots share.
const SHARED: usize = 1_500;
/// The references of the claim whose answer is lost with its server.
const LOST: usize = 40;
/// How long the robots' work may take, faults included (the lease of a claim lost with
/// its server runs out after 10 s).
const WORK_DEADLINE: Duration = Duration::from_secs(120);

/// A free port on 127.0.0.1 (bound and released), so a server can come back on it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Where the three keep their files: an Azurite container.
struct Files {
    /// The `--blob-store` URL.
    url: String,
    /// The same store, read by the test.
    store: Store,
}

impl Files {
    /// A fresh container on the test Azurite (`None`: object stores skipped).
    async fn on_azurite() -> Option<Self> {
        let container = destiny_testkit::stores::azurite_container().await?;
        let url = format!("az://{container}/scale");
        let location = url.parse().expect("a blob store URL");
        let store = Store::Object(ObjectBlobs::from_env(&location).expect("the store"));
        Some(Self { url, store })
    }

    /// The text of blob `key`.
    async fn text(&self, key: &str) -> String {
        use tokio::io::AsyncReadExt;
        let mut reader = self
            .store
            .open(&BlobKey::new(key).expect("a key"))
            .await
            .unwrap_or_else(|e| panic!("blob {key}: {e}"));
        let mut text = String::new();
        reader.read_to_string(&mut text).await.expect("read");
        text
    }
}

/// Starts server `name` on `port`, on the shared database and blob store.
async fn serve(dir: &Path, name: &str, port: u16, database: &str, files: &Files) -> Serve {
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--listen",
        &listen,
        "--database",
        database,
        "--blob-store",
        &files.url,
        "--import-lease",
        "2s",
        "--expiry-interval",
        "1s",
        "--lease-default",
        "PT10S",
        "--database-timeout",
        "2s",
    ];
    serve_with(dir.join(format!("{name}.log")), &args).await
}

/// (distinct references, enhancements) of `source` among `ids`' references.
async fn enhanced(pool: &sqlx::AnyPool, source: &str) -> (i64, i64) {
    use sqlx::Row;
    let row = sql::row(
        pool,
        "SELECT COUNT(DISTINCT reference_id) AS r, COUNT(*) AS n FROM enhancements WHERE source = $1",
        &[source],
    )
    .await;
    (row.get("r"), row.get("n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_share_the_work_through_kills_and_a_database_outage() {
    if skip_postgres() {
        return;
    }
    let Some(files) = Files::on_azurite().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let cluster = PgCluster::start();
    let database = cluster.url.clone();
    let pool = sql::connect(&database).await;
    let http = reqwest::Client::new();
    let ports = [free_port(), free_port(), free_port()];

    // ---- 1. A server SIGKILLed mid-import; another takes the import over. ----
    let mut b = serve(dir.path(), "b-first", ports[1], &database, &files).await;
    let importer = register(&http, &b.base, "importer").await;
    let lines = openalex_lines(1..BIG + 1);
    let (_, big_request) = import_and_request(&http, &b.base, &b.base, importer.id, lines).await;
    let client =
        RobotClient::new(&b.base, importer.client_secret.as_str(), importer.id).expect("client");
    let batch = destiny_testkit::lease_and_submit(&http, &client, importer.id, BIG as u32, |id| {
        score_line("Importer", id)
    })
    .await;
    kill_while_importing(&mut b, &pool, batch.id).await;
    let a = serve(dir.path(), "a", ports[0], &database, &files).await;
    let c = serve(dir.path(), "c-first", ports[2], &database, &files).await;
    wait_for("the import taken over", DEADLINE, || async {
        let (state, attempts) = sql::batch_import(&pool, batch.id).await;
        (state == "done").then_some(attempts)
    })
    .await;
    assert_eq!(
        sql::batch_import(&pool, batch.id).await,
        ("done".to_owned(), 2),
        "taken over once; a's log:\n{}\nc's log:\n{}",
        a.log(),
        c.log()
    );
    assert_eq!(
        sql::statuses(&pool, big_request).await,
        vec![("completed".to_owned(), BIG as i64)]
    );
    assert_eq!(enhanced(&pool, "Importer").await, (BIG as i64, BIG as i64));
    let key: String = sql::scalar(
        &pool,
        "SELECT validation_file FROM batches WHERE id = $1",
        &[&batch.id.to_string()],
    )
    .await;
    let validation = files.text(&key).await;
    assert_eq!(validation.lines().count(), BIG);

    // ---- 2. Robots spread over three servers; a kill mid-poll and a restart. ----
    let b = serve(dir.path(), "b-second", ports[1], &database, &files).await;
    let robot = register(&http, &a.base, "spread").await;
    let lines = openalex_lines(1_000_000..1_000_000 + SHARED);
    let (_, request) = import_and_request(&http, &a.base, &c.base, robot.id, lines).await;
    let loser = register(&http, &a.base, "loser").await;
    let lines = openalex_lines(2_000_000..2_000_000 + LOST);
    let (_, lost_request) = import_and_request(&http, &a.base, &b.base, loser.id, lines).await;
    let mut runners = Vec::new();
    let mut run = |base: &str, robot: &destiny_sdk::models::ProvisionedRobot, seed: u64| {
        let client =
            RobotClient::new(base, robot.client_secret.as_str(), robot.id).expect("client");
        let runner = Runner::builder(ToyRobot::new().with_seed(seed))
            .client(client)
            .batch_size(25)
            // A claim lost with a killed server is retried once this runs out.
            .lease("PT10S".parse().expect("lease"))
            .poll_interval(Duration::from_millis(20))
            .build()
            .expect("runner");
        let stop = runner.shutdown_token();
        runners.push((stop, tokio::spawn(runner.run())));
    };
    for (i, base) in [&a.base, &b.base, &c.base].into_iter().enumerate() {
        run(base, &robot, i as u64);
    }
    let completed = |at_least: i64| {
        let pool = pool.clone();
        async move {
            let statuses = sql::statuses(&pool, request).await;
            statuses
                .iter()
                .any(|(status, n)| status == "completed" && *n >= at_least)
        }
    };
    eventually("a third of the work", WORK_DEADLINE, || {
        completed(SHARED as i64 / 3)
    })
    .await;

    // The loser's poll reaches c through a proxy that keeps c's answer back; once c has
    // answered, c is SIGKILLed and the connection cut: the claim is committed, its answer
    // lost with the server.
    let mut c = c;
    let holder = Proxy::start(([127, 0, 0, 1], ports[2]).into()).await;
    let lost_client = RobotClient::builder(
        &format!("http://{}", holder.addr),
        loser.client_secret.as_str(),
        loser.id,
    )
    .retry_policy(RetryPolicy::none())
    .build()
    .expect("client");
    holder.hold_answers();
    let mut poll = tokio::spawn(async move {
        let lease = Some("PT10S".parse().expect("lease"));
        lost_client
            .poll_robot_enhancement_batch(loser.id, LOST as u32, lease)
            .await
    });
    tokio::select! {
        () = holder.answer_held() => {}
        polled = &mut poll => panic!("the poll ended before c answered: {polled:?}"),
    }
    c.kill();
    drop(holder);
    let polled = poll.await.expect("the poll task");
    assert!(polled.is_err(), "the robot saw its answer: {polled:?}");
    assert_eq!(
        sql::statuses(&pool, lost_request).await,
        vec![("processing".to_owned(), LOST as i64)],
        "the lost claim is committed"
    );
    let c = serve(dir.path(), "c-second", ports[2], &database, &files).await;
    // The loser comes back through another server; its claim is retried once its lease
    // runs out.
    run(&a.base, &loser, 99);
    eventually("two thirds of the work", WORK_DEADLINE, || {
        completed(2 * SHARED as i64 / 3)
    })
    .await;

    // PostgreSQL restarted under load.
    cluster.stop();
    for server in [&a, &b, &c] {
        eventually("the outage seen", DEADLINE, || async {
            let answer = http
                .get(format!("{}/v1/system/healthcheck/", server.base))
                .send()
                .await;
            answer.is_ok_and(|r| r.status() == 503)
        })
        .await;
    }
    cluster.start_again();
    let deadline = tokio::time::Instant::now() + WORK_DEADLINE;
    for request in [request, lost_request] {
        loop {
            let resp = http
                .get(format!("{}/v1/enhancement-requests/{request}/", b.base))
                .bearer_auth(robot_support::ADMIN_TOKEN)
                .send()
                .await
                .expect("GET request");
            let read: serde_json::Value = resp.json().await.unwrap_or_default();
            if read["request_status"] == "completed" {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let imports: Vec<String> = sql::column(
                    &pool,
                    "SELECT import_state || ': ' || COUNT(*) FROM batches GROUP BY import_state",
                    &[],
                )
                .await;
                panic!(
                    "request {request} did not complete: {}\nstatuses {:?}\nimports {imports:?}\n\
                     a:\n{}\nb:\n{}\nc:\n{}",
                    read["request_status"],
                    sql::statuses(&pool, request).await,
                    a.log(),
                    b.log(),
                    c.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (stop, run) in runners {
        stop.cancel();
        run.await.expect("runner task").expect("runner");
    }

    // Each reference enhanced exactly once; the rest of the pending enhancements expired
    // (claims lost with the killed server), each retried at most once.
    let all = (SHARED + LOST) as i64;
    assert_eq!(enhanced(&pool, TOY_SOURCE).await, (all, all));
    assert_eq!(
        sql::statuses(&pool, lost_request).await,
        vec![
            ("completed".to_owned(), LOST as i64),
            ("expired".to_owned(), LOST as i64)
        ],
        "the lost claim expired and was retried once"
    );
    let by_status = sql::statuses(&pool, request).await;
    assert!(
        by_status
            .iter()
            .all(|(s, _)| s == "completed" || s == "expired"),
        "{by_status:?}"
    );
    let twice: i64 = sql::scalar(
        &pool,
        "SELECT COUNT(*) FROM (SELECT retry_of FROM pending_enhancements \
         WHERE retry_of IS NOT NULL GROUP BY retry_of HAVING COUNT(*) > 1) AS doubled",
        &[],
    )
    .await;
    assert_eq!(twice, 0, "an expired enhancement retried twice");
    let left: i64 = sql::scalar(
        &pool,
        "SELECT COUNT(*) FROM batches WHERE import_state IN ('queued', 'running')",
        &[],
    )
    .await;
    assert_eq!(left, 0, "imports left behind");
    let keys: Vec<String> = sql::column(
        &pool,
        "SELECT validation_file FROM batches WHERE import_state = 'done'",
        &[],
    )
    .await;
    assert!(keys.len() >= SHARED / 25, "{} imports", keys.len());
    for key in keys {
        let key = BlobKey::new(key).expect("a key");
        assert!(
            files.store.exists(&key).await.expect("the store answers"),
            "validation file {key} missing"
        );
    }
    pool.close().await;
}
