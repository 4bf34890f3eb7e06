//! Wiring: open the database and blob store, start the background jobs, serve HTTP.

use destiny_sdk::secret::Secret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::admission::{Admission, AdmissionLimits};
use crate::api::{app, AppState};
use crate::blob::{BlobConfig, BlobLocation, BlobState, BlobStore, ObjectBlobs, Store, UrlSigner};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{Backend, Db};

/// Failures starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The database could not be opened.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// The blob directory could not be opened.
    #[error("blob directory: {0}")]
    Blob(#[from] crate::blob::BlobError),
    /// The URL signing key could not be loaded.
    #[error("blob signing key: {0}")]
    SigningKey(#[from] crate::blob::SigningKeyError),
    /// Listening or serving failed.
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A background job failed at start-up.
    #[error("start-up: {0}")]
    Startup(String),
    /// A server on PostgreSQL was given no admin token.
    #[error(
        "on PostgreSQL the admin token must be given (--admin-token or DESTINY_ADMIN_TOKEN): \
         every server sharing the database must accept the same one"
    )]
    AdminTokenRequired,
}

/// A server ready to serve: its state and its bound listener.
pub struct Prepared {
    /// Shared state (handy for tests).
    pub state: AppState,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Whether the admin token was generated (so the caller should print it).
    pub generated_token: bool,
    listener: TcpListener,
    /// The one-server lock of a SQLite database, held until serving ends.
    _sqlite_lock: Option<std::fs::File>,
}

/// Opens everything `config` names and binds the listener; nothing is served yet.
/// Imports a previous process left `running` go back to the queue, and the temporary
/// files of its unfinished blob writes are removed.
///
/// # Errors
/// [`ServeError`] when the database, blob directory or address cannot be used.
pub async fn prepare(config: Config, clock: Arc<dyn Clock>) -> Result<Prepared, ServeError> {
    // A generated token is this process's alone; servers sharing a PostgreSQL database
    // must all accept the token an admin client holds.
    if config.admin_token.is_none() && Backend::of_url(&config.database) == Some(Backend::Postgres)
    {
        return Err(ServeError::AdminTokenRequired);
    }
    let sqlite_lock = crate::db::single_server_lock(&config.database)?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let db = Db::connect_with_timeout(&config.database, config.database_timeout).await?;
    // An import left `running` is taken again once its lease runs out. This server
    // holds a SQLite file alone, so there an import left running is surely a stopped
    // predecessor's, and is taken again at once; on a shared PostgreSQL its holder may
    // be another live server.
    if sqlite_lock.is_some() {
        let resumed = db
            .release_import_leases()
            .await
            .map_err(|e| ServeError::Startup(e.to_string()))?;
        if resumed > 0 {
            tracing::info!(resumed, "resuming imports a stopped server left unfinished");
        }
    }
    let public = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let (store, signer) = match config.blob_location() {
        BlobLocation::File(dir) => {
            let store = BlobStore::open_root(&dir).await?;
            // Writes a killed predecessor left unfinished (an upload, a validation file)
            // leave hidden temporary files; nothing of this process writes yet.
            let removed = store
                .remove_stale_temporary_files(std::time::SystemTime::now())
                .await?;
            if removed > 0 {
                tracing::info!(
                    removed,
                    "removed temporary blob files of writes a previous process left unfinished"
                );
            }
            let signer = match &config.url_signing_key {
                Some(secret) => UrlSigner::from_secret(secret.expose()),
                None => UrlSigner::load_or_create(&dir)?,
            }
            .with_public_base(public.trim_end_matches('/'));
            (Store::File(store), signer)
        }
        location => {
            // Robots get URLs on the storage service; the `/blobs` routes of this server
            // serve nothing, and a random key signs nothing anyone holds.
            let store = ObjectBlobs::from_env(&location)?;
            (Store::Object(store), UrlSigner::random()?)
        }
    };
    let blob_config = BlobConfig {
        url_ttl: config.url_ttl,
        max_upload_bytes: config.max_upload_bytes,
        body_idle_timeout: config.body_idle_timeout,
    };
    let blobs = BlobState::new(store, signer, blob_config, clock.clone());
    let (admin_token, generated_token) = match &config.admin_token {
        Some(t) => (t.clone(), false),
        None => (Secret::new(crate::random::secret()?), true),
    };
    let admission = Admission::new(AdmissionLimits {
        concurrency: config.poll_concurrency.unwrap_or(match db.backend() {
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        }),
        max_queue: config.poll_queue,
        max_wait: config.poll_wait,
    });
    let state = AppState {
        admission,
        percolating: Arc::new(tokio::sync::Mutex::new(())),
        metrics: crate::metrics::Metrics::default(),
        foreground: Default::default(),
        db,
        blobs,
        clock,
        config: Arc::new(config),
        admin_token,
        import_wake: Arc::new(Notify::new()),
        changes: Arc::new(watch::Sender::new(0)),
        search: Arc::new(
            crate::search::SearchIndex::new().map_err(|e| ServeError::Startup(e.to_string()))?,
        ),
    };
    Ok(Prepared {
        state,
        addr,
        generated_token,
        listener,
        _sqlite_lock: sqlite_lock,
    })
}

/// Which background jobs [`Prepared::serve_with`] runs.
///
/// ```
/// use destiny_repository::server::Jobs;
/// // The API and the import worker, with the expiry job driven by hand (tests).
/// let jobs = Jobs { expiry: false, ..Jobs::ALL };
/// assert!(jobs.import && !Jobs::NONE.import);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jobs {
    /// The expiry job (leases that ran out become `expired` and are retried).
    pub expiry: bool,
    /// The import worker (submitted result files are validated and imported). Without
    /// it, submitted results stay queued in the database until a server with it runs.
    pub import: bool,
}

impl Jobs {
    /// Every job: what `destiny serve` runs.
    pub const ALL: Self = Self {
        expiry: true,
        import: true,
    };
    /// No job: the API only (tests drive the jobs by hand).
    pub const NONE: Self = Self {
        expiry: false,
        import: false,
    };
}

impl Prepared {
    /// Serves until `shutdown` completes, with the expiry job and import worker running.
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        self.serve_with(Jobs::ALL, shutdown).await
    }

    /// Serves until `shutdown` completes, running the background `jobs` chosen. On
    /// shutdown one cancellation token stops everything at once: no new connection is
    /// accepted, the jobs take no new work, and requests in flight and an import under way
    /// get [`Config::shutdown_grace`] to finish; what is still running then is cut off (an
    /// import cut off applies nothing and is taken again later, see
    /// [`crate::config::Config::import_lease`]). Then the database pools close.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), destiny_repository::server::ServeError> {
    /// use destiny_repository::{clock::SystemClock, config::Config, server};
    /// let config = Config::new("sqlite://destiny.db", "destiny-blobs");
    /// let prepared = server::prepare(config, std::sync::Arc::new(SystemClock)).await?;
    /// // Results submitted now stay queued until a server with the import worker runs.
    /// prepared
    ///     .serve_with(server::Jobs::NONE, async { let _ = tokio::signal::ctrl_c().await; })
    ///     .await
    /// # }
    /// ```
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn serve_with(
        self,
        jobs: Jobs,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let stop = CancellationToken::new();
        let signal = tokio::spawn({
            let stop = stop.clone();
            async move {
                shutdown.await;
                stop.cancel();
            }
        });
        let state = self.state;
        let mut tasks = tokio::task::JoinSet::new();
        if jobs.expiry {
            tasks.spawn(crate::jobs::expiry_loop(
                state.clone(),
                state.config.expiry_interval,
                stop.clone(),
            ));
        }
        if jobs.import {
            let workers = state
                .config
                .import_workers
                .unwrap_or(match state.db.backend() {
                    crate::db::Backend::Sqlite => 1,
                    crate::db::Backend::Postgres => 4,
                });
            for _ in 0..workers.max(1) {
                tasks.spawn(crate::jobs::import_loop(
                    state.clone(),
                    state.import_wake.clone(),
                    stop.clone(),
                ));
            }
        }
        let db = state.db.clone();
        let grace = state.config.shutdown_grace;
        let limits = crate::http::Limits {
            header_read_timeout: state.config.header_read_timeout,
            max_connections: state.config.max_connections,
            grace,
        };
        let began =
            crate::http::serve(self.listener, app(state.clone()), limits, stop.clone()).await;
        signal.abort();
        // The jobs were told when the requests were; they share the deadline.
        let drained = tokio::time::timeout_at(began + grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace_s = grace.as_secs_f64(),
                "background work still running after the shutdown grace period is cut off; \
                 an import cut off applied nothing and will be taken again"
            );
            tasks.shutdown().await;
        }
        db.close().await;
        Ok(())
    }
}

/// Opens, binds and serves with the system clock until `shutdown` completes.
///
/// # Errors
/// As [`prepare`] and [`Prepared::serve`].
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let prepared = prepare(config, Arc::new(SystemClock)).await?;
    prepared.serve(shutdown).await
}
