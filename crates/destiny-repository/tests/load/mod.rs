//! The load driver shared by `tests/faults.rs` (16 pollers over 5,000 pending
//! enhancements, on both backends, and the PostgreSQL-restart fault) and
//! `benches/load.rs` (64 pollers over 100,000 on PostgreSQL).
//!
//! - [`Served`]: a repository served in this process for a bench (real HTTP on
//!   127.0.0.1:0, the import worker running, expiry off).
//! - [`robots`] / [`seed`]: register robots and give each an enhancement request, through
//!   the admin API.
//! - [`run`]: every robot gets `pollers_per_robot` pollers (each its own [`RobotClient`]),
//!   each looping poll → download the reference file → upload a result → submit, until
//!   its poll answers 204. 503s and transport failures are retried (a submit retried
//!   after a lost answer may meet 422: the first attempt was applied); anything else
//!   stops the run with an error. Every answer is tallied by call and status.
//! - [`wait_for_imports`] then [`verify`]: checks in the database that no pending
//!   enhancement was leased twice (each batch's reference file lists exactly the rows
//!   the database puts in that batch, and no batch was handed out twice), none was lost
//!   (every one ended in a terminal state, each reference completed once) and each
//!   reference's enhancement is stored once.

#![allow(dead_code)] // The bench and the tests use different parts.

use destiny_sdk::client::{ClientError, RetryPolicy, RobotClient};
use destiny_sdk::models::{ProvisionedRobot, RobotEnhancementBatchResult};
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Errors of the driver (setup failures and broken invariants alike).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The calls a poller makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Call {
    /// `POST /v1/robot-enhancement-batches/` (signed).
    Poll,
    /// `GET` of the reference file's signed URL.
    Download,
    /// `PUT` of the result file's signed URL.
    Upload,
    /// `POST /v1/robot-enhancement-batches/{id}/results/` (signed).
    Submit,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Poll => "poll",
            Self::Download => "download",
            Self::Upload => "upload",
            Self::Submit => "submit",
        })
    }
}

/// Counters the pollers update as they go (a fault test watches them).
#[derive(Debug, Default)]
pub struct Live {
    /// Batch results accepted (202).
    pub submitted: AtomicU64,
    /// 503 answers, any call.
    pub unavailable: AtomicU64,
}

/// How to load the repository.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Concurrent pollers per robot.
    pub pollers_per_robot: usize,
    /// References asked for per poll.
    pub limit: u32,
    /// The whole run must end within this.
    pub deadline: Duration,
}

/// A batch as a poller saw it.
#[derive(Debug, Clone)]
pub struct Leased {
    /// The batch id.
    pub id: Uuid,
    /// The references its file listed, in order.
    pub references: Vec<Uuid>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// From the first poll to the last poller's 204.
    pub elapsed: Duration,
    /// Every batch handed out.
    pub batches: Vec<Leased>,
    /// The latency of every answered poll (200 or 204).
    pub poll_latencies: Vec<Duration>,
    /// Answers by call and HTTP status; 0 stands for a transport failure or timeout.
    pub answers: BTreeMap<(Call, u16), u64>,
}

impl Report {
    /// Adds another run's findings (a second pass after expiry).
    pub fn merge(&mut self, other: Report) {
        self.elapsed += other.elapsed;
        self.batches.extend(other.batches);
        self.poll_latencies.extend(other.poll_latencies);
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
    }

    /// References handed out in all.
    pub fn references(&self) -> usize {
        self.batches.iter().map(|b| b.references.len()).sum()
    }

    /// The answers that were not 2xx, by call and status.
    pub fn errors(&self) -> BTreeMap<(Call, u16), u64> {
        self.answers
            .iter()
            .filter(|((_, status), _)| !(200..300).contains(status))
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// The `q` quantile (0..=1) of the poll latencies, in milliseconds.
    pub fn poll_ms(&self, q: f64) -> f64 {
        let mut v: Vec<f64> = self
            .poll_latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        let idx = ((v.len() - 1) as f64 * q).round() as usize;
        v[idx.min(v.len() - 1)]
    }
}

/// A repository served in this process for a bench, with the import worker and no
/// expiry job; [`Served::stop`] shuts it down.
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The admin bearer token.
    pub token: String,
    /// The server's database.
    pub db: destiny_repository::db::Db,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<Result<(), destiny_repository::server::ServeError>>,
}

impl Served {
    /// Serves a repository on `database` with its blobs under `dir`.
    ///
    /// # Errors
    /// The database or the blob directory cannot be opened.
    pub async fn start(database: &str, dir: &std::path::Path) -> Result<Self, BoxError> {
        use destiny_repository::server::{prepare, Jobs};
        let mut config = destiny_repository::config::Config::new(database, dir.join("blobs"));
        config.listen = "127.0.0.1:0".parse()?;
        config.expiry_interval = Duration::from_secs(3600);
        let token = "bench-admin-token".to_owned();
        config.admin_token = Some(destiny_sdk::secret::Secret::new(token.clone()));
        let prepared = prepare(config, Arc::new(destiny_repository::clock::SystemClock)).await?;
        let base = format!("http://{}", prepared.addr);
        let db = prepared.state.db.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let jobs = Jobs {
            expiry: false,
            import: true,
        };
        let served = tokio::spawn(prepared.serve_with(jobs, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            base,
            token,
            db,
            stop,
            served,
        })
    }

    /// Stops the server and waits for it.
    ///
    /// # Errors
    /// Serving failed.
    pub async fn stop(self) -> Result<(), BoxError> {
        let _ = self.stop.send(());
        self.served.await??;
        Ok(())
    }
}

/// Registers `n` robots named `<prefix>-<i>`.
///
/// # Errors
/// HTTP failures or a refusal.
pub async fn robots(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    prefix: &str,
    n: usize,
) -> Result<Vec<ProvisionedRobot>, BoxError> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let robot: ProvisionedRobot = http
            .post(format!("{base}/v1/robots/"))
            .bearer_auth(token)
            .json(
                &json!({"name": format!("{prefix}-{i}"), "description": "load", "owner": "faults"}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        out.push(robot);
    }
    Ok(out)
}

/// Registers `n` robots named `<prefix>-<i>` and seeds `per_robot` pending enhancements
/// for each ([`robots`], then [`seed`]).
///
/// # Errors
/// As [`robots`] and [`seed`].
pub async fn robots_with_work(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    prefix: &str,
    n: usize,
    per_robot: usize,
) -> Result<Vec<ProvisionedRobot>, BoxError> {
    let out = robots(http, base, token, prefix, n).await?;
    for robot in &out {
        seed(http, base, token, robot.id, per_robot).await?;
    }
    Ok(out)
}

/// Imports `n` references and requests their enhancement by `robot` (one pending
/// enhancement each); answers the reference ids.
///
/// # Errors
/// HTTP failures or a refusal.
pub async fn seed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    robot: Uuid,
    n: usize,
) -> Result<Vec<Uuid>, BoxError> {
    let mut ids: Vec<Uuid> = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + 5_000).min(n);
        let body: String = (start..end)
            .map(|i| {
                let mut line = json!({"identifiers": [
                    {"identifier": format!("W{}", i + 1), "identifier_type": "open_alex"}]})
                .to_string();
                line.push('\n');
                line
            })
            .collect();
        let resp = http
            .post(format!("{base}/v1/references/"))
            .bearer_auth(token)
            .body(body)
            .send()
            .await?;
        if resp.status() != reqwest::StatusCode::CREATED {
            return Err(format!(
                "importing references: {} {}",
                resp.status(),
                resp.text().await?
            )
            .into());
        }
        let chunk: Vec<Uuid> = resp.json().await?;
        ids.extend(chunk);
        start = end;
    }
    http.post(format!("{base}/v1/enhancement-requests/"))
        .bearer_auth(token)
        .json(&json!({"robot_id": robot, "reference_ids": ids, "source": "load"}))
        .send()
        .await?
        .error_for_status()?;
    Ok(ids)
}

/// One poller's findings.
#[derive(Default)]
struct Tally {
    batches: Vec<Leased>,
    poll_latencies: Vec<Duration>,
    answers: BTreeMap<(Call, u16), u64>,
}

impl Tally {
    fn answer(&mut self, live: &Live, call: Call, status: u16) {
        *self.answers.entry((call, status)).or_default() += 1;
        if status == 503 {
            live.unavailable.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Whether a failure is one to retry: 503 (the repository says so) or no answer.
fn transient(status: u16) -> bool {
    status == 503 || status == 0
}

/// The status of a client error; 0 for a transport failure or timeout.
fn status_of(e: &ClientError) -> u16 {
    e.status().unwrap_or(0)
}

/// The pause before retry `n` (1-based): 20 ms doubling to 500 ms.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(20u64.saturating_mul(1 << n.min(5))).min(Duration::from_millis(500))
}

/// Runs `plan` over `robots` until every poller's poll answers 204.
///
/// # Errors
/// The first poller failure that retrying cannot fix (any status other than 2xx, 503
/// or a submit's 422 after a retry), or the deadline.
pub async fn run(
    base: &str,
    robots: &[ProvisionedRobot],
    plan: Plan,
    live: Arc<Live>,
) -> Result<Report, BoxError> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let deadline = Instant::now() + plan.deadline;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for robot in robots {
        for _ in 0..plan.pollers_per_robot {
            let client = RobotClient::builder(base, robot.client_secret.as_str(), robot.id)
                .retry_policy(RetryPolicy::none())
                .build()?;
            let (http, live, robot_id) = (http.clone(), live.clone(), robot.id);
            tasks.spawn(async move {
                poller(&client, &http, robot_id, plan.limit, deadline, &live).await
            });
        }
    }
    let mut report = Report::default();
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(t)) => {
                report.batches.extend(t.batches);
                report.poll_latencies.extend(t.poll_latencies);
                for (k, v) in t.answers {
                    *report.answers.entry(k).or_default() += v;
                }
            }
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("poller task: {e}")),
        }
    }
    report.elapsed = started.elapsed();
    if !failures.is_empty() {
        return Err(format!(
            "{} poller(s) failed: {}",
            failures.len(),
            failures.join("; ")
        )
        .into());
    }
    Ok(report)
}

async fn poller(
    client: &RobotClient,
    http: &reqwest::Client,
    robot: Uuid,
    limit: u32,
    deadline: Instant,
    live: &Live,
) -> Result<Tally, BoxError> {
    let mut t = Tally::default();
    let mut tries = 0u32;
    loop {
        if Instant::now() > deadline {
            return Err("the run's deadline passed".into());
        }
        let started = Instant::now();
        let polled = client
            .poll_robot_enhancement_batch(robot, limit, None)
            .await;
        let latency = started.elapsed();
        let batch = match polled {
            Ok(Some(batch)) => {
                t.answer(live, Call::Poll, 200);
                t.poll_latencies.push(latency);
                batch
            }
            Ok(None) => {
                t.answer(live, Call::Poll, 204);
                t.poll_latencies.push(latency);
                return Ok(t);
            }
            Err(e) => {
                let status = status_of(&e);
                t.answer(live, Call::Poll, status);
                if !transient(status) {
                    return Err(format!("poll: {e}").into());
                }
                tries += 1;
                tokio::time::sleep(backoff(tries)).await;
                continue;
            }
        };
        tries = 0;
        let text = retry(&mut t, live, Call::Download, deadline, || async {
            let resp = http
                .get(batch.reference_storage_url.as_str())
                .send()
                .await?;
            let status = resp.status().as_u16();
            Ok((status, resp.text().await?))
        })
        .await?;
        let mut references = Vec::new();
        let mut result = String::with_capacity(text.len());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let id: Uuid = v["id"].as_str().ok_or("a reference without id")?.parse()?;
            references.push(id);
            // The batch id in the content: an enhancement stored twice would not be an
            // exact duplicate, so it could not hide as `discarded`.
            let entry = json!({"reference_id": id, "source": "load", "visibility": "public",
                "robot_version": "1",
                "content": {"enhancement_type": "annotation", "annotations": [
                    {"annotation_type": "score", "scheme": "load", "label": "l", "score": 0.5,
                     "data": {"batch": batch.id}}]}});
            result.push_str(&entry.to_string());
            result.push('\n');
        }
        t.batches.push(Leased {
            id: batch.id,
            references,
        });
        let result = bytes::Bytes::from(result);
        retry(&mut t, live, Call::Upload, deadline, || async {
            let resp = http
                .put(batch.result_storage_url.as_str())
                .header("x-ms-blob-type", "BlockBlob")
                .body(result.clone())
                .send()
                .await?;
            Ok((resp.status().as_u16(), ()))
        })
        .await?;
        let submit = RobotEnhancementBatchResult {
            request_id: batch.id,
            error: None,
        };
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match client.send_robot_enhancement_batch_result(&submit).await {
                Ok(_) => {
                    t.answer(live, Call::Submit, 202);
                    live.submitted.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                // An earlier attempt was applied and its answer lost.
                Err(e) if e.status() == Some(422) && attempts > 1 => {
                    t.answer(live, Call::Submit, 422);
                    live.submitted.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    let status = status_of(&e);
                    t.answer(live, Call::Submit, status);
                    if !transient(status) || Instant::now() > deadline {
                        return Err(format!("submit {}: {e}", batch.id).into());
                    }
                    tokio::time::sleep(backoff(attempts)).await;
                }
            }
        }
    }
}

/// Repeats a storage call while it answers 5xx or fails in transport; answers its value
/// on 2xx.
async fn retry<T, F, Fut>(
    t: &mut Tally,
    live: &Live,
    call: Call,
    deadline: Instant,
    mut f: F,
) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(u16, T), reqwest::Error>>,
{
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let (status, value) = match f().await {
            Ok((status, value)) => (status, Some(value)),
            Err(_) => (0, None),
        };
        t.answer(live, call, status);
        match value {
            Some(v) if (200..300).contains(&status) => return Ok(v),
            _ if (status >= 500 || status == 0) && Instant::now() < deadline => {
                tokio::time::sleep(backoff(attempts)).await;
            }
            _ => return Err(format!("{call}: HTTP {status}").into()),
        }
    }
}

/// Waits until no import is queued or running; answers how long that took.
///
/// # Errors
/// Database errors, or imports still pending after `within`.
pub async fn wait_for_imports(
    pool: &sqlx::AnyPool,
    within: Duration,
) -> Result<Duration, BoxError> {
    let started = Instant::now();
    loop {
        let row =
            sqlx::query("SELECT COUNT(*) FROM batches WHERE import_state IN ('queued', 'running')")
                .fetch_one(pool)
                .await?;
        let left: i64 = row.try_get(0)?;
        if left == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            return Err(format!("{left} import(s) still pending after {within:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// How many pending enhancements are in each status.
///
/// # Errors
/// Database errors.
pub async fn statuses(pool: &sqlx::AnyPool) -> Result<BTreeMap<String, i64>, BoxError> {
    let rows =
        sqlx::query("SELECT status, COUNT(*) AS n FROM pending_enhancements GROUP BY status")
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>("status")?, r.try_get::<i64, _>("n")?)))
        .collect()
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// Pending enhancements by status.
    pub statuses: BTreeMap<String, i64>,
    /// Batches stored.
    pub batches: usize,
    /// Enhancements stored.
    pub enhancements: i64,
}

/// Checks the database after a run over `references` references (one pending
/// enhancement each at the start): see the module docs. With `allow_expired`, leases
/// that ran out (a claim whose answer was lost, expired and retried) are accepted, as
/// long as each reference still completed exactly once.
///
/// # Errors
/// A description of every broken invariant.
pub async fn verify(
    pool: &sqlx::AnyPool,
    report: &Report,
    references: usize,
    allow_expired: bool,
) -> Result<Verified, BoxError> {
    let mut broken = Vec::new();
    let statuses = statuses(pool).await?;
    for (status, n) in &statuses {
        let ok = match status.as_str() {
            "completed" => true,
            "expired" => allow_expired,
            _ => false,
        };
        if !ok {
            broken.push(format!("{n} pending enhancement(s) ended {status}"));
        }
    }

    // Leased once: each batch's file lists exactly its rows in the database.
    let rows = sqlx::query("SELECT batch_id, reference_id, status FROM pending_enhancements")
        .fetch_all(pool)
        .await?;
    let mut in_db: HashMap<String, HashSet<String>> = HashMap::new();
    let mut unbatched = 0usize;
    let mut completed_per_ref: HashMap<String, u32> = HashMap::new();
    for r in &rows {
        let batch: Option<String> = r.try_get("batch_id")?;
        let reference: String = r.try_get("reference_id")?;
        let status: String = r.try_get("status")?;
        match batch {
            Some(b) => {
                in_db.entry(b).or_default().insert(reference.clone());
            }
            None => unbatched += 1,
        }
        if status == "completed" {
            *completed_per_ref.entry(reference).or_default() += 1;
        }
    }
    if unbatched > 0 {
        broken.push(format!("{unbatched} pending enhancement(s) never leased"));
    }
    let mut seen = HashSet::new();
    for b in &report.batches {
        if !seen.insert(b.id) {
            broken.push(format!("batch {} handed out twice", b.id));
        }
        let listed: HashSet<String> = b.references.iter().map(Uuid::to_string).collect();
        if listed.len() != b.references.len() {
            broken.push(format!("batch {}: a reference twice in its file", b.id));
        }
        match in_db.get(&b.id.to_string()) {
            Some(db) if *db == listed => {}
            Some(db) => broken.push(format!(
                "batch {}: its file lists {} reference(s), the database {} ({} in common)",
                b.id,
                listed.len(),
                db.len(),
                db.intersection(&listed).count()
            )),
            None => broken.push(format!("batch {} is not in the database", b.id)),
        }
    }
    // A batch stored but never handed out holds leases no robot knows of: it must
    // have expired (a claim whose answer was lost).
    let handed: HashSet<String> = report.batches.iter().map(|b| b.id.to_string()).collect();
    let expired_only = sqlx::query(
        "SELECT batch_id, COUNT(*) AS n, SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END) AS e \
         FROM pending_enhancements WHERE batch_id IS NOT NULL GROUP BY batch_id",
    )
    .fetch_all(pool)
    .await?;
    for r in &expired_only {
        let batch: String = r.try_get("batch_id")?;
        if handed.contains(&batch) {
            continue;
        }
        let (n, e): (i64, i64) = (r.try_get("n")?, r.try_get("e")?);
        if !(allow_expired && n == e) {
            broken.push(format!(
                "batch {batch} ({n} lease(s)) was stored but never handed out"
            ));
        }
    }

    // Not lost, stored once.
    let twice = completed_per_ref.values().filter(|n| **n > 1).count();
    if twice > 0 {
        broken.push(format!("{twice} reference(s) completed more than once"));
    }
    if completed_per_ref.len() != references {
        broken.push(format!(
            "{} of {references} reference(s) completed",
            completed_per_ref.len()
        ));
    }
    let row =
        sqlx::query("SELECT COUNT(*) AS n, COUNT(DISTINCT reference_id) AS refs FROM enhancements")
            .fetch_one(pool)
            .await?;
    let (enhancements, enhanced): (i64, i64) = (row.try_get("n")?, row.try_get("refs")?);
    if enhancements != references as i64 || enhanced != references as i64 {
        broken.push(format!(
            "{enhancements} enhancement(s) stored on {enhanced} reference(s), expected one on each of {references}"
        ));
    }
    let row =
        sqlx::query("SELECT COUNT(*) FROM batches WHERE import_state IN ('queued', 'running')")
            .fetch_one(pool)
            .await?;
    let importing: i64 = row.try_get(0)?;
    if importing > 0 {
        broken.push(format!("{importing} import(s) still queued or running"));
    }
    if !broken.is_empty() {
        return Err(broken.join("\n").into());
    }
    Ok(Verified {
        statuses,
        batches: in_db.len(),
        enhancements,
    })
}
