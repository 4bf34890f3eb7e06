//! The server's settings: one definition of each, with its default, and (with the `cli`
//! feature) its `destiny serve` flag, environment variable and help, which the `destiny`
//! command flattens into its `serve` subcommand.
//!
//! Defaults are spelled once, in [`defaults`], as the command line writes them; the
//! flags show them and [`Config::new`] reads them.

use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::blob::location::{BlobLocation, BlobLocationError};

/// Each setting's default, as `destiny serve --help` shows it.
pub mod defaults {
    use std::time::Duration;

    /// `--listen`.
    pub const LISTEN: &str = "127.0.0.1:8000";
    /// `--database`.
    pub const DATABASE: &str = "sqlite://destiny.db";
    /// `--blob-dir`.
    pub const BLOB_DIR: &str = "destiny-blobs";
    /// `--lease-default`.
    pub const LEASE_DEFAULT: &str = "PT10M";
    /// `--expiry-interval`.
    pub const EXPIRY_INTERVAL: &str = "10s";
    /// `--body-idle-timeout`.
    pub const BODY_IDLE_TIMEOUT: &str = "60s";
    /// `--header-read-timeout`.
    pub const HEADER_READ_TIMEOUT: &str = "30s";
    /// `--database-timeout`.
    pub const DATABASE_TIMEOUT: &str = "5s";
    /// `--import-lease`.
    pub const IMPORT_LEASE: &str = "30s";
    /// `--shutdown-grace`.
    pub const SHUTDOWN_GRACE: &str = "30s";
    /// `--max-connections`.
    pub const MAX_CONNECTIONS: &str = "1024";
    /// `--poll-wait`.
    pub const POLL_WAIT: &str = "30s";
    /// `--poll-queue`.
    pub const POLL_QUEUE: &str = "1024";
    /// Signed blob URLs stay valid this long (library setting, no flag).
    pub const URL_TTL: Duration = Duration::from_secs(3600);
    /// Largest result file upload (library setting, no flag).
    pub const MAX_UPLOAD_BYTES: u64 = 256 * 1024 * 1024;
    /// Largest JSON API body (library setting, no flag).
    pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
    /// HMAC timestamp window, both ways (library setting, no flag).
    pub const SIGNATURE_WINDOW: Duration = Duration::from_secs(300);
}

/// Everything `destiny serve` can be told; with the `cli` feature, also its flags.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_LISTEN", default_value = defaults::LISTEN))]
    pub listen: SocketAddr,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_DATABASE", default_value = defaults::DATABASE))]
    pub database: String,
    /// Directory of reference, result and validation files (`--blob-store file://DIR`).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_BLOB_DIR", default_value = defaults::BLOB_DIR))]
    pub blob_dir: PathBuf,
    /// Where files live: file://DIR (default: --blob-dir), az://CONTAINER[/PREFIX] or
    /// s3://BUCKET[/PREFIX]; credentials from the AZURE_STORAGE_* or AWS_* variables.
    #[cfg_attr(
        feature = "cli",
        arg(long, env = "DESTINY_BLOB_STORE", conflicts_with = "blob_dir")
    )]
    pub blob_store: Option<BlobLocation>,
    /// Key signing file:// blob URLs, the same on every instance so each accepts the
    /// others' URLs; default: a random key kept in DIR/.signing-key.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_URL_SIGNING_KEY", hide_env_values = true, value_parser = secret))]
    pub url_signing_key: Option<Secret>,
    /// Base URL robots reach this server at (used in signed URLs); default http://LISTEN.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_PUBLIC_URL"))]
    pub public_url: Option<String>,
    /// Lease given when a poll or renewal names none (PT10M, 10m...).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_LEASE_DEFAULT", default_value = defaults::LEASE_DEFAULT))]
    pub lease_default: LeaseDuration,
    /// How often leases that ran out are expired (PT10S, 10s...).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_EXPIRY_INTERVAL", default_value = defaults::EXPIRY_INTERVAL, value_parser = duration))]
    pub expiry_interval: Duration,
    /// Bearer token of the admin API; on SQLite generated and printed when absent, on
    /// PostgreSQL required (servers sharing the database must accept the same one).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_ADMIN_TOKEN", hide_env_values = true, value_parser = secret))]
    pub admin_token: Option<Secret>,
    /// How long signed blob URLs stay valid.
    #[cfg_attr(feature = "cli", arg(skip = defaults::URL_TTL))]
    pub url_ttl: Duration,
    /// Largest accepted result file upload, in bytes.
    #[cfg_attr(feature = "cli", arg(skip = defaults::MAX_UPLOAD_BYTES))]
    pub max_upload_bytes: u64,
    /// Largest accepted request body of the JSON API (reference imports included).
    #[cfg_attr(feature = "cli", arg(skip = defaults::MAX_BODY_BYTES))]
    pub max_body_bytes: usize,
    /// Allowed clock difference for HMAC timestamps, both ways.
    #[cfg_attr(feature = "cli", arg(skip = defaults::SIGNATURE_WINDOW))]
    pub signature_window: Duration,
    /// Which clock HMAC timestamps are checked against.
    #[cfg_attr(feature = "cli", arg(skip))]
    pub signature_clock: SignatureClock,
    /// A request body (JSON or upload) that sends nothing for this long is refused
    /// with 408, so a stalled client cannot hold a connection forever.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_BODY_IDLE_TIMEOUT", default_value = defaults::BODY_IDLE_TIMEOUT, value_parser = duration))]
    pub body_idle_timeout: Duration,
    /// How long a request waits for a database connection before answering 503 (an
    /// unreachable PostgreSQL server is retried until then).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_DATABASE_TIMEOUT", default_value = defaults::DATABASE_TIMEOUT, value_parser = duration))]
    pub database_timeout: Duration,
    /// A connection whose request headers take longer than this to arrive is closed, so
    /// a client stalling in its headers cannot hold a connection.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_HEADER_READ_TIMEOUT", default_value = defaults::HEADER_READ_TIMEOUT, value_parser = duration))]
    pub header_read_timeout: Duration,
    /// Result files imported at once (default: 1 on SQLite, its one writer; 4 on
    /// PostgreSQL).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_IMPORT_WORKERS", value_parser = count_in::<1, 64>))]
    pub import_workers: Option<usize>,
    /// How long an import stays with the server that took it without word from it; the
    /// holder extends it three times as often, and another server takes over an import
    /// whose holder stopped once it runs out.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_IMPORT_LEASE", default_value = defaults::IMPORT_LEASE, value_parser = duration))]
    pub import_lease: Duration,
    /// Polls claiming work at once; others wait their turn (default: 4 on SQLite, 8 on
    /// PostgreSQL, half its 16 connections).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_POLL_CONCURRENCY", value_parser = count_in::<1, 256>))]
    pub poll_concurrency: Option<usize>,
    /// The longest a poll waits for its turn before answering 503 with Retry-After
    /// (half the Python SDK's 60 s poll timeout).
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_POLL_WAIT", default_value = defaults::POLL_WAIT, value_parser = duration))]
    pub poll_wait: Duration,
    /// Polls that may wait at once; one more answers 503 with Retry-After.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_POLL_QUEUE", default_value = defaults::POLL_QUEUE))]
    pub poll_queue: usize,
    /// After a shutdown signal, how long requests in flight and background jobs (an
    /// import under way) get to finish before they are cut off.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_SHUTDOWN_GRACE", default_value = defaults::SHUTDOWN_GRACE, value_parser = duration))]
    pub shutdown_grace: Duration,
    /// Connections open at once; more wait in the system's accept queue until one closes.
    #[cfg_attr(feature = "cli", arg(long, env = "DESTINY_MAX_CONNECTIONS", default_value = defaults::MAX_CONNECTIONS, value_parser = count_in::<1, 65536>))]
    pub max_connections: usize,
}

impl Config {
    /// The defaults (see [`defaults`]) for a database URL and a blob directory.
    ///
    /// ```
    /// use destiny_repository::config::Config;
    /// let config = Config::new("sqlite://destiny.db", "blobs");
    /// assert_eq!(config.listen.to_string(), "127.0.0.1:8000");
    /// assert_eq!(config.expiry_interval.as_secs(), 10);
    /// assert_eq!(config.poll_queue, 1024);
    /// ```
    pub fn new(database: impl Into<String>, blob_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: defaults::LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            database: database.into(),
            blob_dir: blob_dir.into(),
            blob_store: None,
            url_signing_key: None,
            public_url: None,
            lease_default: defaults::LEASE_DEFAULT
                .parse()
                .ok()
                .unwrap_or(LeaseDuration::DEFAULT),
            expiry_interval: default_duration(defaults::EXPIRY_INTERVAL),
            admin_token: None,
            url_ttl: defaults::URL_TTL,
            max_upload_bytes: defaults::MAX_UPLOAD_BYTES,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            signature_window: defaults::SIGNATURE_WINDOW,
            signature_clock: SignatureClock::System,
            body_idle_timeout: default_duration(defaults::BODY_IDLE_TIMEOUT),
            database_timeout: default_duration(defaults::DATABASE_TIMEOUT),
            header_read_timeout: default_duration(defaults::HEADER_READ_TIMEOUT),
            import_workers: None,
            import_lease: default_duration(defaults::IMPORT_LEASE),
            poll_concurrency: None,
            poll_wait: default_duration(defaults::POLL_WAIT),
            poll_queue: defaults::POLL_QUEUE.parse().unwrap_or(0),
            shutdown_grace: default_duration(defaults::SHUTDOWN_GRACE),
            max_connections: defaults::MAX_CONNECTIONS.parse().unwrap_or(1),
        }
    }
}

impl Config {
    /// Where files live: [`blob_store`](Self::blob_store), else the directory
    /// [`blob_dir`](Self::blob_dir).
    ///
    /// ```
    /// use destiny_repository::config::{BlobLocation, Config};
    /// let mut config = Config::new("sqlite://destiny.db", "blobs");
    /// assert_eq!(config.blob_location(), BlobLocation::File("blobs".into()));
    /// config.blob_store = Some("s3://bucket".parse().unwrap());
    /// assert!(matches!(config.blob_location(), BlobLocation::S3 { .. }));
    /// ```
    pub fn blob_location(&self) -> BlobLocation {
        self.blob_store
            .clone()
            .unwrap_or_else(|| BlobLocation::File(self.blob_dir.clone()))
    }
}

/// A default duration (the `defaults_parse` test checks each parses; the zero fallback,
/// never used, keeps [`Config::new`] free of panics).
fn default_duration(text: &str) -> Duration {
    duration(text).unwrap_or(Duration::ZERO)
}

/// A duration flag: ISO 8601 (`PT30S`) or friendly (`30s`, `1m30s`, `500ms`).
///
/// # Errors
/// The text names no duration the repository accepts.
pub fn duration(text: &str) -> Result<Duration, String> {
    text.parse::<LeaseDuration>()
        .map(|d| d.as_std())
        .map_err(|e| e.to_string())
}

/// A secret flag (the admin token); any text.
#[cfg(feature = "cli")]
fn secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}

/// A count from `LO` to `HI`.
#[cfg(feature = "cli")]
fn count_in<const LO: usize, const HI: usize>(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (LO..=HI).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a number from {LO} to {HI}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        assert!(defaults::LISTEN.parse::<SocketAddr>().is_ok());
        assert!(defaults::LEASE_DEFAULT.parse::<LeaseDuration>().is_ok());
        assert!(defaults::POLL_QUEUE.parse::<usize>().is_ok());
        assert!(defaults::MAX_CONNECTIONS.parse::<usize>().is_ok());
        for text in [
            defaults::EXPIRY_INTERVAL,
            defaults::BODY_IDLE_TIMEOUT,
            defaults::HEADER_READ_TIMEOUT,
            defaults::DATABASE_TIMEOUT,
            defaults::POLL_WAIT,
            defaults::IMPORT_LEASE,
            defaults::SHUTDOWN_GRACE,
        ] {
            assert!(duration(text).is_ok_and(|d| !d.is_zero()), "{text}");
        }
        let c = Config::new("sqlite://x.db", "b");
        assert_eq!(c.lease_default.as_std(), Duration::from_secs(600));
        assert_eq!(c.poll_wait, Duration::from_secs(30));
    }
}
