//! The legacy single-request result flow (`POST /v1/enhancement-requests/{id}/results/`,
//! the Python SDK's `send_robot_result`), which the real repository removed in October
//! 2025 and this one keeps for robots written against it.
//!
//! Local semantics (there is no push of a `RobotRequest` here): every enhancement request
//! carries, from its creation, a reference file and a result URL of its own
//! (`reference_data_url` / `result_storage_url` of `EnhancementRequestRead`, the URLs a
//! `RobotRequest` would carry). The request's robot downloads the references, uploads its
//! result file, and reports with a `RobotResult`. That report takes every pending
//! enhancement of the request still `pending` (those leased to polled batches stay with
//! their batches) into a batch of its own whose result file is the request's, and from
//! there the batch flow applies: with an error they fail (and the request records the
//! error); otherwise they are imported like a polled batch, and the validation file is
//! written next to the request's files and shown as its `validation_result_url`.

use sqlx::Row;
use uuid::Uuid;

use super::batches::Submitted;
use super::requests::request_files;
use super::Db;
use crate::error::ApiError;
use crate::lifecycle::{refused_results, PendingStatus, Transition};

impl Db {
    /// Accepts a legacy result of `request` from `robot_id` (see the module docs).
    ///
    /// # Errors
    /// 404 for an unknown request; 403 when the request belongs to another robot; 422
    /// when none of its pending enhancements is still `pending` (the result was already
    /// sent, or polled batches hold them all), or when the error message cannot be stored
    /// ([`crate::text`]).
    pub async fn submit_request_result(
        &self,
        request: Uuid,
        robot_id: Uuid,
        error: Option<&str>,
        now_us: i64,
    ) -> Result<Submitted, ApiError> {
        if let Some(message) = error {
            crate::text::body_field(&["error", "message"], message, None)?;
        }
        let record = self.request(request).await?;
        if record.read.robot_id != robot_id {
            return Err(ApiError::Forbidden(format!(
                "EnhancementRequest {request} belongs to another robot."
            )));
        }
        if record.writing_rows {
            return Err(ApiError::Unprocessable(format!(
                "EnhancementRequest {request} is still being created; send its result once \
                 it has a reference_data_url."
            )));
        }
        let (transition, outcome) = match error {
            Some(_) => (Transition::REPORT_FAILED, Submitted::Failed),
            None => (Transition::SUBMIT, Submitted::Importing),
        };
        // The robot held the request's pending enhancements all along: they pass through
        // `processing` on their way (claimed into the batch, then moved on).
        let batch = Uuid::new_v4();
        let (reference_file, result_file) = request_files(request);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO batches (id, robot_id, source, reference_file, result_file, error, \
             import_state, request_id, created_at) \
             SELECT $1, robot_id, source, $2, $3, $4, $5, id, $6 FROM enhancement_requests \
             WHERE id = $7",
        )
        .bind(batch.to_string())
        .bind(reference_file)
        .bind(result_file)
        .bind(error)
        .bind(if error.is_some() { "none" } else { "queued" })
        .bind(now_us)
        .bind(request.to_string())
        .execute(&mut *tx)
        .await?;
        let moved = sqlx::query(
            &Transition::CLAIM.update("batch_id = $1, updated_at = $2", "request_id = $3"),
        )
        .bind(batch.to_string())
        .bind(now_us)
        .bind(request.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query(&transition.update("updated_at = $1", "batch_id = $2"))
            .bind(now_us)
            .bind(batch.to_string())
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() == 0 {
            // Name the status the request's work is in, as a refused transition.
            let current: Option<String> = sqlx::query(&format!(
                "SELECT status FROM pending_enhancements WHERE request_id = $1 \
                 AND status <> {} ORDER BY seq DESC LIMIT 1",
                PendingStatus::Expired.sql()
            ))
            .bind(request.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
            tx.rollback().await?;
            return Err(ApiError::Unprocessable(refused_results(
                current.as_deref(),
                PendingStatus::Importing,
            )));
        }
        if let Some(message) = error {
            sqlx::query("UPDATE enhancement_requests SET error = $1 WHERE id = $2")
                .bind(message)
                .bind(request.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }
}
