//! Importing a batch's result file: each line is checked against the batch (spec §4),
//! the validation file is written, and the outcome is applied in one transaction.

use destiny_sdk::jsonl;
use destiny_sdk::models::{EnhancementContent, EnhancementResultEntry, RobotResultValidationEntry};
use std::collections::{HashMap, HashSet};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::blob::{BlobError, BlobKey, BlobStore};
use crate::db::imports::{Outcome, PendingRef};
use crate::db::Db;
use crate::error::ApiError;

/// Validation file texts (spec §4).
pub mod texts {
    /// A reference that is not part of the batch.
    pub const NOT_IN_BATCH: &str = "Reference not in batch enhancement request.";
    /// A second line for the same reference.
    pub const DUPLICATE_REFERENCE: &str = "Duplicate reference ID in enhancement result.";
    /// A `raw` enhancement, which robots may not create.
    pub const RAW: &str = "Robot returned illegal raw enhancement type";
    /// An enhancement identical to one the reference has.
    pub const EXACT_DUPLICATE: &str = "Exact duplicate enhancement already exists on reference.";
    /// A reference of the batch with no line in the result file.
    pub const MISSING: &str = "Requested reference not in enhancement result.";
}

/// Counts of one import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Enhancements stored.
    pub completed: u64,
    /// Exact duplicates discarded.
    pub discarded: u64,
    /// References failed.
    pub failed: u64,
}

/// Imports the result file of `batch` (which must be `running` in the import queue).
///
/// # Errors
/// Storage or database failures; nothing is applied then and the import can be redone.
pub async fn import_batch(
    db: &Db,
    blobs: &BlobStore,
    batch: Uuid,
    now_us: i64,
) -> Result<ImportReport, ApiError> {
    let record = db.batch(batch, None).await?;
    let result_file = record.result_file.clone();
    let validation_file = record.validation_key();
    let pending = db.importing_refs(batch).await?;
    let by_ref: HashMap<Uuid, &PendingRef> = pending.iter().map(|p| (p.reference_id, p)).collect();
    let mut decided: HashMap<Uuid, Outcome> = HashMap::with_capacity(pending.len());
    let mut seen: HashSet<Uuid> = HashSet::with_capacity(pending.len());
    let mut lines: Vec<RobotResultValidationEntry> = Vec::with_capacity(pending.len() + 1);

    let key = blob_key(&result_file)?;
    match blobs.open(&key).await {
        Ok(file) => {
            let mut reader = BufReader::new(file);
            let mut buf = Vec::new();
            let mut entry_no = 0usize;
            loop {
                buf.clear();
                let n = reader
                    .read_until(b'\n', &mut buf)
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf);
                if text.trim().is_empty() {
                    continue;
                }
                entry_no += 1;
                let line = check_line(&text, entry_no, &by_ref, &mut seen, &mut decided);
                lines.push(line);
            }
        }
        Err(BlobError::NotFound(_)) => {}
        Err(e) => return Err(ApiError::Storage(e)),
    }

    let duplicates = db.existing_fingerprints(&decided).await?;
    for line in &mut lines {
        if let Some(r) = line.reference_id {
            if line.error.is_none() && duplicates.contains(&r) {
                line.error = Some(texts::EXACT_DUPLICATE.to_owned());
            }
        }
    }
    for p in &pending {
        if !seen.contains(&p.reference_id) {
            lines.push(RobotResultValidationEntry {
                reference_id: Some(p.reference_id),
                error: Some(texts::MISSING.to_owned()),
            });
        }
    }

    let mut writer = blobs
        .create(&blob_key(&validation_file)?)
        .await
        .map_err(storage)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    for line in &lines {
        jsonl::append_line(&mut buf, line).map_err(|e| ApiError::Internal(e.to_string()))?;
        if buf.len() >= 60 * 1024 {
            writer.write(&buf).await.map_err(storage)?;
            buf.clear();
        }
    }
    writer.write(&buf).await.map_err(storage)?;
    writer.commit().await.map_err(storage)?;

    let outcomes = pending
        .into_iter()
        .map(|p| {
            let outcome = decided.remove(&p.reference_id).unwrap_or(Outcome::Fail);
            (p, outcome)
        })
        .collect();
    let (completed, discarded, failed) = db
        .finish_import(batch, outcomes, &validation_file, now_us)
        .await?;
    Ok(ImportReport {
        completed,
        discarded,
        failed,
    })
}

fn blob_key(key: &str) -> Result<BlobKey, ApiError> {
    BlobKey::new(key).map_err(|e| ApiError::Internal(e.to_string()))
}

fn storage(e: BlobError) -> ApiError {
    ApiError::Storage(e)
}

/// Decides one line of the result file and returns its validation line.
fn check_line(
    text: &str,
    entry_no: usize,
    by_ref: &HashMap<Uuid, &PendingRef>,
    seen: &mut HashSet<Uuid>,
    decided: &mut HashMap<Uuid, Outcome>,
) -> RobotResultValidationEntry {
    let fail = |reference_id: Option<Uuid>, error: String| RobotResultValidationEntry {
        reference_id,
        error: Some(error),
    };
    let entry: EnhancementResultEntry = match jsonl::parse_line(text) {
        Ok(e) => e,
        Err(e) => return fail(None, format!("Entry {entry_no} could not be parsed: {e}")),
    };
    if let EnhancementResultEntry::Enhancement(e) = &entry {
        if let EnhancementContent::Unknown(_) = e.content {
            let kind = e.content.enhancement_type().to_owned();
            return fail(
                None,
                format!("Entry {entry_no} could not be parsed: content: unknown enhancement_type {kind:?}"),
            );
        }
    }
    let reference_id = entry.reference_id();
    if !by_ref.contains_key(&reference_id) {
        return fail(Some(reference_id), texts::NOT_IN_BATCH.to_owned());
    }
    if !seen.insert(reference_id) {
        return fail(Some(reference_id), texts::DUPLICATE_REFERENCE.to_owned());
    }
    match entry {
        EnhancementResultEntry::Error(err) => {
            decided.insert(reference_id, Outcome::Fail);
            fail(Some(reference_id), err.message)
        }
        EnhancementResultEntry::Enhancement(e)
            if matches!(e.content, EnhancementContent::Raw(_)) =>
        {
            decided.insert(reference_id, Outcome::Fail);
            fail(Some(reference_id), texts::RAW.to_owned())
        }
        EnhancementResultEntry::Enhancement(mut e) => {
            e.id = None;
            decided.insert(reference_id, Outcome::Enhance(e));
            RobotResultValidationEntry {
                reference_id: Some(reference_id),
                error: None,
            }
        }
    }
}
