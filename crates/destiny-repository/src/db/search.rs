//! What the search index ([`crate::search`]) reads: the rows stamped since a time.

use sqlx::Row;
use uuid::Uuid;

use super::{uuid_at, Db};
use crate::error::ApiError;

/// A row stamped at or after a time: a reference imported (`row` is the reference) or an
/// enhancement stored (`row` is the enhancement) for `reference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The row's id.
    pub row: Uuid,
    /// The reference it changes.
    pub reference: Uuid,
    /// Its `created_at`.
    pub at: i64,
}

impl Db {
    /// Every reference imported and every enhancement stored at or after `since_us`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn changes_since(&self, since_us: i64) -> Result<Vec<Change>, ApiError> {
        let rows = sqlx::query(
            "SELECT id AS row_id, id AS reference_id, created_at FROM refs WHERE created_at >= $1 \
             UNION ALL \
             SELECT id, reference_id, created_at FROM enhancements WHERE created_at >= $1",
        )
        .bind(since_us)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Change {
                    row: uuid_at(row, "row_id")?,
                    reference: uuid_at(row, "reference_id")?,
                    at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(ApiError::from)
    }
}
