//! `destiny robot run toy` as a process: SIGTERM drains in-flight work and exits 0, a
//! grace period too short abandons it to its lease (still exit 0, nothing reported), the
//! offline mode over files, and `destiny results check` over what it wrote.

mod robot_support;

use std::process::Command;
use std::time::Duration;

use destiny_sdk::jsonl::JsonlReader;
use destiny_sdk::models::{EnhancementRequestStatus, EnhancementResultEntry, Reference};
use robot_support::{spawn_toy_on, start, TOY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_batch_in_flight_and_exits_zero() {
    let s = start().await;
    let robot = s.register("terminated").await;
    let (ids, request) = s.seed_generated(robot.id, 20, 21).await;
    let env = [
        ("BATCH_SIZE", "5"),
        ("CONCURRENT_BATCHES", "1"),
        ("REFERENCE_CONCURRENCY", "1"),
        ("LEASE", "PT1M"),
        ("SHUTDOWN_GRACE", "30s"),
    ];
    let mut robot_process = spawn_toy_on(&s, &robot, &env, &["--delay", "100ms"], "term.log");
    s.wait_status(request, "processing").await;
    robot_process.signal("TERM");
    let status = robot_process.exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", robot_process.log());

    // Nothing was left leased: the batch in flight was submitted, no more were taken.
    assert_eq!(
        s.advance_and_expire(Duration::from_secs(61)).await.expired,
        0
    );
    // The repository imports submitted results in the background.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let enhanced = loop {
        let mut n = 0;
        for id in &ids {
            n += s.count_from(*id, TOY).await;
        }
        if n >= 5 {
            break n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the batch in flight was not imported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(enhanced < ids.len(), "polling stopped: {enhanced} enhanced");
    assert!(robot_process.log().contains("batch submitted"));
    assert!(robot_process.log().contains("robot runner stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_the_grace_period_abandons_without_a_false_failure() {
    let s = start().await;
    let robot = s.register("impatient").await;
    let (_, request) = s.seed_generated(robot.id, 5, 6).await;
    let env = [
        ("BATCH_SIZE", "5"),
        ("REFERENCE_CONCURRENCY", "1"),
        ("LEASE", "PT1M"),
        ("SHUTDOWN_GRACE", "100ms"),
    ];
    let mut robot_process = spawn_toy_on(&s, &robot, &env, &["--delay", "10s"], "grace.log");
    s.wait_status(request, "processing").await;
    robot_process.signal("TERM");
    let status = robot_process.exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}\n{}", robot_process.log());
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

fn fixture() -> std::path::PathBuf {
    destiny_testkit::fixture("references.jsonl")
}

fn offline(input: &std::path::Path, output: &std::path::Path, seed: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["robot", "run", "toy", "--seed", seed, "--input"])
        .arg(input)
        .arg("--output")
        .arg(output)
        .env_remove("DESTINY_REPOSITORY_URL")
        .output()
        .unwrap();
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
    let read = |p: &std::path::Path| -> Vec<EnhancementResultEntry> {
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

fn destiny(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_toy_robot_enhances_every_shape_of_todays_repository() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("today.jsonl");
    let results = dir.path().join("results.jsonl");
    let generated = destiny(&[
        "references".as_ref(),
        "generate".as_ref(),
        "300".as_ref(),
        "--shapes".as_ref(),
        "today".as_ref(),
        "-o".as_ref(),
        refs.as_os_str(),
    ]);
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
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
    offline(&refs, &results, "1");
    let out = destiny(&[
        "results".as_ref(),
        "check".as_ref(),
        "--references".as_ref(),
        refs.as_os_str(),
        results.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("300 result lines for 300 references: 300 enhanced, 0 failed"),
        "{stderr}"
    );
}

#[test]
fn results_check_takes_an_offline_run_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.jsonl");
    let results = dir.path().join("results.jsonl");
    let generated = destiny(&[
        "references".as_ref(),
        "generate".as_ref(),
        "50".as_ref(),
        "--seed".as_ref(),
        "3".as_ref(),
        "-o".as_ref(),
        refs.as_os_str(),
    ]);
    assert!(generated.status.success());
    offline(&refs, &results, "1");
    let check = |results: &std::path::Path| {
        destiny(&[
            "results".as_ref(),
            "check".as_ref(),
            "--references".as_ref(),
            refs.as_os_str(),
            results.as_os_str(),
        ])
    };

    let out = check(&results);
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
    let out = check(&broken);
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
    let out = destiny(&[
        "results".as_ref(),
        "check".as_ref(),
        "--references".as_ref(),
        results.as_os_str(),
        results.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1: not a reference with an id"),
        "{stderr}"
    );
}
