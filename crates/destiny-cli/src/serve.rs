//! `destiny serve`: run the local repository until Ctrl-C or SIGTERM.

use clap::Args;
use destiny_repository::config::Config;
use destiny_repository::server::prepare;
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::CliError;

/// Settings of `destiny serve` (each also from a `DESTINY_*` environment variable).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DESTINY_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "DESTINY_DATABASE", default_value = "sqlite://destiny.db")]
    database: String,
    /// Directory of reference, result and validation files.
    #[arg(long, env = "DESTINY_BLOB_DIR", default_value = "destiny-blobs")]
    blob_dir: PathBuf,
    /// Base URL robots reach this server at (used in signed URLs); default http://LISTEN.
    #[arg(long, env = "DESTINY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Lease given when a poll or renewal names none (PT10M, 10m...).
    #[arg(long, env = "DESTINY_LEASE_DEFAULT", default_value = "PT10M")]
    lease_default: LeaseDuration,
    /// How often leases that ran out are expired (PT10S, 10s...).
    #[arg(long, env = "DESTINY_EXPIRY_INTERVAL", default_value = "10s")]
    expiry_interval: LeaseDuration,
    /// A request body that sends nothing for this long is refused with 408.
    #[arg(long, env = "DESTINY_BODY_IDLE_TIMEOUT", default_value = "60s")]
    body_idle_timeout: LeaseDuration,
    /// A connection whose request headers take longer than this to arrive is closed.
    #[arg(long, env = "DESTINY_HEADER_READ_TIMEOUT", default_value = "30s")]
    header_read_timeout: LeaseDuration,
    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "DESTINY_DATABASE_TIMEOUT", default_value = "5s")]
    database_timeout: LeaseDuration,
    /// Result files imported at once (default: 1 on SQLite, 4 on PostgreSQL).
    #[arg(long, env = "DESTINY_IMPORT_WORKERS", value_parser = clap::value_parser!(u16).range(1..=64))]
    import_workers: Option<u16>,
    /// Polls claiming work at once; others wait their turn (default: 4 on SQLite, 8 on
    /// PostgreSQL).
    #[arg(long, env = "DESTINY_POLL_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..=256))]
    poll_concurrency: Option<u16>,
    /// The longest a poll waits for its turn before answering 503 with Retry-After.
    #[arg(long, env = "DESTINY_POLL_WAIT", default_value = "30s")]
    poll_wait: LeaseDuration,
    /// Polls that may wait at once; one more answers 503 with Retry-After.
    #[arg(long, env = "DESTINY_POLL_QUEUE", default_value_t = 1024)]
    poll_queue: usize,
    /// Bearer token of the admin API; generated and printed when absent.
    #[arg(long, env = "DESTINY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

/// Runs the server.
///
/// # Errors
/// Start-up failures (database, blob directory, address in use).
pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let runtime = crate::error::runtime()?;
    runtime.block_on(async move {
        let mut config = Config::new(args.database, args.blob_dir);
        config.listen = args.listen;
        config.public_url = args.public_url;
        config.lease_default = args.lease_default;
        config.expiry_interval = args.expiry_interval.as_std();
        config.body_idle_timeout = args.body_idle_timeout.as_std();
        config.header_read_timeout = args.header_read_timeout.as_std();
        config.database_timeout = args.database_timeout.as_std();
        config.import_workers = args.import_workers.map(usize::from);
        config.poll_concurrency = args.poll_concurrency.map(usize::from);
        config.poll_wait = args.poll_wait.as_std();
        config.poll_queue = args.poll_queue;
        config.admin_token = args.admin_token.map(Secret::new);
        let clock = Arc::new(destiny_repository::clock::SystemClock);
        // A start-up failure (the database unreachable, the port taken) is not a usage
        // error: exit 1, not 2.
        let prepared = prepare(config, clock)
            .await
            .map_err(|e| CliError::failed("starting the repository", e))?;
        println!("destiny serve: listening on http://{}", prepared.addr);
        if prepared.generated_token {
            println!(
                "admin token (Authorization: Bearer ...): {}",
                prepared.state.admin_token.expose()
            );
        }
        prepared
            .serve(shutdown_signal())
            .await
            .map_err(|e| CliError::failed("serving", e))
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
