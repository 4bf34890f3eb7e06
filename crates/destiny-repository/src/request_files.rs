//! Reference files of large enhancement requests, written after the request is answered.
//!
//! Every request carries a reference file of its own for the legacy result flow
//! ([`crate::db::legacy`]). Up to [`crate::request_rows::INLINE`] references it is
//! written before the request is recorded; a larger request (100,000 references make
//! hundreds of megabytes) is answered at once and its file written here, by the import
//! worker, oldest request first, once all its pending enhancements are
//! ([`crate::request_rows`]). Until then the request has no `reference_data_url`; a robot
//! polling batches is not held up, as batches have files of their own.
//!
//! One server at a time writes them ([`ClusterKey::RequestFiles`]); a write that fails
//! (the store is full or away) leaves the request due and is tried again on the worker's
//! next round.

use crate::api::AppState;
use crate::db::cluster_lock::ClusterKey;
use crate::error::ApiError;
use crate::reference_file::Reader;
use uuid::Uuid;

/// Whether the reference file of a request of `references` is written with it: as its
/// pending enhancements are, up to [`crate::request_rows::INLINE`] references.
pub fn with_request(references: usize) -> bool {
    references <= crate::request_rows::INLINE
}

/// Writes every due reference file, oldest request first; returns at once when another
/// server holds the work.
///
/// # Errors
/// Database or storage failures (the file then stays due).
pub async fn drain(state: &AppState) -> Result<(), ApiError> {
    // Most rounds find nothing due: asked first, on an index, before taking the lock.
    let db = &state.db;
    if db.reference_file_due().await? {
        db.exclusively(ClusterKey::RequestFiles, drain_held(state)).await?;
    }
    Ok(())
}

/// Writes the reference file of request `id` for `robot`: its references `ids`, in order,
/// as that robot may read them; `paced` (in the background) steps aside for enhancement
/// requests in flight ([`crate::foreground`]), as the request writing it inline must not.
///
/// # Errors
/// Database or storage failures.
pub(crate) async fn write(
    state: &AppState,
    id: Uuid,
    robot: Uuid,
    ids: &[Uuid],
    paced: bool,
) -> Result<(), ApiError> {
    let (key, _) = crate::db::requests::request_files(id);
    let reader = Reader::of(&state.db.robot_entitlements(robot).await?);
    let pace = paced.then_some(&state.foreground);
    crate::reference_file::write(state.blobs.store(), &key, &state.db, ids, reader, pace).await
}

async fn drain_held(state: &AppState) -> Result<(), ApiError> {
    while let Some(due) = state.db.next_due_reference_file().await? {
        write(state, due.id, due.robot_id, &due.reference_ids, true).await?;
        tracing::info!(request = %due.id, references = due.reference_ids.len(), "request reference file written");
        state.db.reference_file_written(due.id).await?;
        state.changed();
    }
    Ok(())
}
