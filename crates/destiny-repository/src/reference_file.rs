//! Reference files: the references of a batch (or of a legacy request) written as JSONL,
//! one `Reference` with its enhancements per line, as robots download them (spec §4).

use std::collections::BTreeSet;

use destiny_sdk::jsonl;
use destiny_sdk::models::{EnhancementContent, RobotEntitlement};
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;

use crate::blob::{BlobKey, Store};
use crate::foreground::Foreground;
use crate::db::Db;
use crate::error::ApiError;

/// References read from the database per round trip (and per write to the blob).
const CHUNK: usize = 500;

/// What the robot a reference file is written for may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reader {
    /// It holds the `full_text` entitlement: full-text enhancements are kept.
    pub full_text: bool,
}

impl Reader {
    /// The reader a robot holding `entitlements` is.
    pub fn of(entitlements: &BTreeSet<RobotEntitlement>) -> Self {
        Self {
            full_text: entitlements.contains(&RobotEntitlement::FullText),
        }
    }
}

/// Chunks read at the same time while one is written.
const READ_AHEAD: usize = 2;

/// Writes the references `ids` (in that order; unknown ids are left out) to the blob
/// `key`, a chunk at a time: each chunk is read on a pooled connection that goes back to
/// the pool before the chunk is written to the store, so no connection is held while
/// the file is written, and a 10,000-reference file is never held in memory (the next
/// `READ_AHEAD` chunks are read while one is written). The blob appears only when
/// complete.
///
/// Lines are joined from the JSON pieces stored with each row ([`Db::reference_lines`]);
/// a chunk holding rows stored before the pieces were is written from the models.
///
/// `reader` is what the robot it is for may read: without [`Reader::full_text`] its full
/// texts are left out (redacted, as the repository does: the enhancement is dropped, not
/// masked).
///
/// With `pace` (bulk work in the background), each chunk is read once no foreground
/// request is in flight ([`Foreground::idle`]).
///
/// # Errors
/// [`ApiError::Storage`] (503) when the blob store fails (full disk included); database
/// errors.
pub async fn write(
    store: &Store,
    key: &str,
    db: &Db,
    ids: &[Uuid],
    reader: Reader,
    pace: Option<&Foreground>,
) -> Result<(), ApiError> {
    let key = BlobKey::new(key)?;
    let mut writer = store.create(&key).await?;
    // Each chunk is read by a task of its own, so reading goes on while this one writes;
    // a poll dropped mid-file (its client went away) stops the reads it started.
    let read = |chunk: &[Uuid]| {
        let (db, chunk) = (db.clone(), chunk.to_vec());
        AbortOnDropHandle::new(tokio::spawn(async move { lines(&db, &chunk, reader).await }))
    };
    let mut chunks = ids.chunks(CHUNK);
    let mut reading: std::collections::VecDeque<_> =
        chunks.by_ref().take(READ_AHEAD).map(read).collect();
    while let Some(task) = reading.pop_front() {
        let buf = task
            .await
            .map_err(|e| ApiError::Internal(format!("reading a reference file failed: {e}")))??;
        if let Some(foreground) = pace {
            foreground.idle().await;
        }
        reading.extend(chunks.next().map(read));
        writer.write(&buf).await?;
    }
    writer.commit().await?;
    Ok(())
}

/// The lines of the references `chunk`, for `reader`.
async fn lines(db: &Db, chunk: &[Uuid], reader: Reader) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::with_capacity(CHUNK * 2048);
    if db.reference_lines(chunk, reader.full_text, &mut buf).await? {
        return Ok(buf);
    }
    for mut r in db.references_by_id(chunk).await? {
        if !reader.full_text {
            if let Some(list) = r.enhancements.as_mut() {
                list.retain(|e| !matches!(e.content, EnhancementContent::FullText(_)));
            }
        }
        jsonl::append_line(&mut buf, &r).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(buf)
}
