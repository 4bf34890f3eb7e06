//! [`ClusterLock`]: a mutex shared by every server of one database, for work that must not
//! run on two servers at once (matching against the automations: two servers could each
//! find a reference not yet under way for a robot and each ask for it), or need not (the
//! planner statistics).
//!
//! On PostgreSQL it is a session advisory lock held on a pooled connection; a server that
//! dies loses its session and with it the lock, so nothing waits on a dead holder. On
//! SQLite there is one server per database file ([`super::single_server_lock`]), and the
//! caller's in-process mutex is enough: the lock is then a no-op.

use sqlx::pool::PoolConnection;
use sqlx::Any;

use super::{Backend, Db};
use crate::error::ApiError;

/// What a [`ClusterLock`] guards; each its own lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterKey {
    /// Matching queued triggers against the automations.
    Percolation,
    /// Analyzing the queue tables ([`super::statistics`]): two servers analyzing at
    /// once do the same work twice.
    Analyze,
    /// Writing the reference files of large requests ([`crate::request_files`]).
    RequestFiles,
    /// Writing the pending enhancements of large requests ([`crate::request_rows`]).
    RequestRows,
}

impl ClusterKey {
    /// The advisory lock's key: a fixed number per purpose (`destiny` + a counter), far
    /// from small numbers another application on the database might use.
    fn advisory_key(self) -> i64 {
        match self {
            Self::Percolation => 0x0de5_7171_0000_0001,
            Self::Analyze => 0x0de5_7171_0000_0002,
            Self::RequestFiles => 0x0de5_7171_0000_0003,
            Self::RequestRows => 0x0de5_7171_0000_0004,
        }
    }
}

/// A held [`ClusterKey`]; [`release`](Self::release) it. Dropped unreleased (a task
/// cancelled mid-work), its connection is closed rather than returned to the pool, which
/// ends the session and so the lock.
#[derive(Debug)]
pub struct ClusterLock {
    held: Option<(PoolConnection<Any>, i64)>,
}

impl Db {
    /// Takes `key` if no server of the database holds it; `None` when one does (the
    /// caller leaves the work to it rather than wait).
    ///
    /// # Errors
    /// Database errors (the lock is not held then).
    pub async fn try_cluster_lock(&self, key: ClusterKey) -> Result<Option<ClusterLock>, ApiError> {
        if self.backend() == Backend::Sqlite {
            return Ok(Some(ClusterLock { held: None }));
        }
        let mut conn = self.write_conn().await?;
        let advisory = key.advisory_key();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(advisory)
            .fetch_one(&mut *conn)
            .await?;
        Ok(taken.then_some(ClusterLock {
            held: Some((conn, advisory)),
        }))
    }

    /// Runs `work` holding `key` ([`Self::try_cluster_lock`]) and answers its outcome;
    /// `None`, without running it, when another server holds the key (the work is then
    /// that server's).
    ///
    /// # Errors
    /// `work`'s errors; database errors taking or releasing the lock.
    pub async fn exclusively<T>(
        &self,
        key: ClusterKey,
        work: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<Option<T>, ApiError> {
        let Some(lock) = self.try_cluster_lock(key).await? else {
            return Ok(None);
        };
        let outcome = work.await;
        lock.release().await?;
        outcome.map(Some)
    }
}

impl ClusterLock {
    /// Gives the lock up, returning its connection to the pool.
    ///
    /// # Errors
    /// Database errors; the connection is then closed, which gives the lock up anyway.
    pub async fn release(mut self) -> Result<(), ApiError> {
        let Some((mut conn, advisory)) = self.held.take() else {
            return Ok(());
        };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(advisory)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            conn.close_on_drop();
        }
        unlocked?;
        Ok(())
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        if let Some((conn, _)) = &mut self.held {
            conn.close_on_drop();
        }
    }
}
