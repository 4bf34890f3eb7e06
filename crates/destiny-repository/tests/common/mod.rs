//! Shared harness of the repository's tests: a real server on port 0, on a fresh SQLite
//! file or a fresh PostgreSQL database, with an injected clock.
//!
//! - [`Backend`] and [`on_both_backends!`]: one `#[tokio::test]` per backend per scenario.
//! - [`TestDb`]: a database of its own per test (`CREATE DATABASE test_<uuid>` on the
//!   server named by `DESTINY_TEST_POSTGRES`, dropped afterwards), so tests run in
//!   parallel. Without `DESTINY_TEST_POSTGRES` the PostgreSQL tests FAIL, unless
//!   `DESTINY_SKIP_POSTGRES=1` says to skip them.
//! - [`Server`]: `prepare` + `serve_with` in this process, with admin helpers.
//! - [`signed_headers`] / [`Server::robot_request`]: hand-made signed requests.
//! - [`proxy::Proxy`]: a TCP proxy to cut the database away and bring it back.
//! - [`python`] / [`run_python`]: the Python peer (`DESTINY_PYTHON` or `.venv`).

#![allow(dead_code)] // Each test file uses its own part of the harness.

pub mod proxy;
#[path = "../../../destiny-sdk/tests/common/python_peer.rs"]
mod python_peer;
#[path = "../scratch_db/mod.rs"]
pub mod scratch_db;
#[allow(unused_imports)] // Each test file uses its own part of the harness.
pub use python_peer::{python, workspace_root};

use destiny_repository::api::AppState;
use destiny_repository::clock::{Clock, ManualClock};
use destiny_repository::config::Config;
use destiny_repository::server::{prepare, Jobs};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::ProvisionedRobot;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long anything asynchronous may take before a test fails (a deadline, not a sleep).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Runs each named scenario `async fn name(backend: Backend)` as two tests,
/// `sqlite::name` and `postgres::name` (bring it in with `#[macro_use] mod common;`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if crate::common::skip_postgres() {
                        return;
                    }
                    super::$name(crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// The database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the `DESTINY_TEST_POSTGRES` server.
    Postgres,
}

/// Whether PostgreSQL tests are to be skipped: only when `DESTINY_SKIP_POSTGRES=1`.
///
/// # Panics
/// When `DESTINY_TEST_POSTGRES` is unset and skipping was not asked for, so a missing
/// database can never pass silently.
pub fn skip_postgres() -> bool {
    if std::env::var("DESTINY_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("DESTINY_SKIP_POSTGRES=1: PostgreSQL test skipped");
        return true;
    }
    postgres_admin_url();
    false
}

/// The URL of the test PostgreSQL server (a user that may `CREATE DATABASE`).
///
/// # Panics
/// When `DESTINY_TEST_POSTGRES` is unset.
pub fn postgres_admin_url() -> String {
    match std::env::var("DESTINY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DESTINY_TEST_POSTGRES is not set: the PostgreSQL tests need a server whose user may \
             CREATE DATABASE, e.g. DESTINY_TEST_POSTGRES=$(scripts/pg start) (scripts/test does \
             this), or set DESTINY_SKIP_POSTGRES=1 to skip them"
        ),
    }
}

/// A database of the test's own, dropped (on PostgreSQL) when the guard goes.
pub struct TestDb {
    /// What to give `--database`.
    pub url: String,
    /// The engine.
    pub backend: Backend,
    /// The PostgreSQL database's name, to drop.
    pg_name: Option<String>,
}

impl TestDb {
    /// A fresh database: a SQLite file in `dir`, or `CREATE DATABASE test_<uuid>`.
    pub async fn create(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.join("destiny.db").display()),
                backend,
                pg_name: None,
            },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let (url, name) = scratch_db::create_database(&admin, "test")
                    .await
                    .unwrap_or_else(|e| panic!("cannot create a database on {admin}: {e}"));
                Self {
                    url,
                    backend,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A direct connection pool to the database, for assertions in SQL.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = postgres_admin_url();
        // Drop it from a thread of its own: this may run inside (or outside) a runtime.
        let dropping = name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(scratch_db::drop_database(&admin, &dropping))
                .ok()
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {name}");
        }
    }
}

/// Logs to stderr when `TEST_LOG` is set (e.g. `TEST_LOG=debug`), else stays quiet.
pub fn init_logging() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// How to start a [`Server`].
pub struct Options {
    /// Background jobs to run (default: the import worker only; expiry is driven by hand).
    pub jobs: Jobs,
    /// Adjusts the configuration before start.
    pub tweak: Box<dyn FnOnce(&mut Config) + Send>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            jobs: Jobs {
                expiry: false,
                import: true,
            },
            tweak: Box::new(|_| {}),
        }
    }
}

/// A repository served in this process on 127.0.0.1:0.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The admin bearer token.
    pub token: String,
    /// The server's clock.
    pub clock: ManualClock,
    /// The server's state (database, blobs).
    pub state: AppState,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    /// The database.
    pub db: TestDb,
    /// Holds the SQLite file and the blob directory.
    pub dir: tempfile::TempDir,
    /// Stops the server when sent to or dropped.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

/// Starts a server on a fresh database of `backend`, with the default [`Options`].
pub async fn start(backend: Backend) -> Server {
    Server::start(backend, Options::default()).await
}

impl Server {
    /// Starts a server on a fresh database.
    pub async fn start(backend: Backend, options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = TestDb::create(backend, dir.path()).await;
        let clock = ManualClock::new(jiff::Timestamp::now());
        Self::start_on(db, dir, clock, options).await
    }

    /// Starts a server on an existing database and directory (a restart).
    pub async fn start_on(
        db: TestDb,
        dir: tempfile::TempDir,
        clock: ManualClock,
        options: Options,
    ) -> Self {
        init_logging();
        let mut config = Config::new(db.url.clone(), dir.path().join("blobs"));
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.expiry_interval = Duration::from_secs(3600);
        (options.tweak)(&mut config);
        let prepared = prepare(config, Arc::new(clock.clone()))
            .await
            .expect("the server starts");
        let base = format!("http://{}", prepared.addr);
        let token = prepared.state.admin_token.expose().to_owned();
        let state = prepared.state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            prepared
                .serve_with(options.jobs, async move {
                    let _ = rx.await;
                })
                .await
                .expect("the server serves");
        });
        Self {
            base,
            token,
            clock,
            state,
            http: reqwest::Client::new(),
            db,
            dir,
            stop: Some(tx),
            served: Some(served),
        }
    }

    /// Stops the server (gracefully: jobs stop, pools close) and hands back its database,
    /// directory and clock for a restart.
    pub async fn stop(mut self) -> (TestDb, tempfile::TempDir, ManualClock) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            tokio::time::timeout(DEADLINE, served)
                .await
                .expect("the server stops in time")
                .expect("the server task ends cleanly");
        }
        let Server { db, dir, clock, .. } = self;
        (db, dir, clock)
    }

    /// An admin request; the body is sent as is; answers (status, JSON or text).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("admin response body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Registers a robot and a Rust client for it.
    pub async fn robot(&self, name: &str) -> (ProvisionedRobot, RobotClient) {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/v1/robots/",
                Some(json!({"name": name, "description": "d", "owner": "o"}).to_string()),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let robot: ProvisionedRobot = serde_json::from_value(body).expect("ProvisionedRobot");
        let client =
            RobotClient::new(&self.base, robot.client_secret.as_str(), robot.id).expect("a client");
        (robot, client)
    }

    /// Imports `n` references and answers their ids.
    pub async fn references(&self, n: usize) -> Vec<Uuid> {
        let lines: Vec<String> = (0..n)
            .map(|i| {
                json!({"identifiers": [{"identifier": format!("W{}", 100 + i), "identifier_type": "open_alex"}]})
                    .to_string()
            })
            .collect();
        let (status, ids) = self
            .admin(
                reqwest::Method::POST,
                "/v1/references/",
                Some(lines.join("\n")),
            )
            .await;
        assert_eq!(status, 201, "{ids}");
        serde_json::from_value(ids).expect("reference ids")
    }

    /// Creates an enhancement request of `robot` over `ids`; answers its id.
    pub async fn request(&self, robot: Uuid, ids: &[Uuid]) -> Uuid {
        let (status, req) = self
            .admin(
                reqwest::Method::POST,
                "/v1/enhancement-requests/",
                Some(
                    json!({"robot_id": robot, "reference_ids": ids, "source": "test"}).to_string(),
                ),
            )
            .await;
        assert_eq!(status, 202, "{req}");
        assert_eq!(req["request_status"], "received");
        req["id"].as_str().expect("id").parse().expect("uuid")
    }

    /// Imports `n` references and requests them for `robot`.
    pub async fn seed(&self, robot: Uuid, n: usize) -> (Vec<Uuid>, Uuid) {
        let ids = self.references(n).await;
        let request = self.request(robot, &ids).await;
        (ids, request)
    }

    /// The enhancement request as read by the admin API.
    pub async fn read_request(&self, id: Uuid) -> Value {
        let (status, body) = self
            .admin(
                reqwest::Method::GET,
                &format!("/v1/enhancement-requests/{id}/"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The projected status of a request.
    pub async fn request_status(&self, id: Uuid) -> String {
        self.read_request(id).await["request_status"]
            .as_str()
            .expect("request_status")
            .to_owned()
    }

    /// Waits (polling, with a deadline) until the request reaches `want`.
    pub async fn wait_status(&self, id: Uuid, want: &str) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let got = self.request_status(id).await;
            if got == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "request stuck in {got}, wanted {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Now on the server's clock, in whole seconds.
    pub fn clock_now_s(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// Now on the server's clock, in microseconds.
    pub fn now_us(&self) -> i64 {
        self.clock.now().as_microsecond()
    }
}

/// The headers of a correctly signed robot request.
pub fn signed_headers(
    secret: &str,
    id: &str,
    timestamp: f64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let uuid = Uuid::parse_str(id).expect("uuid");
    vec![
        (
            "authorization",
            format!(
                "Signature {}",
                destiny_sdk::auth::create_signature(secret, body, &uuid, timestamp)
            ),
        ),
        ("x-client-id", id.to_owned()),
        (
            "x-request-timestamp",
            destiny_sdk::auth::pyfloat::repr(timestamp),
        ),
    ]
}

impl Server {
    /// A robot request signed by hand (so any query or body can be sent); answers
    /// (status, JSON body or `Null`).
    pub async fn robot_request(
        &self,
        robot: &ProvisionedRobot,
        method: reqwest::Method,
        path_and_query: &str,
        body: &[u8],
    ) -> (u16, Value) {
        let headers = signed_headers(
            robot.client_secret.as_str(),
            &robot.id.to_string(),
            destiny_sdk::auth::system_now(),
            body,
        );
        let mut req = self
            .http
            .request(method, format!("{}{path_and_query}", self.base))
            .body(body.to_vec());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let resp = req.send().await.expect("robot request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("robot response body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// A result-file line: a score annotation of `reference`.
pub fn annotation(reference: Uuid) -> String {
    json!({"reference_id": reference, "source": "Toy Robot", "visibility": "public", "robot_version": "0.1.0",
        "content": {"enhancement_type": "annotation", "annotations": [
            {"annotation_type": "score", "scheme": "meta:toy", "label": "toy", "score": 0.42, "data": {"toy": "Woody"}}]}})
    .to_string()
}

/// Runs `tests/python/<script_name>` with `args`, feeding `jobs` as JSON lines on stdin
/// (from a blocking thread, so the in-process server keeps serving), and answers one
/// parsed JSON value per stdout line.
///
/// # Panics
/// If the script cannot start, fails, or prints something that is not JSON.
pub async fn run_python(script_name: &str, args: Vec<String>, jobs: Vec<Value>) -> Vec<Value> {
    let name = script_name.to_owned();
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        python_peer::run_script(&name, &args, &jobs)
    });
    tokio::time::timeout(DEADLINE, run)
        .await
        .expect("the Python peer finishes in time")
        .expect("the Python peer thread")
}

/// A `tracing` writer that appends to a shared buffer, for tests that read the logs.
pub struct LogSink(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes the database refuse enhancements whose `source` is `source` with `error`: on
/// PostgreSQL with SQLSTATE `sqlstate`; on SQLite with `RAISE(ABORT)` (a constraint
/// error).
pub async fn refuse_inserts(s: &Server, source: &str, sqlstate: &str) {
    let pool = s.db.pool().await;
    let name = format!("refuse_{}", source.replace(' ', "_").to_lowercase());
    match s.db.backend {
        Backend::Sqlite => {
            sqlx::query(&format!(
                "CREATE TRIGGER {name} BEFORE INSERT ON enhancements WHEN NEW.source = '{source}' \
                 BEGIN SELECT RAISE(ABORT, 'enhancement refused by the test trigger'); END"
            ))
            .execute(&pool)
            .await
            .expect("create the SQLite trigger");
        }
        Backend::Postgres => {
            sqlx::query(&format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.source = '{source}' THEN \
                 RAISE EXCEPTION 'enhancement refused by the test trigger' USING ERRCODE = '{sqlstate}'; \
                 END IF; RETURN NEW; END $$"
            ))
            .execute(&pool)
            .await
            .expect("create the trigger function");
            sqlx::query(&format!(
                "CREATE TRIGGER {name} BEFORE INSERT ON enhancements FOR EACH ROW \
                 EXECUTE FUNCTION {name}()"
            ))
            .execute(&pool)
            .await
            .expect("create the PostgreSQL trigger");
        }
    }
    pool.close().await;
}
