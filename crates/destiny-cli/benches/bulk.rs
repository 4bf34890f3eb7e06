//! Bulk paths at repository scale, through HTTP against a release `destiny serve` (a
//! child process) on SQLite and on PostgreSQL: what a user and a robot see.
//!
//! Per backend, on a fresh database and blob directory:
//! 1. **Import**: `DESTINY_BULK_REFS` generated references (`ReferenceGenerator`, seed 1,
//!    with their enhancements; what `destiny references generate` writes), posted in
//!    bodies of `DESTINY_BULK_CHUNK` references. The clock runs over the POSTs only (the
//!    bodies are made beforehand, one at a time); figures: references/s and MB/s.
//! 2. **Enhancement requests** of `DESTINY_BULK_REQUEST` references each for one robot,
//!    until every imported reference is pending: the first one's time to 202, then the
//!    mean of all; right after the first, one poll (`limit` 10) must lease from it. Then
//!    the wait, after the last answer, until every request's legacy reference file is
//!    written (of a request over 10,000 references the import worker writes the pending
//!    enhancements beyond the first 1,000, then the file, after the answer), so that the
//!    polls below are timed alone.
//! 3. **Polls** of `DESTINY_BULK_POLL` references at that many pending (the whole import,
//!    less what step 2's check leased), `DESTINY_BULK_POLLS` of them one after the other,
//!    each as a robot sees it: signed poll answered (claim, reference file written), then
//!    the reference file downloaded. Beside it the server's own time for the poll route
//!    (the mean of `destiny_http_request_duration_seconds` over those polls, from
//!    `/metrics`), and of it the claim and the reference file (`destiny_poll_phase_seconds`).
//!
//! `cargo bench -p destiny-cli --bench bulk` (settings: `DESTINY_BULK_BACKENDS`
//! "sqlite,postgres" (PostgreSQL from `DESTINY_BENCH_POSTGRES` / `DESTINY_TEST_POSTGRES`),
//! `DESTINY_BULK_REFS` 1000000, `DESTINY_BULK_CHUNK` 25000, `DESTINY_BULK_REQUEST`
//! 100000, `DESTINY_BULK_POLL` 10000, `DESTINY_BULK_POLLS` 5).

use std::path::Path;
use std::time::{Duration, Instant};

use destiny_sdk::client::RobotClient;
use destiny_sdk::samples::ReferenceGenerator;
use destiny_testkit::serve_process::{admin, register, Serve};
use destiny_testkit::{bench, scratch_db};
use uuid::Uuid;

type Error = Box<dyn std::error::Error>;

/// Settings of one run.
struct Settings {
    refs: usize,
    chunk: usize,
    request: usize,
    poll: u32,
    polls: usize,
}

/// One backend's figures.
#[derive(Default)]
struct Figures {
    import_seconds: f64,
    import_bytes: usize,
    first_request: Duration,
    mean_request: Duration,
    requests: usize,
    /// From the last request's answer until every request's reference file was written.
    files_written: Duration,
    /// Per poll: (answered, reference file downloaded), as the robot saw them.
    polls: Vec<(Duration, Duration)>,
    /// The server's mean time for the poll route over those polls.
    server_poll: Duration,
    /// Of which, on average, the claim and the reference file.
    server_claim: Duration,
    server_file: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = Settings {
        refs: bench::list::<usize>("DESTINY_BULK_REFS", "1000000")?[0],
        chunk: bench::list::<usize>("DESTINY_BULK_CHUNK", "25000")?[0],
        request: bench::list::<usize>("DESTINY_BULK_REQUEST", "100000")?[0],
        poll: bench::list::<u32>("DESTINY_BULK_POLL", "10000")?[0],
        polls: bench::list::<usize>("DESTINY_BULK_POLLS", "5")?[0],
    };
    let backends: Vec<String> = bench::list("DESTINY_BULK_BACKENDS", "sqlite,postgres")?;
    println!(
        "{} generated references, imported {} per body; requests of {}; polls of {}",
        settings.refs, settings.chunk, settings.request, settings.poll
    );
    println!(
        "| backend | import refs/s (MB/s) | request of {} to 202: first / mean of {} | their reference files written after | poll of {} answered: median / max | + reference file | server's poll time (mean): claim + reference file |",
        settings.request,
        settings.refs.div_ceil(settings.request),
        settings.poll
    );
    println!("|---|---|---|---|---|---|---|");
    for backend in backends {
        let dir = tempfile::tempdir()?;
        let (url, scratch) = match backend.as_str() {
            "sqlite" => (
                format!("sqlite://{}", dir.path().join("bulk.sqlite").display()),
                None,
            ),
            "postgres" => {
                let Some(admin_url) = bench::postgres() else {
                    continue;
                };
                let (url, name) = scratch_db::create_database(&admin_url, "bench_bulk").await?;
                (url, Some((admin_url, name)))
            }
            other => return Err(format!("unknown backend {other}: sqlite or postgres").into()),
        };
        let figures = run(dir.path(), &url, &settings).await;
        if let Some((admin_url, name)) = scratch {
            scratch_db::drop_database(&admin_url, &name).await?;
        }
        let f = figures?;
        let mut answered: Vec<Duration> = f.polls.iter().map(|p| p.0).collect();
        answered.sort();
        let file_mean = f.polls.iter().map(|p| p.1).sum::<Duration>() / f.polls.len().max(1) as u32;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {backend} | {:.0} ({:.1}) | {:.0} / {:.0} ms ({} requests) | {:.1} s | {:.0} / {:.0} ms | {:.0} ms (mean) | {:.0} ms: {:.0} + {:.0} ms |",
            settings.refs as f64 / f.import_seconds,
            f.import_bytes as f64 / f.import_seconds / 1e6,
            ms(f.first_request),
            ms(f.mean_request),
            f.requests,
            f.files_written.as_secs_f64(),
            ms(answered[answered.len() / 2]),
            ms(*answered.last().expect("a poll")),
            ms(file_mean),
            ms(f.server_poll),
            ms(f.server_claim),
            ms(f.server_file),
        );
    }
    Ok(())
}

/// Runs the three steps against one server on `database`.
async fn run(dir: &Path, database: &str, settings: &Settings) -> Result<Figures, Error> {
    let bin = Path::new(env!("CARGO_BIN_EXE_destiny"));
    let blobs = format!("file://{}", dir.join("blobs").display());
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--database",
        database,
        "--blob-store",
        &blobs,
    ];
    let server = Serve::spawn(bin, dir.join("serve.log"), &args).await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let robot = register(&http, &base, "bulk").await;
    let mut figures = Figures::default();

    // 1. Import.
    let mut generator = ReferenceGenerator::new(1);
    let mut ids: Vec<Uuid> = Vec::with_capacity(settings.refs);
    let mut left = settings.refs;
    while left > 0 {
        let n = left.min(settings.chunk);
        left -= n;
        let mut body = Vec::new();
        for r in generator.by_ref().take(n) {
            destiny_sdk::jsonl::append_line(&mut body, &r)?;
        }
        figures.import_bytes += body.len();
        let clock = Instant::now();
        let (status, got) = admin(&http, &base, "/v1/references/", String::from_utf8(body)?).await;
        figures.import_seconds += clock.elapsed().as_secs_f64();
        if status != 201 {
            return Err(format!("import answered {status}: {got}").into());
        }
        ids.extend(serde_json::from_value::<Vec<Uuid>>(got)?);
    }

    // 2. Requests, until every reference is pending; one poll right after the first.
    let client = RobotClient::builder(&base, robot.client_secret.as_str(), robot.id)
        .poll_timeout(Duration::from_secs(600))
        .request_timeout(Duration::from_secs(600))
        .build()?;
    let mut spent = Duration::ZERO;
    let mut requests = Vec::new();
    for (i, chunk) in ids.chunks(settings.request).enumerate() {
        let body =
            serde_json::json!({"robot_id": robot.id, "reference_ids": chunk, "source": "bulk"});
        let clock = Instant::now();
        let (status, got) =
            admin(&http, &base, "/v1/enhancement-requests/", body.to_string()).await;
        let took = clock.elapsed();
        if status != 202 {
            return Err(format!("request answered {status}: {got}").into());
        }
        requests.push(got["id"].as_str().ok_or("a request id")?.to_owned());
        spent += took;
        figures.requests += 1;
        if i == 0 {
            figures.first_request = took;
            let leased = client
                .poll_robot_enhancement_batch(robot.id, 10, None)
                .await?;
            if leased.is_none() {
                return Err("a poll right after the first request leased nothing".into());
            }
        }
    }
    figures.mean_request = spent / figures.requests.max(1) as u32;
    let clock = Instant::now();
    for request in &requests {
        loop {
            let read: serde_json::Value = http
                .get(format!("{base}/v1/enhancement-requests/{request}/"))
                .bearer_auth(destiny_testkit::serve_process::ADMIN_TOKEN)
                .send()
                .await?
                .json()
                .await?;
            if read["reference_data_url"].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    figures.files_written = clock.elapsed();

    // 3. Polls of `settings.poll`, each with its reference file.
    let before = poll_route_seconds(&http, &base).await?;
    for _ in 0..settings.polls {
        let clock = Instant::now();
        let batch = client
            .poll_robot_enhancement_batch(robot.id, settings.poll, None)
            .await?
            .ok_or("nothing to lease")?;
        let answered = clock.elapsed();
        let clock = Instant::now();
        let file = http
            .get(batch.reference_storage_url.as_str())
            .send()
            .await?
            .bytes()
            .await?;
        let downloaded = clock.elapsed();
        let lines = file.iter().filter(|b| **b == b'\n').count();
        if lines != settings.poll as usize {
            return Err(format!("a reference file of {lines} lines").into());
        }
        figures.polls.push((answered, downloaded));
    }
    let after = poll_route_seconds(&http, &base).await?;
    let polls = (after.count - before.count).max(1.0);
    let mean = |after: f64, before: f64| Duration::from_secs_f64((after - before) / polls);
    figures.server_poll = mean(after.route, before.route);
    figures.server_claim = mean(after.claim, before.claim);
    figures.server_file = mean(after.file, before.file);
    drop(server);
    Ok(figures)
}

/// The server's time in polls so far, from its `/metrics` (sums of seconds).
struct PollSeconds {
    /// The poll route's, and how many polls it answered.
    route: f64,
    count: f64,
    /// The claim phase's and the reference file phase's.
    claim: f64,
    file: f64,
}

/// The server's [`PollSeconds`] now.
async fn poll_route_seconds(http: &reqwest::Client, base: &str) -> Result<PollSeconds, Error> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    // The sum of the samples named `name` whose labels hold each of `labels`.
    let sum = |name: &str, labels: &[&str]| {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>()
    };
    let route = ["robot-enhancement-batches/\"", "method=\"POST\""];
    Ok(PollSeconds {
        route: sum("destiny_http_request_duration_seconds_sum", &route),
        count: sum("destiny_http_request_duration_seconds_count", &route),
        claim: sum("destiny_poll_phase_seconds_sum", &["phase=\"claim\""]),
        file: sum(
            "destiny_poll_phase_seconds_sum",
            &["phase=\"reference_file\""],
        ),
    })
}
