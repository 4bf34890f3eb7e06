//! Keeping a batch's lease: renew in the background before it runs out; a renewal the
//! repository refuses (409: nothing left to renew, the lease ran out) ends the batch.

use std::time::Duration;

use destiny_sdk::client::ClientError;
use uuid::Uuid;

use super::Shared;

/// Renews the lease of `batch_id` every `renew_every` for as long as it is polled, and
/// returns only when the lease is lost: a 409 (nothing left in processing: the lease ran
/// out or the work was taken away), 403 or 404. Other failures are retried sooner.
pub(super) async fn keep<R>(shared: &Shared<R>, batch_id: Uuid) -> ClientError {
    let mut wait = shared.renew_every;
    loop {
        tokio::time::sleep(wait).await;
        match shared
            .client
            .renew_robot_enhancement_batch_lease(batch_id, Some(shared.settings.lease))
            .await
        {
            Ok(expiry) => {
                shared.metrics.lease_renewed();
                tracing::debug!(%expiry, "lease renewed");
                wait = shared.renew_every;
            }
            Err(error) if matches!(error.status(), Some(409 | 403 | 404)) => return error,
            Err(error) => {
                wait = (shared.renew_every / 4).max(Duration::from_millis(50));
                tracing::warn!(%error, retry_ms = wait.as_millis() as u64, "lease renewal failed; retrying");
            }
        }
    }
}
