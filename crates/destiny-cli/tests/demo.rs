//! `destiny demo` end to end, as a newcomer runs it (with fewer references).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs `destiny demo ARGS --references 300 --batch-size 40 --dir DIR` to its end and
/// answers its output, failing unless it exited 0.
fn run_demo(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .arg("demo")
        .args(args)
        .args(["--references", "300", "--batch-size", "40", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn demo_completes_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_demo(&[], dir.path());
    for needle in [
        "request status           completed",
        "references               300",
        "enhanced / failed        300 / 0",
        "batches                  8",
        "poll latency p50 / p95",
        "lease renewals",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    assert!(dir.path().join("destiny.db").exists());
    assert!(dir.path().join("blobs").is_dir());
}

/// `--json`: stdout is one JSON object with the summary's figures.
#[test]
fn demo_json_prints_the_summary_as_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_demo(&["--json"], dir.path());
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(summary["request_status"], "completed", "{summary}");
    assert_eq!(
        (summary["references"].as_u64(), summary["enhanced"].as_u64()),
        (Some(300), Some(300))
    );
    assert_eq!(summary["batches"], 8);
    assert!(
        summary["references_per_second"].is_u64(),
        "a whole number: {summary}"
    );
    assert_eq!(summary["removed"], false, "--dir keeps the files");
    let chain = run_demo(&["--chain", "--json"], dir.path().join("chain").as_path());
    let chain: serde_json::Value =
        serde_json::from_str(&chain).unwrap_or_else(|e| panic!("{e}: {chain}"));
    assert_eq!(chain["completed"], true, "{chain}");
    let asked: Vec<u64> = chain["robots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["asked"].as_u64().unwrap())
        .collect();
    assert_eq!(asked.len(), 3, "{chain}");
    assert_eq!(asked[0], 300, "{chain}");
}

/// `destiny demo --chain`: each robot does all it is asked for, and each is asked for
/// fewer references than the one before it (the automations hand on the yeses).
#[test]
fn demo_chain_runs_three_robots_through_their_automations() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_demo(&["--chain"], dir.path());
    let mut asked = Vec::new();
    for robot in ["flagger", "prefilter", "classifier"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(robot))
            .unwrap_or_else(|| panic!("no line for the {robot} in\n{stdout}"));
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        let [n_asked, enhanced, failed, _batches] = numbers[..] else {
            panic!("{line}");
        };
        assert_eq!((enhanced, failed), (n_asked, 0), "{line}");
        asked.push(n_asked);
    }
    assert_eq!(asked[0], 300, "{stdout}");
    assert!(
        asked[0] > asked[1] && asked[1] > asked[2] && asked[2] > 0,
        "{stdout}"
    );
}

#[test]
fn demo_keep_leaves_a_working_repository_with_credentials_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["demo", "--references", "20", "--keep", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("destiny client poll") {
            break;
        }
    }
    assert!(seen.contains("stays up"), "{seen}");
    let env = std::fs::read_to_string(dir.path().join("demo.env")).unwrap();
    let secret = env
        .lines()
        .find_map(|l| l.strip_prefix("export ROBOT_SECRET="))
        .unwrap();
    assert!(!seen.contains(secret), "the robot secret was printed");
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap()
            .to_owned()
    };
    // The kept repository answers a robot: nothing is left to do.
    let poll = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["client", "poll", "--limit", "5"])
        .env("DESTINY_REPOSITORY_URL", var("DESTINY_REPOSITORY_URL"))
        .env("ROBOT_ID", var("ROBOT_ID"))
        .env("ROBOT_SECRET", var("ROBOT_SECRET"))
        .output()
        .unwrap();
    assert!(
        poll.status.success(),
        "{}",
        String::from_utf8_lossy(&poll.stderr)
    );
    assert!(poll.stdout.is_empty());
    // Ctrl-C stops it cleanly.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
