//! Polling benchmark of the local repository (not run by `scripts/test`):
//!
//! ```sh
//! DESTINY_BENCH_POSTGRES=$(scripts/pg start) cargo bench -p destiny-repository --bench poll
//! ```
//!
//! For each backend (SQLite; PostgreSQL when `DESTINY_BENCH_POSTGRES` or
//! `DESTINY_TEST_POSTGRES` names a server whose user may `CREATE DATABASE`) and each
//! table size (`DESTINY_BENCH_SIZES`, default `100000,1000000` pending enhancements
//! stored), a server runs in this process on a fresh database, seeded in SQL; then:
//!
//! - poll latency: a signed poll (the claim) plus the full download of its reference
//!   file, for batch sizes 10 / 1,000 / 10,000, over real HTTP;
//! - throughput: 8 robots at once, each polling batches of 100 references, downloading
//!   the reference file, uploading a result and submitting it (the import runs too);
//! - peak memory: the process's VmHWM (reset before each stage via `clear_refs`).
//!
//! Results print as Markdown tables.

#[path = "../tests/load/mod.rs"]
mod load;
use destiny_testkit::scratch_db;

use destiny_repository::clock::SystemClock;
use destiny_repository::config::Config;
use destiny_repository::db::Backend;
use destiny_repository::server::{prepare, Jobs};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::{ProvisionedRobot, RobotEnhancementBatch, RobotEnhancementBatchResult};
use load::BoxError;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Batch sizes measured, with how many polls of each.
const LATENCY: [(u32, usize); 3] = [(10, 30), (1_000, 10), (10_000, 5)];
/// Concurrent robots of the throughput run.
const ROBOTS: usize = 8;
/// References per batch in the throughput run.
const THROUGHPUT_LIMIT: u32 = 100;
/// Batches each concurrent robot handles.
const THROUGHPUT_BATCHES: usize = 40;

fn main() -> Result<(), BoxError> {
    let sizes: Vec<usize> = destiny_testkit::bench::list("DESTINY_BENCH_SIZES", "100000,1000000")?;
    let pg = destiny_testkit::bench::postgres();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut backends = vec![Backend::Sqlite];
    if pg.is_some() {
        backends.push(Backend::Postgres);
    }
    let mut latency_rows = Vec::new();
    let mut throughput_rows = Vec::new();
    for backend in backends {
        for &n in &sizes {
            let stage = rt.block_on(run_stage(backend, n, pg.as_deref()))?;
            latency_rows.extend(stage.latency);
            throughput_rows.push(stage.throughput);
        }
    }
    println!("\n| backend | pending stored | batch size | polls | p50 claim (ms) | p50 claim + file (ms) | max claim + file (ms) | file size (MB) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in latency_rows {
        println!("{row}");
    }
    println!("\n| backend | pending stored | robots × batches × refs | batches/s | references/s | peak RSS (MiB) |");
    println!("|---|---:|---|---:|---:|---:|");
    for row in throughput_rows {
        println!("{row}");
    }
    Ok(())
}

/// The Markdown rows of one (backend, size).
struct Stage {
    latency: Vec<String>,
    throughput: String,
}

fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// Resets the process's peak RSS (Linux `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A database of the run: a SQLite file, or `CREATE DATABASE bench_<uuid>`.
async fn database(
    backend: Backend,
    dir: &std::path::Path,
    pg: Option<&str>,
) -> Result<(String, Option<String>), BoxError> {
    match backend {
        Backend::Sqlite => Ok((format!("sqlite://{}", dir.join("bench.db").display()), None)),
        Backend::Postgres => {
            let admin = pg.ok_or("no PostgreSQL URL")?;
            let (url, db) = scratch_db::create_database(admin, "bench").await?;
            Ok((url, Some(db)))
        }
    }
}

async fn drop_database(pg: Option<&str>, name: Option<String>) -> Result<(), BoxError> {
    if let (Some(admin), Some(db)) = (pg, name) {
        scratch_db::drop_database(admin, &db).await?;
    }
    Ok(())
}

async fn run_stage(backend: Backend, n: usize, pg: Option<&str>) -> Result<Stage, BoxError> {
    eprintln!("== {} with {n} pending enhancements", name(backend));
    let dir = tempfile::tempdir()?;
    let (url, pg_name) = database(backend, dir.path(), pg).await?;
    let mut config = Config::new(url, dir.path().join("blobs"));
    config.listen = "127.0.0.1:0".parse()?;
    config.expiry_interval = Duration::from_secs(3600);
    let token = "bench-admin-token".to_owned();
    config.admin_token = Some(destiny_sdk::secret::Secret::new(token.clone()));
    let prepared = prepare(config, Arc::new(SystemClock)).await?;
    let base = format!("http://{}", prepared.addr);
    let db = prepared.state.db.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(prepared.serve_with(
        Jobs {
            expiry: false,
            import: true,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let http = reqwest::Client::new();

    // One robot for the latency run, ROBOTS for the throughput run.
    let robots = load::robots(&http, &base, &token, "bench", ROBOTS + 1).await?;
    let per_robot = THROUGHPUT_BATCHES * THROUGHPUT_LIMIT as usize;
    let seed_started = Instant::now();
    seed(&db, &robots[0], n).await?;
    for robot in &robots[1..] {
        seed(&db, robot, per_robot).await?;
    }
    eprintln!("   seeded in {:.1} s", seed_started.elapsed().as_secs_f64());

    let main = RobotClient::new(&base, robots[0].client_secret.as_str(), robots[0].id)?;
    timed_poll(&main, &http, robots[0].id, 10).await?; // warm-up
    reset_peak();
    let mut latency = Vec::new();
    for (limit, reps) in LATENCY {
        let mut claims = Vec::with_capacity(reps);
        let mut totals = Vec::with_capacity(reps);
        let mut bytes = 0usize;
        for _ in 0..reps {
            let (claim, total, size) = timed_poll(&main, &http, robots[0].id, limit).await?;
            claims.push(claim);
            totals.push(total);
            bytes = size;
        }
        let row = format!(
            "| {} | {n} | {limit} | {reps} | {:.1} | {:.1} | {:.1} | {:.2} |",
            name(backend),
            median(&mut claims),
            median(&mut totals.clone()),
            totals.iter().copied().fold(0.0, f64::max),
            bytes as f64 / 1e6
        );
        eprintln!("   {row}");
        latency.push(row);
    }

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for robot in robots[1..].iter().cloned() {
        let client = RobotClient::new(&base, robot.client_secret.as_str(), robot.id)?;
        let http = http.clone();
        tasks.spawn(async move { robot_loop(&client, &http, robot.id).await });
    }
    let mut batches = 0usize;
    while let Some(done) = tasks.join_next().await {
        batches += done??;
    }
    let secs = started.elapsed().as_secs_f64();
    let throughput = format!(
        "| {} | {n} | {ROBOTS} × {THROUGHPUT_BATCHES} × {THROUGHPUT_LIMIT} | {:.1} | {:.0} | {:.0} |",
        name(backend),
        batches as f64 / secs,
        (batches * THROUGHPUT_LIMIT as usize) as f64 / secs,
        peak_mib()
    );
    eprintln!("   {throughput}");

    let _ = stop_tx.send(());
    served.await??;
    drop_database(pg, pg_name).await?;
    Ok(Stage {
        latency,
        throughput,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The reference file of `batch`.
async fn reference_file(
    http: &reqwest::Client,
    batch: &RobotEnhancementBatch,
) -> Result<bytes::Bytes, BoxError> {
    let url = batch.reference_storage_url.as_str();
    Ok(http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?)
}

/// One poll of `limit` plus the download of its reference file: (claim ms, total ms,
/// file bytes).
async fn timed_poll(
    client: &RobotClient,
    http: &reqwest::Client,
    robot: Uuid,
    limit: u32,
) -> Result<(f64, f64, usize), BoxError> {
    let t0 = Instant::now();
    let batch = client
        .poll_robot_enhancement_batch(robot, limit, None)
        .await?
        .ok_or("nothing pending")?;
    let claim = t0.elapsed();
    let body = reference_file(http, &batch).await?;
    let total = t0.elapsed();
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    if lines != limit as usize {
        return Err(format!("asked for {limit} references, the file has {lines}").into());
    }
    Ok((
        claim.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        body.len(),
    ))
}

/// A robot's loop: poll, download, upload an annotation per reference, submit; answers
/// the batches handled.
async fn robot_loop(
    client: &RobotClient,
    http: &reqwest::Client,
    robot: Uuid,
) -> Result<usize, BoxError> {
    let mut done = 0;
    while done < THROUGHPUT_BATCHES {
        let Some(batch) = client
            .poll_robot_enhancement_batch(robot, THROUGHPUT_LIMIT, None)
            .await?
        else {
            break;
        };
        let file = reference_file(http, &batch).await?;
        let refs = std::str::from_utf8(&file)?;
        let mut result = String::with_capacity(refs.len());
        for line in refs.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let entry = json!({"reference_id": v["id"], "source": "bench", "visibility": "public",
                "content": {"enhancement_type": "annotation", "annotations": [
                    {"annotation_type": "score", "scheme": "bench", "label": "b", "score": 0.5, "data": {}}]}});
            result.push_str(&entry.to_string());
            result.push('\n');
        }
        http.put(batch.result_storage_url.as_str())
            .header("x-ms-blob-type", "BlockBlob")
            .body(result)
            .send()
            .await?
            .error_for_status()?;
        client
            .send_robot_enhancement_batch_result(&RobotEnhancementBatchResult {
                request_id: batch.id,
                error: None,
            })
            .await?;
        done += 1;
    }
    Ok(done)
}

/// Stores `n` references, one enhancement request of `robot` over them (its
/// `reference_ids` column left empty: polls never read it) and `n` pending
/// enhancements, in bulk SQL.
async fn seed(
    db: &destiny_repository::db::Db,
    robot: &ProvisionedRobot,
    n: usize,
) -> Result<(), BoxError> {
    let request = Uuid::new_v4().to_string();
    let robot_id = robot.id.to_string();
    let n = i64::try_from(n)?;
    let mut tx = db.writer().begin().await?;
    sqlx::query(
        "INSERT INTO enhancement_requests (id, robot_id, source, reference_ids, created_at) \
         VALUES ($1, $2, 'bench', '[]', 0)",
    )
    .bind(&request)
    .bind(&robot_id)
    .execute(&mut *tx)
    .await?;
    // Each reference row is tagged with the request so its pending enhancement can be
    // made from it; the tag is cleared afterwards.
    let (refs, pending) = match db.backend() {
        Backend::Postgres => (
            "INSERT INTO refs (id, visibility, identifiers, created_at) \
             SELECT gen_random_uuid()::text, 'public', \
               '[{\"identifier\":\"W' || g || '\",\"identifier_type\":\"open_alex\"},' || \
               '{\"identifier\":\"10.1234/bench.' || g || '\",\"identifier_type\":\"doi\"}]', $2 \
             FROM generate_series(1, $1::bigint) g",
            "INSERT INTO pending_enhancements (id, reference_id, robot_id, request_id, status, \
               source, created_at, updated_at) \
             SELECT gen_random_uuid()::text, id, $1, $2, 'pending', 'bench', 0, 0 \
             FROM refs WHERE created_at = $3 ORDER BY id",
        ),
        Backend::Sqlite => (
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < $1) \
             INSERT INTO refs (id, visibility, identifiers, created_at) \
             SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || \
               substr(lower(hex(randomblob(2))), 2) || '-' || \
               substr('89ab', 1 + (abs(random()) % 4), 1) || \
               substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))), \
               'public', \
               '[{\"identifier\":\"W' || i || '\",\"identifier_type\":\"open_alex\"},' || \
               '{\"identifier\":\"10.1234/bench.' || i || '\",\"identifier_type\":\"doi\"}]', $2 \
             FROM g",
            "INSERT INTO pending_enhancements (id, reference_id, robot_id, request_id, status, \
               source, created_at, updated_at) \
             SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || \
               substr(lower(hex(randomblob(2))), 2) || '-' || \
               substr('89ab', 1 + (abs(random()) % 4), 1) || \
               substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))), \
               id, $1, $2, 'pending', 'bench', 0, 0 \
             FROM refs WHERE created_at = $3 ORDER BY id",
        ),
    };
    // A tag no real row carries: minus a counter unique to this seeding.
    let tag = -(i64::from(rand_tag()) + 1);
    sqlx::query(refs)
        .bind(n)
        .bind(tag)
        .execute(&mut *tx)
        .await?;
    sqlx::query(pending)
        .bind(&robot_id)
        .bind(&request)
        .bind(tag)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE refs SET created_at = 0 WHERE created_at = $1")
        .bind(tag)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if db.backend() == Backend::Postgres {
        // What autovacuum does shortly after a bulk load.
        sqlx::query("ANALYZE").execute(db.writer()).await?;
    }
    Ok(())
}

/// A tag for one seeding (the low bits of a v4 UUID).
fn rand_tag() -> u32 {
    let bytes = Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & 0x7fff_ffff
}
