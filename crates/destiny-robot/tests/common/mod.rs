//! The runner's tests: a repository from the workspace's test kit (SQLite, port 0, a
//! manual clock), a runner with test-friendly settings, and that runner on its own task.

#![allow(dead_code, unused_imports)]

use std::time::Duration;

use destiny_repository::config::Config;
use destiny_robot::{Metrics, MetricsSnapshot, Robot, RunError, Runner, RunnerBuilder};
use destiny_sdk::models::ProvisionedRobot;
pub use destiny_testkit::{eventually, Backend, Server};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A repository on SQLite with default settings.
pub async fn start() -> Server {
    destiny_testkit::start(Backend::Sqlite).await
}

/// [`start`], with the configuration adjusted first.
pub async fn start_with(adjust: impl FnOnce(&mut Config) + Send + 'static) -> Server {
    destiny_testkit::start_with(Backend::Sqlite, adjust).await
}

/// Registers the robot `name` on `s` and requests enhancements of `n` generated
/// references from it (generated with `n` as the seed): the repository, the robot, the
/// references and the request.
pub async fn seeded(
    s: Server,
    name: &str,
    n: usize,
) -> (Server, ProvisionedRobot, Vec<Uuid>, Uuid) {
    let robot = s.register(name).await;
    let (ids, request) = s.seed_generated(robot.id, n, n as u64).await;
    (s, robot, ids, request)
}

/// A runner builder for `robot` against `server` with test-friendly settings: quick
/// polls when idle, a short shutdown grace.
pub fn runner<R: Robot>(server: &Server, robot: &ProvisionedRobot, r: R) -> RunnerBuilder<R> {
    Runner::builder(r)
        .client(server.client(robot))
        .poll_interval(Duration::from_millis(25))
        .shutdown_grace(Duration::from_secs(10))
}

/// A runner on its own task, with the handles a test watches and stops it by.
pub struct Running {
    /// The runner's live counters.
    pub metrics: Metrics,
    /// Stops the runner's polling when cancelled.
    pub stop: CancellationToken,
    /// The runner's task: its final counters or its error.
    pub run: JoinHandle<Result<MetricsSnapshot, RunError>>,
}

/// Builds the runner and spawns its [`run`](Runner::run).
pub fn spawn<R: Robot>(builder: RunnerBuilder<R>) -> Running {
    let runner = builder.build().unwrap();
    Running {
        metrics: runner.metrics(),
        stop: runner.shutdown_token(),
        run: tokio::spawn(runner.run()),
    }
}

/// Runs the runner `builder` makes until the request `request` is `status`, then stops
/// it and answers its final counters.
pub async fn run_until<R: Robot>(
    s: &Server,
    builder: RunnerBuilder<R>,
    request: Uuid,
    status: &str,
) -> MetricsSnapshot {
    let mut running = spawn(builder);
    s.wait_status(request, status).await;
    running.finish().await
}

impl Running {
    /// Stops the runner and returns its final counters (the run must succeed).
    pub async fn finish(&mut self) -> MetricsSnapshot {
        self.stop.cancel();
        (&mut self.run).await.unwrap().unwrap()
    }
}
