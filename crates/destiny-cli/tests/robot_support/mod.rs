//! Shared by the `robot_*` process tests: a `destiny serve` in this test process (SQLite
//! in a temp dir, port 0, a manual clock), and `destiny robot run toy` child processes
//! pointed at it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use destiny_repository::clock::{Clock, ManualClock};
use destiny_repository::config::Config;
use destiny_repository::server::prepare;
use destiny_sdk::models::{
    EnhancementRequestIn, EnhancementRequestStatus, ProvisionedRobot, Reference, RobotIn,
};
use destiny_sdk::samples::ReferenceGenerator;
use uuid::Uuid;

/// The source of the toy robot's enhancements.
pub const TOY: &str = "Toy Robot";

/// A running repository.
pub struct Server {
    pub base: String,
    pub clock: ManualClock,
    pub state: destiny_repository::api::AppState,
    pub dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A repository whose expiry job only runs when a test calls [`Server::expire`].
pub async fn start() -> Server {
    start_with(|_| {}).await
}

/// [`start`], with the configuration adjusted first (say, `public_url` naming a proxy).
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(
        format!("sqlite://{}", dir.path().join("destiny.db").display()),
        dir.path().join("blobs"),
    );
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.expiry_interval = Duration::from_secs(3600);
    adjust(&mut config);
    let clock = ManualClock::new(jiff::Timestamp::now());
    let prepared = prepare(config, Arc::new(clock.clone())).await.unwrap();
    let base = format!("http://{}", prepared.addr);
    let state = prepared.state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(prepared.serve(async move {
        let _ = rx.await;
    }));
    Server {
        base,
        clock,
        state,
        dir,
        _stop: tx,
    }
}

impl Server {
    /// The server's clock, in microseconds.
    pub fn now(&self) -> i64 {
        self.clock.now().as_microsecond()
    }

    /// The blob directory.
    pub fn blobs(&self) -> PathBuf {
        self.dir.path().join("blobs")
    }

    /// Registers a robot.
    pub async fn robot(&self, name: &str) -> ProvisionedRobot {
        let robot = RobotIn {
            name: name.to_owned(),
            description: "process test".to_owned(),
            owner: "tests".to_owned(),
            entitlements: Default::default(),
        };
        self.state
            .db
            .create_robot(&robot, self.now())
            .await
            .unwrap()
    }

    /// Loads `n` generated references and requests their enhancement by `robot`.
    pub async fn seed(&self, robot: Uuid, n: usize) -> (Vec<Uuid>, Uuid) {
        self.seed_from(robot, n, n as u64 + 1).await
    }

    /// [`seed`](Self::seed) with the references of generator seed `seed`.
    pub async fn seed_from(&self, robot: Uuid, n: usize, seed: u64) -> (Vec<Uuid>, Uuid) {
        let refs: Vec<Reference> = ReferenceGenerator::new(seed).take(n).collect();
        let ids = self
            .state
            .db
            .insert_references(refs, self.now())
            .await
            .unwrap();
        let request = EnhancementRequestIn {
            robot_id: robot,
            reference_ids: ids.clone(),
            source: Some("process tests".to_owned()),
        };
        let id = self
            .state
            .db
            .create_request(&request, self.now())
            .await
            .unwrap();
        (ids, id)
    }

    pub async fn status(&self, request: Uuid) -> EnhancementRequestStatus {
        self.state
            .db
            .request(request)
            .await
            .unwrap()
            .read
            .request_status
    }

    /// Waits (with a deadline) for a request to reach `want`.
    pub async fn wait_status(
        &self,
        request: Uuid,
        want: EnhancementRequestStatus,
        within: Duration,
    ) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.status(request).await;
            if got == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "request is {got:?}, still not {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many enhancements from `source` a reference has.
    pub async fn count_from(&self, reference: Uuid, source: &str) -> usize {
        let r = self.state.db.reference(reference).await.unwrap();
        r.enhancements
            .unwrap_or_default()
            .iter()
            .filter(|e| e.source == source)
            .count()
    }

    /// Moves the clock forward and runs the expiry job; returns how many leased
    /// enhancements expired.
    pub async fn advance_and_expire(&self, by: Duration) -> u64 {
        self.clock.advance(by);
        self.state
            .db
            .expire_due(self.now(), None)
            .await
            .unwrap()
            .expired
    }

    /// `destiny robot run toy` for `robot` against this server, with `env` on top of
    /// quick test settings; its log goes to `<tempdir>/<log>`.
    pub fn spawn_toy(
        &self,
        robot: &ProvisionedRobot,
        env: &[(&str, &str)],
        args: &[&str],
        log: &str,
    ) -> Robot {
        let log_path = self.dir.path().join(log);
        let log_file = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_destiny"))
            .args(["robot", "run", "toy"])
            .args(args)
            .env("DESTINY_REPOSITORY_URL", &self.base)
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
            child,
            log: log_path,
        }
    }
}

/// A `destiny robot run` child process.
pub struct Robot {
    pub child: Child,
    log: PathBuf,
}

impl Robot {
    /// Sends a signal (`TERM`, `KILL`...) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (with a deadline) for the process to exit.
    pub async fn exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the robot did not exit in time; its log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (with a deadline) until the process has logged `needle`: an event of the
    /// robot's own, where the repository's state would only say the server got so far.
    pub async fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.log().contains(needle) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the robot did not log {needle:?} in time; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the process logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Robot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
