//! What the benches share: their time budget and their timed loop.

use std::time::{Duration, Instant};

/// How long each case runs: `BENCH_SECONDS` (default 1 s).
pub fn budget() -> Duration {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

/// Runs `batch`, which makes `per_batch` operations, until `budget` is spent and returns
/// nanoseconds per operation.
pub fn ns_per_op(budget: Duration, per_batch: u64, mut batch: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < budget {
        batch();
        done += per_batch;
    }
    start.elapsed().as_nanos() as f64 / done as f64
}
