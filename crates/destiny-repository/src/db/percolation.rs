//! The percolation queue: what waits to be matched against the automations
//! ([`crate::percolate`]), written with what it matches so no match is lost to a restart.

use sqlx::{Any, Executor, Row};
use uuid::Uuid;

use super::{uuid_at, Db};
use crate::error::ApiError;

/// What is to be matched.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// References imported.
    Import(Vec<Uuid>),
    /// A robot's batch of results stored: (reference id, enhancement id) pairs.
    Results {
        /// The batch.
        batch: Uuid,
        /// Its robot.
        robot: Uuid,
        /// The enhancements stored.
        enhancements: Vec<(Uuid, Uuid)>,
    },
}

/// How long a worker holds a queued match before another may take it over.
const HOLD_US: i64 = 5 * 60 * 1_000_000;

fn internal(e: serde_json::Error) -> ApiError {
    ApiError::Internal(format!("percolation queue: {e}"))
}

/// Queues `trigger` on `executor` (a transaction storing what it names, or the pool).
///
/// # Errors
/// Database errors.
pub async fn enqueue<'e, E>(executor: E, trigger: &Trigger, now_us: i64) -> Result<(), ApiError>
where
    E: Executor<'e, Database = Any>,
{
    let (batch, robot, items) = match trigger {
        Trigger::Import(ids) => (None, None, serde_json::to_string(ids).map_err(internal)?),
        Trigger::Results {
            batch,
            robot,
            enhancements,
        } => (
            Some(batch.to_string()),
            Some(robot.to_string()),
            serde_json::to_string(enhancements).map_err(internal)?,
        ),
    };
    sqlx::query(
        "INSERT INTO percolation_queue (id, batch_id, robot_id, items, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(batch)
    .bind(robot)
    .bind(items)
    .bind(now_us)
    .execute(executor)
    .await?;
    Ok(())
}

impl Db {
    /// Queues `trigger` on its own.
    ///
    /// # Errors
    /// Database errors.
    pub async fn enqueue_percolation(&self, trigger: &Trigger, now_us: i64) -> Result<(), ApiError> {
        enqueue(&mut *self.write_conn().await?, trigger, now_us).await
    }

    /// Whether anything is queued for matching (one probe; the queue is usually empty).
    ///
    /// # Errors
    /// Database errors.
    pub async fn percolation_queued(&self) -> Result<bool, ApiError> {
        Ok(sqlx::query("SELECT 1 FROM percolation_queue LIMIT 1")
            .fetch_optional(self.reader())
            .await?
            .is_some())
    }

    /// Takes the oldest queued match no other worker holds.
    ///
    /// # Errors
    /// Database errors.
    pub async fn take_percolation(&self, now_us: i64) -> Result<Option<(Uuid, Trigger)>, ApiError> {
        loop {
            let Some(row) = sqlx::query(
                "SELECT id, batch_id, robot_id, items FROM percolation_queue \
                 WHERE taken_until IS NULL OR taken_until < $1 ORDER BY created_at, id LIMIT 1",
            )
            .bind(now_us)
            .fetch_optional(self.reader())
            .await?
            else {
                return Ok(None);
            };
            let id = uuid_at(&row, "id")?;
            // Ours only if no other worker took it meanwhile.
            let taken = sqlx::query(
                "UPDATE percolation_queue SET taken_until = $1 \
                 WHERE id = $2 AND (taken_until IS NULL OR taken_until < $3)",
            )
            .bind(now_us.saturating_add(HOLD_US))
            .bind(id.to_string())
            .bind(now_us)
            .execute(&mut *self.write_conn().await?)
            .await?;
            if taken.rows_affected() == 0 {
                continue;
            }
            let items: String = row.try_get("items")?;
            let batch: Option<String> = row.try_get("batch_id")?;
            let trigger = match batch {
                None => Trigger::Import(serde_json::from_str(&items).map_err(internal)?),
                Some(_) => Trigger::Results {
                    batch: uuid_at(&row, "batch_id")?,
                    robot: uuid_at(&row, "robot_id")?,
                    enhancements: serde_json::from_str(&items).map_err(internal)?,
                },
            };
            return Ok(Some((id, trigger)));
        }
    }

    /// A taken match is done: removed from the queue.
    ///
    /// # Errors
    /// Database errors.
    pub async fn percolated(&self, id: Uuid) -> Result<(), ApiError> {
        self.execute_by_id("DELETE FROM percolation_queue WHERE id = $1", id)
            .await?;
        Ok(())
    }

    /// A taken match failed: back in the queue for the next round.
    ///
    /// # Errors
    /// Database errors.
    pub async fn release_percolation(&self, id: Uuid) -> Result<(), ApiError> {
        self.execute_by_id(
            "UPDATE percolation_queue SET taken_until = NULL WHERE id = $1",
            id,
        )
        .await?;
        Ok(())
    }
}
