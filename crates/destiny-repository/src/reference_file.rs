//! Reference files: the references of a batch (or of a legacy request) written as JSONL,
//! one `Reference` with its enhancements per line, as robots download them (spec §4).

use destiny_sdk::jsonl;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::blob::{BlobKey, BlobStore};
use crate::db::references::references_in;
use crate::error::ApiError;

/// References read from the database per round trip (and per write to the blob).
const CHUNK: usize = 500;

/// Writes the references `ids` (in that order; unknown ids are left out) to the blob
/// `key`, reading them on `conn` a chunk at a time and streaming each chunk to the
/// store, so a 10,000-reference file is never held in memory. The blob appears only
/// when complete.
///
/// # Errors
/// [`ApiError::Storage`] (503) when the blob store fails (full disk included); database
/// errors.
pub async fn write(
    store: &BlobStore,
    key: &str,
    conn: &mut AnyConnection,
    ids: &[Uuid],
) -> Result<(), ApiError> {
    let key = BlobKey::new(key)?;
    let mut writer = store.create(&key).await?;
    let mut buf = Vec::with_capacity(256 * 1024);
    for chunk in ids.chunks(CHUNK) {
        for r in references_in(conn, chunk).await? {
            jsonl::append_line(&mut buf, &r).map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        writer.write(&buf).await?;
        buf.clear();
    }
    writer.commit().await?;
    Ok(())
}
