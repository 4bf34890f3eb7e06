//! [`Runner`]: polls the repository for batches and runs a [`Robot`] over them, several
//! batches at once, until shut down.
//!
//! ## The loop
//! 1. Wait for a free batch slot (`CONCURRENT_BATCHES`, a semaphore), then poll.
//! 2. A batch: start it in its own task and poll again at once (work remains). Nothing
//!    (204): wait `POLL_INTERVAL`, jittered. A failure: back off exponentially, jittered,
//!    capped; a failure retrying cannot fix (bad credentials, wrong robot id) stops the
//!    runner with an error.
//! 3. On shutdown, stop polling, give in-flight batches `SHUTDOWN_GRACE` to finish, then
//!    abandon the rest: their leases lapse and the repository hands the work out again;
//!    nothing is reported for them.
//!
//! Each batch (see `batch`) streams its reference file line by line into the robot,
//! spools results to a temporary file, uploads it and submits the result once, while its
//! lease is renewed in the background (see `lease`).
//!
//! ## Layout
//! - `builder`: [`RunnerBuilder`].
//! - `batch`: one batch, from lease to submit.
//! - `lease`: background renewal.
//! - `storage`: downloads and uploads with signed-URL refresh and retries.
//! - `signals`: SIGINT/SIGTERM handling for [`Runner::run_until_signal`].

mod batch;
mod builder;
mod lease;
mod signals;
mod storage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use destiny_sdk::client::{ClientError, RobotClient};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use builder::RunnerBuilder;

use crate::config::{ConfigError, RunnerConfig, RunnerSettings};
use crate::failure::TransientPolicy;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::robot::Robot;
use destiny_sdk::backoff::{jitter, Backoff};

/// Why [`Runner::run`] stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A poll failed in a way retrying cannot fix (401 bad signature, 403 wrong robot
    /// id, 404 wrong URL, an unreadable answer...). In-flight batches were drained first.
    #[error("polling failed and retrying cannot help: {0}")]
    Poll(#[source] ClientError),
    /// The health server could not listen on its address.
    #[error("cannot serve /health and /metrics on {addr}: {source}")]
    Health {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Run until drained: the work ran out, but some batches failed (reported with a
    /// batch error) or were given up (left to their leases). The final counters say
    /// which.
    #[error("drained with {} failed and {} abandoned batches", .0.batches_failed, .0.batches_abandoned)]
    Unfinished(Box<MetricsSnapshot>),
}

/// What every task of a runner shares.
pub(crate) struct Shared<R> {
    /// The robot.
    robot: R,
    /// The repository's robot API.
    client: RobotClient,
    /// The robot id polled for.
    robot_id: Uuid,
    /// Batch size, lease, concurrency, intervals.
    settings: RunnerSettings,
    /// Time between lease renewals.
    renew_every: Duration,
    /// Retries of transient robot failures.
    transient: TransientPolicy,
    /// Attempts for storage transfers and submits that fail transiently.
    io_attempts: u32,
    /// Delays between those attempts.
    io_backoff: Backoff,
    /// Counters.
    metrics: Metrics,
    /// The limits on the robot's own calls, shared by all batches.
    limiters: crate::limits::Limiters,
    /// The circuit breaker over the robot's transient failures.
    breaker: Arc<crate::breaker::Breaker>,
}

/// Runs a [`Robot`] against a repository: polls, renews leases, streams files, uploads,
/// submits, and shuts down gracefully.
///
/// ```no_run
/// use destiny_robot::{Runner, ToyRobot};
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// // DESTINY_REPOSITORY_URL, ROBOT_ID, ROBOT_SECRET, BATCH_SIZE, LEASE, ... from the environment.
/// let runner = Runner::from_env(ToyRobot::new())?;
/// let report = runner.run_until_signal().await?;
/// println!("{} references enhanced", report.references_enhanced);
/// # Ok(()) }
/// ```
pub struct Runner<R> {
    /// State shared with batch tasks.
    shared: Arc<Shared<R>>,
    /// Cancelled to stop polling and drain.
    shutdown: CancellationToken,
    /// Cancelled to abandon in-flight batches at once.
    abandon: CancellationToken,
    /// A listener for the health server given by the caller (instead of binding
    /// `health_listen`).
    health_listener: Option<TcpListener>,
}

impl<R: Robot> Runner<R> {
    /// A builder; give it a client or credentials, and settings.
    pub fn builder(robot: R) -> RunnerBuilder<R> {
        RunnerBuilder::new(robot)
    }

    /// A runner configured from the environment (see [`RunnerConfig`]).
    ///
    /// # Errors
    /// [`ConfigError`] for a missing or invalid variable.
    pub fn from_env(robot: R) -> Result<Self, ConfigError> {
        Self::builder(robot)
            .config(RunnerConfig::from_env()?)
            .build()
    }

    /// The runner's counters (live; also served on `/metrics`).
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics.clone()
    }

    /// The token that stops the runner: cancel it to stop polling and drain.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until SIGINT or SIGTERM (then as [`run`](Self::run) after its shutdown
    /// token is cancelled). A second signal abandons in-flight batches at once.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub async fn run_until_signal(self) -> Result<MetricsSnapshot, RunError> {
        let watcher = tokio::spawn(signals::watch(self.shutdown.clone(), self.abandon.clone()));
        let result = self.run().await;
        watcher.abort();
        result
    }

    /// Polls and processes batches until the shutdown token is cancelled, then finishes
    /// in-flight batches within the grace period (abandoning the rest) and returns the
    /// final counters. Run until drained ([`RunnerSettings::until_drained`]), it also
    /// stops once a poll made with no batch in flight finds no work.
    ///
    /// # Errors
    /// [`RunError::Health`] if the health server cannot listen; [`RunError::Poll`] when
    /// polling fails in a way retrying cannot fix (in-flight batches are drained first);
    /// run until drained, [`RunError::Unfinished`] when a batch failed or was given up.
    pub async fn run(self) -> Result<MetricsSnapshot, RunError> {
        let Runner {
            shared,
            shutdown,
            abandon,
            health_listener,
        } = self;
        let health_listener = match (health_listener, shared.settings.health_listen) {
            (Some(listener), _) => Some(listener),
            (None, Some(addr)) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| RunError::Health {
                            addr: addr.to_string(),
                            source,
                        })?,
                )
            }
            (None, None) => None,
        };
        let health_stop = CancellationToken::new();
        let health = health_listener.map(|listener| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /health and /metrics");
            }
            tokio::spawn(crate::health::serve(
                listener,
                shared.metrics.clone(),
                health_stop.clone().cancelled_owned(),
            ))
        });
        let info = shared.robot.info();
        let s = &shared.settings;
        tracing::info!(
            robot = %info.source,
            version = %info.version,
            robot_id = %shared.robot_id,
            batch_size = s.batch_size,
            lease = %s.lease,
            concurrent_batches = s.concurrent_batches,
            reference_concurrency = s.reference_concurrency,
            "robot runner started"
        );
        let mut tasks = JoinSet::new();
        let result = poll_loop(&shared, &shutdown, &abandon, &mut tasks).await;
        shared.metrics.set_draining();
        drain(
            &mut tasks,
            shared.settings.shutdown_grace,
            &abandon,
            &shared.metrics,
        )
        .await;
        health_stop.cancel();
        if let Some(health) = health {
            let _ = health.await;
        }
        let report = shared.metrics.snapshot();
        tracing::info!(
            batches_completed = report.batches_completed,
            batches_failed = report.batches_failed,
            batches_abandoned = report.batches_abandoned,
            references_enhanced = report.references_enhanced,
            references_failed = report.references_failed,
            "robot runner stopped"
        );
        result?;
        if shared.settings.until_drained && report.batches_failed + report.batches_abandoned > 0 {
            return Err(RunError::Unfinished(Box::new(report)));
        }
        Ok(report)
    }
}

/// Polls until shutdown, starting a task per batch.
async fn poll_loop<R: Robot>(
    shared: &Arc<Shared<R>>,
    shutdown: &CancellationToken,
    abandon: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<(), RunError> {
    let slots = Arc::new(Semaphore::new(shared.settings.concurrent_batches.max(1)));
    let failure_backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut failures = 0u32;
    // The batch out as the circuit breaker's probe.
    let mut probe: Option<tokio::task::Id> = None;
    loop {
        while let Some(done) = tasks.try_join_next_with_id() {
            end_task(done, &mut probe, shared);
        }
        if shared.breaker.is_probing() && probe.is_some() {
            // One probe at a time: wait for its verdict, or for its batch to end
            // without one.
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = shared.breaker.probe_verdict() => {}
                Some(done) = tasks.join_next_with_id() => end_task(done, &mut probe, shared),
            }
            continue;
        }
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
        };
        // Asked once a batch could be taken: a batch that ended meanwhile may have
        // opened the breaker.
        let probe_size = shared.breaker.before_poll(shutdown).await;
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let probing = probe_size.is_some();
        let limit = probe_size.unwrap_or(shared.settings.batch_size);
        let started = Instant::now();
        // A poll once sent is not cancelled by shutdown: the repository may already have
        // leased a batch for it, which would then sit leased until its lease ran out. Its
        // batch, if any, is in flight like the others and drained with them.
        let polled = shared
            .client
            .poll_robot_enhancement_batch(shared.robot_id, limit, Some(shared.settings.lease))
            .await;
        let latency = started.elapsed();
        let wait = match polled {
            Ok(Some(batch)) => {
                shared.metrics.poll(Some(true), latency);
                failures = 0;
                tracing::debug!(batch_id = %batch.id, poll_ms = latency.as_millis() as u64, "leased a batch");
                let task = tasks.spawn(batch::run(
                    Arc::clone(shared),
                    batch,
                    abandon.clone(),
                    permit,
                ));
                if probing {
                    probe = Some(task.id());
                }
                continue;
            }
            Ok(None) => {
                shared.metrics.poll(Some(false), latency);
                failures = 0;
                if probing {
                    shared.breaker.probe_ended(false);
                }
                if shared.settings.until_drained {
                    drop(permit);
                    // Work may arrive while batches are in flight (new requests, leases
                    // that ran out), so the run ends only when a poll made with no batch
                    // in flight finds nothing.
                    if tasks.is_empty() {
                        tracing::info!("drained: no work left and no batch in flight");
                        return Ok(());
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        Some(done) = tasks.join_next_with_id() => end_task(done, &mut probe, shared),
                    }
                    continue;
                }
                jitter(shared.settings.poll_interval)
            }
            Err(error) if !error.is_retryable() => {
                shared.metrics.poll(None, latency);
                tracing::error!(%error, "poll failed; stopping");
                return Err(RunError::Poll(error));
            }
            Err(error) => {
                shared.metrics.poll(None, latency);
                failures += 1;
                let wait = failure_backoff.delay(failures);
                if error.status() == Some(401) {
                    // The only retryable 401 is an expired timestamp, which the client
                    // already retried once with a fresh one: the clocks disagree.
                    tracing::error!(%error, failures, wait_ms = wait.as_millis() as u64,
                        "poll refused: this machine's clock is behind the repository's by more than the signature window (5 minutes); fix the clock (NTP). Backing off");
                } else {
                    tracing::warn!(%error, failures, wait_ms = wait.as_millis() as u64, "poll failed; backing off");
                }
                wait
            }
        };
        drop(permit);
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Waits for in-flight batches up to `grace`, then abandons the rest.
async fn drain(
    tasks: &mut JoinSet<()>,
    grace: Duration,
    abandon: &CancellationToken,
    metrics: &Metrics,
) {
    if tasks.is_empty() {
        return;
    }
    tracing::info!(
        in_flight = tasks.len(),
        grace_ms = grace.as_millis() as u64,
        "draining in-flight batches"
    );
    if tokio::time::timeout(grace, join_all(tasks, metrics))
        .await
        .is_ok()
    {
        return;
    }
    tracing::warn!(
        abandoned = tasks.len(),
        "shutdown grace period over: abandoning in-flight batches; their leases will lapse"
    );
    abandon.cancel();
    if tokio::time::timeout(Duration::from_secs(5), join_all(tasks, metrics))
        .await
        .is_err()
    {
        tasks.abort_all();
        join_all(tasks, metrics).await;
    }
}

async fn join_all(tasks: &mut JoinSet<()>, metrics: &Metrics) {
    while let Some(done) = tasks.join_next().await {
        log_task_end(done, metrics);
    }
}

/// Ends a batch task: logs it if it failed, and tells the circuit breaker when it was
/// the probe (a probe that ended with no verdict opens the breaker again).
fn end_task<R>(
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    probe: &mut Option<tokio::task::Id>,
    shared: &Shared<R>,
) {
    let id = match &done {
        Ok((id, ())) => *id,
        Err(error) => error.id(),
    };
    if *probe == Some(id) {
        *probe = None;
        shared.breaker.probe_ended(true);
    }
    log_task_end(done.map(|_| ()), &shared.metrics);
}

/// Logs a batch task that panicked (its lease lapses) or was aborted.
fn log_task_end(done: Result<(), tokio::task::JoinError>, metrics: &Metrics) {
    if let Err(error) = done {
        if error.is_panic() {
            tracing::error!(%error, "a batch task panicked; its lease will lapse");
        }
        metrics.batch_abandoned(crate::metrics::AbandonReason::Error);
    }
}
