//! Pending enhancements of large enhancement requests, written after the request is
//! answered.
//!
//! A request creates one pending enhancement per reference. A request of up to [`INLINE`]
//! references has them all written with it. A larger one (a corpus of 100,000
//! references) is answered once its first [`FIRST`] are written, so a poll right after
//! leases from it; the import worker writes the others here, [`CHUNK`] per transaction,
//! oldest request first.
//! Until the last is written the request counts them as pending (it cannot read as
//! finished), its legacy reference file waits ([`crate::request_files`]), and a legacy
//! result for it is refused.
//!
//! Each chunk waits while an enhancement request is answered
//! ([`crate::foreground`]). One server at a time writes them ([`ClusterKey::RequestRows`]). Each chunk commits
//! with the count written so far, so a server stopped midway leaves the rest to the next
//! round, of whichever server.

use crate::api::AppState;
use crate::clock::micros;
use crate::db::cluster_lock::ClusterKey;
use crate::error::ApiError;

/// The most references whose pending enhancements are all written with the request.
pub const INLINE: usize = 10_000;

/// How many pending enhancements a larger request has written with it: enough for polls
/// to lease from at once, few enough to answer in a fraction of a second.
pub const FIRST: usize = 1_000;

/// How many of a request's `references` pending enhancements are written with it.
pub fn with_request(references: usize) -> usize {
    if references <= INLINE {
        references
    } else {
        FIRST
    }
}

/// Pending enhancements written per transaction after the answer.
pub const CHUNK: usize = 10_000;

/// Writes the due pending enhancements of every request, oldest request first; returns at
/// once when another server holds the work.
///
/// # Errors
/// Database failures (the request then stays due).
pub async fn drain(state: &AppState) -> Result<(), ApiError> {
    // Most rounds find nothing due: asked first, on an index, before taking the lock.
    let db = &state.db;
    if db.request_rows_due().await? {
        db.exclusively(ClusterKey::RequestRows, drain_held(state)).await?;
    }
    Ok(())
}

async fn drain_held(state: &AppState) -> Result<(), ApiError> {
    let db = &state.db;
    while let Some(due) = db.next_due_rows().await? {
        // At least one write, the last of which records that all are written.
        let (total, mut from) = (due.reference_ids.len(), due.written);
        loop {
            let to = (from + CHUNK).min(total);
            // Enhancement requests first (`crate::foreground`).
            state.foreground.idle().await;
            db.write_due_rows(&due, from, to, micros(state.clock.now()))
                .await?;
            state.changed();
            if to == total {
                break;
            }
            from = to;
        }
        tracing::info!(request = %due.request, references = total, "request's pending enhancements written");
    }
    Ok(())
}
