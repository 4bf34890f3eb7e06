//! One batch, from lease to submit.
//!
//! The work (download → robot → spool → upload) runs beside the lease keeper; whichever
//! ends first decides: finished work is submitted, a lost lease stops the work without
//! submitting, and so does the shutdown's abandon signal. The result is submitted once:
//! either the result file (`error: null`) or, when the robot declared the batch failed,
//! a batch-level error; a 422 (the lease ran out first) is logged and dropped, never
//! followed by a failure report.

use std::sync::Arc;
use std::time::Instant;

use destiny_sdk::client::ClientError;
use destiny_sdk::models::{RobotEnhancementBatch, RobotEnhancementBatchResult, RobotError};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::storage::{self, BatchUrls, StorageError};
use super::{lease, Shared};
use crate::metrics::AbandonReason;
use crate::process::{process, ProcessError, ProcessReport, ProcessSettings, Verdict};
use crate::robot::Robot;
use crate::spool::{SinkError, Spool};

/// Processes `batch` and reports on it; holds `permit` (a batch slot) until done.
pub(super) async fn run<R: Robot>(
    shared: Arc<Shared<R>>,
    batch: RobotEnhancementBatch,
    abandon: CancellationToken,
    permit: OwnedSemaphorePermit,
) {
    let span = tracing::info_span!("batch", batch_id = %batch.id);
    run_batch(&shared, batch, &abandon).instrument(span).await;
    drop(permit);
}

/// What ended a batch's work.
enum Ended {
    /// Shutdown's grace period ran out.
    Abandoned,
    /// A renewal was refused.
    LeaseLost(ClientError),
    /// The work ended.
    Work(Result<Produced, BatchError>),
}

/// What the work produced.
enum Produced {
    /// The result file is uploaded.
    Uploaded(ProcessReport),
    /// The robot declared the batch failed.
    Fatal(String),
    /// Transient failures outlasted their retries; leave the batch to its lease.
    LeaveToLease(String),
}

/// A failure of the work.
#[derive(Debug, thiserror::Error)]
enum BatchError {
    /// Downloading or uploading failed beyond retries.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading references or writing results failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The spool could not be created or finished.
    #[error(transparent)]
    Spool(#[from] SinkError),
}

async fn run_batch<R: Robot>(
    shared: &Shared<R>,
    batch: RobotEnhancementBatch,
    abandon: &CancellationToken,
) {
    let _in_flight = shared.metrics.in_flight();
    let started = Instant::now();
    let urls = BatchUrls::new(batch);
    let cancel = CancellationToken::new();
    let _cancel_robot_on_exit = cancel.clone().drop_guard();
    let ended = tokio::select! {
        biased;
        () = abandon.cancelled() => Ended::Abandoned,
        lost = lease::keep(shared, urls.id) => Ended::LeaseLost(lost),
        work = produce(shared, &urls, &cancel) => Ended::Work(work),
    };
    let metrics = &shared.metrics;
    match ended {
        Ended::Abandoned => {
            tracing::warn!("abandoned at shutdown; its lease will lapse");
            metrics.batch_abandoned(AbandonReason::Shutdown);
        }
        Ended::LeaseLost(error) => {
            tracing::warn!(%error, "lease lost; stopped without submitting");
            metrics.batch_abandoned(AbandonReason::LeaseLost);
        }
        Ended::Work(Ok(Produced::Uploaded(report))) => {
            submit(shared, &urls, None, report, started, abandon).await;
        }
        Ended::Work(Ok(Produced::Fatal(message))) => {
            tracing::warn!(%message, "the robot failed the batch; reporting it");
            submit(
                shared,
                &urls,
                Some(message),
                ProcessReport::default(),
                started,
                abandon,
            )
            .await;
        }
        Ended::Work(Ok(Produced::LeaveToLease(message))) => {
            tracing::warn!(%message, "transient failures outlasted their retries; leaving the batch to its lease");
            metrics.batch_abandoned(AbandonReason::Transient);
        }
        Ended::Work(Err(error)) => {
            tracing::error!(%error, "batch failed; leaving it to its lease");
            metrics.batch_abandoned(AbandonReason::Error);
        }
    }
}

/// Download → robot → spool → upload.
async fn produce<R: Robot>(
    shared: &Shared<R>,
    urls: &BatchUrls,
    cancel: &CancellationToken,
) -> Result<Produced, BatchError> {
    let input = storage::reference_lines(shared, urls);
    let mut sink = Spool::create()?;
    let settings = ProcessSettings {
        reference_concurrency: shared.settings.reference_concurrency,
        transient: shared.transient,
        batch_id: Some(urls.id),
        cancel: cancel.clone(),
        limiters: shared.limiters.clone(),
        breaker: Some(Arc::clone(&shared.breaker)),
    };
    let (report, verdict) = process(&shared.robot, input, &mut sink, &settings).await?;
    shared.metrics.reference_retries(report.retries);
    match verdict {
        Verdict::Finished => {
            let spool = Spool::finish(sink).await?;
            tracing::debug!(
                bytes = spool.len(),
                lines = spool.lines(),
                "results spooled; uploading"
            );
            storage::upload(shared, urls, &spool).await?;
            Ok(Produced::Uploaded(report))
        }
        Verdict::FatalBatch(message) => Ok(Produced::Fatal(message)),
        Verdict::LeaveToLease(message) => Ok(Produced::LeaveToLease(message)),
    }
}

/// Submits the batch's result (or its error), once: transient failures are retried
/// (the repository refuses a second submit of the same batch with 422, so a retry
/// cannot apply twice); a 422 is logged and dropped.
async fn submit<R>(
    shared: &Shared<R>,
    urls: &BatchUrls,
    error: Option<String>,
    report: ProcessReport,
    started: Instant,
    abandon: &CancellationToken,
) {
    let failed = error.is_some();
    let result = RobotEnhancementBatchResult {
        request_id: urls.id,
        error: error.map(|message| RobotError { message }),
    };
    let metrics = &shared.metrics;
    let mut attempt = 1;
    loop {
        let sent = tokio::select! {
            biased;
            () = abandon.cancelled() => {
                tracing::warn!("abandoned at shutdown while submitting");
                metrics.batch_abandoned(AbandonReason::Shutdown);
                return;
            }
            sent = shared.client.send_robot_enhancement_batch_result(&result) => sent,
        };
        let error = match sent {
            Ok(_) => break,
            Err(e) => e,
        };
        if error.status() == Some(422) {
            if attempt > 1 {
                tracing::warn!(%error, "a retried submit was refused; the earlier attempt was most likely applied");
                break;
            }
            tracing::warn!(%error, "the repository refused the result (the lease ran out); dropped");
            metrics.batch_abandoned(AbandonReason::SubmitRefused);
            return;
        }
        if !error.is_retryable() || attempt >= shared.io_attempts {
            tracing::error!(%error, "could not submit the batch result; its lease will lapse");
            metrics.batch_abandoned(AbandonReason::Error);
            return;
        }
        let wait = shared.io_backoff.delay(attempt);
        attempt += 1;
        tracing::warn!(%error, attempt, wait_ms = wait.as_millis() as u64, "submit failed; retrying");
        tokio::time::sleep(wait).await;
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if failed {
        metrics.batch_failed();
        tracing::info!(elapsed_ms, "batch reported failed");
    } else {
        metrics.batch_completed(report.enhanced, report.failed);
        tracing::info!(
            enhanced = report.enhanced,
            failed = report.failed,
            skipped = report.skipped,
            retries = report.retries,
            elapsed_ms,
            "batch submitted"
        );
    }
}
