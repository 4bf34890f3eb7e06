//! `destiny robot run toy` killed with SIGKILL in the middle of a batch, then restarted:
//! the killed batch's lease runs out (the repository's clock is moved past it), its work
//! is retried, and every reference ends with exactly one toy enhancement.

mod robot_support;

use std::time::Duration;

use robot_support::{seeded, spawn_toy, toy_enhancements, TOY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_killed_mid_batch_and_restarted_completes_everything_once() {
    let (s, robot, ids, request) = seeded("killed", 40, 41).await;

    // Slow on purpose: 10 references at 200 ms each, one at a time, two batches at once.
    let slow = [
        ("BATCH_SIZE", "10"),
        ("CONCURRENT_BATCHES", "2"),
        ("REFERENCE_CONCURRENCY", "1"),
        ("LEASE", "PT1M"),
        // The runner logs each batch it leased at debug level.
        ("RUST_LOG", "info,destiny_robot=debug"),
    ];
    let mut first = spawn_toy(
        &s,
        &robot,
        &slow,
        &["--delay", "200ms", "--seed", "1"],
        "first.log",
    );
    // Killed once it holds a batch: a kill while its poll is in flight may find the
    // repository giving the claim back (the poll never answered), leaving nothing leased.
    first
        .wait_log("leased a batch", Duration::from_secs(20))
        .await;
    first.signal("KILL");
    let status = first.exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "killed: {status:?}");

    // The killed batches were never submitted: their leases run out and are retried.
    let expired = s.advance_and_expire(Duration::from_secs(61)).await.expired;
    assert!(
        expired >= 10,
        "at least one whole batch was in flight, got {expired}"
    );
    let done_before = toy_enhancements(&s, &ids).await;
    assert!(done_before + expired as usize <= ids.len());

    let mut second = spawn_toy(&s, &robot, &[("BATCH_SIZE", "10")], &[], "second.log");
    s.wait_status(request, "completed").await;
    second.terminate(Duration::from_secs(15)).await;

    for id in &ids {
        assert_eq!(s.count_from(*id, TOY).await, 1, "reference {id}");
    }
}
