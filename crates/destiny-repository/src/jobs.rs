//! Background work: the expiry job (leases that ran out) and the import worker (result
//! files), each a loop that stops when the shutdown token fires.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

use crate::api::AppState;
use crate::clock::micros;

/// Runs the expiry job every `interval` until `shutdown` turns true.
pub async fn expiry_loop(state: AppState, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        let now = micros(state.clock.now());
        match state.db.expire_due(now, None).await {
            Ok(r) if r.expired > 0 => {
                tracing::info!(expired = r.expired, retried = r.retried, "expired leases")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiry job failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Imports queued result files, one at a time per worker, until `shutdown` turns true;
/// woken by `wake` when a result is submitted, and polls the queue every second
/// otherwise. Several workers may run at once: each takes a different queued import.
///
/// An import that fails (storage full, database gone) goes back to the queue; when even
/// that fails, it is retried before any other import, so no batch is left `running`
/// until the next start-up.
pub async fn import_loop(state: AppState, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut failed: Option<uuid::Uuid> = None;
    loop {
        while failed.is_none() {
            if *shutdown.borrow() {
                return;
            }
            match state.db.next_import().await {
                Ok(Some(batch)) => {
                    let now = micros(state.clock.now());
                    match crate::import::import_batch(&state.db, state.blobs.store(), batch, now)
                        .await
                    {
                        Ok(r) => {
                            tracing::info!(%batch, completed = r.completed, discarded = r.discarded, failed = r.failed, "imported batch result");
                            state.db.note_changes(r.completed + r.discarded + r.failed);
                        }
                        Err(e) => {
                            tracing::warn!(%batch, error = %e, "import failed; requeued");
                            failed = Some(batch);
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "import queue unavailable");
                    break;
                }
            }
        }
        if let Some(batch) = failed {
            match state.db.requeue_import(batch).await {
                Ok(()) => failed = None,
                Err(e) => {
                    tracing::warn!(%batch, error = %e, "cannot requeue a failed import; will retry")
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
