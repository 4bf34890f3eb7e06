//! Faults and load, and nothing lost:
//!
//! - Load (both backends): 16 pollers (4 robots × 4) loop poll → download → upload →
//!   submit over 5,000 pending enhancements; in the database afterwards nothing was
//!   leased twice, nothing was lost, every enhancement is stored once (the small version
//!   of `benches/load.rs`).
//! - A full blob directory (both backends; a 1 MiB tmpfs mounted for the test, root
//!   only): a poll that cannot write its reference file answers 503 with a clear detail
//!   and leases nothing; an upload answers 503 (with `Retry-After`) and leaves no partial blob; an import that
//!   cannot write its validation file stays queued with nothing applied, and completes
//!   once space is back.
//! - PostgreSQL restarted under load (a cluster of the test's own, so the shared one is
//!   untouched): while it is down every request answers 503 (never 500); once it is back
//!   the same server carries on, and every pending enhancement ends in a terminal state.

mod common;

use destiny_testkit::on_both_backends;
mod load;

use common::{
    annotation, eventually, fetch_text, poll_batch, put_result, reference_ids, sql, start, submit,
    Backend, Options, Server, TestDb, DEADLINE,
};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::{ProvisionedRobot, RobotEnhancementBatch};
use reqwest::Method;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

on_both_backends!(
    sixteen_pollers_lease_once_and_lose_nothing,
    a_full_blob_directory_refuses_clearly_and_keeps_the_database_consistent,
);

// ---- Load -----------------------------------------------------------------------------

/// `n` robots of `s` named `<prefix>-<i>`, each with `per_robot` pending enhancements.
async fn robots_with_work(
    s: &Server,
    prefix: &str,
    n: usize,
    per_robot: usize,
) -> Vec<ProvisionedRobot> {
    load::robots_with_work(&s.http, &s.base, &s.token, prefix, n, per_robot)
        .await
        .expect("robots and their work")
}

async fn sixteen_pollers_lease_once_and_lose_nothing(backend: Backend) {
    const ROBOTS: usize = 4;
    const PER_ROBOT: usize = 1_250;
    let s = start(backend).await;
    let robots = robots_with_work(&s, "load", ROBOTS, PER_ROBOT).await;
    let plan = load::Plan {
        pollers_per_robot: 4,
        limit: 50,
        deadline: DEADLINE,
    };
    let report = load::run(&s.base, &robots, plan, Arc::default())
        .await
        .unwrap_or_else(|e| panic!("the load run failed: {e}"));
    assert_eq!(
        report.references(),
        ROBOTS * PER_ROBOT,
        "references handed out"
    );
    assert!(report.errors().is_empty(), "errors: {:?}", report.errors());
    let pool = s.db.pool().await;
    load::wait_for_imports(&pool, DEADLINE)
        .await
        .expect("imports drain");
    let verified = load::verify(&pool, &report, ROBOTS * PER_ROBOT, false)
        .await
        .unwrap_or_else(|e| panic!("invariants broken:\n{e}"));
    assert_eq!(verified.batches, report.batches.len());
    pool.close().await;
}

// ---- A full blob directory ------------------------------------------------------------

/// A tmpfs of `size` mounted on a temporary directory for the test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts it; `None` (test skipped) only when `DESTINY_SKIP_TMPFS=1`.
    ///
    /// # Panics
    /// When it cannot be mounted (mounting needs root or CAP_SYS_ADMIN) and skipping was
    /// not asked for.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("mount point");
        let path = dir.path().join("blobs");
        std::fs::create_dir(&path).expect("mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { path, _dir: dir }),
            _ if std::env::var("DESTINY_SKIP_TMPFS").is_ok_and(|v| v == "1") => {
                eprintln!("DESTINY_SKIP_TMPFS=1: the full-disk test is skipped");
                None
            }
            other => panic!(
                "cannot mount a tmpfs for the full-disk test ({other:?}): run the tests as root \
                 (or with CAP_SYS_ADMIN), or set DESTINY_SKIP_TMPFS=1 to skip it"
            ),
        }
    }

    /// Fills the file system with one file; answers it (delete it to free the space).
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Temporary (partial) blob files anywhere under `dir`, as the store names them (none
/// when `dir` does not exist yet).
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    destiny_repository::blob::store::temporary_files(dir).unwrap_or_default()
}

/// A batch and the references its file lists.
struct Lease {
    batch: RobotEnhancementBatch,
    references: Vec<Uuid>,
}

impl Lease {
    /// A result file with an annotation per reference.
    fn result(&self) -> String {
        self.references
            .iter()
            .map(|id| annotation(*id) + "\n")
            .collect()
    }
}

async fn lease(s: &Server, client: &RobotClient, robot: Uuid, limit: u32) -> Lease {
    let batch = poll_batch(client, robot, limit).await;
    let references =
        reference_ids(&fetch_text(&s.http, batch.reference_storage_url.as_str()).await);
    Lease { batch, references }
}

/// PUTs `body` to the batch's result URL; answers (status, detail).
async fn upload(s: &Server, lease: &Lease, body: String) -> (u16, String) {
    let resp = put_result(&s.http, lease.batch.result_storage_url.as_str(), body).await;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (
        status,
        body["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The count `sql` answers, with `binds` bound in order.
async fn count(pool: &sqlx::AnyPool, sql: &str, binds: &[&str]) -> i64 {
    sql::scalar(pool, sql, binds).await
}

/// Moves `s`'s clock one import backoff at a time until `done` holds.
async fn retry_imports_until<F, Fut>(s: &Server, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(what, DEADLINE, || {
        s.clock
            .advance(destiny_repository::jobs::FIRST_IMPORT_BACKOFF);
        done()
    })
    .await;
}

async fn a_full_blob_directory_refuses_clearly_and_keeps_the_database_consistent(backend: Backend) {
    let Some(disk) = Tmpfs::mount("1m") else {
        return;
    };
    let blob_dir = disk.path.clone();
    let options = Options {
        tweak: Box::new(move |c| c.blob_dir = blob_dir),
        ..Options::default()
    };
    let s = Server::start(backend, options).await;
    let (robot, client) = s.robot("full").await;
    let (ids, request) = s.seed(robot.id, 30).await;
    let pool = s.db.pool().await;

    // Before the disk fills: batch A leased and its result uploaded; batch B leased.
    let a = lease(&s, &client, robot.id, 10).await;
    assert_eq!(upload(&s, &a, a.result()).await.0, 201);
    let b = lease(&s, &client, robot.id, 10).await;
    let filler = disk.fill();

    // A poll cannot write its reference file: 503 with a clear detail; nothing leased.
    let poll = format!(
        "/v1/robot-enhancement-batches/?robot_id={}&limit=10",
        robot.id
    );
    for _ in 0..3 {
        let (status, body) = s.robot_request(&robot, Method::POST, &poll, b"").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["detail"], "Blob storage is full; retry later.");
    }
    let processing = "SELECT COUNT(*) FROM pending_enhancements WHERE status = 'processing'";
    let pending = "SELECT COUNT(*) FROM pending_enhancements WHERE status = 'pending'";
    assert_eq!(count(&pool, processing, &[]).await, 20, "A and B only");
    assert_eq!(
        count(&pool, pending, &[]).await,
        10,
        "the claims rolled back"
    );
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM batches", &[]).await, 2);

    // An upload: 503, nothing stored (a small body fails at commit, a large one
    // mid-stream).
    for body in [b.result(), "x".repeat(300 * 1024)] {
        let (status, detail) = upload(&s, &b, body).await;
        assert_eq!(status, 503, "{detail}");
        assert_eq!(
            detail,
            "Blob storage is full; nothing was stored. Try again later."
        );
    }
    let b_result = disk
        .path
        .join(format!("batches/{}/results.jsonl", b.batch.id));
    assert!(!b_result.exists(), "no partial result blob");
    assert_eq!(temporary_files(&disk.path), Vec::<PathBuf>::new());

    // An import that cannot write its validation file stays queued, nothing applied,
    // and is retried once its backoff (on the server's clock) has passed.
    submit(&client, a.batch.id, None).await.expect("submit");
    let a_id = a.batch.id.to_string();
    retry_imports_until(&s, "the import retried", || async {
        sql::batch_import(&pool, a.batch.id).await.1 >= 2
    })
    .await;
    let (state, _) = sql::batch_import(&pool, a.batch.id).await;
    assert!(state == "queued" || state == "running", "{state}");
    let importing =
        "SELECT COUNT(*) FROM pending_enhancements WHERE batch_id = $1 AND status = 'importing'";
    assert_eq!(count(&pool, importing, &[&a_id]).await, 10);
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM enhancements", &[]).await,
        0
    );

    // Space again: everything completes, once (after the next backoff).
    std::fs::remove_file(filler).expect("free the space");
    let completed =
        "SELECT COUNT(*) FROM pending_enhancements WHERE batch_id = $1 AND status = 'completed'";
    retry_imports_until(&s, "A imported", || async {
        count(&pool, completed, &[&a_id]).await >= 10
    })
    .await;
    assert_eq!(upload(&s, &b, b.result()).await.0, 201);
    submit(&client, b.batch.id, None).await.expect("submit");
    let c = lease(&s, &client, robot.id, 10).await;
    assert_eq!(upload(&s, &c, c.result()).await.0, 201);
    submit(&client, c.batch.id, None).await.expect("submit");
    s.wait_status(request, "completed").await;
    for id in &ids {
        let n = count(
            &pool,
            "SELECT COUNT(*) FROM enhancements WHERE reference_id = $1",
            &[&id.to_string()],
        )
        .await;
        assert_eq!(n, 1, "reference {id}");
    }
    assert_eq!(temporary_files(&disk.path), Vec::<PathBuf>::new());
    pool.close().await;
}

// ---- PostgreSQL restarted under load ----------------------------------------------------

/// A PostgreSQL cluster of the test's own on a free port, in a temporary directory,
/// stopped (immediately) on drop.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    /// Run the tools as the `postgres` user (PostgreSQL refuses root).
    as_postgres: bool,
    _root: tempfile::TempDir,
}

impl Cluster {
    /// `initdb` and start; `None` (test skipped) when `DESTINY_SKIP_POSTGRES=1`.
    ///
    /// # Panics
    /// When the PostgreSQL tools are missing (`DESTINY_PG_BIN`, default
    /// `/usr/lib/postgresql/15/bin`) or the cluster does not start.
    fn create() -> Option<Self> {
        if std::env::var("DESTINY_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
            eprintln!("DESTINY_SKIP_POSTGRES=1: PostgreSQL test skipped");
            return None;
        }
        let bin = PathBuf::from(
            std::env::var("DESTINY_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        assert!(
            bin.join("initdb").exists(),
            "{}/initdb not found: install PostgreSQL (apt-get install postgresql), set \
             DESTINY_PG_BIN, or DESTINY_SKIP_POSTGRES=1 to skip",
            bin.display()
        );
        let root = tempfile::tempdir().expect("cluster directory");
        let dir = root.path().join("pg");
        std::fs::create_dir(&dir).expect("cluster directory");
        let as_postgres = is_root();
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            let id = |flag: &str| -> u32 {
                let out = Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .expect("id postgres");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .expect("the postgres user exists")
            };
            std::os::unix::fs::chown(&dir, Some(id("-u")), Some(id("-g"))).expect("chown");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self {
            bin,
            data: dir.join("data"),
            log: dir.join("server.log"),
            port,
            as_postgres,
            _root: root,
        };
        let data = cluster.data.display().to_string();
        cluster.tool(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
        );
        cluster.start();
        Some(cluster)
    }

    /// Runs one of the PostgreSQL tools, panicking with its output on failure.
    fn tool(&self, name: &str, args: &[&str]) {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{name} {args:?} failed: {}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn start(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=60 -c shared_buffers=32MB",
            self.port,
            self.data.parent().expect("parent").display()
        );
        let (data, log) = (
            self.data.display().to_string(),
            self.log.display().to_string(),
        );
        self.tool(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "start", "-o", &options,
            ],
        );
    }

    /// Stops it the way `pg_ctl restart -m fast` does first: sessions are terminated.
    fn stop(&self) {
        let data = self.data.display().to_string();
        self.tool("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data.display().to_string();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Waits (polling, with a deadline) until `ok` holds.
async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_is_503_then_recovers_without_a_server_restart() {
    const ROBOTS: usize = 4;
    const PER_ROBOT: usize = 1_000;
    let Some(cluster) = tokio::task::spawn_blocking(Cluster::create)
        .await
        .expect("cluster")
    else {
        return;
    };
    let cluster = Arc::new(cluster);
    let url = cluster.url();
    let dir = tempfile::tempdir().expect("dir");
    // The server's database is the cluster's (the SQLite URL of `TestDb` is unused).
    let unused = TestDb::create(Backend::Sqlite, dir.path()).await;
    let clock = destiny_repository::clock::ManualClock::new(jiff::Timestamp::now());
    let s = Server::start_on(unused, dir, clock, Options::on_database(url.clone())).await;
    let robots = robots_with_work(&s, "restart", ROBOTS, PER_ROBOT).await;
    let plan = load::Plan {
        pollers_per_robot: 2,
        limit: 20,
        deadline: Duration::from_secs(90),
    };
    let live = Arc::new(load::Live::default());
    let driver = {
        let (base, robots, live) = (s.base.clone(), robots.clone(), live.clone());
        tokio::spawn(async move { load::run(&base, &robots, plan, live).await })
    };

    // Under load: stop PostgreSQL, see 503s, start it again.
    until("ten batches submitted", || {
        live.submitted.load(Ordering::Relaxed) >= 10
    })
    .await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop())
        .await
        .expect("stop");
    until("a robot saw a 503", || {
        live.unavailable.load(Ordering::Relaxed) >= 1
    })
    .await;
    let (status, health) = s.admin(Method::GET, "/v1/system/healthcheck/", None).await;
    assert_eq!(status, 503, "{health}");
    let submitted_during = live.submitted.load(Ordering::Relaxed);
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start())
        .await
        .expect("start");
    let mut report = driver
        .await
        .expect("driver task")
        .unwrap_or_else(|e| panic!("the robots failed: {e}"));
    assert!(
        live.submitted.load(Ordering::Relaxed) > submitted_during,
        "work went on after the restart, in the same server"
    );
    let (status, health) = s.admin(Method::GET, "/v1/system/healthcheck/", None).await;
    assert_eq!(status, 200, "{health}");

    let pool = destiny_testkit::sql::connect(&url).await;
    // An import the outage failed waits out its backoff on the server's clock: move it
    // on while waiting (a second per 50 ms).
    let ticker = {
        let clock = s.clock.clone();
        tokio::spawn(async move {
            loop {
                clock.advance(destiny_repository::jobs::FIRST_IMPORT_BACKOFF);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let drained = load::wait_for_imports(&pool, Duration::from_secs(30)).await;
    ticker.abort();
    drained.expect("imports drain after the restart (none stuck 'running')");
    // A claim committed while its answer was lost leaves a lease no robot knows of: it
    // runs out, is retried, and a second pass hands it out.
    let processing = load::statuses(&pool)
        .await
        .expect("statuses")
        .get("processing")
        .copied()
        .unwrap_or(0);
    if processing > 0 {
        s.clock.advance(Duration::from_secs(11 * 60));
        s.state
            .db
            .expire_due(s.now_us(), None)
            .await
            .expect("expiry");
        let again = load::run(&s.base, &robots, plan, live.clone())
            .await
            .unwrap_or_else(|e| panic!("the second pass failed: {e}"));
        report.merge(again);
        load::wait_for_imports(&pool, Duration::from_secs(30))
            .await
            .expect("imports drain");
    }
    eprintln!(
        "answers by (call, status): {:?}; leases lost with their answer: {processing}",
        report.answers
    );
    let server_errors: Vec<_> = report
        .answers
        .iter()
        .filter(|((_, status), _)| *status >= 500 && *status != 503)
        .collect();
    assert!(server_errors.is_empty(), "never a 500: {server_errors:?}");
    assert!(
        report.errors().keys().any(|(_, status)| *status == 503),
        "the outage was seen: {:?}",
        report.answers
    );
    load::verify(&pool, &report, ROBOTS * PER_ROBOT, true)
        .await
        .unwrap_or_else(|e| panic!("invariants broken:\n{e}"));
    pool.close().await;
    drop(s);
}
