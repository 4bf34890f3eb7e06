//! Concurrent-poller benchmark of the local repository (not run by `scripts/test`):
//!
//! ```sh
//! DESTINY_BENCH_POSTGRES=$(scripts/pg start) cargo bench -p destiny-repository --bench pollers
//! ```
//!
//! For each backend (SQLite; PostgreSQL when `DESTINY_BENCH_POSTGRES` or
//! `DESTINY_TEST_POSTGRES` names a server whose user may `CREATE DATABASE`), each number
//! of pollers (`DESTINY_POLLERS`, default `32,64`) and each load (an idle machine, then
//! one busy-looping process per CPU competing with the server), a server runs in this
//! process on a fresh database with `pollers × 50 × 8` pending enhancements of one robot,
//! and every poller (its own `RobotClient`, no client retries) loops poll (50
//! references) → download → upload a result → submit until its poll answers 204 (the
//! driver of `tests/load`). The import worker runs meanwhile. Every answer is counted by
//! status; the poll latencies (200 and 204) give p50 / p99 / max; afterwards the
//! database is checked: no double lease, nothing lost.
//!
//! `DESTINY_BENCH_BACKEND` (`sqlite` or `postgresql`) and `DESTINY_BENCH_LOAD` (`none` or
//! `busy`) run one part of the table. Results print as one Markdown table.

#[path = "../tests/load/mod.rs"]
mod load;
use destiny_testkit::scratch_db;

use destiny_repository::db::Backend;
use load::{BoxError, Call};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// References per poll.
const LIMIT: u32 = 50;
/// Batches per poller the queue holds.
const BATCHES_PER_POLLER: usize = 8;

fn main() -> Result<(), BoxError> {
    let pollers: Vec<usize> = destiny_testkit::bench::list("DESTINY_POLLERS", "32,64")?;
    let pg = destiny_testkit::bench::postgres();
    let mut backends = vec![Backend::Sqlite];
    if pg.is_some() {
        backends.push(Backend::Postgres);
    }
    if let Ok(only) = std::env::var("DESTINY_BENCH_BACKEND") {
        backends.retain(|b| name(*b).eq_ignore_ascii_case(&only));
    }
    let loads: Vec<bool> = match std::env::var("DESTINY_BENCH_LOAD").as_deref() {
        Ok("none") => vec![false],
        Ok("busy") => vec![true],
        _ => vec![false, true],
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for backend in backends {
        for &n in &pollers {
            for &busy in &loads {
                let _load = busy.then(CpuLoad::start).transpose()?;
                let row = rt.block_on(stage(backend, n, busy, pg.as_deref()))?;
                eprintln!("{row}");
                rows.push(row);
            }
        }
    }
    println!(
        "\n| backend | pollers | CPU load | polls | p50 (ms) | p99 (ms) | max (ms) | poll 503s | other errors | references/s |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---|---:|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// One busy-looping shell per CPU, killed on drop.
struct CpuLoad(Vec<Child>);

impl CpuLoad {
    fn start() -> Result<Self, BoxError> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let children = (0..cpus)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdout(Stdio::null())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(children))
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One run; answers its Markdown row.
async fn stage(
    backend: Backend,
    pollers: usize,
    busy: bool,
    pg: Option<&str>,
) -> Result<String, BoxError> {
    let dir = tempfile::tempdir()?;
    let (url, pg_name) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("b.db").display()),
            None,
        ),
        Backend::Postgres => {
            let admin = pg.ok_or("no PostgreSQL URL")?;
            let (url, db) = scratch_db::create_database(admin, "pollers").await?;
            (url, Some(db))
        }
    };
    let result = run(&url, dir.path(), pollers, backend, busy).await;
    if let (Some(admin), Some(db)) = (pg, pg_name) {
        scratch_db::drop_database(admin, &db).await?;
    }
    result
}

async fn run(
    url: &str,
    dir: &std::path::Path,
    pollers: usize,
    backend: Backend,
    busy: bool,
) -> Result<String, BoxError> {
    let served = load::Served::start(url, dir).await?;
    let (base, token, db) = (&served.base, &served.token, &served.db);
    let http = reqwest::Client::new();
    let robots = load::robots(&http, base, token, "pollers", 1).await?;
    let pending = pollers * LIMIT as usize * BATCHES_PER_POLLER;
    load::seed(&http, base, token, robots[0].id, pending).await?;
    let plan = load::Plan {
        pollers_per_robot: pollers,
        limit: LIMIT,
        deadline: Duration::from_secs(600),
    };
    let report = load::run(base, &robots, plan, Arc::default()).await?;
    load::wait_for_imports(db.reader(), Duration::from_secs(600)).await?;
    load::verify(db.reader(), &report, pending, false).await?;
    served.stop().await?;
    let errors = report.errors();
    let poll_503 = errors.get(&(Call::Poll, 503)).copied().unwrap_or(0);
    let other: Vec<String> = errors
        .iter()
        .filter(|(k, _)| **k != (Call::Poll, 503))
        .map(|((call, status), n)| format!("{call} {status}: {n}"))
        .collect();
    let max = report
        .poll_latencies
        .iter()
        .max()
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    Ok(format!(
        "| {} | {pollers} | {} | {} | {:.1} | {:.1} | {:.1} | {poll_503} | {} | {:.0} |",
        name(backend),
        if busy {
            "one busy process per CPU"
        } else {
            "none"
        },
        report.poll_latencies.len(),
        report.poll_ms(0.50),
        report.poll_ms(0.99),
        max,
        if other.is_empty() {
            "none".to_owned()
        } else {
            other.join(", ")
        },
        report.references() as f64 / report.elapsed.as_secs_f64(),
    ))
}
