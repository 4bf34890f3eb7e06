//! Background work: the expiry job (leases that ran out) and the import worker (result
//! files), each a loop that stops when the shutdown token fires.

use destiny_sdk::models::RobotResultValidationEntry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::clock::micros;
use crate::db::imports::TakenImport;
use crate::error::ApiError;
use crate::import::write_validation_file;

/// Runs the expiry job every `interval` until `shutdown` is cancelled.
pub async fn expiry_loop(state: AppState, interval: Duration, shutdown: CancellationToken) {
    loop {
        let now = micros(state.clock.now());
        match state.db.expire_due(now, None).await {
            Ok(r) if r.expired > 0 => {
                state.metrics.expired(r.expired, r.retried);
                tracing::info!(expired = r.expired, retried = r.retried, "expired leases")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiry job failed; will retry"),
        }
        state.changed();
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Attempts an import gets before it is given up (an attempt a crash interrupted counts).
pub const MAX_IMPORT_ATTEMPTS: u32 = 8;
/// The wait before the second attempt of a failed import; it doubles with each attempt
/// after, up to [`MAX_IMPORT_BACKOFF`] (1, 2, 4, … 60 s: about two minutes in all before
/// the eighth attempt).
pub const FIRST_IMPORT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts of an import.
pub const MAX_IMPORT_BACKOFF: Duration = Duration::from_secs(60);

/// What becomes of an import whose attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// The failure may pass (database busy or unreachable, storage full): queue the import
    /// again, to be taken no earlier than `wait` from now.
    Retry {
        /// The backoff.
        wait: Duration,
        /// The failure, kept as the batch's last import error.
        why: String,
    },
    /// A retry cannot help (the database refuses the data, a bug) or the attempts ran
    /// out: the batch fails, each of its references with a validation line saying this.
    GiveUp(String),
}

/// Decides what becomes of attempt number `attempt` (1 for the first) that failed with
/// `error`.
///
/// ```
/// use destiny_repository::error::ApiError;
/// use destiny_repository::jobs::{after_failure, AfterFailure, MAX_IMPORT_ATTEMPTS};
/// use std::time::Duration;
/// let busy = ApiError::Unavailable("database is locked".into());
/// assert!(matches!(after_failure(3, &busy), AfterFailure::Retry { wait, .. } if wait == Duration::from_secs(4)));
/// // Doubling stops at the cap.
/// assert!(matches!(after_failure(7, &busy), AfterFailure::Retry { wait, .. } if wait == Duration::from_secs(60)));
/// assert!(matches!(after_failure(MAX_IMPORT_ATTEMPTS, &busy), AfterFailure::GiveUp(_)));
/// let refused = ApiError::Unprocessable("The database refused a value".into());
/// assert!(matches!(after_failure(1, &refused), AfterFailure::GiveUp(_)));
/// ```
pub fn after_failure(attempt: u32, error: &ApiError) -> AfterFailure {
    if !error.is_transient() {
        AfterFailure::GiveUp(format!("The result could not be imported: {error}"))
    } else if attempt >= MAX_IMPORT_ATTEMPTS {
        AfterFailure::GiveUp(format!(
            "The result could not be imported in {attempt} attempts; the last failed with: {error}"
        ))
    } else {
        AfterFailure::Retry {
            wait: destiny_sdk::backoff::Backoff::new(FIRST_IMPORT_BACKOFF, MAX_IMPORT_BACKOFF)
                .full(attempt),
            why: error.to_string(),
        }
    }
}

/// Imports queued result files, one at a time per worker, until `shutdown` is cancelled;
/// woken by `wake` when a result is submitted, and polls the queue every second
/// otherwise. Several workers may run at once: each takes a different queued import.
///
/// An attempt that fails is decided by [`after_failure`]: retried later (the import
/// waits out its backoff in the queue while the others go on) or given up (the batch
/// fails, with validation lines saying why). When even recording that fails (the
/// database is gone), it is recorded before any other import is taken, so no batch is
/// left `running` until the next start-up.
pub async fn import_loop(state: AppState, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut unrecorded: Option<(TakenImport, AfterFailure)> = None;
    loop {
        if let Some((taken, next)) = &unrecorded {
            match record_failure(&state, *taken, next).await {
                Ok(()) => {
                    unrecorded = None;
                    state.changed();
                }
                Err(e) => {
                    tracing::warn!(batch = %taken.batch, error = %e, "cannot record a failed import; will retry")
                }
            }
        }
        while unrecorded.is_none() {
            if shutdown.is_cancelled() {
                return;
            }
            let now = state.clock.now();
            let lease_until = now.checked_add(state.config.import_lease).unwrap_or(now);
            match state.db.next_import(micros(now), micros(lease_until)).await {
                Ok(Some(taken)) => {
                    if let Some(next) = attempt(&state, taken).await {
                        if let Err(e) = record_failure(&state, taken, &next).await {
                            tracing::warn!(batch = %taken.batch, error = %e, "cannot record a failed import; will retry");
                            unrecorded = Some((taken, next));
                        }
                    }
                    state.changed();
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "import queue unavailable");
                    break;
                }
            }
        }
        // Then the pending enhancements of large requests (a failed chunk stays due).
        if let Err(e) = crate::request_rows::drain(&state).await {
            tracing::warn!(error = %e, "cannot write a request's pending enhancements; will retry");
        }
        // Then the reference files of large requests (a failed write stays due).
        if let Err(e) = crate::request_files::drain(&state).await {
            tracing::warn!(error = %e, "cannot write a request's reference file; will retry");
        }
        // Then what imports queued for the automations (a failed match stays queued).
        if let Err(e) = crate::percolate::drain(&state).await {
            tracing::warn!(error = %e, "cannot match against the automations; will retry");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One attempt at a taken import, its lease extended while it runs; `None` when it was
/// imported, or when another worker took it over (the lease could not be extended for
/// as long as it lasts: this server lost the database, or stalled) and this attempt
/// stopped.
async fn attempt(state: &AppState, taken: TakenImport) -> Option<AfterFailure> {
    let batch = taken.batch;
    if taken.attempt > MAX_IMPORT_ATTEMPTS {
        // Its earlier attempts never finished (the server stopped mid-import each time).
        return Some(AfterFailure::GiveUp(format!(
            "The result could not be imported: {} attempts did not finish.",
            taken.attempt - 1
        )));
    }
    let now = micros(state.clock.now());
    let import = crate::import::import_batch(&state.db, state.blobs.store(), taken, now);
    let outcome = tokio::select! {
        outcome = import => outcome,
        () = keep_import_lease(state, taken) => {
            tracing::warn!(%batch, attempt = taken.attempt, "import taken over by another worker; this attempt stops");
            return None;
        }
    };
    match outcome {
        Ok(Some(r)) => {
            tracing::info!(%batch, completed = r.completed, discarded = r.discarded, failed = r.failed, "imported batch result");
            state.db.note_changes(r.completed + r.discarded + r.failed);
            state.metrics.imported(r.completed, r.discarded, r.failed);
            None
        }
        Ok(None) => {
            tracing::warn!(%batch, attempt = taken.attempt, "import taken over by another worker before it finished; nothing of this attempt applied");
            None
        }
        Err(e) => {
            let next = after_failure(taken.attempt, &e);
            match &next {
                AfterFailure::Retry { wait, .. } => tracing::warn!(
                    %batch, attempt = taken.attempt, error = %e, wait_s = wait.as_secs(),
                    "import failed; it will be retried"
                ),
                AfterFailure::GiveUp(_) => tracing::warn!(
                    %batch, attempt = taken.attempt, error = %e,
                    "import failed and cannot be retried; its batch fails"
                ),
            }
            Some(next)
        }
    }
}

/// Extends the lease of `taken` every third of the import lease, for as long as it holds
/// it; returns once it does not (taken over). A failed extension (the database is
/// unreachable) is tried again at the next beat: the lease still runs meanwhile.
pub async fn keep_import_lease(state: &AppState, taken: TakenImport) {
    let lease = state.config.import_lease;
    let beat = (lease / 3).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    loop {
        ticks.tick().await;
        let now = state.clock.now();
        let until = now.checked_add(lease).unwrap_or(now);
        match state.db.extend_import_lease(taken, micros(until)).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(batch = %taken.batch, error = %e, "cannot extend an import's lease; will retry")
            }
        }
    }
}

/// Records the fate of a failed attempt: back in the queue after its backoff, or the
/// batch failed with a validation file whose lines say why (one per reference that was
/// being imported). A validation file that cannot be written (storage full) does not keep
/// the batch from failing; it then has none.
///
/// # Errors
/// Database errors: nothing was recorded, and the import is still `running`.
async fn record_failure(
    state: &AppState,
    taken: TakenImport,
    next: &AfterFailure,
) -> Result<(), ApiError> {
    let batch = taken.batch;
    let now = state.clock.now();
    match next {
        AfterFailure::Retry { wait, why } => {
            let due = now.checked_add(*wait).unwrap_or(now);
            state.db.retry_import_later(taken, micros(due), why).await
        }
        AfterFailure::GiveUp(why) => {
            let record = state.db.batch(batch, None).await?;
            let key = record.validation_key(taken.attempt);
            let refs = state.db.importing_refs(batch).await?;
            let lines: Vec<RobotResultValidationEntry> = refs
                .iter()
                .map(|p| RobotResultValidationEntry {
                    reference_id: Some(p.reference_id),
                    error: Some(why.clone()),
                })
                .collect();
            let written = match write_validation_file(state.blobs.store(), &key, &lines).await {
                Ok(()) => Some(key.as_str()),
                Err(e) => {
                    tracing::warn!(%batch, error = %e, "the validation file of a failed import cannot be written");
                    None
                }
            };
            let failed = state
                .db
                .fail_import(taken, why, written, micros(now))
                .await?;
            state.db.note_changes(failed);
            state.metrics.import_failed(failed);
            tracing::warn!(%batch, failed, why = %why, "import given up; its batch failed");
            Ok(())
        }
    }
}
