//! What the search index ([`crate::search`]) reads: the references changed since a time.

use std::collections::HashSet;

use sqlx::Row;
use uuid::Uuid;

use super::{uuid_at, Db};
use crate::error::ApiError;

impl Db {
    /// The references imported or given an enhancement at or after `since_us`, and the
    /// newest such time (`since_us` when none).
    ///
    /// # Errors
    /// Database errors.
    pub async fn references_changed_since(
        &self,
        since_us: i64,
    ) -> Result<(Vec<Uuid>, i64), ApiError> {
        let rows = sqlx::query(
            "SELECT id, created_at FROM refs WHERE created_at >= $1 \
             UNION ALL \
             SELECT reference_id, created_at FROM enhancements WHERE created_at >= $1",
        )
        .bind(since_us)
        .fetch_all(self.reader())
        .await?;
        let mut seen = HashSet::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut newest = since_us;
        for row in &rows {
            let id = uuid_at(row, "id")?;
            let at: i64 = row.try_get("created_at")?;
            newest = newest.max(at);
            if seen.insert(id) {
                ids.push(id);
            }
        }
        Ok((ids, newest))
    }
}
