//! Importing a batch's result file: each line is checked against the batch (spec §4),
//! the validation file is written, and the outcome is applied in one transaction.

use destiny_sdk::jsonl;
use destiny_sdk::models::{Enhancement, RobotResultValidationEntry};
use destiny_sdk::result_file::{Outcome, ResultFileCheck};
use std::collections::{HashMap, HashSet};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::blob::{BlobError, BlobKey, Store};
use crate::db::references::StoredForm;
use crate::db::supersession;
use crate::db::imports::{PendingRef, TakenImport};
use crate::db::Db;
use crate::error::ApiError;

/// Validation file texts (spec §4), shared with the SDK's checker.
pub use destiny_sdk::result_file::texts;

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

/// Imports the result file of the batch `taken` holds in the import queue; `None`, and
/// nothing applied, when another worker took the import over before it finished.
///
/// # Errors
/// Storage or database failures; nothing is applied then and the import can be redone.
pub async fn import_batch(
    db: &Db,
    blobs: &Store,
    taken: TakenImport,
    now_us: i64,
) -> Result<Option<ImportReport>, ApiError> {
    let record = db.batch(taken.batch, None).await?;
    let result_file = record.result_file.clone();
    let validation_file = record.validation_key(taken.attempt);
    let pending = db.importing_refs(taken.batch).await?;
    // The batch's robot's entitlements as they are now (a revoked one no longer counts).
    let entitlements = db.robot_entitlements(record.robot_id).await?;
    let mut check = ResultFileCheck::new(pending.iter().map(|p| p.reference_id))
        .with_entitlements(entitlements);
    let mut lines: Vec<RobotResultValidationEntry> = Vec::with_capacity(pending.len() + 1);

    let key = BlobKey::new(result_file.as_str())?;
    match blobs.open(&key).await {
        Ok(file) => {
            let mut reader = BufReader::new(file);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = reader
                    .read_until(b'\n', &mut buf)
                    .await
                    // A read error is the store's (and may pass), as an error opening it.
                    .map_err(|e| ApiError::Storage(BlobError::from_io(e)))?;
                if n == 0 {
                    break;
                }
                lines.extend(check.check_bytes(&buf));
            }
        }
        Err(BlobError::NotFound(_)) => {}
        Err(e) => return Err(ApiError::Storage(e)),
    }

    let mut unstorable = refuse_unstorable(&check, &mut lines);
    unstorable.extend(refuse_supersessions(db, &check, &mut lines).await?);

    // Each accepted enhancement's stored form, computed once for the duplicate check and
    // the insert.
    let forms = check
        .decided()
        .iter()
        .filter(|(reference, _)| !unstorable.contains(*reference))
        .filter_map(|(reference, outcome)| match outcome {
            Outcome::Enhance(e) => Some(StoredForm::of(e).map(|form| (*reference, form))),
            Outcome::Fail => None,
        })
        .collect::<Result<HashMap<Uuid, StoredForm>, ApiError>>()?;
    let duplicates = db.existing_fingerprints(&forms).await?;
    for line in &mut lines {
        if let Some(r) = line.reference_id {
            if line.error.is_none() && duplicates.contains(&r) {
                line.error = Some(texts::EXACT_DUPLICATE.to_owned());
            }
        }
    }
    let checked = check.finish();
    lines.extend(checked.missing);

    write_validation_file(blobs, validation_file.as_str(), &lines).await?;

    let outcomes: Vec<(PendingRef, Outcome)> = pending
        .into_iter()
        .zip(checked.outcomes)
        .map(|(p, (reference_id, outcome))| {
            debug_assert_eq!(p.reference_id, reference_id);
            if unstorable.contains(&reference_id) {
                return (p, Outcome::Fail);
            }
            match outcome {
                // Given its id here, so the automations' queue can name what was stored.
                Outcome::Enhance(mut e) => {
                    e.id = Some(e.id.unwrap_or_else(Uuid::new_v4));
                    (p, Outcome::Enhance(e))
                }
                Outcome::Fail => (p, Outcome::Fail),
            }
        })
        .collect();
    let finished = db
        .finish_import(taken, record.robot_id, &outcomes, &forms, &validation_file, now_us)
        .await?;
    Ok(finished.map(|(completed, discarded, failed)| ImportReport {
        completed: completed.len() as u64,
        discarded,
        failed,
    }))
}

/// Applies the text policy of stored fields ([`crate::text`]) to the accepted lines: an
/// enhancement whose `source` or `robot_version` cannot be stored (a NUL) gets a refused
/// validation line saying which field and why, and its reference fails. This is a storage
/// constraint of this repository (PostgreSQL cannot hold NUL in `text`; SQLite refuses
/// it too so both agree), not a rule of the result-file format, so it is applied here
/// rather than in the SDK's `ResultFileCheck`. Answers the references refused.
fn refuse_unstorable(
    check: &ResultFileCheck,
    lines: &mut [RobotResultValidationEntry],
) -> HashSet<Uuid> {
    let mut refused = HashSet::new();
    for line in lines.iter_mut().filter(|l| l.error.is_none()) {
        let Some(reference) = line.reference_id else {
            continue;
        };
        if let Some(Outcome::Enhance(e)) = check.decided().get(&reference) {
            if let Err((field, problem)) = crate::text::check_enhancement(e) {
                line.error = Some(format!("Enhancement cannot be stored: {field}: {problem}."));
                refused.insert(reference);
            }
        }
    }
    refused
}

/// Applies the supersession rules ([`crate::db::supersession`]) to the accepted lines
/// that supersede: one whose target may not be superseded gets a refused validation line
/// saying why, and its reference fails. Answers the references refused.
///
/// # Errors
/// Database errors.
async fn refuse_supersessions(
    db: &Db,
    check: &ResultFileCheck,
    lines: &mut [RobotResultValidationEntry],
) -> Result<HashSet<Uuid>, ApiError> {
    fn superseding(outcome: &Outcome) -> Option<(&Enhancement, Uuid)> {
        match outcome {
            Outcome::Enhance(e) => e.supersedes.map(|target| (&**e, target)),
            Outcome::Fail => None,
        }
    }
    let ids: Vec<Uuid> = check
        .decided()
        .values()
        .filter_map(superseding)
        .map(|(_, target)| target)
        .collect();
    let mut refused = HashSet::new();
    if ids.is_empty() {
        return Ok(refused);
    }
    let targets = db.supersession_targets(&ids).await?;
    for line in lines.iter_mut().filter(|l| l.error.is_none()) {
        let Some(reference) = line.reference_id else {
            continue;
        };
        let Some((e, target)) = check.decided().get(&reference).and_then(superseding) else {
            continue;
        };
        if let Some(why) = supersession::refusal(e, targets.get(&target)) {
            line.error = Some(why);
            refused.insert(reference);
        }
    }
    Ok(refused)
}

/// Writes a validation file: one JSONL line per entry, streamed in 60 KiB writes.
///
/// # Errors
/// Storage errors.
pub(crate) async fn write_validation_file(
    blobs: &Store,
    key: &str,
    lines: &[RobotResultValidationEntry],
) -> Result<(), ApiError> {
    let mut writer = blobs.create(&BlobKey::new(key)?).await?;
    let mut buf = Vec::with_capacity(64 * 1024);
    for line in lines {
        jsonl::append_line(&mut buf, line).map_err(|e| ApiError::Internal(e.to_string()))?;
        if buf.len() >= 60 * 1024 {
            writer.write(&buf).await?;
            buf.clear();
        }
    }
    writer.write(&buf).await?;
    writer.commit().await?;
    Ok(())
}
