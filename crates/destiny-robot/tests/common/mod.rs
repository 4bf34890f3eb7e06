//! The runner's tests: a repository from the workspace's test kit (SQLite, port 0, a
//! manual clock) and a runner with test-friendly settings.

#![allow(dead_code)]

use std::time::Duration;

use destiny_repository::config::Config;
use destiny_robot::{Robot, Runner, RunnerBuilder};
use destiny_sdk::models::ProvisionedRobot;
pub use destiny_testkit::{eventually, Backend, Server};

/// A repository on SQLite with default settings.
pub async fn start() -> Server {
    destiny_testkit::start(Backend::Sqlite).await
}

/// [`start`], with the configuration adjusted first.
pub async fn start_with(adjust: impl FnOnce(&mut Config) + Send + 'static) -> Server {
    destiny_testkit::start_with(Backend::Sqlite, adjust).await
}

/// A runner builder for `robot` against `server` with test-friendly settings: quick
/// polls when idle, a short shutdown grace.
pub fn runner<R: Robot>(server: &Server, robot: &ProvisionedRobot, r: R) -> RunnerBuilder<R> {
    Runner::builder(r)
        .client(server.client(robot))
        .poll_interval(Duration::from_millis(25))
        .shutdown_grace(Duration::from_secs(10))
}
