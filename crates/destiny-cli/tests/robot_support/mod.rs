//! Shared by the `robot_*` and fault tests: a repository from the workspace's test kit
//! (SQLite, port 0, a manual clock) and `destiny robot run toy` child processes pointed
//! at it.

#![allow(dead_code, unused_imports)] // Each test file uses its own part.

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use destiny_repository::config::Config;
use destiny_sdk::models::ProvisionedRobot;
use destiny_testkit::child::Process;
pub use destiny_testkit::{eventually, Backend, Server, DEADLINE};
use uuid::Uuid;

/// The source of the toy robot's enhancements.
pub const TOY: &str = "Toy Robot";

/// A repository on SQLite whose expiry job only runs when a test calls
/// [`Server::expire`].
pub async fn start() -> Server {
    destiny_testkit::start(Backend::Sqlite).await
}

/// [`start`], with the configuration adjusted first (say, `public_url` naming a proxy).
pub async fn start_with(adjust: impl FnOnce(&mut Config) + Send + 'static) -> Server {
    destiny_testkit::start_with(Backend::Sqlite, adjust).await
}

/// A repository ([`start`]) with the robot `name` registered and `n` generated
/// references (from `seed`) requested of it: the repository, the robot, the references
/// and the request.
pub async fn seeded(
    name: &str,
    n: usize,
    seed: u64,
) -> (Server, ProvisionedRobot, Vec<Uuid>, Uuid) {
    let s = start().await;
    let robot = s.register(name).await;
    let (ids, request) = s.seed_generated(robot.id, n, seed).await;
    (s, robot, ids, request)
}

/// How many toy enhancements the references `ids` have between them.
pub async fn toy_enhancements(s: &Server, ids: &[Uuid]) -> usize {
    let mut n = 0;
    for id in ids {
        n += s.count_from(*id, TOY).await;
    }
    n
}

/// `destiny robot run toy` for `robot` against `server`, with `env` on top of quick test
/// settings; its log goes to `<the server's directory>/<log>`.
pub fn spawn_toy(
    server: &Server,
    robot: &ProvisionedRobot,
    env: &[(&str, &str)],
    args: &[&str],
    log: &str,
) -> Robot {
    let log = server.dir.path().join(log);
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["robot", "run", "toy"])
        .args(args)
        .env("DESTINY_REPOSITORY_URL", &server.base)
        .env("ROBOT_ID", robot.id.to_string())
        .env("ROBOT_SECRET", &robot.client_secret)
        .env("POLL_INTERVAL", "50ms")
        .env("RUST_LOG", "info")
        .env_remove("HEALTH_LISTEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("run destiny");
    Robot {
        process: Process::new(child, log),
    }
}

/// A `destiny robot run` child process, killed when dropped.
pub struct Robot {
    pub process: Process,
}

impl Robot {
    /// Sends a signal (`TERM`, `KILL`...) with `kill`.
    pub fn signal(&self, name: &str) {
        self.process.signal(name);
    }

    /// Waits (with a deadline) for the process to exit.
    pub async fn exit(&mut self, within: Duration) -> ExitStatus {
        self.process.exit(within).await
    }

    /// Sends SIGTERM and expects the process to exit 0 within `within`.
    pub async fn terminate(&mut self, within: Duration) {
        self.signal("TERM");
        let status = self.exit(within).await;
        assert!(status.success(), "{status:?}\n{}", self.log());
    }

    /// Waits (with a deadline) until the process has logged `needle`: an event of the
    /// robot's own, where the repository's state would only say the server got so far.
    pub async fn wait_log(&self, needle: &str, within: Duration) {
        let what = format!("the robot to log {needle:?}");
        eventually(&what, within, || async { self.log().contains(needle) }).await;
    }

    /// What the process logged.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

// ---- `destiny serve` child processes ------------------------------------------------------

pub use destiny_testkit::serve_process::{admin, ADMIN_TOKEN};

/// A `destiny serve` child process of this crate's binary.
pub type Serve = destiny_testkit::serve_process::Serve;

/// Starts `destiny serve` on `dir/destiny.db` and `dir/blobs`, port 0.
pub async fn serve_in(dir: &std::path::Path, log_name: &str) -> Serve {
    Serve::start(env!("CARGO_BIN_EXE_destiny").as_ref(), dir, log_name).await
}

/// Starts `destiny serve` with `args`, logging to `log`.
pub async fn serve_with(log: std::path::PathBuf, args: &[&str]) -> Serve {
    Serve::spawn(env!("CARGO_BIN_EXE_destiny").as_ref(), log, args).await
}
