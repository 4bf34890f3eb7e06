//! Locating and running the Python peer (destiny-sdk 0.7.4 in `<workspace>/.venv`, set up
//! by `scripts/test`): shared by the test harnesses of destiny-sdk and destiny-repository,
//! which include this file (`#[path]`), so `CARGO_MANIFEST_DIR` is the including crate's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace root (`crates/<crate>/../..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python interpreter of the peer: `DESTINY_PYTHON`, else the workspace's `.venv`.
///
/// # Panics
/// If neither exists, saying how to set it up.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("DESTINY_PYTHON").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "DESTINY_PYTHON={} does not exist: run scripts/test to set up the Python peer",
            path.display()
        );
        return path;
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python peer: DESTINY_PYTHON is unset and {} does not exist; \
         run scripts/test to set up the Python peer",
        venv.display()
    );
    venv
}

/// A script of `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Runs `script` with `args` once, feeding `jobs` as JSON lines on stdin, and returns one
/// parsed JSON value per stdout line.
///
/// # Panics
/// If the script cannot start, exits with an error, or prints something that is not JSON.
pub fn run_script(script_name: &str, args: &[&str], jobs: &[Value]) -> Vec<Value> {
    let mut input = String::new();
    for job in jobs {
        input.push_str(&job.to_string());
        input.push('\n');
    }
    let mut child = Command::new(python())
        .arg(script(script_name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {script_name}: {e}"));
    // Feed stdin from a thread so a large batch cannot deadlock against full pipes.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{script_name} failed to run: {e}"));
    feeder
        .join()
        .expect("stdin feeder thread")
        .unwrap_or_else(|e| panic!("cannot write the jobs to {script_name}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script_name} {args:?} exited with {}\nstderr:\n{}\nstdout:\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{script_name} printed a non-JSON line ({e}): {l}"))
        })
        .collect()
}
