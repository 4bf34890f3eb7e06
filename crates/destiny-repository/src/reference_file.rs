//! Reference files: the references of a batch (or of a legacy request) written as JSONL,
//! one `Reference` with its enhancements per line, as robots download them (spec §4).

use std::collections::BTreeSet;

use destiny_sdk::jsonl;
use destiny_sdk::models::{EnhancementContent, RobotEntitlement};
use uuid::Uuid;

use crate::blob::{BlobKey, Store};
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

/// Writes the references `ids` (in that order; unknown ids are left out) to the blob
/// `key`, a chunk at a time: each chunk is read on a pooled connection that goes back to
/// the pool before the chunk is written to the store, so no connection is held while
/// the file is written, and a 10,000-reference file is never held in memory. The blob
/// appears only when complete.
///
/// `reader` is what the robot it is for may read: without [`Reader::full_text`] its full
/// texts are left out (redacted, as the repository does: the enhancement is dropped, not
/// masked).
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
) -> Result<(), ApiError> {
    let key = BlobKey::new(key)?;
    let mut writer = store.create(&key).await?;
    let mut buf = Vec::with_capacity(256 * 1024);
    for chunk in ids.chunks(CHUNK) {
        if db.reference_lines(chunk, reader.full_text, &mut buf).await? {
            writer.write(&buf).await?;
            buf.clear();
            continue;
        }
        for mut r in db.references_by_id(chunk).await? {
            if !reader.full_text {
                if let Some(list) = r.enhancements.as_mut() {
                    list.retain(|e| !matches!(e.content, EnhancementContent::FullText(_)));
                }
            }
            jsonl::append_line(&mut buf, &r).map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        writer.write(&buf).await?;
        buf.clear();
    }
    writer.commit().await?;
    Ok(())
}
