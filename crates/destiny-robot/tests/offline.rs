//! Offline runs over the shared fixtures and hand-made files: the processing path with
//! no repository.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use destiny_robot::{
    run_offline, Context, OfflineError, OfflineOptions, Outcome, Robot, RobotFailure, RobotInfo,
    ToyRobot, TransientPolicy,
};
use destiny_sdk::jsonl::JsonlReader;
use destiny_sdk::models::{EnhancementResultEntry, Reference};
use uuid::Uuid;

use destiny_testkit::fixture;

fn entries(output: &[u8]) -> Vec<EnhancementResultEntry> {
    JsonlReader::new(output).collect::<Result<_, _>>().unwrap()
}

async fn run_toy(input: &[u8], seed: u64) -> Vec<u8> {
    let mut output = Vec::new();
    run_offline(
        &ToyRobot::new().with_seed(seed),
        input,
        &mut output,
        &OfflineOptions::default(),
    )
    .await
    .unwrap();
    output
}

#[tokio::test]
async fn the_toy_robot_enhances_every_fixture_reference_deterministically() {
    for name in ["references.jsonl", "references-sdk-0.17.jsonl"] {
        let input = std::fs::read(fixture(name)).unwrap();
        let refs: Vec<Reference> = JsonlReader::new(&input[..])
            .collect::<Result<_, _>>()
            .unwrap();
        let first = run_toy(&input, 11).await;
        let second = run_toy(&input, 11).await;
        let lines = |out: &[u8]| -> BTreeSet<String> {
            String::from_utf8(out.to_vec())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            lines(&first),
            lines(&second),
            "{name}: the seed decides everything"
        );
        let got = entries(&first);
        assert_eq!(got.len(), refs.len(), "{name}");
        let got_ids: BTreeSet<Uuid> = got.iter().map(|e| e.reference_id()).collect();
        let want_ids: BTreeSet<Uuid> = refs.iter().map(|r| r.id).collect();
        assert_eq!(got_ids, want_ids);
        assert!(got
            .iter()
            .all(|e| matches!(e, EnhancementResultEntry::Enhancement(_))));
        let other = run_toy(&input, 12).await;
        assert_ne!(lines(&first), lines(&other), "another seed, other picks");
    }
}

#[tokio::test]
async fn unreadable_lines_are_reported_or_skipped() {
    let good = "3a533776-c9ad-4aac-a089-d654d509490c";
    let bad = "7b1c6a4e-0d5e-4a7e-9b51-0c7f0c0a6f11";
    let input = format!(
        "{{\"id\": \"{good}\"}}\n\n{{\"id\": \"{bad}\", \"visibility\": \"secret\"}}\nnot json\r\n"
    );
    let mut output = Vec::new();
    let report = run_offline(
        &ToyRobot::new(),
        input.as_bytes(),
        &mut output,
        &OfflineOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!((report.enhanced, report.failed, report.skipped), (1, 1, 1));
    let got = entries(&output);
    let error = got
        .iter()
        .find_map(|e| match e {
            EnhancementResultEntry::Error(e) => Some(e),
            EnhancementResultEntry::Enhancement(_) => None,
        })
        .unwrap();
    assert_eq!(error.reference_id.to_string(), bad);
    assert!(
        error
            .message
            .starts_with("Reference could not be parsed: visibility"),
        "{}",
        error.message
    );
}

/// Tracks how many references are in its hands at once.
#[derive(Default)]
struct Counting {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Robot for Counting {
    fn info(&self) -> RobotInfo {
        RobotInfo::new("Counting Robot", "1")
    }

    async fn enhance(&self, reference: &Reference, ctx: &Context) -> Outcome {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        ToyRobot::new().enhance(reference, ctx).await
    }
}

fn generated(n: usize) -> Vec<u8> {
    let mut input = Vec::new();
    for r in destiny_sdk::samples::ReferenceGenerator::new(5).take(n) {
        destiny_sdk::jsonl::append_line(&mut input, &r).unwrap();
    }
    input
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded() {
    let robot = Counting::default();
    let options = OfflineOptions {
        reference_concurrency: 3,
        ..OfflineOptions::default()
    };
    let mut output = Vec::new();
    let report = run_offline(&robot, &generated(60)[..], &mut output, &options)
        .await
        .unwrap();
    assert_eq!(report.enhanced, 60);
    let max = robot.max.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "at most 3 at once, got {max}");
}

/// Enhances in chunks of 4; the first call for each chunk fails its second reference
/// transiently.
#[derive(Default)]
struct Chunky {
    chunks: Mutex<Vec<(u32, usize)>>,
}

impl Robot for Chunky {
    fn info(&self) -> RobotInfo {
        RobotInfo::new("Chunky Robot", "1")
    }

    async fn enhance(&self, _: &Reference, _: &Context) -> Outcome {
        Err(RobotFailure::fatal_batch("only enhance_batch is used"))
    }

    fn chunk_size(&self) -> usize {
        4
    }

    async fn enhance_batch(&self, references: &[Reference], ctx: &Context) -> Vec<Outcome> {
        self.chunks
            .lock()
            .unwrap()
            .push((ctx.attempt(), references.len()));
        let toy = ToyRobot::new();
        let mut out = Vec::new();
        for (i, r) in references.iter().enumerate() {
            if ctx.attempt() == 1 && i == 1 {
                out.push(Err(RobotFailure::transient("busy")));
            } else {
                out.push(toy.enhance(r, ctx).await);
            }
        }
        out
    }
}

#[tokio::test]
async fn a_batch_hook_gets_chunks_and_retries_only_what_failed() {
    let robot = Chunky::default();
    let options = OfflineOptions {
        reference_concurrency: 8,
        transient: TransientPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..TransientPolicy::default()
        },
        ..OfflineOptions::default()
    };
    let mut output = Vec::new();
    let report = run_offline(&robot, &generated(10)[..], &mut output, &options)
        .await
        .unwrap();
    assert_eq!((report.enhanced, report.failed, report.retries), (10, 0, 3));
    let mut chunks = robot.chunks.lock().unwrap().clone();
    chunks.sort();
    assert_eq!(chunks, vec![(1, 2), (1, 4), (1, 4), (2, 1), (2, 1), (2, 1)]);
}

#[tokio::test]
async fn a_fatal_failure_stops_an_offline_run() {
    struct Fatal;
    impl Robot for Fatal {
        fn info(&self) -> RobotInfo {
            RobotInfo::new("Fatal Robot", "1")
        }
        async fn enhance(&self, _: &Reference, _: &Context) -> Outcome {
            Err(RobotFailure::fatal_batch("licence expired"))
        }
    }
    let mut output = Vec::new();
    let err = run_offline(
        &Fatal,
        &generated(3)[..],
        &mut output,
        &OfflineOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, OfflineError::Fatal(m) if m == "licence expired"),
        "{err}"
    );
}
