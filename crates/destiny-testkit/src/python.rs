//! Locating and running the Python peers, set up by `scripts/test`: destiny-sdk 0.7.4 in
//! `<workspace>/.venv` (the 2025 peer) and destiny-sdk 0.17.6 in `<workspace>/.venv-0.17`
//! (today's), and the peer scripts in `crates/destiny-testkit/python/`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace root (`crates/destiny-testkit/../..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python peer: which destiny-sdk it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// destiny-sdk 0.7.4 (December 2025): `DESTINY_PYTHON`, else `.venv`.
    Sdk074,
    /// destiny-sdk 0.17.6 (today's): `DESTINY_PYTHON_017`, else `.venv-0.17`.
    Sdk0176,
}

/// The Python interpreter of the 0.7.4 peer.
///
/// # Panics
/// As [`python_of`].
pub fn python() -> PathBuf {
    python_of(Peer::Sdk074)
}

/// The Python interpreter of `peer`: its environment variable, else its virtualenv in
/// the workspace.
///
/// # Panics
/// If neither exists, saying how to set it up.
pub fn python_of(peer: Peer) -> PathBuf {
    let (var, venv) = match peer {
        Peer::Sdk074 => ("DESTINY_PYTHON", ".venv"),
        Peer::Sdk0176 => ("DESTINY_PYTHON_017", ".venv-0.17"),
    };
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "{var}={} does not exist: run scripts/test to set up the Python peers",
            path.display()
        );
        return path;
    }
    let venv = workspace_root().join(venv).join("bin/python");
    assert!(
        venv.exists(),
        "no Python peer {peer:?}: {var} is unset and {} does not exist; \
         run scripts/test to set up the Python peers",
        venv.display()
    );
    venv
}

/// A peer script of `crates/destiny-testkit/python/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// Runs `script` with `args` once, feeding `jobs` as JSON lines on stdin, and returns one
/// parsed JSON value per stdout line.
///
/// # Panics
/// If the script cannot start, exits with an error, or prints something that is not JSON.
pub fn run_script(script_name: &str, args: &[&str], jobs: &[Value]) -> Vec<Value> {
    run_script_on(Peer::Sdk074, script_name, args, jobs)
}

/// [`run_script`] with the interpreter of `peer`.
///
/// # Panics
/// As [`run_script`].
pub fn run_script_on(peer: Peer, script_name: &str, args: &[&str], jobs: &[Value]) -> Vec<Value> {
    let mut input = String::new();
    for job in jobs {
        input.push_str(&job.to_string());
        input.push('\n');
    }
    let mut child = Command::new(python_of(peer))
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
            let mut value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{script_name} printed a non-JSON line ({e}): {l}"));
            shortest_floats(&mut value);
            value
        })
        .collect()
}

/// Python's `json.dumps` spells floats as `repr` does (`1e-07`), the SDK as serde_json
/// does (`1e-7`); serde_json keeps a number's text (`arbitrary_precision`), so the answers
/// are compared with every float in its shortest Rust spelling. (JSONL lines, compared
/// byte for byte, are strings and keep pydantic's own spelling.)
fn shortest_floats(value: &mut Value) {
    match value {
        Value::Number(n) if n.as_str().contains(['.', 'e', 'E']) => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(shortest_floats),
        Value::Object(map) => map.values_mut().for_each(shortest_floats),
        _ => {}
    }
}

/// The model a peer job answered with (its `answer` line, as JSON).
///
/// # Panics
/// When the job answered an error (`{"status": …, "text": …}`) instead.
pub fn answer(line: &Value) -> Value {
    serde_json::from_str(line["answer"].as_str().unwrap_or_else(|| panic!("{line}")))
        .expect("the model's JSON")
}
