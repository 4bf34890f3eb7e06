//! `destiny robot run toy` as a process: SIGTERM drains in-flight work and exits 0, a
//! grace period too short abandons it to its lease (still exit 0, nothing reported), the
//! offline mode over files, and `destiny results check` over what it wrote.

mod robot_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use destiny_sdk::jsonl::JsonlReader;
use destiny_sdk::models::{EnhancementRequestStatus, EnhancementResultEntry, Reference};
use destiny_testkit::wait_for;
use robot_support::{seeded, spawn_toy, toy_enhancements, TOY};

/// Batches of five taken one reference at a time, on a one-minute lease, with `grace` to
/// finish in-flight work at shutdown.
fn slow_batches_of_five(grace: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("BATCH_SIZE", "5"),
        ("REFERENCE_CONCURRENCY", "1"),
        ("LEASE", "PT1M"),
        ("SHUTDOWN_GRACE", grace),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_batch_in_flight_and_exits_zero() {
    let (s, robot, ids, request) = seeded("terminated", 20, 21).await;
    let mut env = slow_batches_of_five("30s");
    env.push(("CONCURRENT_BATCHES", "1"));
    let mut robot_process = spawn_toy(&s, &robot, &env, &["--delay", "100ms"], "term.log");
    s.wait_status(request, "processing").await;
    robot_process.terminate(Duration::from_secs(20)).await;

    // Nothing was left leased: the batch in flight was submitted, no more were taken.
    assert_eq!(
        s.advance_and_expire(Duration::from_secs(61)).await.expired,
        0
    );
    // The repository imports submitted results in the background.
    let enhanced = wait_for(
        "the batch in flight to be imported",
        Duration::from_secs(20),
        || async {
            let n = toy_enhancements(&s, &ids).await;
            (n >= 5).then_some(n)
        },
    )
    .await;
    assert!(enhanced < ids.len(), "polling stopped: {enhanced} enhanced");
    assert!(robot_process.log().contains("batch submitted"));
    assert!(robot_process.log().contains("robot runner stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_the_grace_period_abandons_without_a_false_failure() {
    let (s, robot, _, request) = seeded("impatient", 5, 6).await;
    let env = slow_batches_of_five("100ms");
    let mut robot_process = spawn_toy(&s, &robot, &env, &["--delay", "10s"], "grace.log");
    s.wait_status(request, "processing").await;
    robot_process.terminate(Duration::from_secs(10)).await;
    assert_eq!(
        s.status(request).await,
        EnhancementRequestStatus::Processing,
        "not failed"
    );
    assert_eq!(
        s.advance_and_expire(Duration::from_secs(61)).await.expired,
        5,
        "left to its lease"
    );
    assert_eq!(s.status(request).await, EnhancementRequestStatus::Received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_drained_exits_zero_once_the_work_is_done() {
    let (s, robot, ids, request) = seeded("scheduled job", 20, 22).await;
    let env = [("BATCH_SIZE", "5"), ("CONCURRENT_BATCHES", "2")];
    let mut robot_process = spawn_toy(&s, &robot, &env, &["--until-drained"], "drained.log");
    let status = robot_process.exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}\n{}", robot_process.log());
    assert!(robot_process.log().contains("drained: no work left"));
    s.wait_status(request, "completed").await;
    assert_eq!(toy_enhancements(&s, &ids).await, ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_drained_is_read_from_its_variable_and_refuses_a_bad_value() {
    let (s, robot, _, request) = seeded("scheduled by env", 5, 23).await;
    let mut robot_process = spawn_toy(&s, &robot, &[("RUN_UNTIL_DRAINED", "true")], &[], "env.log");
    let status = robot_process.exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}\n{}", robot_process.log());
    s.wait_status(request, "completed").await;

    let mut bad = spawn_toy(
        &s,
        &robot,
        &[("RUN_UNTIL_DRAINED", "sometimes")],
        &[],
        "bad.log",
    );
    let status = bad.exit(Duration::from_secs(30)).await;
    assert!(!status.success());
    assert!(
        bad.log().contains("\"sometimes\" is not true or false"),
        "{}",
        bad.log()
    );
}

fn fixture() -> PathBuf {
    destiny_testkit::fixture("references.jsonl")
}

fn offline(input: &Path, output: &Path, seed: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["robot", "run", "toy", "--seed", seed, "--input"])
        .arg(input)
        .arg("--output")
        .arg(output)
        .env_remove("DESTINY_REPOSITORY_URL")
        .output()
        .unwrap();
    assert_succeeded(&out);
}

/// Asserts that the command exited 0, showing its stderr otherwise.
fn assert_succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn offline_mode_turns_a_reference_file_into_a_result_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    offline(&input, &a, "5");
    offline(&input, &b, "5");
    let refs: Vec<Reference> = JsonlReader::new(std::io::BufReader::new(
        std::fs::File::open(&input).unwrap(),
    ))
    .collect::<Result<_, _>>()
    .unwrap();
    let read = |p: &Path| -> Vec<EnhancementResultEntry> {
        JsonlReader::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()))
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let (got_a, mut got_b) = (read(&a), read(&b));
    assert_eq!(got_a.len(), refs.len());
    let mut ids: Vec<_> = got_a.iter().map(|e| e.reference_id()).collect();
    let mut want: Vec<_> = refs.iter().map(|r| r.id).collect();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    let mut got_a = got_a;
    got_a.sort_by_key(|e| e.reference_id());
    got_b.sort_by_key(|e| e.reference_id());
    assert_eq!(got_a, got_b, "--seed makes the run deterministic");
    for e in &got_a {
        let EnhancementResultEntry::Enhancement(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (e.source.as_str(), e.robot_version.as_deref()),
            (TOY, Some(env!("CARGO_PKG_VERSION")))
        );
    }
}

/// `destiny references generate` with `args`, written to `refs`; it must succeed.
fn generate(args: &[&str], refs: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["references", "generate"])
        .args(args)
        .arg("-o")
        .arg(refs)
        .output()
        .unwrap();
    assert_succeeded(&out);
}

/// A temporary directory with references generated by `args` (`refs.jsonl`) and the toy
/// robot's offline results for them (`results.jsonl`, seed 1).
fn generated_and_enhanced(args: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.jsonl");
    let results = dir.path().join("results.jsonl");
    generate(args, &refs);
    offline(&refs, &results, "1");
    (dir, refs, results)
}

/// `destiny results check --references <refs> <results>`.
fn results_check(refs: &Path, results: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["results", "check", "--references"])
        .arg(refs)
        .arg(results)
        .output()
        .unwrap()
}

#[test]
fn the_toy_robot_enhances_every_shape_of_todays_repository() {
    let (_dir, refs, results) = generated_and_enhanced(&["300", "--shapes", "today"]);
    let text = std::fs::read_to_string(&refs).unwrap();
    for shape in [
        r#""identifier_type":"url""#,
        "linked_data",
        "full_text",
        "tombstone",
        "created_at",
        "pagination",
    ] {
        assert!(text.contains(shape), "generated references hold no {shape}");
    }
    let out = results_check(&refs, &results);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("300 result lines for 300 references: 300 enhanced, 0 failed"),
        "{stderr}"
    );
}

#[test]
fn results_check_takes_an_offline_run_and_names_what_is_wrong() {
    let (dir, refs, results) = generated_and_enhanced(&["50", "--seed", "3"]);

    let out = results_check(&refs, &results);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(
        "50 result lines for 50 references: 50 enhanced, 0 failed (LinkedRobotError or raw), \
         0 missing, 0 lines refused"
    ));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 50);
    assert!(!stdout.contains("error"), "{stdout}");

    // The last line dropped and the first repeated: exit 1, and the validation lines say so.
    let text = std::fs::read_to_string(&results).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let broken = dir.path().join("broken.jsonl");
    let mut edited = lines[..49].to_vec();
    edited.push(lines[0]);
    std::fs::write(&broken, edited.join("\n")).unwrap();
    let out = results_check(&refs, &broken);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "49 enhanced, 0 failed (LinkedRobotError or raw), 1 missing, 1 lines refused"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("would not take this file whole"),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Duplicate reference ID in enhancement result."));
    assert!(stdout.contains("Requested reference not in enhancement result."));

    // A reference file that is not one is named, with its line.
    let out = results_check(&results, &results);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: not a reference with an id"),
        "{stderr}"
    );
}
