//! Reference files: the references of a batch (or of a legacy request) written as JSONL,
//! one `Reference` with its enhancements per line, as robots download them (spec §4).

use destiny_sdk::jsonl;
use uuid::Uuid;

use crate::blob::{BlobKey, BlobStore};
use crate::db::Db;
use crate::error::ApiError;

/// References read from the database per round trip (and per write to the blob).
const CHUNK: usize = 500;

/// Writes the references `ids` (in that order; unknown ids are left out) to the blob
/// `key`, a chunk at a time: each chunk is read on a pooled connection that goes back to
/// the pool before the chunk is written to the store, so no connection is held while
/// the file is written, and a 10,000-reference file is never held in memory. The blob
/// appears only when complete.
///
/// # Errors
/// [`ApiError::Storage`] (503) when the blob store fails (full disk included); database
/// errors.
pub async fn write(store: &BlobStore, key: &str, db: &Db, ids: &[Uuid]) -> Result<(), ApiError> {
    let key = BlobKey::new(key)?;
    let mut writer = store.create(&key).await?;
    let mut buf = Vec::with_capacity(256 * 1024);
    for chunk in ids.chunks(CHUNK) {
        for r in db.references_by_id(chunk).await? {
            jsonl::append_line(&mut buf, &r).map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        writer.write(&buf).await?;
        buf.clear();
    }
    writer.commit().await?;
    Ok(())
}
