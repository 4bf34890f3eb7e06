//! A PostgreSQL cluster of one test's own, which the test may stop and start (a real
//! restart, which the shared cluster of `DESTINY_TEST_POSTGRES` cannot have: other tests
//! use it). Made with the installed server's `initdb` and `pg_ctl`, found as
//! `scripts/pg` finds them (`DESTINY_PG_BIN`, default `/usr/lib/postgresql/15/bin`), in a
//! temporary directory, on a free port, with the same throwaway settings (trust on
//! 127.0.0.1, fsync off). Run as the `postgres` user when the test runs as root, since
//! PostgreSQL refuses root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running cluster of one test; stopped (immediately) and deleted when dropped.
pub struct PgCluster {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// The server's settings, given at every start (`pg_ctl start` does not keep them).
    options: String,
    /// Whether the tools run as `postgres` (this process is root).
    root: bool,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl PgCluster {
    /// Creates and starts a cluster.
    ///
    /// # Panics
    /// When `initdb` or `pg_ctl` is missing or fails (with the server's log).
    pub fn start() -> Self {
        let bin = std::env::var_os("DESTINY_PG_BIN").map_or_else(
            || PathBuf::from("/usr/lib/postgresql/15/bin"),
            PathBuf::from,
        );
        let dir = tempfile::tempdir().expect("a directory for the cluster");
        let root = is_root();
        if root {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = dir.path().join("data");
        run(as_postgres(root, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"]));
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
             -c max_connections=300 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off",
            data.display()
        );
        let cluster = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            options,
            root,
            bin,
            dir,
        };
        cluster.start_again();
        cluster
    }

    /// Stops the server (fast shutdown: sessions are ended, as in a real restart).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// Starts it again, with the settings it was first started with.
    pub fn start_again(&self) {
        self.pg_ctl(&["start", "-o", &self.options]);
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut command = as_postgres(self.root, &self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "60"])
            .args(args)
            // Not a pipe: the server it starts must not hold one open.
            .stdout(Stdio::null());
        if !command.status().is_ok_and(|s| s.success()) {
            let log = std::fs::read_to_string(self.log()).unwrap_or_default();
            panic!("pg_ctl {args:?} failed; the server's log:\n{log}");
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres(self.root, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `program`, run as the `postgres` user when we are `root`.
fn as_postgres(root: bool, program: &Path) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (is PostgreSQL installed?)"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
