//! The server's settings.

use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `destiny serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// `sqlite://FILE` or `postgres://...`.
    pub database: String,
    /// Directory of the blob store (reference, result and validation files).
    pub blob_dir: PathBuf,
    /// Base URL clients reach this server at, used in signed URLs; derived from the
    /// bound address when absent.
    pub public_url: Option<String>,
    /// Lease given when a poll or renewal names none.
    pub lease_default: LeaseDuration,
    /// How often the expiry job runs.
    pub expiry_interval: Duration,
    /// Bearer token of the admin API; generated (and printed) when absent.
    pub admin_token: Option<Secret>,
    /// How long signed blob URLs stay valid.
    pub url_ttl: Duration,
    /// Largest accepted result file upload, in bytes.
    pub max_upload_bytes: u64,
    /// Largest accepted request body of the JSON API (reference imports included).
    pub max_body_bytes: usize,
    /// Allowed clock difference for HMAC timestamps, both ways.
    pub signature_window: Duration,
    /// Which clock HMAC timestamps are checked against.
    pub signature_clock: SignatureClock,
    /// A request body (JSON API or blob upload) that sends nothing for this long is
    /// refused with 408, so a stalled client cannot hold a connection forever.
    pub body_idle_timeout: Duration,
    /// How long a request waits for a database connection before answering 503 (an
    /// unreachable PostgreSQL server is retried until then).
    pub database_timeout: Duration,
    /// A connection whose request headers take longer than this to arrive is closed, so
    /// a client stalling in its headers cannot hold a connection.
    pub header_read_timeout: Duration,
    /// Import workers running at once; `None`: 1 on SQLite (one writer), 4 on PostgreSQL.
    pub import_workers: Option<usize>,
    /// Polls claiming work and writing their reference files at once; the others wait
    /// their turn (see [`crate::admission`]). `None`: 4 on SQLite (claims take the one
    /// writer in turn; reference files are read on the 8 readers), 8 on PostgreSQL
    /// (half its 16 connections, leaving the rest to imports and other routes).
    pub poll_concurrency: Option<usize>,
    /// The longest a poll waits for its turn before answering 503 with `Retry-After`;
    /// half the Python SDK's 60 s poll timeout.
    pub poll_wait: Duration,
    /// Polls that may wait at once; one more answers 503 with `Retry-After` at once.
    pub poll_queue: usize,
}

impl Config {
    /// Defaults for a database URL and a blob directory (listen on 127.0.0.1:8000).
    pub fn new(database: impl Into<String>, blob_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database: database.into(),
            blob_dir: blob_dir.into(),
            public_url: None,
            lease_default: LeaseDuration::from_secs(600).expect("10 minutes is a valid lease"),
            expiry_interval: Duration::from_secs(10),
            admin_token: None,
            url_ttl: Duration::from_secs(3600),
            max_upload_bytes: 256 * 1024 * 1024,
            max_body_bytes: 64 * 1024 * 1024,
            signature_window: Duration::from_secs(300),
            signature_clock: SignatureClock::System,
            body_idle_timeout: Duration::from_secs(60),
            database_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(30),
            import_workers: None,
            poll_concurrency: None,
            poll_wait: Duration::from_secs(30),
            poll_queue: 1024,
        }
    }
}

/// The clock the HMAC layer checks request timestamps against.
///
/// ```
/// use destiny_repository::config::{Config, SignatureClock};
/// let config = Config::new("sqlite://destiny.db", "blobs");
/// assert_eq!(config.signature_clock, SignatureClock::System);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureClock {
    /// The system clock, what robots sign with (`time.time()`), even when the server
    /// runs on an injected [`Clock`](crate::clock::Clock): tests that move lease time
    /// forward keep signing with real time. The default.
    #[default]
    System,
    /// The server's injected [`Clock`](crate::clock::Clock), so a test can move time
    /// past the signature window and replay a captured request.
    Server,
}
