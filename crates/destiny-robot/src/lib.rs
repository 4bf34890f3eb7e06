//! # destiny-robot
//!
//! The runtime for robots of the DESTINY evidence repository. Write a robot as one async
//! function per reference; the runtime polls for batches, renews their leases, streams
//! the reference files, spools and uploads results, submits each batch once, retries
//! what is transient, and shuts down without losing or falsely failing work.
//!
//! ```no_run
//! use destiny_robot::{Context, Outcome, Robot, RobotFailure, RobotInfo, Runner};
//! use destiny_sdk::models::{AbstractContent, AbstractProcessType, EnhancementContent, Reference};
//!
//! struct Shouty;
//!
//! impl Robot for Shouty {
//!     fn info(&self) -> RobotInfo {
//!         RobotInfo::new("Shouty Robot", env!("CARGO_PKG_VERSION"))
//!     }
//!
//!     async fn enhance(&self, reference: &Reference, _ctx: &Context) -> Outcome {
//!         let Some(ids) = &reference.identifiers else {
//!             return Err(RobotFailure::permanent("no identifiers"));
//!         };
//!         Ok(EnhancementContent::Abstract(AbstractContent {
//!             process: AbstractProcessType::Other,
//!             abstract_: format!("{} IDENTIFIERS!", ids.len()),
//!         })
//!         .into())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // DESTINY_REPOSITORY_URL, ROBOT_ID, ROBOT_SECRET, BATCH_SIZE, LEASE, ...
//!     Runner::from_env(Shouty)?.run_until_signal().await?;
//!     Ok(())
//! }
//! ```
//!
//! ## What the runtime guarantees
//! - Work is never held in memory as a whole: reference files are streamed line by line
//!   into at most `REFERENCE_CONCURRENCY` concurrent calls, results are spooled to a
//!   temporary file and streamed up (`x-ms-blob-type: BlockBlob`,
//!   `Content-Type: application/jsonl`, a known length).
//! - A batch's lease is renewed in the background (every half lease by default); when
//!   the repository says it is gone (409), the batch stops and nothing is submitted.
//! - A batch's result is submitted once; a refusal (422, the lease ran out) is logged
//!   and dropped, never followed by a failure report.
//! - Polls repeat at once while batches come back; only an empty poll or a failure
//!   waits (jittered, failures backing off exponentially).
//! - On SIGINT/SIGTERM polling stops and in-flight batches get `SHUTDOWN_GRACE` to
//!   finish; the rest are abandoned to their leases (nothing false is reported).
//! - Run until drained (`RUN_UNTIL_DRAINED`, for scheduled jobs), the runner stops once a
//!   poll made with no batch in flight finds no work, and fails
//!   ([`RunError::Unfinished`]) if a batch failed or was given up.
//!
//! ## Layout
//! - [`robot`]: the [`Robot`] trait, [`RobotInfo`], [`Context`], [`Enhanced`].
//! - [`failure`]: [`RobotFailure`] and its [`FailureKind`]s, [`TransientPolicy`].
//! - [`runner`]: [`Runner`] and [`RunnerBuilder`]: polling, batches, leases, storage,
//!   shutdown.
//! - [`breaker`]: the circuit breaker over transient failures ([`BreakerPolicy`]).
//! - [`limits`]: [`CallLimit`], [`CallLimits`], [`Limiter`]: rate and at-once limits on the
//!   robot's own outbound calls, shared by a runner's batches ([`Context::limited`]).
//! - [`config`]: [`RunnerConfig`] / [`RunnerSettings`] from the environment.
//! - [`offline`]: [`run_offline`], the same processing over files, no repository.
//! - [`metrics`] and [`health`]: counters, `/health` and `/metrics` (OpenMetrics text, by `prometheus-client`).
//! - [`toy`]: [`ToyRobot`], the reference toy robot.
//! - internal: `process` (the shared processing path), `lines` (line splitting),
//!   `spool` (result files); delays come from `destiny_sdk::backoff`.

#![warn(missing_docs)]

pub mod breaker;
pub mod config;
pub mod failure;
pub mod health;
pub mod limits;
mod lines;
pub mod metrics;
pub mod offline;
mod process;
pub mod robot;
pub mod runner;
mod spool;
pub mod toy;

pub use breaker::BreakerPolicy;
pub use config::{ConfigError, RunnerConfig, RunnerSettings};
pub use failure::{FailureKind, RobotFailure, TransientPolicy, WhenExhausted};
pub use limits::{CallLimit, CallLimits, Limiter};
pub use metrics::{AbandonReason, Metrics, MetricsSnapshot};
pub use offline::{run_offline, run_offline_files, OfflineError, OfflineOptions};
pub use process::ProcessReport;
pub use robot::{Context, Enhanced, Outcome, Robot, RobotInfo};
pub use runner::{RunError, Runner, RunnerBuilder};
pub use spool::SinkError;
pub use toy::ToyRobot;
