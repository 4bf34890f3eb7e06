//! Process-level faults, with the built `destiny` binary, and nothing lost:
//!
//! - A robot (`destiny robot run toy`) SIGKILLed while its result upload is in flight:
//!   storage is reached through a proxy that holds the upload's body back, so the kill
//!   lands mid-upload every time. No partial blob is left, the batch's lease runs out (the
//!   repository's clock is moved past it) and its work is retried, and every reference
//!   ends `completed` with one enhancement.
//! - A server (`destiny serve`, SQLite) SIGKILLed while it imports a 10,000-reference
//!   result, then started again on the same database and blob directory: the import
//!   resumes, every pending enhancement ends `completed` (none `discarded`: nothing was
//!   imported twice), each reference has one enhancement, and the validation file has one
//!   line per reference.
//! - A runner whose clock is 299 s behind or ahead works; 301 s behind gets 401
//!   `Token is expired.` (the client retries once with a fresh timestamp,
//!   then the runner reports the failure and backs off), 301 s ahead gets 401
//!   `Request timestamp is too far in the future.` (the runner stops with the error);
//!   either way the pending enhancements stay pending.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use destiny_robot::toy::TOY_SOURCE;
use destiny_robot::{RunError, Runner, ToyRobot};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::{EnhancementRequestStatus, ProvisionedRobot};
use serde_json::Value;
use sqlx::Row;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

mod robot_support;

use destiny_testkit::serve_process::{
    import_and_request, kill_while_importing, openalex_lines, register, score_line,
};
use destiny_testkit::{sql, wait_for};
use robot_support::{serve_in, spawn_toy, ADMIN_TOKEN, DEADLINE};

/// Temporary (partial) blob files anywhere under `dir`, as the store names them (none
/// when `dir` does not exist yet).
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    destiny_repository::blob::store::temporary_files(dir).unwrap_or_default()
}

/// A pool on a SQLite file another process (or this one) serves.
async fn sqlite_pool(path: &Path) -> sqlx::AnyPool {
    destiny_testkit::sql::connect(&format!("sqlite://{}", path.display())).await
}

/// Enhancements from `source`, as (references enhanced, enhancements stored).
async fn enhancement_counts(pool: &sqlx::AnyPool, source: &str) -> (i64, i64) {
    let counts = "SELECT COUNT(DISTINCT reference_id) AS r, COUNT(*) AS n \
                  FROM enhancements WHERE source = $1";
    let row = sql::row(pool, counts, &[source]).await;
    (row.get("r"), row.get("n"))
}

// ---- An in-process repository -----------------------------------------------------------

// ---- A robot SIGKILLed mid-upload -------------------------------------------------------

/// A TCP proxy in front of the repository's blob routes that, once armed, passes a
/// `PUT /blobs/...` request's headers and holds its body back (the server has then
/// opened its temporary file and waits for bytes), until the client goes away.
struct StallProxy {
    /// Stall the next upload.
    armed: Arc<AtomicBool>,
    /// How many uploads were stalled.
    stalled: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

/// The index of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How many bytes at the end of `buf` could start `pattern`.
fn partial_suffix(buf: &[u8], pattern: &[u8]) -> usize {
    (1..pattern.len().min(buf.len() + 1))
        .rev()
        .find(|&k| buf.ends_with(&pattern[..k]))
        .unwrap_or(0)
}

impl StallProxy {
    /// Binds first (the server's public URL must name it before the server starts).
    async fn bind() -> (TcpListener, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        (listener, addr)
    }

    fn start(listener: TcpListener, upstream: std::net::SocketAddr) -> Self {
        let armed = Arc::new(AtomicBool::new(true));
        let (count_tx, stalled) = watch::channel(0usize);
        let count_tx = Arc::new(count_tx);
        let armed_c = armed.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (armed, count_tx) = (armed_c.clone(), count_tx.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async move {
                        const PUT: &[u8] = b"PUT /blobs/";
                        let mut chunk = vec![0u8; 64 * 1024];
                        let mut scan: Vec<u8> = Vec::new();
                        let mut holding = false;
                        loop {
                            let n = match cr.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if holding {
                                continue; // the body is held back: never forwarded
                            }
                            if !armed.load(Ordering::SeqCst) && scan.is_empty() {
                                if sw.write_all(&chunk[..n]).await.is_err() {
                                    return;
                                }
                                continue;
                            }
                            scan.extend_from_slice(&chunk[..n]);
                            let forward = match find(&scan, PUT) {
                                Some(at) => match find(&scan[at..], b"\r\n\r\n") {
                                    Some(end) if armed.swap(false, Ordering::SeqCst) => {
                                        holding = true;
                                        count_tx.send_modify(|c| *c += 1);
                                        at + end + 4
                                    }
                                    Some(_) => scan.len(),
                                    None => at,
                                },
                                None => scan.len() - partial_suffix(&scan, PUT),
                            };
                            if sw.write_all(&scan[..forward]).await.is_err() {
                                return;
                            }
                            scan.drain(..forward);
                            if holding {
                                scan.clear();
                            }
                        }
                        // Dropping `sw` here ends the upstream connection mid-body.
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    };
                    tokio::select! {
                        () = up => {}
                        () = down => {}
                    }
                });
            }
        });
        Self {
            armed,
            stalled,
            task,
        }
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_killed_mid_upload_leaves_no_partial_blob_and_its_batch_is_retried() {
    const N: usize = 300;
    let (listener, proxy_addr) = StallProxy::bind().await;
    let repo =
        robot_support::start_with(move |c| c.public_url = Some(format!("http://{proxy_addr}")))
            .await;
    let upstream: std::net::SocketAddr = repo
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    let proxy = StallProxy::start(listener, upstream);
    let robot = repo.register("killed-mid-upload").await;
    let (ids, request) = repo.seed_generated(robot.id, N, 11).await;
    let settings = [
        ("BATCH_SIZE", "300"),
        ("CONCURRENT_BATCHES", "1"),
        ("LEASE", "PT1M"),
    ];

    // The robot polls, downloads, enhances, and starts uploading: the proxy holds the
    // body back and the server's temporary file is open. Then SIGKILL.
    let mut first = spawn_toy(&repo, &robot, &settings, &[], "first.log");
    let mut stalled = proxy.stalled.clone();
    tokio::time::timeout(DEADLINE, stalled.wait_for(|n| *n >= 1))
        .await
        .unwrap_or_else(|_| panic!("no upload reached the proxy; robot log:\n{}", first.log()))
        .expect("proxy alive");
    let blobs = repo.blobs();
    let temp = wait_for("the server's temporary upload file", DEADLINE, || async {
        temporary_files(&blobs).into_iter().next()
    })
    .await;
    let batch_dir = temp.parent().expect("batch directory").to_path_buf();
    assert!(
        temp.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".results.jsonl.")),
        "{temp:?}"
    );
    first.signal("KILL");
    let status = first.exit(DEADLINE).await;
    assert!(!status.success(), "killed: {status:?}");

    // The upload broke off: its temporary file goes, no result blob appears.
    wait_for("the partial upload removed", DEADLINE, || async {
        temporary_files(&blobs).is_empty().then_some(())
    })
    .await;
    assert!(
        !batch_dir.join("results.jsonl").exists(),
        "no partial result blob"
    );
    let pool = sqlite_pool(&repo.dir.path().join("destiny.db")).await;
    assert_eq!(
        sql::statuses(&pool, request).await,
        vec![("processing".to_owned(), N as i64)],
        "the killed batch is still leased, nothing was submitted"
    );

    // Its lease runs out and the work is retried: every reference completes, once.
    let report = repo.advance_and_expire(Duration::from_secs(61)).await;
    assert_eq!((report.expired, report.retried), (N as u64, N as u64));
    let mut second = spawn_toy(&repo, &robot, &settings, &[], "second.log");
    repo.wait_status(request, "completed").await;
    second.terminate(DEADLINE).await;
    assert_eq!(*proxy.stalled.borrow(), 1, "only the first upload was held");
    assert!(!proxy.armed.load(Ordering::SeqCst));

    assert_eq!(
        sql::statuses(&pool, request).await,
        vec![
            ("completed".to_owned(), N as i64),
            ("expired".to_owned(), N as i64)
        ]
    );
    // The toy robot picks at random: an enhancement imported twice would show as two.
    assert_eq!(
        enhancement_counts(&pool, TOY_SOURCE).await,
        (N as i64, N as i64)
    );
    for id in &ids {
        let n: i64 = sql::scalar(
            &pool,
            "SELECT COUNT(*) FROM enhancements WHERE reference_id = $1 AND source = 'Toy Robot'",
            &[&id.to_string()],
        )
        .await;
        assert_eq!(n, 1, "reference {id}");
    }
    assert!(temporary_files(&blobs).is_empty());
    pool.close().await;
}

// ---- A server SIGKILLed mid-import ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_import_resumes_after_a_restart_and_imports_once() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().expect("dir");
    let mut server = serve_in(dir.path(), "first.log").await;
    let http = reqwest::Client::new();
    let base = server.base.clone();

    let robot = register(&http, &base, "importer").await;
    let (ids, request) =
        import_and_request(&http, &base, &base, robot.id, openalex_lines(1..N + 1)).await;

    // A robot leases all 10,000, uploads an enhancement for each and submits.
    let client = RobotClient::new(&base, robot.client_secret.as_str(), robot.id).expect("client");
    let batch = destiny_testkit::lease_and_submit(&http, &client, robot.id, N as u32, |id| {
        score_line("Importer", id)
    })
    .await;

    // SIGKILL as soon as the import runs.
    let pool = sqlite_pool(&dir.path().join("destiny.db")).await;
    kill_while_importing(&mut server, &pool, batch.id).await;
    let (state, _) = sql::batch_import(&pool, batch.id).await;
    assert_eq!(state, "running", "killed mid-import:\n{}", server.log());
    assert_eq!(
        enhancement_counts(&pool, "Importer").await,
        (0, 0),
        "nothing applied"
    );
    assert_eq!(
        sql::statuses(&pool, request).await,
        vec![("importing".to_owned(), N as i64)]
    );

    // A write the dead server left unfinished (its upload or validation file, hidden
    // under a temporary name) is removed when the next one starts.
    let blobs = dir.path().join("blobs");
    let abandoned = blobs.join(format!("batches/{}/.results.jsonl.abandoned.tmp", batch.id));
    std::fs::write(&abandoned, b"half an upload").expect("an abandoned write");

    // The next server resumes the import, and applies it once.
    let server = serve_in(dir.path(), "second.log").await;
    assert!(!abandoned.exists(), "swept at start-up");
    wait_for("the resumed import", DEADLINE, || async {
        let (state, _) = sql::batch_import(&pool, batch.id).await;
        (state == "done").then_some(())
    })
    .await;
    let (_, attempts) = sql::batch_import(&pool, batch.id).await;
    assert_eq!(attempts, 2, "{}", server.log());
    assert_eq!(temporary_files(&blobs), Vec::<PathBuf>::new());
    assert_eq!(
        sql::statuses(&pool, request).await,
        vec![("completed".to_owned(), N as i64)],
        "none discarded: the first attempt applied nothing"
    );
    assert_eq!(
        enhancement_counts(&pool, "Importer").await,
        (N as i64, N as i64)
    );
    // The second attempt's file, which the batch records.
    let key: String = sql::scalar(
        &pool,
        "SELECT validation_file FROM batches WHERE id = $1",
        &[&batch.id.to_string()],
    )
    .await;
    assert_eq!(key, format!("batches/{}/validation-2.jsonl", batch.id));
    let validation =
        std::fs::read_to_string(dir.path().join("blobs").join(key)).expect("the validation file");
    let mut listed = std::collections::HashSet::new();
    for line in validation.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        assert!(v["error"].is_null(), "{line}");
        let id: Uuid = v["reference_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        assert!(listed.insert(id), "{id} twice in the validation file");
    }
    assert_eq!(validation.lines().count(), N, "one line per reference");
    assert_eq!(listed, ids.iter().copied().collect());
    let status = http
        .get(format!(
            "{}/v1/enhancement-requests/{request}/",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET request")
        .json::<Value>()
        .await
        .expect("JSON")["request_status"]
        .clone();
    assert_eq!(status, "completed");
    pool.close().await;
}

// ---- Clock skew -----------------------------------------------------------------------

/// A client whose signing clock is `offset` seconds off, counting its readings.
fn skewed_client(
    base: &str,
    robot: &ProvisionedRobot,
    offset: f64,
) -> (RobotClient, Arc<AtomicUsize>) {
    let readings = Arc::new(AtomicUsize::new(0));
    let counter = readings.clone();
    let client = RobotClient::builder(base, robot.client_secret.as_str(), robot.id)
        .clock(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            destiny_sdk::auth::system_now() + offset
        })
        .build()
        .expect("client");
    (client, readings)
}

fn skewed_runner(base: &str, robot: &ProvisionedRobot, offset: f64) -> Runner<ToyRobot> {
    Runner::builder(ToyRobot::new().with_seed(3))
        .client(skewed_client(base, robot, offset).0)
        .batch_size(10)
        .poll_interval(Duration::from_millis(20))
        .build()
        .expect("runner")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_across_the_300_s_window_both_ways() {
    let repo = robot_support::start().await;
    let pool = sqlite_pool(&repo.dir.path().join("destiny.db")).await;

    // 299 s behind and 299 s ahead: the runner does all the work.
    for (name, offset, seed) in [("behind-299", -299.0, 4), ("ahead-299", 299.0, 5)] {
        let robot = repo.register(name).await;
        let (_, request) = repo.seed_generated(robot.id, 20, seed).await;
        let runner = skewed_runner(&repo.base, &robot, offset);
        let stop = runner.shutdown_token();
        let run = tokio::spawn(runner.run());
        repo.wait_status(request, "completed").await;
        stop.cancel();
        let report = run.await.expect("runner task").expect("runner");
        assert_eq!(report.references_enhanced, 20, "{name}");
        assert_eq!(report.polls_failed, 0, "{name}");
    }

    // 301 s behind: expired, retried once with a fresh (still skewed) timestamp.
    let robot = repo.register("behind-301").await;
    let (_, request) = repo.seed_generated(robot.id, 20, 6).await;
    let (client, readings) = skewed_client(&repo.base, &robot, -301.0);
    let err = client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect_err("refused");
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(err.detail(), Some("Token is expired."));
    assert_eq!(
        readings.load(Ordering::SeqCst),
        2,
        "signed twice: one retry"
    );
    // The runner reports each failed poll and backs off; it takes no work.
    let runner = skewed_runner(&repo.base, &robot, -301.0);
    let metrics = runner.metrics();
    let stop = runner.shutdown_token();
    let run = tokio::spawn(runner.run());
    wait_for("two failed polls reported", DEADLINE, || async {
        (metrics.snapshot().polls_failed >= 2).then_some(())
    })
    .await;
    stop.cancel();
    let report = run.await.expect("runner task").expect("stops when asked");
    assert_eq!((report.polls_batch, report.references_enhanced), (0, 0));
    assert_eq!(
        sql::statuses(&pool, request).await,
        vec![("pending".to_owned(), 20)],
        "no work lost or leased"
    );
    assert_eq!(
        repo.status(request).await,
        EnhancementRequestStatus::Received
    );

    // 301 s ahead: too far in the future, not retried; the runner stops with the error.
    let robot = repo.register("ahead-301").await;
    let (_, request) = repo.seed_generated(robot.id, 20, 7).await;
    let (client, readings) = skewed_client(&repo.base, &robot, 301.0);
    let err = client
        .poll_robot_enhancement_batch(robot.id, 10, None)
        .await
        .expect_err("refused");
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(
        err.detail(),
        Some("Request timestamp is too far in the future.")
    );
    assert_eq!(readings.load(Ordering::SeqCst), 1, "not retried");
    let run = tokio::time::timeout(DEADLINE, skewed_runner(&repo.base, &robot, 301.0).run())
        .await
        .expect("the runner stops by itself");
    match run {
        Err(RunError::Poll(e)) => {
            assert_eq!(e.status(), Some(401));
            assert_eq!(
                e.detail(),
                Some("Request timestamp is too far in the future.")
            );
        }
        other => panic!("expected a poll error, got {other:?}"),
    }
    assert_eq!(
        sql::statuses(&pool, request).await,
        vec![("pending".to_owned(), 20)]
    );
    pool.close().await;
}
