//! Shared harness of the peer tests: the REAL Python `destiny_sdk` 0.7.4 as a
//! compatibility peer.
//!
//! - [`python`]: the interpreter (`DESTINY_PYTHON`, else `<workspace>/.venv/bin/python`),
//!   set up by `scripts/test`.
//! - [`run_script`]: runs one of the peer scripts (`crates/destiny-testkit/python/`, through
//!   the test kit) once over a batch of JSON
//!   jobs (one per stdin line) and returns its JSON answers (one per stdout line), so a
//!   whole table costs one Python start.
//! - [`PeerServer`]: `peer_server.py` (the SDK's `HMACAuth` and models on the real robot
//!   routes) on 127.0.0.1 with an OS-chosen port, killed on drop.
//! - [`fixture`]: files of `../shared/fixtures`, never copied into the project.

#![allow(dead_code)] // Each test file uses its own part of the harness.

#[allow(unused_imports)] // Each test file uses its own part of the harness.
pub use destiny_testkit::fixture;
#[allow(unused_imports)]
pub use destiny_testkit::python::{
    python, python_of, run_script, run_script_on, script, workspace_root, Peer,
};

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use destiny_sdk::samples::Rng;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// The `identifier_type`s of SDK 0.17.6 (a document with another one is kept opaque by
/// Rust and refused by Python).
pub const IDENTIFIER_TYPES_0176: &[&str] = &[
    "doi",
    "eric",
    "pm_id",
    "pro_quest",
    "open_alex",
    "url",
    "other",
];

/// The number in the environment variable `name`, else `default` (for test sizes and
/// seeds such as `DESTINY_PEER_DOCUMENTS`).
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// How long a Python peer may take to start serving.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// Like [`run_script`], but checks there is one answer per job.
pub fn run_jobs(script_name: &str, args: &[&str], jobs: &[Value]) -> Vec<Value> {
    let answers = run_script(script_name, args, jobs);
    assert_eq!(
        answers.len(),
        jobs.len(),
        "{script_name} answered {} lines for {} jobs",
        answers.len(),
        jobs.len()
    );
    answers
}

/// One HTTP exchange as `peer_server.py` recorded it (before authentication ran).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PATCH`...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string.
    pub query_string: String,
    /// The query, decoded into pairs in order.
    pub query: Vec<(String, String)>,
    /// Header names (lowercase, as the ASGI server gives them) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body as UTF-8 text (lossy).
    pub body: String,
    /// The status the peer answered.
    pub status: Option<u16>,
    /// The body the peer answered.
    pub response_body: String,
}

impl RecordedRequest {
    /// The value of a header (case-insensitive name); `None` if absent.
    ///
    /// # Panics
    /// If the header occurs more than once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next();
        assert!(
            values.next().is_none(),
            "header {name} repeated in {self:?}"
        );
        first
    }

    /// The values of a query parameter, in order.
    pub fn query_values(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `peer_server.py` running on 127.0.0.1 with an OS-chosen port; killed when dropped.
pub struct PeerServer {
    /// The Python process; killed on drop.
    child: Child,
    /// `http://127.0.0.1:<port>`.
    base_url: String,
    /// A plain client for the unauthenticated `/_peer` routes.
    http: reqwest::Client,
}

impl PeerServer {
    /// Starts the peer with `secret` as the `HMACAuth` key and `client_id` as the robot
    /// id it answers with, and waits (with a deadline) until it serves.
    ///
    /// # Panics
    /// If Python or the script fails to start or to serve in time.
    pub async fn start(secret: &str, client_id: Uuid) -> Self {
        let mut child = Command::new(python())
            .arg(script("peer_server.py"))
            .env("PEER_SECRET", secret)
            .env("PEER_CLIENT_ID", client_id.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start peer_server.py: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let port: u16 = match lines.read_line(&mut first) {
            Ok(_) => match first.trim().parse() {
                Ok(port) => port,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "peer_server.py did not print its port first (got {first:?}); \
                         see its stderr above"
                    );
                }
            },
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cannot read the port from peer_server.py: {e}");
            }
        };
        // Drain the rest of stdout so the peer can never block on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink);
        });
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let url = format!("{}/_peer/requests", self.base_url);
        loop {
            match self.http.get(&url).send().await {
                Ok(resp) if resp.status().is_success() => return,
                outcome => {
                    assert!(
                        Instant::now() < deadline,
                        "peer_server.py not serving {url} after {STARTUP_DEADLINE:?}: {outcome:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// `http://127.0.0.1:<port>` (no `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request the peer received so far, in order.
    pub async fn requests(&self) -> Vec<RecordedRequest> {
        let url = format!("{}/_peer/requests", self.base_url);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .expect("GET /_peer/requests");
        assert!(resp.status().is_success(), "GET /_peer/requests: {resp:?}");
        resp.json().await.expect("/_peer/requests is a JSON list")
    }

    /// Sets one-shot behaviour for the next matching call (see `peer_server.py`).
    pub async fn set_mode(&self, mode: Value) {
        let url = format!("{}/_peer/mode", self.base_url);
        let resp = self
            .http
            .post(&url)
            .json(&mode)
            .send()
            .await
            .expect("POST /_peer/mode");
        assert!(resp.status().is_success(), "POST /_peer/mode: {resp:?}");
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SDK's seeded stream ([`Rng`], SplitMix64) so random cases are reproducible from
/// a seed printed by the test, with the clock seed and random bytes the peer tests need.
#[derive(Debug, Clone)]
pub struct SplitMix64(Rng);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Self(Rng::new(seed))
    }

    /// A seed from the clock, to vary runs (tests print it).
    pub fn seed_from_clock() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
