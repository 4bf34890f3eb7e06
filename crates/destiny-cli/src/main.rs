//! `destiny`: the command line of destiny-rs.
//!
//! `main` only parses the command line and dispatches: each subcommand lives in its own
//! module (`sign`, `client_cmd`) with a `run` function; adding one is a [`Command`]
//! variant and a module. Exit codes: 0 success, 1 failure, 2 usage error.
//!
//! ## Layout
//! - `config`: the robot credentials shared by subcommands (flags or environment).
//! - `sign`: `destiny sign`, print the HMAC headers of a request.
//! - `client_cmd`: `destiny client ...`, call the robot API; `client_input` reads its
//!   file inputs (reference ids, automation queries).
//! - `serve`: `destiny serve`, run the local repository.
//! - `demo`: `destiny demo`, the whole system end to end.
//! - `references_cmd`: `destiny references generate`, seeded sample references.
//! - `robot_cmd`: `destiny robot run`, run a robot (online, or offline over a file).
//! - `results_cmd`: `destiny results check`, check a result file as the repository would.
//! - `error`: [`CliError`](error::CliError) and its exit codes.

mod client_cmd;
mod client_input;
mod config;
mod demo;
mod error;
mod references_cmd;
mod results_cmd;
mod robot_cmd;
mod serve;
mod sign;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: about a tenth less CPU than glibc's allocator for the toy robot offline
/// (docs/benchmarks.md, "Allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Command-line tools for robots of the DESTINY evidence repository.
#[derive(Debug, Parser)]
#[command(name = "destiny", version, about, propagate_version = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print the HMAC headers (Authorization, X-Client-Id, X-Request-Timestamp) of a
    /// request, as the Python SDK computes them.
    Sign(sign::SignArgs),
    /// Call the repository's robot API as a robot (credentials from flags or the
    /// environment).
    Client(client_cmd::ClientArgs),
    /// Run a local DESTINY repository: the robot API on SQLite (default) or PostgreSQL.
    Serve(serve::ServeArgs),
    /// Run the whole system end to end: a local repository, sample references and the
    /// toy robot, with progress and a summary.
    Demo(demo::DemoArgs),
    /// Generate sample references.
    References(references_cmd::ReferencesArgs),
    /// Run a robot against the repository (until SIGINT/SIGTERM) or over a file.
    Robot(robot_cmd::RobotArgs),
    /// Check a robot's result file against its batch, as the repository will.
    Results(results_cmd::ResultsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(
        if matches!(cli.command, Command::Serve(_) | Command::Robot(_)) {
            "info"
        } else {
            "warn"
        },
    );
    let outcome = match cli.command {
        Command::Sign(args) => sign::run(args),
        Command::Client(args) => client_cmd::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::References(args) => references_cmd::run(args),
        Command::Robot(args) => robot_cmd::run(args),
        Command::Results(args) => results_cmd::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings, such as retries;
/// `destiny serve` logs at info).
fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
