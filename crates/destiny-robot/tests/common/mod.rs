//! A `destiny serve` in-process on port 0 (SQLite in a temp dir, a manual clock), its
//! admin API, and helpers to run robots against it.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use destiny_repository::clock::{Clock, ManualClock};
use destiny_repository::config::Config;
use destiny_repository::db::expiry::ExpiryReport;
use destiny_repository::server::prepare;
use destiny_robot::{Robot, Runner, RunnerBuilder};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::{ProvisionedRobot, Reference};
use destiny_sdk::samples::ReferenceGenerator;
use serde_json::{json, Value};
use uuid::Uuid;

/// Logs to stderr when `TEST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("TEST_LOG").unwrap_or_default(),
            ))
            .with_test_writer()
            .try_init();
    }
}

/// A running repository.
pub struct Server {
    pub base: String,
    token: String,
    pub clock: ManualClock,
    pub state: destiny_repository::api::AppState,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A repository with default settings.
pub async fn start() -> Server {
    start_with(|_| {}).await
}

/// A repository with settings adjusted by `adjust`. The expiry job only runs when a test
/// calls [`Server::expire`] (its interval is an hour).
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(
        format!("sqlite://{}", dir.path().join("destiny.db").display()),
        dir.path().join("blobs"),
    );
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.expiry_interval = Duration::from_secs(3600);
    adjust(&mut config);
    let clock = ManualClock::new(jiff::Timestamp::now());
    let prepared = prepare(config, Arc::new(clock.clone())).await.unwrap();
    let base = format!("http://{}", prepared.addr);
    let token = prepared.state.admin_token.expose().to_owned();
    let state = prepared.state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(prepared.serve(async move {
        let _ = rx.await;
    }));
    Server {
        base,
        token,
        clock,
        state,
        http: reqwest::Client::new(),
        _dir: dir,
        _stop: tx,
    }
}

impl Server {
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
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Registers a robot.
    pub async fn robot(&self, name: &str) -> ProvisionedRobot {
        let body = json!({"name": name, "description": "test robot", "owner": "tests"});
        let (status, body) = self
            .admin(reqwest::Method::POST, "/v1/robots/", Some(body.to_string()))
            .await;
        assert_eq!(status, 201, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// A client for a robot.
    pub fn client(&self, robot: &ProvisionedRobot) -> RobotClient {
        RobotClient::new(&self.base, robot.client_secret.as_str(), robot.id).unwrap()
    }

    /// Loads `n` generated references and requests their enhancement by `robot`;
    /// returns the reference ids and the request id.
    pub async fn seed(&self, robot: Uuid, n: usize) -> (Vec<Uuid>, Uuid) {
        let refs: Vec<Reference> = ReferenceGenerator::new(n as u64).take(n).collect();
        self.seed_references(robot, &refs).await
    }

    /// Loads `refs` (a few hundred per import call) and requests their enhancement by
    /// `robot`.
    pub async fn seed_references(&self, robot: Uuid, refs: &[Reference]) -> (Vec<Uuid>, Uuid) {
        let mut ids: Vec<Uuid> = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(250) {
            let mut body = Vec::new();
            for r in chunk {
                destiny_sdk::jsonl::append_line(&mut body, r).unwrap();
            }
            let (status, got) = self
                .admin(
                    reqwest::Method::POST,
                    "/v1/references/",
                    Some(String::from_utf8(body).unwrap()),
                )
                .await;
            assert_eq!(status, 201, "{got}");
            ids.extend(serde_json::from_value::<Vec<Uuid>>(got).unwrap());
        }
        let request = json!({"robot_id": robot, "reference_ids": ids, "source": "tests"});
        let (status, req) = self
            .admin(
                reqwest::Method::POST,
                "/v1/enhancement-requests/",
                Some(request.to_string()),
            )
            .await;
        assert_eq!(status, 202, "{req}");
        (ids, req["id"].as_str().unwrap().parse().unwrap())
    }

    pub async fn request_status(&self, id: Uuid) -> String {
        let (status, body) = self
            .admin(
                reqwest::Method::GET,
                &format!("/v1/enhancement-requests/{id}/"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["request_status"].as_str().unwrap().to_owned()
    }

    /// Waits (with a deadline) for a request to reach `want`.
    pub async fn wait_status(&self, id: Uuid, want: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.request_status(id).await;
            if got == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "request {id} is {got}, still not {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The enhancements of a reference made by `source`.
    pub async fn enhancements_from(&self, reference: Uuid, source: &str) -> Vec<Value> {
        let (status, body) = self
            .admin(
                reqwest::Method::GET,
                &format!("/v1/references/{reference}/"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["enhancements"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["source"] == source)
            .collect()
    }

    /// Runs the expiry job now.
    pub async fn expire(&self) -> ExpiryReport {
        let now = self.clock.now().as_microsecond();
        self.state.db.expire_due(now, None).await.unwrap()
    }

    /// Moves the repository's clock past `by` and runs the expiry job.
    pub async fn advance_and_expire(&self, by: Duration) -> ExpiryReport {
        self.clock.advance(by);
        self.expire().await
    }
}

/// A runner builder for `robot` against `server` with test-friendly settings: quick
/// polls when idle, a short shutdown grace.
pub fn runner<R: Robot>(server: &Server, robot: &ProvisionedRobot, r: R) -> RunnerBuilder<R> {
    Runner::builder(r)
        .client(server.client(robot))
        .poll_interval(Duration::from_millis(25))
        .shutdown_grace(Duration::from_secs(10))
}

/// Waits until `check` is true, checking every 20 ms; fails the test after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
