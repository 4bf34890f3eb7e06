//! `destiny serve` as a child process (the `destiny` binary is the caller's to name:
//! only its own crate's tests know where Cargo built it), with the admin calls made
//! over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::child::Process;
use crate::DEADLINE;

/// The admin token every [`Serve`] is given.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A `destiny serve` child process, SIGKILLed when dropped.
pub struct Serve {
    /// The process.
    pub process: Process,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Kept open so the server's prints never meet a closed pipe.
    _stdout: std::thread::JoinHandle<()>,
}

impl Serve {
    /// Starts `bin serve` on `dir/destiny.db` and `dir/blobs`, port 0; answers once it
    /// listens.
    pub async fn start(bin: &Path, dir: &Path, log_name: &str) -> Self {
        let database = format!("sqlite://{}", dir.join("destiny.db").display());
        let blobs = dir.join("blobs");
        let args = [
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database,
            "--blob-dir",
            blobs.to_str().expect("a UTF-8 path"),
            "--expiry-interval",
            "PT1H",
        ];
        Self::spawn(bin, dir.join(log_name), &args).await
    }

    /// Starts `bin serve` with `args` (and the admin token), logging to `log`; answers
    /// once it listens.
    pub async fn spawn(bin: &Path, log: PathBuf, args: &[&str]) -> Self {
        use std::io::BufRead;
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(bin)
            .arg("serve")
            .args(args)
            .args(["--admin-token", ADMIN_TOKEN])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("run destiny serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let first = tokio::task::spawn_blocking(move || rx.recv_timeout(DEADLINE))
            .await
            .expect("reader")
            .unwrap_or_else(|_| {
                panic!(
                    "destiny serve did not start; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let base = first
            .strip_prefix("destiny serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        Self {
            process: Process::new(child, log),
            base,
            _stdout: reader,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILLs the server and waits for it to be gone.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// An admin `POST` answering (status, JSON).
pub async fn admin(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: String,
) -> (u16, serde_json::Value) {
    let resp = http
        .post(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .body(body)
        .send()
        .await
        .expect("admin request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// References with one OpenAlex id each (`W<n>` for `n` in `numbers`), as the JSONL
/// body of an import.
pub fn openalex_lines(numbers: std::ops::Range<usize>) -> String {
    numbers
        .map(|n| {
            serde_json::json!({"identifiers": [{"identifier": format!("W{n}"), "identifier_type": "open_alex"}]})
                .to_string()
                + "\n"
        })
        .collect()
}

/// Registers the robot `name` through `base`.
///
/// # Panics
/// Unless the server answers 201 with a robot.
pub async fn register(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> destiny_sdk::models::ProvisionedRobot {
    let body = serde_json::json!({"name": name, "description": "d", "owner": "o"}).to_string();
    let (status, robot) = admin(http, base, "/v1/robots/", body).await;
    assert_eq!(status, 201, "{robot}");
    serde_json::from_value(robot).expect("a robot")
}

/// Imports `lines` through `base` and asks `robot` to enhance every reference, through
/// `request_base`; answers the references and the request.
///
/// # Panics
/// Unless the import answers 201 and the request 202.
pub async fn import_and_request(
    http: &reqwest::Client,
    base: &str,
    request_base: &str,
    robot: uuid::Uuid,
    lines: String,
) -> (Vec<uuid::Uuid>, uuid::Uuid) {
    let (status, ids) = admin(http, base, "/v1/references/", lines).await;
    assert_eq!(status, 201, "{ids}");
    let ids: Vec<uuid::Uuid> = serde_json::from_value(ids).expect("ids");
    let body =
        serde_json::json!({"robot_id": robot, "reference_ids": ids, "source": "tests"}).to_string();
    let (status, request) = admin(http, request_base, "/v1/enhancement-requests/", body).await;
    assert_eq!(status, 202, "{request}");
    let request = request["id"].as_str().expect("id").parse().expect("uuid");
    (ids, request)
}

/// A result line: a score annotation of `reference` from `source`.
pub fn score_line(source: &str, reference: uuid::Uuid) -> String {
    serde_json::json!({"reference_id": reference, "source": source, "visibility": "public", "robot_version": "1",
        "content": {"enhancement_type": "annotation", "annotations": [
            {"annotation_type": "score", "scheme": "meta:tests", "label": "l", "score": 0.5, "data": {}}]}})
    .to_string()
}

/// SIGKILLs `server` as soon as the import of `batch` runs (watched in the database).
///
/// # Panics
/// When the import finished before the kill landed.
pub async fn kill_while_importing(server: &mut Serve, pool: &sqlx::AnyPool, batch: uuid::Uuid) {
    let seen = crate::wait_for("the import to start", DEADLINE, || async {
        let (state, _) = crate::sql::batch_import(pool, batch).await;
        (state != "queued").then_some(state)
    })
    .await;
    server.kill();
    assert_eq!(
        seen,
        "running",
        "the import finished before it could be interrupted; log:\n{}",
        server.log()
    );
}
