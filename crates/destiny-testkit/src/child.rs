//! A child process of a test, with its log file, SIGKILLed when dropped (a failing test
//! never leaves one behind): what [`crate::serve_process::Serve`] and the CLI's robot
//! processes are built on.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// A child process logging to a file of its own.
pub struct Process {
    child: std::process::Child,
    log: PathBuf,
}

impl Process {
    /// Wraps `child`, whose output goes to `log`.
    pub fn new(child: std::process::Child, log: PathBuf) -> Self {
        Self { child, log }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`TERM`, `KILL`...) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// SIGKILLs the process and waits for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the process");
        let _ = self.child.wait();
    }

    /// Waits (with a deadline) for the process to exit; kills it and fails the test,
    /// showing its log, if it has not.
    pub async fn exit(&mut self, within: Duration) -> ExitStatus {
        let started = tokio::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("the process did not exit in time; its log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
