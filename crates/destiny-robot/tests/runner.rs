//! The runner against a real `destiny serve` (in-process, SQLite, port 0) over HTTP. Time
//! on the repository's side is a manual clock: leases run out when a test says so.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, run_until, runner, seeded, spawn, start, start_with, Running, Server};
use destiny_robot::toy::{TOYS, TOY_SOURCE};
use destiny_robot::{
    AbandonReason, Context, Outcome, Robot, RobotFailure, RobotInfo, RunError, RunnerBuilder,
    ToyRobot, TransientPolicy, WhenExhausted,
};
use destiny_sdk::models::{ProvisionedRobot, Reference};
use tokio::sync::watch;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// The toy robot, holding every reference until the gate opens.
#[derive(Clone)]
struct Gated {
    toy: ToyRobot,
    open: Arc<watch::Sender<bool>>,
    entered: Arc<AtomicUsize>,
}

impl Gated {
    fn new() -> Self {
        Self {
            toy: ToyRobot::new().with_seed(1),
            open: Arc::new(watch::channel(false).0),
            entered: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn open(&self) {
        self.open.send_replace(true);
    }

    fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }
}

impl Robot for Gated {
    fn info(&self) -> RobotInfo {
        self.toy.info()
    }

    async fn enhance(&self, reference: &Reference, ctx: &Context) -> Outcome {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        self.toy.enhance(reference, ctx).await
    }
}

/// Runs a fresh [`Gated`] robot under a runner that `configure` sets up for the test,
/// and waits until a batch is in the robot's hands.
async fn run_gated(
    s: &Server,
    robot: &ProvisionedRobot,
    configure: impl FnOnce(RunnerBuilder<Gated>) -> RunnerBuilder<Gated>,
) -> (Gated, Running) {
    let gated = Gated::new();
    let running = spawn(configure(runner(s, robot, gated.clone())));
    eventually("a batch in the robot's hands", WAIT, || async {
        gated.entered() > 0
    })
    .await;
    (gated, running)
}

/// Fails each reference transiently `failures` times, then enhances it; references in
/// `poison` fail permanently, those in `stubborn` transiently forever, and `fatal`
/// fails the batch.
#[derive(Default)]
struct Scripted {
    failures: u32,
    poison: Vec<Uuid>,
    stubborn: Vec<Uuid>,
    fatal: bool,
    calls: Mutex<HashMap<Uuid, u32>>,
}

impl Robot for Scripted {
    fn info(&self) -> RobotInfo {
        RobotInfo::new(TOY_SOURCE, "scripted")
    }

    async fn enhance(&self, reference: &Reference, ctx: &Context) -> Outcome {
        let calls = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(reference.id).or_default();
            *n += 1;
            *n
        };
        assert_eq!(ctx.attempt(), calls, "the context counts attempts");
        if self.fatal {
            return Err(RobotFailure::fatal_batch("the model is gone"));
        }
        if self.poison.contains(&reference.id) {
            return Err(RobotFailure::permanent("poison reference"));
        }
        if self.stubborn.contains(&reference.id) || calls <= self.failures {
            return Err(RobotFailure::transient(format!(
                "model busy (call {calls})"
            )));
        }
        ToyRobot::new().enhance(reference, ctx).await
    }
}

fn quick_retries(max_attempts: u32, when_exhausted: WhenExhausted) -> TransientPolicy {
    TransientPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        when_exhausted,
    }
}

/// A one-minute lease.
fn minute() -> destiny_sdk::duration::LeaseDuration {
    "PT1M".parse().unwrap()
}

/// For [`run_gated`]: a one-minute lease, renewed every `every`.
fn renewing(every: Duration) -> impl FnOnce(RunnerBuilder<Gated>) -> RunnerBuilder<Gated> {
    move |b| b.lease(minute()).renew_every(every)
}

/// The runner's result once it stopped by itself (run until drained), within [`WAIT`].
async fn stopped(running: Running) -> Result<destiny_robot::MetricsSnapshot, RunError> {
    tokio::time::timeout(WAIT, running.run)
        .await
        .expect("the runner stops by itself")
        .unwrap()
}

/// Every reference has exactly one toy enhancement.
async fn assert_one_toy_enhancement_each(s: &Server, ids: &[Uuid]) {
    for id in ids {
        let found = s.enhancements_from(*id, TOY_SOURCE).await;
        assert_eq!(found.len(), 1, "reference {id}: {found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_references_all_complete() {
    let (s, robot, ids, request) = seeded(start().await, "toy", 2000).await;
    let started = Instant::now();
    let mut running = spawn(
        runner(&s, &robot, ToyRobot::new().with_seed(7))
            .batch_size(100)
            .concurrent_batches(4)
            .reference_concurrency(16),
    );
    s.wait_status(request, "completed").await;
    let elapsed = started.elapsed();
    let report = running.finish().await;
    eprintln!(
        "toy robot, 2000 references, batches of 100 x4: {:.2} s end to end ({:.0} references/s); {report:?}",
        elapsed.as_secs_f64(),
        2000.0 / elapsed.as_secs_f64()
    );
    assert_eq!(report.references_enhanced, 2000);
    assert_eq!(report.references_failed, 0);
    assert_eq!(report.batches_completed, 20);
    assert_eq!(report.batches_abandoned, 0);
    assert_eq!(report.in_flight_batches, 0);
    assert_eq!(running.metrics.snapshot(), report);
    for id in ids.iter().step_by(97) {
        let found = s.enhancements_from(*id, TOY_SOURCE).await;
        assert_eq!(found.len(), 1, "{found:?}");
        let e = &found[0];
        assert_eq!(e["visibility"], "public");
        assert_eq!(e["robot_version"], env!("CARGO_PKG_VERSION"));
        let a = &e["content"]["annotations"][0];
        assert_eq!(
            (
                a["annotation_type"].as_str(),
                a["scheme"].as_str(),
                a["label"].as_str()
            ),
            (Some("score"), Some("meta:toy"), Some("toy"))
        );
        let score = a["score"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&score) && (score * 100.0).round() / 100.0 == score,
            "{score}"
        );
        let (toy, want_score) = ToyRobot::new().with_seed(7).pick(*id);
        assert_eq!(a["data"]["toy"], toy);
        assert!(TOYS.contains(&toy));
        assert_eq!(score, want_score);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_runner_leaves_its_work_to_expiry_and_a_restart_finishes_it() {
    let (s, robot, ids, request) = seeded(start().await, "crashy", 30).await;
    let gated = Gated::new();
    let first = spawn(
        runner(&s, &robot, gated.clone())
            .batch_size(10)
            .concurrent_batches(3)
            .lease(minute()),
    );
    eventually("three batches in the robot's hands", WAIT, || async {
        first.metrics.snapshot().in_flight_batches == 3 && gated.entered() >= 3
    })
    .await;
    first.run.abort();
    assert!(first.run.await.unwrap_err().is_cancelled());
    gated.open();

    let report = s.advance_and_expire(Duration::from_secs(61)).await;
    assert_eq!(
        (report.expired, report.retried),
        (30, 30),
        "nothing was submitted"
    );
    assert_eq!(s.request_status(request).await, "received");

    let second = runner(&s, &robot, ToyRobot::new()).batch_size(10);
    let report = run_until(&s, second, request, "completed").await;
    assert_eq!(report.references_enhanced, 30);
    assert_one_toy_enhancement_each(&s, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_keep_a_slow_batch_alive_past_its_first_lease() {
    let (s, robot, ids, request) = seeded(start().await, "slow", 5).await;
    let (gated, mut running) = run_gated(&s, &robot, renewing(Duration::from_millis(100))).await;
    // Three times 40 s: two minutes, twice the lease, each covered by fresh renewals.
    for _ in 0..3 {
        s.clock.advance(Duration::from_secs(40));
        let before = running.metrics.snapshot().lease_renewals;
        eventually("two renewals after the clock moved", WAIT, || async {
            running.metrics.snapshot().lease_renewals >= before + 2
        })
        .await;
        assert_eq!(s.expire().await.expired, 0, "the renewed lease holds");
    }
    gated.open();
    s.wait_status(request, "completed").await;
    let report = running.finish().await;
    assert_eq!((report.batches_completed, report.leases_lost), (1, 0));
    assert!(report.lease_renewals >= 6, "{report:?}");
    assert_one_toy_enhancement_each(&s, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_the_batch_without_any_report() {
    let (s, robot, ids, request) = seeded(start().await, "lost", 4).await;
    let (gated, mut running) = run_gated(&s, &robot, renewing(Duration::from_millis(50))).await;
    let report = s.advance_and_expire(Duration::from_secs(61)).await;
    assert_eq!(report.expired, 4);
    eventually(
        "the runner to notice the lost lease (409)",
        WAIT,
        || async { running.metrics.abandoned(AbandonReason::LeaseLost) == 1 },
    )
    .await;
    // The retries are leased again and finished once the robot is free.
    gated.open();
    s.wait_status(request, "completed").await;
    let report = running.finish().await;
    assert_eq!(report.batches_failed, 0, "no failure was reported");
    assert_eq!(
        running.metrics.abandoned(AbandonReason::SubmitRefused),
        0,
        "nothing was submitted"
    );
    assert_eq!(report.batches_completed, 1);
    assert_one_toy_enhancement_each(&s, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_late_submit_is_dropped_and_expired_urls_are_refreshed() {
    // Signed URLs last a minute; the lease two hours, renewed only after an hour.
    let s = start_with(|c| c.url_ttl = Duration::from_secs(60)).await;
    let (s, robot, ids, request) = seeded(s, "late", 3).await;
    let (gated, mut running) = run_gated(&s, &robot, |b| {
        b.lease("PT2H".parse().unwrap())
            .renew_every(Duration::from_secs(3600))
    })
    .await;
    assert_eq!(
        s.advance_and_expire(Duration::from_secs(7201))
            .await
            .expired,
        3
    );
    gated.open();
    eventually("the refused submit (422)", WAIT, || async {
        running.metrics.abandoned(AbandonReason::SubmitRefused) == 1
    })
    .await;
    assert!(
        running.metrics.snapshot().url_refreshes >= 1,
        "the expired upload URL was refreshed"
    );
    s.wait_status(request, "completed").await;
    let report = running.finish().await;
    assert_eq!(
        report.batches_failed, 0,
        "no failure report follows a refused submit"
    );
    assert_eq!(report.batches_completed, 1);
    assert_one_toy_enhancement_each(&s, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_until_they_succeed() {
    let (s, robot, ids, request) = seeded(start().await, "flaky", 20).await;
    let flaky = Scripted {
        failures: 2,
        ..Scripted::default()
    };
    let builder = runner(&s, &robot, flaky)
        .batch_size(10)
        .transient_policy(quick_retries(3, WhenExhausted::LinkedError));
    let report = run_until(&s, builder, request, "completed").await;
    assert_eq!(
        (report.references_enhanced, report.references_failed),
        (20, 0)
    );
    assert_eq!(report.reference_retries, 40);
    assert_one_toy_enhancement_each(&s, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_reference_becomes_a_linked_robot_error_and_the_rest_completes() {
    let (s, robot, ids, request) = seeded(start().await, "poisoned", 10).await;
    let (poison, stubborn) = (ids[3], ids[7]);
    let scripted = Scripted {
        poison: vec![poison],
        stubborn: vec![stubborn],
        ..Scripted::default()
    };
    let builder =
        runner(&s, &robot, scripted).transient_policy(quick_retries(2, WhenExhausted::LinkedError));
    let report = run_until(&s, builder, request, "partial_failed").await;
    assert_eq!(
        (report.references_enhanced, report.references_failed),
        (8, 2)
    );
    assert_eq!(report.batches_completed, 1);
    for id in &ids {
        let found = s.enhancements_from(*id, TOY_SOURCE).await;
        let want = usize::from(*id != poison && *id != stubborn);
        assert_eq!(found.len(), want, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_transient_failures_can_leave_the_batch_to_its_lease() {
    let (s, robot, ids, request) = seeded(start().await, "outage", 6).await;
    let scripted = Scripted {
        stubborn: vec![ids[2]],
        ..Scripted::default()
    };
    let mut running = spawn(
        runner(&s, &robot, scripted)
            .transient_policy(quick_retries(2, WhenExhausted::LeaveBatchToLease))
            .lease(minute()),
    );
    eventually("the batch to be left to its lease", WAIT, || async {
        running.metrics.abandoned(AbandonReason::Transient) == 1
    })
    .await;
    let report = running.finish().await;
    assert_eq!((report.batches_completed, report.batches_failed), (0, 0));
    assert_eq!(s.request_status(request).await, "processing");
    let expired = s.advance_and_expire(Duration::from_secs(61)).await;
    assert_eq!(
        expired.expired, 6,
        "the whole batch was still leased, unreported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_failure_reports_a_batch_error() {
    let (s, robot, _, request) = seeded(start().await, "doomed", 5).await;
    let scripted = Scripted {
        fatal: true,
        ..Scripted::default()
    };
    let report = run_until(&s, runner(&s, &robot, scripted), request, "failed").await;
    assert_eq!((report.batches_failed, report.batches_completed), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_polling_and_finishes_in_flight_batches() {
    let (s, robot, ids, _) = seeded(start().await, "draining", 10).await;
    let (gated, running) = run_gated(&s, &robot, |b| b.batch_size(5).concurrent_batches(1)).await;
    running.stop.cancel();
    eventually("the runner to stop polling", WAIT, || async {
        running.metrics.is_draining()
    })
    .await;
    gated.open();
    let report = running.run.await.unwrap().unwrap();
    assert_eq!(
        (report.batches_completed, report.references_enhanced),
        (1, 5)
    );
    assert_eq!(report.polls_batch, 1, "no poll after the shutdown");
    // The other five are still there for the next robot.
    let text = s
        .next_reference_file(&s.client(&robot), robot.id, 100)
        .await;
    assert_eq!(text.lines().count(), 5, "the unleased half");
    assert_eq!(ids.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_abandons_batches_that_outlast_the_grace_period() {
    let (s, robot, _, request) = seeded(start().await, "stuck", 5).await;
    let (_gated, running) = run_gated(&s, &robot, |b| {
        b.lease(minute()).shutdown_grace(Duration::from_millis(100))
    })
    .await;
    running.stop.cancel();
    let report = tokio::time::timeout(WAIT, running.run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(running.metrics.abandoned(AbandonReason::Shutdown), 1);
    assert_eq!((report.batches_completed, report.batches_failed), (0, 0));
    assert_eq!(report.in_flight_batches, 0);
    assert_eq!(
        s.request_status(request).await,
        "processing",
        "no false failure"
    );
    assert_eq!(
        s.advance_and_expire(Duration::from_secs(61)).await.expired,
        5
    );
    assert_eq!(s.request_status(request).await, "received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_are_served() {
    let (s, robot, _, request) = seeded(start().await, "observed", 7).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut running = spawn(runner(&s, &robot, ToyRobot::new()).health_listener(listener));
    s.wait_status(request, "completed").await;
    let health: serde_json::Value = s
        .http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let elsewhere = s.http.get(format!("http://{addr}/nope")).send().await;
    assert_eq!(elsewhere.unwrap().status(), 404);
    let posted = s.http.post(format!("http://{addr}/health")).send().await;
    assert_eq!(posted.unwrap().status(), 405);
    let metrics = s
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let text = metrics.text().await.unwrap();
    for line in [
        "destiny_robot_batches_completed_total 1",
        "destiny_robot_references_enhanced_total 7",
        "destiny_robot_in_flight_batches 0",
        "destiny_robot_polls_total{result=\"batch\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    assert!(text.contains("destiny_robot_poll_duration_seconds_count "));
    running.finish().await;
    assert!(
        s.http
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .is_err(),
        "stopped with the runner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_with_a_wrong_secret_stops_with_an_error() {
    let s = start().await;
    let robot = s.register("impostor").await;
    let client =
        destiny_sdk::client::RobotClient::new(&s.base, "not the secret", robot.id).unwrap();
    let runner = destiny_robot::Runner::builder(ToyRobot::new())
        .client(client)
        .build()
        .unwrap();
    let err = tokio::time::timeout(WAIT, runner.run())
        .await
        .unwrap()
        .unwrap_err();
    match err {
        RunError::Poll(e) => assert_eq!(e.status(), Some(401), "{e}"),
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_drained_stops_once_the_work_is_done() {
    let (s, robot, ids, request) = seeded(start().await, "scheduled", 25).await;
    let running = spawn(
        runner(&s, &robot, ToyRobot::new())
            .batch_size(10)
            .until_drained(true),
    );
    let report = stopped(running).await.unwrap();
    assert_eq!(
        (report.batches_completed, report.references_enhanced),
        (3, 25)
    );
    // Polls made while the last batches were in flight find nothing too; the one made
    // with none in flight ends the run.
    assert!(report.polls_empty >= 1);
    assert_eq!(report.in_flight_batches, 0);
    s.wait_status(request, "completed").await;
    assert_one_toy_enhancement_each(&s, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_drained_waits_for_the_batches_in_flight() {
    let (s, robot, _, request) = seeded(start().await, "patient", 5).await;
    let (gated, running) = run_gated(&s, &robot, |b| {
        b.batch_size(5).concurrent_batches(2).until_drained(true)
    })
    .await;
    // The second poll finds nothing while the first batch is in the robot's hands.
    eventually("an empty poll", WAIT, || async {
        running.metrics.snapshot().polls_empty >= 1
    })
    .await;
    assert!(!running.run.is_finished(), "a batch is still in flight");
    gated.open();
    let report = stopped(running).await.unwrap();
    assert_eq!(
        (report.batches_completed, report.references_enhanced),
        (1, 5)
    );
    assert_eq!(
        report.polls_empty, 2,
        "a last poll once nothing was in flight"
    );
    s.wait_status(request, "completed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_drained_fails_when_a_batch_failed() {
    let (s, robot, _, request) = seeded(start().await, "doomed drain", 5).await;
    let scripted = Scripted {
        fatal: true,
        ..Scripted::default()
    };
    let running = spawn(runner(&s, &robot, scripted).until_drained(true));
    let result = stopped(running).await;
    let Err(RunError::Unfinished(report)) = result else {
        panic!("expected Unfinished, got {result:?}");
    };
    assert_eq!((report.batches_failed, report.batches_completed), (1, 0));
    s.wait_status(request, "failed").await;
}

/// The toy robot, calling a pretend outbound service ("llm") for each reference in its
/// turn, and counting the calls in flight at once. The first calls are held until
/// `LIMIT` are in at once and one more reference has reached the limiter, so the count
/// does not depend on how quickly a loaded machine starts them: a looser limit would let
/// that one in too.
#[derive(Clone)]
struct Calling {
    entered: Arc<AtomicUsize>,
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    reached: Arc<watch::Sender<bool>>,
}

impl Calling {
    const LIMIT: usize = 3;

    fn new() -> Self {
        Self {
            entered: Arc::default(),
            now: Arc::default(),
            max: Arc::default(),
            reached: Arc::new(watch::channel(false).0),
        }
    }

    /// Lets the held calls go once the limit is full and a reference waits behind it.
    fn release_when_queued(&self) {
        if self.now.load(Ordering::SeqCst) >= Self::LIMIT
            && self.entered.load(Ordering::SeqCst) > Self::LIMIT
        {
            self.reached.send_replace(true);
        }
    }
}

impl Robot for Calling {
    fn info(&self) -> RobotInfo {
        ToyRobot::new().info()
    }

    async fn enhance(&self, reference: &Reference, ctx: &Context) -> Outcome {
        self.entered.fetch_add(1, Ordering::SeqCst);
        self.release_when_queued();
        ctx.limited("llm", async {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            self.release_when_queued();
            let _ = self.reached.subscribe().wait_for(|reached| *reached).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
        })
        .await;
        ToyRobot::new().enhance(reference, ctx).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_limit_is_shared_by_every_batch() {
    let (s, robot, ids, request) = seeded(start().await, "limited", 40).await;
    let calling = Calling::new();
    let builder = runner(&s, &robot, calling.clone())
        .batch_size(10)
        .concurrent_batches(2)
        .reference_concurrency(8)
        .call_limit(
            "llm",
            destiny_robot::CallLimit::new().concurrent(Calling::LIMIT),
        )
        .until_drained(true);
    let report = stopped(spawn(builder)).await.unwrap();
    assert_eq!(report.references_enhanced, 40);
    // 16 references could be in the robot's hands at once; 3 calls were.
    assert_eq!(calling.max.load(Ordering::SeqCst), 3);
    s.wait_status(request, "completed").await;
    assert_eq!(ids.len(), 40);
}

/// The toy robot behind a service that is down (every call a transient failure) for its
/// first `down_for` calls, and up after.
#[derive(Clone)]
struct Flaky {
    down_for: usize,
    calls: Arc<AtomicUsize>,
}

impl Flaky {
    fn down_for(calls: usize) -> Self {
        Self {
            down_for: calls,
            calls: Arc::default(),
        }
    }
}

impl Robot for Flaky {
    fn info(&self) -> RobotInfo {
        ToyRobot::new().info()
    }

    async fn enhance(&self, reference: &Reference, ctx: &Context) -> Outcome {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.down_for {
            return Err(RobotFailure::transient("service unavailable"));
        }
        ToyRobot::new().enhance(reference, ctx).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_stops_taking_batches_probes_and_resumes() {
    let (s, robot, _, _) = seeded(start().await, "breaker", 10).await;
    // One reference at a time, so the calls come in a known order: the first batch's
    // first reference fails twice (the breaker opens; the batch is left to its lease),
    // the first probe's reference fails once (it opens again), the second probe works.
    let flaky = Flaky::down_for(3);
    let mut settings = destiny_robot::RunnerSettings::default();
    settings.breaker_failures = 2;
    settings.breaker_open_for = Duration::from_millis(50);
    let running = spawn(
        runner(&s, &robot, flaky.clone())
            .settings(settings)
            .poll_interval(Duration::from_millis(25))
            .batch_size(5)
            .concurrent_batches(1)
            .reference_concurrency(1)
            .lease(minute())
            .transient_policy(quick_retries(5, WhenExhausted::LinkedError))
            .until_drained(true),
    );
    let result = stopped(running).await;
    let Err(RunError::Unfinished(report)) = result else {
        panic!("batches were left to their leases: {result:?}");
    };
    assert_eq!(report.circuit_opened, 2, "{report:?}");
    assert_eq!(
        report.polls_batch, 4,
        "the first batch, two probes, then one batch of the last three: {report:?}"
    );
    assert_eq!(
        report.references_failed, 0,
        "nothing reported failed: left to the leases"
    );
    // No call while open: three failed, then the second probe's and the last three.
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 7);
    assert_eq!(report.references_enhanced, 4, "{report:?}");
    assert_eq!(report.batches_abandoned, 2, "{report:?}");
    // The first batch and the failed probe's reference wait for their leases.
    let expired = s.advance_and_expire(Duration::from_secs(61)).await.expired;
    assert_eq!(expired, 6, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_can_report_the_references_it_holds() {
    let (s, robot, ids, request) = seeded(start().await, "breaker reports", 5).await;
    let mut settings = destiny_robot::RunnerSettings::default();
    settings.breaker_failures = 1;
    settings.breaker_open_for = Duration::from_millis(100);
    settings.breaker_when_open = destiny_robot::breaker::WhenOpen::Report;
    let running = spawn(
        runner(&s, &robot, Flaky::down_for(usize::MAX))
            .settings(settings)
            .poll_interval(Duration::from_millis(25))
            .batch_size(5)
            .reference_concurrency(1)
            .transient_policy(quick_retries(5, WhenExhausted::LeaveBatchToLease))
            .until_drained(true),
    );
    let report = stopped(running).await.unwrap();
    // One failure opened it; no reference was tried after that, each was reported.
    // The probe then found no work, which closed it.
    assert_eq!(report.circuit_opened, 1);
    assert_eq!((report.batches_completed, report.references_failed), (1, 5));
    s.wait_status(request, "failed").await;
    assert_eq!(ids.len(), 5);
}
