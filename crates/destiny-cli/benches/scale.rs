//! Scale-out benchmark: end-to-end references/s and poll latency with 1, 2 and 3
//! `destiny serve` (release build, child processes) on one PostgreSQL database and one
//! blob store (Azurite, `az://`, or a shared directory, `file://`), robots spread
//! round-robin over the servers.
//!
//! Per case: a fresh database (`CREATE DATABASE` on the server of
//! `DESTINY_BENCH_POSTGRES` / `DESTINY_TEST_POSTGRES`) and blob directory; the servers
//! started; one robot registered; `DESTINY_SCALE_REFS` references (one OpenAlex id each)
//! imported and requested (in requests of 10,000); then `DESTINY_SCALE_ROBOTS` runners of
//! the toy robot in this process (batch `DESTINY_SCALE_BATCH`, two batches at once each),
//! runner `i` on server `i mod N`, all counting into one `Metrics`. The clock runs from
//! the runners' start until every pending enhancement is `completed`.
//!
//! Figures: references/s; poll latency p50 / p99 as the runners saw it (signing, HTTP and
//! JSON included: the last 10,000 answered polls); CPU seconds of each server process
//! over the run (`/proc/PID/stat`) and its resident memory at the end (`VmRSS`).
//!
//! `cargo bench -p destiny-cli --bench scale` (settings: `DESTINY_SCALE_CASES`
//! "file:1,az:1,az:2,az:3" (store:servers; `az` needs `DESTINY_TEST_AZURITE`, which
//! `scripts/stores start` prints),
//! `DESTINY_SCALE_REFS` 100000, `DESTINY_SCALE_ROBOTS` 64, `DESTINY_SCALE_BATCH` 100;
//! `DESTINY_SCALE_KEEP` set keeps each case's directory, with the servers' logs).

use std::path::Path;
use std::time::{Duration, Instant};

use destiny_robot::{Metrics, Runner, ToyRobot};
use destiny_sdk::client::RobotClient;
use destiny_testkit::serve_process::{import_and_request, openalex_lines, register, Serve};
use destiny_testkit::{bench, scratch_db, sql};

type Error = Box<dyn std::error::Error>;

/// Settings of one run.
struct Settings {
    refs: usize,
    robots: usize,
    batch: u32,
}

/// One case's figures.
struct Figures {
    servers: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Per server: CPU seconds over the run, resident MiB at its end.
    costs: Vec<(f64, f64)>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let Some(admin_url) = bench::postgres() else {
        eprintln!("the scale-out benchmark needs PostgreSQL");
        return Ok(());
    };
    let settings = Settings {
        refs: bench::list::<usize>("DESTINY_SCALE_REFS", "100000")?[0],
        robots: bench::list::<usize>("DESTINY_SCALE_ROBOTS", "64")?[0],
        batch: bench::list::<u32>("DESTINY_SCALE_BATCH", "100")?[0],
    };
    let cases: Vec<String> = bench::list("DESTINY_SCALE_CASES", "file:1,az:1,az:2,az:3")?;
    println!(
        "{} references, {} robots (toy, batch {})",
        settings.refs, settings.robots, settings.batch
    );
    println!(
        "| blob store | servers | references/s | poll p50 / p99 | server CPU s (each) | server RSS MiB (each) |"
    );
    println!("|---|---|---|---|---|---|");
    for case in cases {
        let (kind, servers) = case
            .split_once(':')
            .ok_or_else(|| format!("a case is STORE:SERVERS (file:1, az:3), not {case}"))?;
        let servers: usize = servers.parse()?;
        let store = match kind {
            "file" => None,
            "az" => Some(format!(
                "az://{}/scale",
                destiny_testkit::stores::azurite_container()
                    .await
                    .ok_or("DESTINY_TEST_AZURITE is not set")?
            )),
            other => return Err(format!("unknown store {other}: file or az").into()),
        };
        let (url, name) = scratch_db::create_database(&admin_url, "bench_scale").await?;
        let figures = run(&url, servers, store.as_deref(), &settings).await;
        scratch_db::drop_database(&admin_url, &name).await?;
        let f = figures?;
        let each = |pick: fn(&(f64, f64)) -> f64| {
            f.costs
                .iter()
                .map(|c| format!("{:.1}", pick(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| {kind} | {} | {:.0} | {:.1} / {:.1} ms | {} | {} |",
            f.servers,
            settings.refs as f64 / f.seconds,
            f.p50_ms,
            f.p99_ms,
            each(|c| c.0),
            each(|c| c.1),
        );
    }
    Ok(())
}

/// Starts `servers` servers on the database at `url` and the blob store `store` (`None`:
/// one shared directory) and runs the robots.
async fn run(
    url: &str,
    servers: usize,
    store: Option<&str>,
    settings: &Settings,
) -> Result<Figures, Error> {
    let dir = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_destiny"));
    let blobs = format!("file://{}", dir.path().join("blobs").display());
    let store = store.unwrap_or(&blobs);
    let mut started = Vec::new();
    for i in 0..servers {
        let args = [
            "--listen",
            "127.0.0.1:0",
            "--database",
            url,
            "--blob-store",
            store,
        ];
        started.push(Serve::spawn(bin, dir.path().join(format!("serve-{i}.log")), &args).await);
    }
    let http = reqwest::Client::new();
    let base = started[0].base.clone();
    let robot = register(&http, &base, "scale").await;
    for first in (0..settings.refs).step_by(10_000) {
        let numbers = first + 1..(first + 10_000).min(settings.refs) + 1;
        import_and_request(&http, &base, &base, robot.id, openalex_lines(numbers)).await;
    }

    let pool = {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?
    };
    let metrics = Metrics::default();
    let cpu_before: Vec<f64> = started.iter().map(|s| cpu_seconds(s.pid())).collect();
    let clock = Instant::now();
    let mut runners = Vec::new();
    for i in 0..settings.robots {
        let server = &started[i % servers];
        let client = RobotClient::new(&server.base, robot.client_secret.as_str(), robot.id)?;
        let runner = Runner::builder(ToyRobot::new().with_seed(i as u64))
            .client(client)
            .batch_size(settings.batch)
            .poll_interval(Duration::from_millis(100))
            .metrics(metrics.clone())
            .build()?;
        let stop = runner.shutdown_token();
        runners.push((stop, tokio::spawn(runner.run())));
    }
    let want = settings.refs as i64;
    loop {
        let done: i64 = sql::scalar(
            &pool,
            "SELECT COUNT(*) FROM pending_enhancements WHERE status = 'completed'",
            &[],
        )
        .await;
        if done >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = clock.elapsed().as_secs_f64();
    let costs = started
        .iter()
        .zip(cpu_before)
        .map(|(s, before)| (cpu_seconds(s.pid()) - before, rss_mib(s.pid())))
        .collect();
    for (stop, run) in runners {
        stop.cancel();
        run.await??;
    }
    pool.close().await;
    drop(started);
    if std::env::var_os("DESTINY_SCALE_KEEP").is_some() {
        eprintln!("kept the servers' logs in {}", dir.keep().display());
    }
    let ms = |q| {
        metrics
            .poll_latency_quantile(q)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Figures {
        servers,
        seconds,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        costs,
    })
}

/// User + system CPU seconds of process `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // /proc reports in clock ticks, 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
