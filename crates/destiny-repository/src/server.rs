//! Wiring: open the database and blob store, start the background jobs, serve HTTP.

use destiny_sdk::secret::Secret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::api::{app, AppState};
use crate::blob::{BlobConfig, BlobState, BlobStore, UrlSigner};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Db;

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
}

/// Opens everything `config` names and binds the listener; nothing is served yet.
///
/// # Errors
/// [`ServeError`] when the database, blob directory or address cannot be used.
pub async fn prepare(config: Config, clock: Arc<dyn Clock>) -> Result<Prepared, ServeError> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let db = Db::connect(&config.database).await?;
    let requeued = db
        .requeue_interrupted_imports()
        .await
        .map_err(|e| ServeError::Startup(e.to_string()))?;
    if requeued > 0 {
        tracing::info!(requeued, "resuming interrupted imports");
    }
    let store = BlobStore::open_root(&config.blob_dir).await?;
    let public = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let signer =
        UrlSigner::load_or_create(&config.blob_dir)?.with_public_base(public.trim_end_matches('/'));
    let blob_config = BlobConfig {
        url_ttl: config.url_ttl,
        max_upload_bytes: config.max_upload_bytes,
        ..BlobConfig::default()
    };
    let blobs = BlobState::new(store, signer, blob_config, clock.clone());
    let (admin_token, generated_token) = match &config.admin_token {
        Some(t) => (t.clone(), false),
        None => (Secret::new(crate::db::robots::new_secret()), true),
    };
    let state = AppState {
        db,
        blobs,
        clock,
        config: Arc::new(config),
        admin_token,
        import_wake: Arc::new(Notify::new()),
    };
    Ok(Prepared {
        state,
        addr,
        generated_token,
        listener,
    })
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
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = self.state;
        let expiry = tokio::spawn(crate::jobs::expiry_loop(
            state.clone(),
            state.config.expiry_interval,
            stop_rx.clone(),
        ));
        let import = tokio::spawn(crate::jobs::import_loop(
            state.clone(),
            state.import_wake.clone(),
            stop_rx,
        ));
        let db = state.db.clone();
        let result = axum::serve(self.listener, app(state))
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_tx.send(true);
        let _ = expiry.await;
        let _ = import.await;
        db.close().await;
        result.map_err(ServeError::Io)
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
