//! `destiny serve`: run the local repository until Ctrl-C or SIGTERM.

use clap::Args;
use destiny_repository::config::Config;
use destiny_repository::server::prepare;
use std::sync::Arc;

use crate::error::CliError;

/// Settings of `destiny serve`: the repository's [`Config`], whose fields carry their
/// flags, `DESTINY_*` environment variables and defaults.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: Config,
}

/// Runs the server.
///
/// # Errors
/// Start-up failures (database, blob directory, address in use).
pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let runtime = crate::error::runtime()?;
    runtime.block_on(async move {
        let config = args.config;
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
