//! [`Server`]: a repository served in this process on 127.0.0.1:0, on a fresh database of
//! either backend with a manual clock, and the admin calls tests make of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use destiny_repository::api::AppState;
use destiny_repository::clock::{Clock, ManualClock};
use destiny_repository::config::Config;
use destiny_repository::db::expiry::ExpiryReport;
use destiny_repository::server::{prepare, Jobs};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::{EnhancementRequestStatus, ProvisionedRobot, Reference};
use destiny_sdk::samples::ReferenceGenerator;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::logs::init_logging;
use crate::wait::{on_change, DEADLINE};
use crate::{Backend, TestDb};

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

impl Options {
    /// Serving on the database at `url` rather than the test's own, with a 1 s database
    /// timeout so that while it is unreachable requests answer at once.
    pub fn on_database(url: String) -> Self {
        Self {
            tweak: Box::new(move |c| {
                c.database = url;
                c.database_timeout = Duration::from_secs(1);
            }),
            ..Self::default()
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

/// [`start`], with the configuration adjusted first (say, `public_url` naming a proxy).
pub async fn start_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Config) + Send + 'static,
) -> Server {
    let options = Options {
        tweak: Box::new(adjust),
        ..Options::default()
    };
    Server::start(backend, options).await
}

/// What most robot tests start from: a server ([`start`]), the robot `name` with a client
/// of it, and `n` references requested of that robot ([`Server::seed`]): their ids and
/// the request's.
pub async fn start_seeded(
    backend: Backend,
    name: &str,
    n: usize,
) -> (Server, ProvisionedRobot, RobotClient, Vec<Uuid>, Uuid) {
    let s = start(backend).await;
    let (robot, client) = s.robot(name).await;
    let (ids, request) = s.seed(robot.id, n).await;
    (s, robot, client, ids, request)
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
        // Given, as on PostgreSQL it must be (servers sharing a database share it).
        config.admin_token = Some(destiny_sdk::secret::Secret::new(format!(
            "test-admin-{}",
            uuid::Uuid::new_v4().simple()
        )));
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

    /// Counts as waiting for the database's writer while the answer lives, as a robot's
    /// claim would: an import holding SQLite's writer commits at each of its steps
    /// meanwhile, with no race against its turn.
    pub fn want_the_writer(&self) -> destiny_repository::db::Wanting<'_> {
        self.state.db.wanting()
    }

    /// Registers a robot through the admin API (without entitlements, as SDK 0.7.4 does).
    pub async fn register(&self, name: &str) -> ProvisionedRobot {
        self.register_robot(json!({"name": name, "description": "d", "owner": "o"}))
            .await
    }

    /// Registers a robot granted `entitlements` (wire names, such as `full_text`).
    pub async fn register_entitled(&self, name: &str, entitlements: &[&str]) -> ProvisionedRobot {
        self.register_robot(
            json!({"name": name, "description": "d", "owner": "o", "entitlements": entitlements}),
        )
        .await
    }

    async fn register_robot(&self, body: Value) -> ProvisionedRobot {
        let (status, body) = self
            .admin(reqwest::Method::POST, "/v1/robots/", Some(body.to_string()))
            .await;
        assert_eq!(status, 201, "{body}");
        serde_json::from_value(body).expect("ProvisionedRobot")
    }

    /// A Rust client signing as `robot`.
    pub fn client(&self, robot: &ProvisionedRobot) -> RobotClient {
        RobotClient::new(&self.base, robot.client_secret.as_str(), robot.id).expect("a client")
    }

    /// Registers a robot and a Rust client for it.
    pub async fn robot(&self, name: &str) -> (ProvisionedRobot, RobotClient) {
        let robot = self.register(name).await;
        let client = self.client(&robot);
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

    /// Imports `refs` (250 per import call) and answers their ids.
    pub async fn import(&self, refs: &[Reference]) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(250) {
            let mut body = Vec::new();
            for r in chunk {
                destiny_sdk::jsonl::append_line(&mut body, r).expect("a JSONL line");
            }
            let body = String::from_utf8(body).expect("JSONL is UTF-8");
            let (status, got) = self
                .admin(reqwest::Method::POST, "/v1/references/", Some(body))
                .await;
            assert_eq!(status, 201, "{got}");
            ids.extend(serde_json::from_value::<Vec<Uuid>>(got).expect("reference ids"));
        }
        ids
    }

    /// Imports `refs` and requests them for `robot`.
    pub async fn seed_references(&self, robot: Uuid, refs: &[Reference]) -> (Vec<Uuid>, Uuid) {
        let ids = self.import(refs).await;
        let request = self.request(robot, &ids).await;
        (ids, request)
    }

    /// Imports the first `n` references of generator seed `seed` (what `destiny
    /// references generate` writes) and requests them for `robot`.
    pub async fn seed_generated(&self, robot: Uuid, n: usize, seed: u64) -> (Vec<Uuid>, Uuid) {
        let refs: Vec<Reference> = ReferenceGenerator::new(seed).take(n).collect();
        self.seed_references(robot, &refs).await
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

    /// The projected status of a request, typed, read from the database.
    pub async fn status(&self, id: Uuid) -> EnhancementRequestStatus {
        self.state
            .db
            .request(id)
            .await
            .expect("the request")
            .read
            .request_status
    }

    /// Waits (with [`DEADLINE`]) until the request reaches `want`, checking again on each
    /// change the server commits (no timer).
    pub async fn wait_status(&self, id: Uuid, want: &str) {
        let changes = self.state.changes.subscribe();
        on_change(
            &format!("request {id} to be {want}"),
            DEADLINE,
            changes,
            || async { self.request_status(id).await == want },
        )
        .await;
    }

    /// A reference as the admin API reads it (`GET /v1/references/{id}/`, 200).
    pub async fn reference(&self, id: impl std::fmt::Display) -> Value {
        let (status, body) = self
            .admin(reqwest::Method::GET, &format!("/v1/references/{id}/"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The enhancements of a reference made by `source`, as the admin API reads them.
    pub async fn enhancements_from(&self, reference: Uuid, source: &str) -> Vec<Value> {
        self.reference(reference).await["enhancements"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["source"] == source)
            .collect()
    }

    /// How many enhancements from `source` a reference has.
    pub async fn count_from(&self, reference: Uuid, source: &str) -> usize {
        self.enhancements_from(reference, source).await.len()
    }

    /// The lines of a JSON Lines file at `url` (a signed blob URL), parsed.
    pub async fn json_lines(&self, url: &str) -> Vec<Value> {
        crate::batch::fetch_text(&self.http, url)
            .await
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// The validation file of batch `id` once its import wrote it, fetched through a
    /// URL the server's state signs, one value a line.
    pub async fn batch_validation(&self, id: Uuid) -> Vec<Value> {
        let record = self.state.db.batch(id, None).await.expect("the batch");
        let key = record
            .validation_file
            .expect("the import wrote a validation file");
        let url = self
            .state
            .signed_url(&key, destiny_repository::blob::Permission::Read)
            .await
            .expect("signed URL");
        self.json_lines(url.as_str()).await
    }

    /// Checks the import of a [`partial_result`] for batch `batch` of references `ids`:
    /// one enhancement stored for the first, and the validation file's three lines (ok,
    /// the robot's error, missing from the result).
    pub async fn assert_partial_import(&self, batch: Uuid, ids: &[Uuid]) {
        let reference = self.reference(ids[0]).await;
        let enhancements = reference["enhancements"].as_array().expect("enhancements");
        assert_eq!(enhancements.len(), 1, "{reference}");
        assert_eq!(
            enhancements[0]["content"]["annotations"][0]["data"]["toy"],
            "Woody"
        );
        let lines = self.batch_validation(batch).await;
        assert_eq!(lines[0], json!({"reference_id": ids[0]}));
        assert_eq!(
            lines[1],
            json!({"reference_id": ids[1], "error": "no abstract"})
        );
        assert_eq!(
            lines[2],
            json!({"reference_id": ids[2], "error": "Requested reference not in enhancement result."})
        );
    }

    /// Polls `robot`'s next batch of at most `limit` and answers its reference file.
    pub async fn next_reference_file(
        &self,
        client: &RobotClient,
        robot: Uuid,
        limit: u32,
    ) -> String {
        let batch = crate::batch::poll_batch(client, robot, limit).await;
        crate::batch::fetch_text(&self.http, batch.reference_storage_url.as_str()).await
    }

    /// Runs the expiry job now (at the server's clock), and wakes the import worker: an
    /// import retry whose backoff the clock has passed is taken at once, not on the
    /// worker's next round.
    pub async fn expire(&self) -> ExpiryReport {
        let report = self
            .state
            .db
            .expire_due(self.now_us(), None)
            .await
            .expect("the expiry job");
        self.state.changed();
        self.state.import_wake.notify_one();
        report
    }

    /// Moves the server's clock forward by `by` and runs the expiry job.
    pub async fn advance_and_expire(&self, by: Duration) -> ExpiryReport {
        self.clock.advance(by);
        self.expire().await
    }

    /// The blob directory.
    pub fn blobs(&self) -> PathBuf {
        self.dir.path().join("blobs")
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

impl Server {
    /// Runs jobs of `peer_client_0176.py` (the Python SDK 0.17.6 as a client) signing as
    /// `robot`, from a blocking thread so this server keeps serving; answers each job's
    /// output line (read the model it answered with [`crate::python::answer`]).
    pub async fn python_0176(&self, robot: &ProvisionedRobot, jobs: Vec<Value>) -> Vec<Value> {
        let jobs: Vec<Value> = jobs
            .into_iter()
            .map(|mut job| {
                job["base_url"] = json!(format!("{}/v1/", self.base));
                job["secret"] = json!(robot.client_secret.as_str());
                job["client_id"] = json!(robot.id);
                job
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            crate::python::run_script_on(
                crate::python::Peer::Sdk0176,
                "peer_client_0176.py",
                &[],
                &jobs,
            )
        })
        .await
        .expect("the peer")
    }
}

/// The `id` of each object of a JSON array an answer holds (references, robots...).
///
/// # Panics
/// When `list` is not an array of objects with UUID `id`s.
pub fn ids_in(list: &Value) -> Vec<Uuid> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .expect("a UUID id")
        })
        .collect()
}

/// A result file for a batch of three references `ids`: the first enhanced
/// ([`annotation`]), the second failed by the robot (`no abstract`), the third left out.
/// [`Server::assert_partial_import`] checks what its import did.
pub fn partial_result(ids: &[Uuid]) -> String {
    format!(
        "{}\n{}\n",
        annotation(ids[0]),
        json!({"message": "no abstract", "reference_id": ids[1]})
    )
}

/// A result-file line: a score annotation of `reference`.
pub fn annotation(reference: Uuid) -> String {
    json!({"reference_id": reference, "source": "Toy Robot", "visibility": "public", "robot_version": "0.1.0",
        "content": {"enhancement_type": "annotation", "annotations": [
            {"annotation_type": "score", "scheme": "meta:toy", "label": "toy", "score": 0.42, "data": {"toy": "Woody"}}]}})
    .to_string()
}

/// Runs the peer script `<script_name>` (0.7.4) with `args`, feeding `jobs` as JSON lines on stdin
/// (from a blocking thread, so the in-process server keeps serving), and answers one
/// parsed JSON value per stdout line.
///
/// # Panics
/// If the script cannot start, fails, or prints something that is not JSON.
pub async fn run_python(script_name: &str, args: Vec<String>, jobs: Vec<Value>) -> Vec<Value> {
    let name = script_name.to_owned();
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::python::run_script(&name, &args, &jobs)
    });
    tokio::time::timeout(DEADLINE, run)
        .await
        .expect("the Python peer finishes in time")
        .expect("the Python peer thread")
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
