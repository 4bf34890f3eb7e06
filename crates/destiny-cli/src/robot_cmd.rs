//! `destiny robot run <robot>`: run a robot with the `destiny-robot` runtime, against a
//! repository until SIGINT/SIGTERM (exit 0 after a graceful shutdown) or, with
//! `--until-drained`, until the work runs out (exit 0 unless a batch failed or was given
//! up), or offline over a file (`--input`, `--output`).
//!
//! Online settings come from flags or the environment: `DESTINY_REPOSITORY_URL`,
//! `ROBOT_ID`, `ROBOT_SECRET`, `BATCH_SIZE`, `LEASE`, `CONCURRENT_BATCHES`,
//! `REFERENCE_CONCURRENCY`, `POLL_INTERVAL`, `SHUTDOWN_GRACE`, `HEALTH_LISTEN`,
//! `RUN_UNTIL_DRAINED`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use destiny_robot::config::parse_duration;
use destiny_robot::offline::Endpoint;
use destiny_robot::{
    run_offline_files, OfflineError, OfflineOptions, Robot, RunError, Runner, RunnerSettings,
    ToyRobot,
};

use crate::config::Credentials;
use crate::error::CliError;

/// Arguments of `destiny robot`.
#[derive(Debug, Args)]
pub struct RobotArgs {
    /// What to do.
    #[command(subcommand)]
    command: RobotCommand,
}

/// The `robot` subcommands.
#[derive(Debug, Subcommand)]
enum RobotCommand {
    /// Run a robot against the repository until SIGINT/SIGTERM (or, with
    /// --until-drained, until no work is left), or over a file with --input.
    Run(RunArgs),
}

/// The robots this binary includes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum RobotName {
    /// One `meta:toy` score annotation per reference (the reference toy robot).
    Toy,
}

/// Arguments of `destiny robot run`.
#[derive(Debug, Args)]
struct RunArgs {
    /// The robot to run.
    robot: RobotName,
    /// Offline: read references (JSONL) from this file, `-` for stdin, instead of
    /// polling a repository.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Offline: write results (JSONL) to this file (default: stdout).
    #[arg(long, requires = "input")]
    output: Option<PathBuf>,
    /// Toy robot: pick toys and scores from this seed and the reference id
    /// (deterministic) instead of at random.
    #[arg(long)]
    seed: Option<u64>,
    /// Toy robot: pretend to work this long per reference (e.g. 200ms).
    #[arg(long, value_parser = parse_duration)]
    delay: Option<Duration>,
    /// Where the repository is and who the robot is.
    #[command(flatten)]
    credentials: Credentials,
    /// How the runner runs (flags and variables defined by `destiny_robot`).
    #[command(flatten)]
    settings: RunnerSettings,
}

/// Runs the subcommand.
///
/// # Errors
/// [`CliError::Usage`] for missing or invalid settings; [`CliError::Api`] or
/// [`CliError::Client`] when polling fails for good; [`CliError::Io`] for files and
/// failed offline runs.
pub fn run(args: RobotArgs) -> Result<(), CliError> {
    let RobotCommand::Run(args) = args.command;
    let runtime = crate::error::runtime()?;
    match args.robot {
        RobotName::Toy => {
            let mut toy = ToyRobot::new().with_delay(args.delay.unwrap_or_default());
            if let Some(seed) = args.seed {
                toy = toy.with_seed(seed);
            }
            runtime.block_on(run_robot(toy, &args))
        }
    }
}

async fn run_robot<R: Robot>(robot: R, args: &RunArgs) -> Result<(), CliError> {
    match &args.input {
        Some(input) => offline(robot, args, input).await,
        None => online(robot, args).await,
    }
}

async fn online<R: Robot>(robot: R, args: &RunArgs) -> Result<(), CliError> {
    let client = args.credentials.client()?;
    let runner = Runner::builder(robot)
        .client(client)
        .settings(args.settings.clone())
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    match runner.run_until_signal().await {
        Ok(_) => Ok(()),
        Err(RunError::Poll(error)) => Err(error.into()),
        Err(error) => Err(CliError::failed("running the robot", error)),
    }
}

async fn offline<R: Robot>(robot: R, args: &RunArgs, input: &Path) -> Result<(), CliError> {
    let options = OfflineOptions {
        reference_concurrency: args.settings.reference_concurrency,
        call_limits: args.settings.call_limits.clone(),
        ..OfflineOptions::default()
    };
    let output = args
        .output
        .as_deref()
        .map_or(Endpoint::Std, Endpoint::from_arg);
    let report = run_offline_files(&robot, Endpoint::from_arg(input), output, &options)
        .await
        .map_err(|e| {
            let what = match &e {
                OfflineError::Input(_) => "reading references",
                OfflineError::Output(_) => "writing results",
                _ => "the robot stopped",
            };
            CliError::failed(what, e)
        })?;
    tracing::info!(
        enhanced = report.enhanced,
        failed = report.failed,
        skipped = report.skipped,
        "offline run finished"
    );
    Ok(())
}
