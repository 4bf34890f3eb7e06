//! The database: one schema, two backends (SQLite by default, PostgreSQL at scale),
//! reached through sqlx's `Any` driver with runtime queries (no live database needed to
//! build). SQL is written once with `$N` placeholders, which both backends accept; the
//! few statements that differ branch on [`Backend`].
//!
//! SQLite allows one writer at a time: writes go through a pool of a single connection,
//! so transactions never contend with each other (no `SQLITE_BUSY` upgrades), and reads
//! use a separate pool in WAL mode. PostgreSQL uses one pool for both.
//!
//! - [`robots`]: registered robots and their secrets.
//! - [`references`]: references and their stored enhancements.
//! - [`requests`]: enhancement requests and their pending enhancements.
//! - [`batches`]: polls (claiming work), lease renewal, batch results.
//! - [`expiry`]: the expiry job and its retry chain.
//! - [`imports`]: the durable import queue.
//! - [`legacy`]: the legacy single-request result flow.
//! - [`statistics`]: PostgreSQL's planner statistics kept current as the queue changes.
//! - [`supersession`]: supersession chains and the rules a superseding enhancement meets.

pub mod automations;
pub mod batches;
pub mod cluster_lock;
pub mod expiry;
pub mod imports;
pub mod legacy;
pub mod percolation;
pub mod references;
pub mod requests;
pub mod search;
pub mod robots;
pub mod statistics;
pub mod supersession;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use std::time::Duration;

/// Which database engine is behind the pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The engine behind `conn` (for code that holds a connection, not the [`Db`]).
    pub(crate) fn of(conn: &AnyConnection) -> Self {
        if conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }

    /// The engine a database URL names (`sqlite:`, `postgres:` or `postgresql:`), or
    /// `None` for any other.
    ///
    /// ```
    /// use destiny_repository::db::Backend;
    /// assert_eq!(Backend::of_url("sqlite://destiny.db"), Some(Backend::Sqlite));
    /// assert_eq!(Backend::of_url("postgresql://u@h/db"), Some(Backend::Postgres));
    /// assert_eq!(Backend::of_url("mysql://u@h/db"), None);
    /// ```
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Failures opening the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://...")]
    UnsupportedUrl(String),
    /// Connecting or migrating failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another server holds this SQLite database.
    #[error(
        "another destiny serve is using the SQLite database {0}: SQLite serves one \
         instance at a time (several instances share a PostgreSQL database)"
    )]
    InUse(String),
    /// The SQLite database's lock file cannot be opened.
    #[error("cannot open the lock file {path}: {source}")]
    LockFile {
        /// The lock file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Takes the one-server lock of the SQLite database `url` names: an exclusive lock on
/// `<file>.destiny-lock` beside it, held while the answer lives and released by the
/// operating system when the process ends, however it ends. `None` for PostgreSQL and
/// in-memory databases. (Not a lock on the database file itself: closing any handle of
/// that file drops SQLite's own locks of this process.)
///
/// # Errors
/// [`DbError::InUse`] when another process (or this one) holds it.
pub fn single_server_lock(url: &str) -> Result<Option<std::fs::File>, DbError> {
    use std::str::FromStr;
    if Backend::of_url(url) != Some(Backend::Sqlite) {
        return Ok(None);
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let file = options.get_filename();
    if url.contains(":memory:") || file.as_os_str().is_empty() {
        return Ok(None);
    }
    let mut lock_path = file.as_os_str().to_owned();
    lock_path.push(".destiny-lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| DbError::LockFile {
            path: lock_path.display().to_string(),
            source,
        })?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(DbError::InUse(file.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(DbError::LockFile {
            path: lock_path.display().to_string(),
            source,
        }),
    }
}

/// One wait for the writer, counted while it lives (so a wait given up, its future
/// dropped, is uncounted too).
#[derive(Debug)]
pub struct Wanting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Wanting<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Wanting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Handles to the database.
#[derive(Debug, Clone)]
pub struct Db {
    backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
    /// Callers waiting for the writer right now ([`Db::begin_write`], [`Db::write_conn`]):
    /// a long import gives the writer up as soon as one does ([`Db::writer_wanted`]).
    wanted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Changes counted towards the next analysis (shared by the clones).
    statistics: std::sync::Arc<statistics::Statistics>,
    /// A background checkpoint runs ([`Db::checkpoint_behind`]).
    checkpointing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// WAL pages after which the writer's commit copies the log back into the database file
/// itself (SQLite's default is 1,000, 4 MiB). A bulk import rewrites the same index pages
/// many times between two copies; with fewer, larger copies such a page is copied fewer
/// times. A bulk writer also asks for the copy in the background after each commit
/// ([`Db::checkpoint_behind`]), so its next transaction does not wait for it; this is the
/// bound when nobody asks.
const CHECKPOINT_PAGES: u32 = 65_536;

/// Declares the migrations of both backends from one list, embedded in the binary as
/// `(version, description, sql)`: each version has a file of the same name under
/// `migrations/sqlite/` and `migrations/postgres/`, so the two schemas cannot drift apart
/// in what they migrate.
macro_rules! migrations {
    ($($version:literal $description:literal $file:literal;)*) => {
        const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[$((
            $version,
            $description,
            include_str!(concat!("../../migrations/sqlite/", $file)),
        )),*];
        const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[$((
            $version,
            $description,
            include_str!(concat!("../../migrations/postgres/", $file)),
        )),*];
    };
}

migrations! {
    1 "init" "0001_init.sql";
    2 "legacy batches" "0002_legacy_batches.sql";
    3 "import retries" "0003_import_retries.sql";
    4 "status check" "0004_status_check.sql";
    5 "entitlements" "0005_entitlements.sql";
    6 "automations" "0006_automations.sql";
    7 "search" "0007_search.sql";
    8 "identifier lookup" "0008_identifier_lookup.sql";
    9 "retry once" "0009_retry_once.sql";
    10 "import leases" "0010_import_leases.sql";
    11 "request files due" "0011_request_files_due.sql";
    12 "request rows due" "0012_request_rows_due.sql";
    13 "reference file pieces" "0013_reference_file_pieces.sql";
    14 "claim index" "0014_claim_index.sql";
}

fn migrator(list: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let migrations = list
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                (*description).into(),
                MigrationType::Simple,
                (*sql).into(),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: migrations.into(),
        ..Migrator::DEFAULT
    }
}

impl Db {
    /// Opens (creating a SQLite file when missing) and migrates the database at `url`.
    ///
    /// # Errors
    /// [`DbError`] when the URL is unsupported, the server is unreachable or a migration
    /// fails.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with_timeout(url, Duration::from_secs(5)).await
    }

    /// As [`Db::connect`], with `timeout` as the longest a query waits for a connection
    /// (on PostgreSQL, an unreachable server is retried until then; the caller then
    /// sees [`sqlx::Error::PoolTimedOut`], a 503).
    ///
    /// # Errors
    /// As [`Db::connect`].
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| DbError::UnsupportedUrl(url.to_owned()))?;
        let db = if backend == Backend::Sqlite {
            let url = sqlite_url(url);
            // SQLite's default page cache is 2 MiB per connection: a working set larger
            // than that is re-read from the OS page cache at every statement. The cache
            // grows only as pages are used. The writer's holds what a write turn of an
            // import changes (`SQLITE_IMPORT_TURN`): past its size, changed pages spill
            // into the WAL before the commit, and a page changed again is written again.
            let opts = |max: u32, cache_kib: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            let pragmas = [
                                "busy_timeout = 10000".to_owned(),
                                "foreign_keys = ON".to_owned(),
                                // A statement that writes many rows (a multi-row
                                // `INSERT`) keeps a journal of the pages it changes, to
                                // undo itself if it fails part-way. With temporary files
                                // on disk, that journal spills to a file past 64 KiB: an
                                // import's inserts wrote each changed page there as well
                                // as to the WAL. In memory it is a copy, no system call;
                                // the cost is memory while one
                                // statement runs (a statement rewriting a whole large
                                // table, as a migration might, holds its pages).
                                "temp_store = MEMORY".to_owned(),
                                // The WAL file is cut back to this once copied back,
                                // rather than keeping the largest size it ever reached.
                                "journal_size_limit = 67108864".to_owned(),
                                "synchronous = NORMAL".to_owned(),
                                format!("cache_size = -{cache_kib}"),
                                format!("wal_autocheckpoint = {CHECKPOINT_PAGES}"),
                            ];
                            for pragma in pragmas {
                                sqlx::query(&format!("PRAGMA {pragma}"))
                                    .execute(&mut *conn)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
            };
            let writer = opts(1, 512 * 1024).connect(&url).await?;
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&writer)
                .await?;
            let reader = opts(8, 32 * 1024).connect(&url).await?;
            Db {
                backend: Backend::Sqlite,
                reader,
                writer,
                wanted: Default::default(),
                statistics: Default::default(),
                checkpointing: Default::default(),
            }
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(timeout)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // The claim's estimated cost grows with the queue (a LIMIT over a
                        // filtered scan), crossing the JIT thresholds at about a million
                        // pending enhancements: compiling then cost 150 ms of a 430 ms
                        // claim. Short OLTP statements never gain from JIT.
                        sqlx::query("SET jit = off").execute(&mut *conn).await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await?;
            Db {
                backend: Backend::Postgres,
                reader: pool.clone(),
                writer: pool,
                wanted: Default::default(),
                statistics: Default::default(),
                checkpointing: Default::default(),
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => migrator(SQLITE_MIGRATIONS).run(&self.writer).await?,
            Backend::Postgres => migrator(POSTGRES_MIGRATIONS).run(&self.writer).await?,
        }
        Ok(())
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// The pool for writes (one connection on SQLite). The server's own writes go through
    /// [`Db::begin_write`] and [`Db::write_conn`], which count their wait.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Begins a transaction on the writer, counted as wanting it while it waits.
    ///
    /// # Errors
    /// The pool's error (a timeout: 503).
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let _waiting = Wanting::new(&self.wanted);
        self.writer.begin().await
    }

    /// A connection of the writer, for a statement of its own (counted as
    /// [`Db::begin_write`]).
    ///
    /// # Errors
    /// As [`Db::begin_write`].
    pub async fn write_conn(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        let _waiting = Wanting::new(&self.wanted);
        self.writer.acquire().await
    }

    /// On SQLite, copies the WAL back into the database file in a task of its own, on a
    /// reader connection, while the writer goes on (a passive checkpoint, which neither
    /// waits for nor blocks anyone); one at a time, a call while one runs is covered by
    /// it. Bulk writers (an import's turns, a robot's results, a large request's rows)
    /// call this after each commit: past `CHECKPOINT_PAGES` of WAL, a commit would
    /// otherwise copy the log itself before the next transaction could begin. Nothing on
    /// PostgreSQL.
    pub fn checkpoint_behind(&self) {
        use std::sync::atomic::{AtomicBool, Ordering};
        /// Lets the next call run one, however this one ends.
        struct Running(std::sync::Arc<AtomicBool>);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        if self.backend != Backend::Sqlite || self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let running = Running(self.checkpointing.clone());
        let reader = self.reader.clone();
        tokio::spawn(async move {
            let _running = running;
            let done = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&reader)
                .await;
            // A database closed meanwhile was copied back by its closing.
            if let (Err(e), false) = (done, reader.is_closed()) {
                tracing::warn!(error = %e, "copying the WAL into the database failed; the writer will");
            }
        });
    }

    /// Counts as a caller waiting for the writer while the answer lives, as
    /// [`Db::begin_write`] does while it waits: an import holding SQLite's writer commits
    /// at each step meanwhile. (For tests that need an import's commits to be seen.)
    pub fn wanting(&self) -> Wanting<'_> {
        Wanting::new(&self.wanted)
    }

    /// Whether another caller waits for SQLite's one writer now. (Always `false` on
    /// PostgreSQL, whose writers do not wait for one another.)
    pub fn writer_wanted(&self) -> bool {
        self.backend == Backend::Sqlite
            && self.wanted.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Checks the database answers.
    ///
    /// # Errors
    /// The driver's error when it does not.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
    }

    /// Closes the pools.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Adds `mode=rwc` so a missing SQLite file is created.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Reads a UUID stored as text.
pub(crate) fn uuid_at(row: &AnyRow, idx: &str) -> Result<uuid::Uuid, sqlx::Error> {
    let text: String = row.try_get(idx)?;
    uuid::Uuid::parse_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// A statement with its values bound, as `sqlx::query(..).bind(..)` builds it.
pub(crate) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The 404 for an unknown record, worded as the Python repository words it:
/// "{model} with id {id} does not exist."
pub(crate) fn not_found(model: &str, id: uuid::Uuid) -> crate::error::ApiError {
    crate::error::ApiError::NotFound(format!("{model} with id {id} does not exist."))
}

/// Reads and writes of one record by its id, bound to `$1` as text (how both schemas
/// store ids).
impl Db {
    /// The row `sql` selects for `id`, read from the reader pool.
    ///
    /// # Errors
    /// [`not_found`] naming `model` when there is none; database errors.
    pub(crate) async fn row_by_id(
        &self,
        sql: &str,
        id: uuid::Uuid,
        model: &str,
    ) -> Result<AnyRow, crate::error::ApiError> {
        sqlx::query(sql)
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| not_found(model, id))
    }

    /// Every row `query` reads from the reader pool, each made a `T` by `of`.
    ///
    /// # Errors
    /// Database errors, and those of `of`.
    pub(crate) async fn rows_of<'q, T>(
        &self,
        query: Query<'q>,
        of: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, sqlx::Error> {
        query.fetch_all(self.reader()).await?.iter().map(of).collect()
    }

    /// Runs the statement `sql` for `id` on the writer pool: how many rows it changed.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) async fn execute_by_id(&self, sql: &str, id: uuid::Uuid) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql)
            .bind(id.to_string())
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(done.rows_affected())
    }
}

/// `query` with each of `ids` bound next, as text (how both schemas store ids): the values
/// of an `IN (...)` list written by [`placeholders`].
pub(crate) fn bind_ids<'q>(query: Query<'q>, ids: &[uuid::Uuid]) -> Query<'q> {
    ids.iter().fold(query, |q, id| q.bind(id.to_string()))
}

/// The `VALUES` list of a multi-row `INSERT` of `rows` rows of `width` values each:
/// `($1, $2), ($3, $4)` for 2 rows of 2.
pub(crate) fn row_values(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|i| format!("({})", placeholders(1 + width * i, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `VALUES` list of a multi-row `INSERT` on `backend`: [`row_values`] on PostgreSQL;
/// on SQLite anonymous parameters (`(?, ?), (?, ?)`), bound in order. sqlx places each
/// named SQLite parameter by asking SQLite for its name, a scan of the statement's names,
/// so binding a statement of named ones costs the square of its parameters.
pub(crate) fn insert_values(backend: Backend, rows: usize, width: usize) -> String {
    match backend {
        Backend::Postgres => row_values(rows, width),
        Backend::Sqlite => {
            let row = format!("({})", id_list(backend, width));
            vec![row.as_str(); rows].join(", ")
        }
    }
}

/// The placeholders of an `IN (...)` list of `n` values, the statement's only parameters,
/// on `backend`: [`placeholders`] on PostgreSQL, anonymous ones on SQLite (bound in order,
/// so binding stays linear; see [`insert_values`]).
pub(crate) fn id_list(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => placeholders(1, n),
        Backend::Sqlite => vec!["?"; n].join(", "),
    }
}

/// `$first, $first+1, ...` placeholders for an `IN (...)` list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
