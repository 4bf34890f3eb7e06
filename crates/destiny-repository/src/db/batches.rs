//! Robot enhancement batches: claiming pending work (a poll), renewing its lease, reading
//! a batch and accepting its result.

use sqlx::Row;
use uuid::Uuid;

use super::{Backend, Db};
use crate::error::ApiError;
use crate::lifecycle::{refused_results, PendingStatus, Transition};

/// A batch as stored.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    /// Batch id.
    pub id: Uuid,
    /// The robot it was leased to.
    pub robot_id: Uuid,
    /// Source of the request(s) its work came from.
    pub source: Option<String>,
    /// Blob key of the reference file.
    pub reference_file: String,
    /// Blob key of the result file.
    pub result_file: String,
    /// Blob key of the validation file, once the import wrote it.
    pub validation_file: Option<String>,
    /// The robot's batch-level error.
    pub error: Option<String>,
    /// The enhancement request whose legacy result this batch imports (`None` for a
    /// polled batch).
    pub request_id: Option<Uuid>,
}

impl BatchRecord {
    /// Blob key of the validation file import attempt `attempt` writes: next to the
    /// request's files for a legacy batch, next to the batch's own otherwise. Attempts
    /// after the first write files of their own (`validation-2.jsonl`...), so a holder
    /// that was taken over mid-import cannot overwrite the file of the attempt that
    /// finished; the batch records which one it is.
    pub fn validation_key(&self, attempt: u32) -> String {
        let folder = match self.request_id {
            Some(request) => format!("requests/{request}"),
            None => format!("batches/{}", self.id),
        };
        match attempt {
            0 | 1 => format!("{folder}/validation.jsonl"),
            n => format!("{folder}/validation-{n}.jsonl"),
        }
    }
}

/// Work claimed by a poll, committed: the caller writes the batch's reference file next
/// (holding no connection), and gives the claim back with [`Db::release_claim`] if that
/// fails, so no claim outlives a poll that did not answer it.
#[derive(Debug)]
pub struct Claimed {
    /// The new batch.
    pub batch: BatchRecord,
    /// The references leased, oldest pending enhancement first.
    pub reference_ids: Vec<Uuid>,
}

/// Blob keys of a batch's reference and result files (its validation files:
/// [`BatchRecord::validation_key`]).
pub fn batch_files(id: Uuid) -> (String, String) {
    (
        format!("batches/{id}/references.jsonl"),
        format!("batches/{id}/results.jsonl"),
    )
}

/// What submitting a batch result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// The robot reported an error: every pending enhancement failed.
    Failed,
    /// The result file is queued for import.
    Importing,
}

fn batch_of(row: &sqlx::any::AnyRow) -> Result<BatchRecord, sqlx::Error> {
    Ok(BatchRecord {
        id: super::uuid_at(row, "id")?,
        robot_id: super::uuid_at(row, "robot_id")?,
        source: row.try_get("source")?,
        reference_file: row.try_get("reference_file")?,
        result_file: row.try_get("result_file")?,
        validation_file: row.try_get("validation_file")?,
        error: row.try_get("error")?,
        request_id: row
            .try_get::<Option<String>, _>("request_id")?
            .map(|t| Uuid::parse_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e))))
            .transpose()?,
    })
}

impl Db {
    /// Leases up to `limit` pending enhancements of `robot_id` (at most one per
    /// reference, the oldest, oldest first) in a new batch, in one statement: on
    /// PostgreSQL `FOR UPDATE SKIP LOCKED` keeps concurrent polls apart; on SQLite the
    /// single writer connection does. The claim is committed before this returns, so its
    /// connection is back in the pool before any file is written. `None` when nothing
    /// is pending.
    ///
    /// # Errors
    /// Database errors.
    pub async fn claim(
        &self,
        robot_id: Uuid,
        limit: i64,
        expires_us: i64,
        now_us: i64,
    ) -> Result<Option<Claimed>, ApiError> {
        let id = Uuid::new_v4();
        let (reference_file, result_file) = batch_files(id);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO batches (id, robot_id, reference_file, result_file, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(robot_id.to_string())
        .bind(&reference_file)
        .bind(&result_file)
        .bind(now_us)
        .execute(&mut *tx)
        .await?;
        let lock = match self.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // The head of each reference's queue is its oldest pending enhancement; a
        // correlated MIN (one probe of `pending_per_reference` per candidate) keeps the
        // plan linear whatever the planner's statistics say (an anti-join planned on
        // stale statistics scanned the whole queue per candidate). The CTE is
        // materialised so the locking subquery runs exactly once.
        let pending = PendingStatus::Pending.sql();
        let sql = format!(
            "WITH picked AS MATERIALIZED (\
               SELECT p.seq FROM pending_enhancements p \
               WHERE p.robot_id = $4 AND p.status = {pending} AND p.seq = (\
                 SELECT MIN(q.seq) FROM pending_enhancements q WHERE q.robot_id = p.robot_id \
                 AND q.reference_id = p.reference_id AND q.status = {pending}) \
               ORDER BY p.seq LIMIT $5 {lock}) {}",
            Transition::CLAIM.update(
                "batch_id = $1, expires_at = $2, updated_at = $3",
                "seq IN (SELECT seq FROM picked) RETURNING seq, reference_id, source"
            )
        );
        let rows = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(expires_us)
            .bind(now_us)
            .bind(robot_id.to_string())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut claimed: Vec<(i64, Uuid, Option<String>)> = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    super::uuid_at(r, "reference_id")?,
                    r.try_get(2)?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        claimed.sort_by_key(|c| c.0);
        let source = claimed.iter().find_map(|c| c.2.clone());
        sqlx::query("UPDATE batches SET source = $1 WHERE id = $2")
            .bind(source.clone())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.note_changes(claimed.len() as u64);
        Ok(Some(Claimed {
            batch: BatchRecord {
                id,
                robot_id,
                source,
                reference_file,
                result_file,
                validation_file: None,
                error: None,
                request_id: None,
            },
            reference_ids: claimed.into_iter().map(|c| c.1).collect(),
        }))
    }

    /// Gives back the claim of a poll that could not answer it (its reference file could
    /// not be written): the batch's pending enhancements still `processing` return to
    /// `pending`, at their old place in the queue, and the batch is deleted once nothing
    /// refers to it. Fenced by the batch id and the `processing` status, so it touches
    /// exactly that claim's rows and nothing the expiry job already moved on. Answers
    /// how many rows went back.
    ///
    /// # Errors
    /// Database errors (the rows then stay leased until their lease runs out, and the
    /// expiry job retries them).
    pub async fn release_claim(&self, batch: Uuid, now_us: i64) -> Result<u64, ApiError> {
        let mut tx = self.begin_write().await?;
        let released = sqlx::query(&Transition::RELEASE.update(
            "batch_id = NULL, expires_at = NULL, updated_at = $2",
            "batch_id = $1",
        ))
        .bind(batch.to_string())
        .bind(now_us)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM batches WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM pending_enhancements WHERE batch_id = $1)",
        )
        .bind(batch.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(released)
    }

    /// A batch, checked to belong to `robot_id` when given.
    ///
    /// # Errors
    /// 404 when unknown; 403 when it belongs to another robot.
    pub async fn batch(&self, id: Uuid, robot_id: Option<Uuid>) -> Result<BatchRecord, ApiError> {
        let row = self
            .row_by_id(
                "SELECT id, robot_id, source, reference_file, result_file, validation_file, \
                 error, request_id FROM batches WHERE id = $1",
                id,
                "RobotEnhancementBatch",
            )
            .await?;
        let batch = batch_of(&row)?;
        if robot_id.is_some_and(|r| r != batch.robot_id) {
            return Err(ApiError::Forbidden(format!(
                "RobotEnhancementBatch {id} belongs to another robot."
            )));
        }
        Ok(batch)
    }

    /// Extends the lease of the batch's pending enhancements still `processing`.
    ///
    /// # Errors
    /// 404 / 403 as [`Db::batch`]; 409 when none is processing any more.
    pub async fn renew(
        &self,
        id: Uuid,
        robot_id: Uuid,
        expires_us: i64,
        now_us: i64,
    ) -> Result<(), ApiError> {
        self.batch(id, Some(robot_id)).await?;
        self.expire_due(now_us, Some(id)).await?;
        let done = sqlx::query(&format!(
            "UPDATE pending_enhancements SET expires_at = $1, updated_at = $2 \
             WHERE batch_id = $3 AND status = {}",
            PendingStatus::Processing.sql()
        ))
        .bind(expires_us)
        .bind(now_us)
        .bind(id.to_string())
        .execute(&mut *self.write_conn().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(ApiError::Conflict(
                "This batch has no pending enhancements. They may have already expired or been completed."
                    .into(),
            ));
        }
        Ok(())
    }

    /// Accepts a batch result: with an error, every processing pending enhancement
    /// fails; otherwise they move to `importing` and the import is queued. Answers the
    /// batch as it stands after the submit, without reading it again: once the submit
    /// commits, no database failure can turn its answer into an error (which would make
    /// the robot retry an applied submit).
    ///
    /// # Errors
    /// 404 / 403 as [`Db::batch`]; 422 when the transition is not allowed (the lease
    /// expired, the result was already submitted) or the error message cannot be stored
    /// ([`crate::text`]).
    pub async fn submit(
        &self,
        id: Uuid,
        robot_id: Uuid,
        error: Option<&str>,
        now_us: i64,
    ) -> Result<(Submitted, BatchRecord), ApiError> {
        if let Some(message) = error {
            crate::text::body_field(&["error", "message"], message, None)?;
        }
        let mut batch = self.batch(id, Some(robot_id)).await?;
        self.expire_due(now_us, Some(id)).await?;
        let (transition, outcome) = match error {
            Some(_) => (Transition::REPORT_FAILED, Submitted::Failed),
            None => (Transition::SUBMIT, Submitted::Importing),
        };
        let to = transition.to();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&transition.update("updated_at = $1", "batch_id = $2"))
            .bind(now_us)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            let current: Option<String> =
                sqlx::query("SELECT status FROM pending_enhancements WHERE batch_id = $1 LIMIT 1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            return Err(ApiError::Unprocessable(refused_results(current.as_deref(), to)));
        }
        let state = if error.is_some() { "none" } else { "queued" };
        sqlx::query("UPDATE batches SET error = $1, import_state = $2 WHERE id = $3")
            .bind(error)
            .bind(state)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        batch.error = error.map(str::to_owned);
        Ok((outcome, batch))
    }
}
