//! Load benchmark of the local repository on PostgreSQL (not run by `scripts/test`):
//!
//! ```sh
//! DESTINY_BENCH_POSTGRES=$(scripts/pg start) cargo bench -p destiny-repository --bench load
//! ```
//!
//! 64 concurrent pollers — 8 robots × 8 pollers, each poller its own `RobotClient` —
//! over 100,000 pending enhancements (12,500 per robot, one enhancement request each,
//! loaded through the admin API). Every poller loops poll (100 references) → download
//! the reference file → upload a result file → submit, until its poll answers 204; the
//! server's import worker imports the results meanwhile. Then, once the imports drain,
//! the database is checked (see `tests/load/mod.rs`): zero double leases, zero lost
//! pending enhancements (each one `completed`), each reference's enhancement stored once.
//!
//! Settings (environment): `DESTINY_LOAD_ROBOTS` (8), `DESTINY_LOAD_POLLERS` (pollers per
//! robot, 8), `DESTINY_LOAD_PENDING` (100000), `DESTINY_LOAD_LIMIT` (100). The figures
//! print as Markdown; the process fails when an invariant is broken.

#[path = "../tests/load/mod.rs"]
mod load;
use destiny_testkit::scratch_db;

use load::BoxError;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn setting(name: &str, default: usize) -> Result<usize, BoxError> {
    match std::env::var(name) {
        Ok(v) => Ok(v.trim().parse().map_err(|e| format!("{name}={v:?}: {e}"))?),
        Err(_) => Ok(default),
    }
}

fn main() -> Result<(), BoxError> {
    let pg = std::env::var("DESTINY_BENCH_POSTGRES")
        .or_else(|_| std::env::var("DESTINY_TEST_POSTGRES"))
        .ok()
        .filter(|u| !u.is_empty())
        .ok_or(
            "the load bench runs on PostgreSQL: set DESTINY_BENCH_POSTGRES=$(scripts/pg start)",
        )?;
    let robots = setting("DESTINY_LOAD_ROBOTS", 8)?;
    let pollers = setting("DESTINY_LOAD_POLLERS", 8)?;
    let pending = setting("DESTINY_LOAD_PENDING", 100_000)?;
    let limit = u32::try_from(setting("DESTINY_LOAD_LIMIT", 100)?)?;
    if robots == 0 || pollers == 0 || limit == 0 || pending % robots != 0 {
        return Err(
            "robots, pollers and limit must be above 0, and pending a multiple of robots".into(),
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench(&pg, robots, pollers, pending, limit))
}

async fn bench(
    admin: &str,
    robots: usize,
    pollers: usize,
    pending: usize,
    limit: u32,
) -> Result<(), BoxError> {
    let (url, db_name) = scratch_db::create_database(admin, "load").await?;
    let result = run(&url, robots, pollers, pending, limit).await;
    scratch_db::drop_database(admin, &db_name).await?;
    result
}

async fn run(
    url: &str,
    robots: usize,
    pollers: usize,
    pending: usize,
    limit: u32,
) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let served = load::Served::start(url, dir.path()).await?;
    let (base, token) = (&served.base, &served.token);
    let http = reqwest::Client::new();
    let seeding = Instant::now();
    let provisioned = load::robots(&http, base, token, "load", robots).await?;
    for robot in &provisioned {
        load::seed(&http, base, token, robot.id, pending / robots).await?;
    }
    eprintln!(
        "seeded {pending} pending enhancements for {robots} robots in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let plan = load::Plan {
        pollers_per_robot: pollers,
        limit,
        deadline: Duration::from_secs(3600),
    };
    let started = Instant::now();
    let report = load::run(base, &provisioned, plan, Arc::default()).await?;
    let polled = report.elapsed;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await?;
    let drain = load::wait_for_imports(&pool, Duration::from_secs(3600)).await?;
    let total = started.elapsed();
    let verified = load::verify(&pool, &report, pending, false).await;
    pool.close().await;
    served.stop().await?;
    let verified = verified?;

    let batches = report.batches.len();
    let references = report.references();
    let errors = report.errors();
    let errors_text = if errors.is_empty() {
        "none".to_owned()
    } else {
        errors
            .iter()
            .map(|((call, status), n)| format!("{call} {status}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| robots × pollers (concurrent `RobotClient`s) | {robots} × {pollers} = {} |",
        robots * pollers
    );
    println!("| pending enhancements | {pending} |");
    println!("| batch size (poll `limit`) | {limit} |");
    println!("| batches handed out | {batches} |");
    println!(
        "| polling phase: first poll to the last poller's 204 | {:.1} s: {:.1} batches/s, {:.0} references/s |",
        polled.as_secs_f64(),
        rate(batches, polled),
        rate(references, polled)
    );
    println!(
        "| import drain after the last poll | {:.1} s |",
        drain.as_secs_f64()
    );
    println!(
        "| end to end: first poll to the last import | {:.1} s: {:.1} batches/s, {:.0} references/s |",
        total.as_secs_f64(),
        rate(batches, total),
        rate(references, total)
    );
    println!(
        "| poll latency p50 / p95 / p99 ({} polls, 200 and 204) | {:.1} / {:.1} / {:.1} ms |",
        report.poll_latencies.len(),
        report.poll_ms(0.50),
        report.poll_ms(0.95),
        report.poll_ms(0.99)
    );
    println!("| errors by status | {errors_text} |");
    println!();
    println!(
        "Checked: {} pending enhancements by status {:?}; {} batches, each reference file \
         matching its rows; {} enhancements, one per reference; zero double leases, zero lost.",
        verified.statuses.values().sum::<i64>(),
        verified.statuses,
        verified.batches,
        verified.enhancements
    );
    Ok(())
}
