//! # Blob storage
//!
//! The local stand-in for the Azure blob container of the real repository: files in a
//! directory, reached through signed, expiring URLs served by this same server, so a
//! robot that works here works against Azure SAS URLs unchanged.
//!
//! ## Layout
//!
//! - [`key`]: [`BlobKey`], a validated relative path (no traversal, no hidden files).
//! - [`store`]: [`BlobStore`] and [`BlobWriter`](store::BlobWriter): streaming, atomic writes (temporary
//!   file + rename), so a failed or abandoned upload never leaves a partial blob.
//! - [`signing`]: [`UrlSigner`]: `?sp=r|w&se=<unix>&sig=<hmac>` URLs, read and write
//!   separate, the key kept in `<root>/.signing-key` so URLs survive restarts.
//! - [`routes`]: [`router`]: `GET`/`HEAD`/`PUT /blobs/{*key}`, Azure's rules for PUT
//!   (`x-ms-blob-type: BlockBlob`, 201 Created), size and idle limits, JSON errors.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use destiny_repository::blob::{self, BlobConfig, BlobKey, BlobState, BlobStore, Permission, UrlSigner};
//! use destiny_repository::clock::SystemClock;
//!
//! let store = BlobStore::open_root("blobs").await?;
//! let signer = UrlSigner::load_or_create("blobs")?.with_public_base("http://127.0.0.1:8000");
//! let state = BlobState::new(store, signer, BlobConfig::default(), Arc::new(SystemClock));
//! let url = state.signed_url(&BlobKey::new("batches/b1/references.jsonl")?, Permission::Read);
//! let app = blob::router(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # let _ = url; Ok(()) }
//! ```

pub mod backend;
pub mod key;
pub mod location;
pub mod object;
pub mod routes;
pub mod signing;
pub mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::Clock;

pub use backend::Store;
pub use key::{BlobKey, BlobKeyError};
pub use location::BlobLocation;
pub use object::ObjectBlobs;
pub use routes::router;
pub use signing::{Permission, SigningKeyError, UrlSigner, DEFAULT_URL_TTL};
pub use store::{BlobError, BlobStore};

/// The default upload limit: 256 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// The default time an upload may go without sending a byte before it is abandoned.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Limits of the blob routes.
///
/// ```
/// use destiny_repository::blob::BlobConfig;
/// let config = BlobConfig { max_upload_bytes: 1024, ..BlobConfig::default() };
/// assert_eq!(config.url_ttl.as_secs(), 3600);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobConfig {
    /// How long URLs made by [`BlobState::signed_url`] stay valid.
    pub url_ttl: Duration,
    /// Largest accepted upload; a larger PUT gets 413 and stores nothing.
    pub max_upload_bytes: u64,
    /// An upload that sends nothing for this long gets 408 and stores nothing, so a
    /// stalled client cannot hold a connection and a temporary file forever.
    pub body_idle_timeout: Duration,
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            url_ttl: DEFAULT_URL_TTL,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
        }
    }
}

/// What the blob routes share: the store, the signer, the limits and the clock.
/// Cheap to clone.
#[derive(Clone)]
pub struct BlobState(Arc<Inner>);

struct Inner {
    /// Where blobs live.
    store: Store,
    /// Signs URLs handed out and checks those presented.
    signer: UrlSigner,
    /// Limits.
    config: BlobConfig,
    /// Injected so expiry can be tested without waiting an hour.
    clock: Arc<dyn Clock>,
}

impl BlobState {
    /// Bundles the parts.
    pub fn new(
        store: impl Into<Store>,
        signer: UrlSigner,
        config: BlobConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self(Arc::new(Inner {
            store: store.into(),
            signer,
            config,
            clock,
        }))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The signer.
    pub fn signer(&self) -> &UrlSigner {
        &self.0.signer
    }

    /// The limits.
    pub fn config(&self) -> &BlobConfig {
        &self.0.config
    }

    /// The clock's current time.
    pub fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    /// A URL granting `permission` on `key` for [`BlobConfig::url_ttl`] from now: on
    /// `file://`, one of [`signed_url`](Self::signed_url); on an object store, a URL on
    /// the storage service itself.
    ///
    /// # Errors
    /// [`BlobError::Io`] when an object store's credentials cannot sign.
    pub async fn url(&self, key: &BlobKey, permission: Permission) -> Result<String, BlobError> {
        match &self.0.store {
            Store::File(_) => Ok(self.signed_url(key, permission)),
            Store::Object(store) => {
                store
                    .signed_url(key, permission, self.0.config.url_ttl)
                    .await
            }
        }
    }

    /// A `/blobs` URL of this server granting `permission` on `key` for
    /// [`BlobConfig::url_ttl`] from now (the `file://` store's URLs).
    pub fn signed_url(&self, key: &BlobKey, permission: Permission) -> String {
        self.0
            .signer
            .sign(key, permission, self.0.config.url_ttl, self.now())
    }
}

impl fmt::Debug for BlobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobState")
            .field("store", &self.0.store)
            .field("signer", &self.0.signer)
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}
