//! Planner statistics of the tables a poll reads, kept current on PostgreSQL between
//! autovacuum's rounds.
//!
//! The queue changes in bursts: a request adds thousands of pending enhancements at once,
//! and imports move them on and add enhancements as fast as robots work. Autovacuum
//! analyzes a table once a tenth of it changed, but looks only once a minute; planned on
//! statistics of a table it still believed empty, the claim's "oldest pending enhancement
//! of this reference" probe walked the robot's whole queue for every candidate (one claim
//! took 25 s over 25,600 pending enhancements while polls and submits waited on its row
//! locks), and reading a batch's enhancements scanned the whole table. So every change
//! is counted here, and once the changes since the last analysis reach autovacuum's rule
//! (a tenth of the rows then, at least [`MIN_CHANGES`]) the tables are analyzed at once,
//! by one server of the database at a time (a server that finds another analyzing
//! leaves it to that one).
//! SQLite plans without such statistics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::Row;

use super::cluster_lock::ClusterKey;
use super::{Backend, Db};

/// Changes that always warrant a new analysis, however small the tables.
pub const MIN_CHANGES: u64 = 500;

/// Rows changed since the last analysis, and the queue's size then.
#[derive(Debug, Default)]
pub(crate) struct Statistics {
    changed: AtomicU64,
    rows_then: AtomicU64,
    running: AtomicBool,
}

impl Db {
    /// Counts `rows` changed rows of the queue or of the enhancements, and analyzes the
    /// tables in a task of its own when enough changed (PostgreSQL; nothing on SQLite),
    /// so the caller never waits for it. One analysis runs at a time; a failure is
    /// logged (the changes themselves are already stored).
    pub fn note_changes(&self, rows: u64) {
        if self.backend != Backend::Postgres || rows == 0 {
            return;
        }
        let stats = &self.statistics;
        let changed = stats.changed.fetch_add(rows, Ordering::AcqRel) + rows;
        let due = MIN_CHANGES.max(stats.rows_then.load(Ordering::Acquire) / 10);
        if changed < due || stats.running.swap(true, Ordering::AcqRel) {
            return;
        }
        stats.changed.store(0, Ordering::Release);
        let db = self.clone();
        tokio::spawn(async move {
            // One server of the database analyzes at a time; while another does, this
            // one's changes are covered by that analysis.
            let analyzed = async { Ok(db.analyze().await?) };
            match db.exclusively(ClusterKey::Analyze, analyzed).await {
                Ok(Some(rows)) => db.statistics.rows_then.store(rows, Ordering::Release),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "analyzing the queue tables failed"),
            }
            db.statistics.running.store(false, Ordering::Release);
        });
    }

    /// `ANALYZE` of the tables a poll reads; answers the queue's row estimate.
    async fn analyze(&self) -> Result<u64, sqlx::Error> {
        sqlx::query("ANALYZE pending_enhancements, enhancements, refs")
            .execute(&mut *self.write_conn().await?)
            .await?;
        let rows: f32 =
            sqlx::query("SELECT reltuples FROM pg_class WHERE relname = 'pending_enhancements'")
                .fetch_one(self.reader())
                .await?
                .try_get(0)?;
        Ok(rows.max(0.0) as u64)
    }
}
