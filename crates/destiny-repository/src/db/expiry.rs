//! The expiry job: leases that ran out become `expired`, and each gets a retry (a new
//! `pending` enhancement with `retry_of` pointing at it) until its chain holds
//! [`MAX_RETRIES`] retries.

use sqlx::Row;
use uuid::Uuid;

use super::Db;
use crate::error::ApiError;
use crate::lifecycle::{PendingStatus, Transition};

/// Retries per original pending enhancement (the real repository's `max_retry_count`).
pub const MAX_RETRIES: i64 = 3;

/// Retries per `INSERT` (few enough that SQLite's parameter binding stays cheap; see
/// `references::insert_enhancements`).
const RETRY_ROWS: usize = 50;

/// What one expiry pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Pending enhancements expired.
    pub expired: u64,
    /// Retries created.
    pub retried: u64,
}

impl Db {
    /// Expires every `processing` pending enhancement whose lease ended before `now_us`
    /// (only those of `batch` when given) and creates their retries, in one transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn expire_due(
        &self,
        now_us: i64,
        batch: Option<Uuid>,
    ) -> Result<ExpiryReport, ApiError> {
        let mut tx = self.begin_write().await?;
        let batch_filter = if batch.is_some() {
            "AND batch_id = $2"
        } else {
            ""
        };
        // One statement changes the rows and answers those it changed: a pass running at
        // the same time on another server (one PostgreSQL) waits for these rows, finds
        // them no longer `processing` and answers none of them, so each lapsed lease gets
        // one retry whatever the number of servers (a unique index on `retry_of` holds
        // that too).
        let sql = Transition::EXPIRE.update(
            "updated_at = $1",
            &format!(
                "expires_at < $1 {batch_filter} \
                 RETURNING seq, id, reference_id, robot_id, request_id, retry_count, source"
            ),
        );
        let mut q = sqlx::query(&sql).bind(now_us);
        if let Some(b) = batch {
            q = q.bind(b.to_string());
        }
        let mut rows = q.fetch_all(&mut *tx).await?;
        // Retries queue in the order of what they retry.
        rows.sort_by_key(|r| r.try_get::<i64, _>("seq").unwrap_or(i64::MAX));
        let mut report = ExpiryReport {
            expired: rows.len() as u64,
            retried: 0,
        };
        let mut retries = Vec::new();
        for r in &rows {
            let retry_count: i64 = r.try_get::<i64, _>("retry_count")?;
            if retry_count < MAX_RETRIES {
                retries.push((r, retry_count + 1));
            }
        }
        // One multi-row INSERT per RETRY_ROWS retries (8 parameters each).
        for rows in retries.chunks(RETRY_ROWS) {
            let values = (0..rows.len())
                .map(|i| {
                    let p = 1 + 8 * i;
                    format!(
                        "(${}, ${}, ${}, ${}, {}, ${}, ${}, ${}, ${}, ${})",
                        p,
                        p + 1,
                        p + 2,
                        p + 3,
                        PendingStatus::Pending.sql(),
                        p + 4,
                        p + 5,
                        p + 6,
                        p + 7,
                        p + 7
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO pending_enhancements (id, reference_id, robot_id, request_id, status, \
                 retry_of, retry_count, source, created_at, updated_at) VALUES {values}"
            );
            let mut q = sqlx::query(&sql);
            for (r, retry_count) in rows {
                q = q
                    .bind(Uuid::new_v4().to_string())
                    .bind(r.try_get::<String, _>("reference_id")?)
                    .bind(r.try_get::<String, _>("robot_id")?)
                    .bind(r.try_get::<String, _>("request_id")?)
                    .bind(r.try_get::<String, _>("id")?)
                    .bind(*retry_count)
                    .bind(r.try_get::<Option<String>, _>("source")?)
                    .bind(now_us);
            }
            report.retried += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(report)
    }
}
