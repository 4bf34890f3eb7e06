//! `destiny demo`: the whole system on one command. It starts a local repository
//! in-process (temporary SQLite database and blob directory, a free port), registers a
//! robot, loads the shipped sample references plus generated ones, requests
//! enhancements, and runs the toy robot through the runtime over real HTTP with HMAC,
//! showing progress and then a summary.

use clap::Args;
use destiny_repository::clock::SystemClock;
use destiny_repository::config::Config;
use destiny_repository::server::prepare;
use destiny_robot::{Metrics, Runner, RunnerSettings, ToyRobot};
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::jsonl;
use destiny_sdk::models::{EnhancementRequestRead, EnhancementRequestStatus, ProvisionedRobot};
use destiny_sdk::samples::ReferenceGenerator;
use indicatif::ProgressBar;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::error::CliError;

mod chain;
mod report;

use report::{Report, Summary};

/// The sample references shipped with the project (invented data).
const SAMPLES: &str = include_str!("../samples/references.jsonl");

/// References sent per `POST /v1/references/` (the loading bar moves this much at a time).
const IMPORT_CHUNK: usize = 2_000;

/// Settings of `destiny demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many references to enhance (the shipped samples, then generated ones).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    references: u64,
    /// Seed of the reference generator and the toy robot.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// References per batch.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
    /// Batches the robot works on at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrent_batches: u64,
    /// Directory for the database and files (default: a new temporary directory,
    /// removed at the end unless --keep).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Leave the repository running afterwards and print how to talk to it.
    #[arg(long)]
    keep: bool,
    /// Run today's robot chain instead: three robots whose automations hand references
    /// on (a flagger on every import, a prefilter on its flags, a classifier on the
    /// prefilter's labels), with progress per robot.
    #[arg(long)]
    chain: bool,
    /// Print the summary as one JSON object on stdout (the other lines go to stderr).
    #[arg(long)]
    json: bool,
}

impl DemoArgs {
    fn report(&self) -> Report {
        Report { json: self.json }
    }
}

/// Talks to the admin API of the demo's repository.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(String, &str)>,
    ) -> Result<String, CliError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some((body, content_type)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let failed = |e: reqwest::Error| failure(format!("{path}: {e}"));
        let resp = req.send().await.map_err(failed)?;
        let status = resp.status();
        let text = resp.text().await.map_err(failed)?;
        if !status.is_success() {
            return Err(CliError::Api {
                status: status.as_u16(),
                detail: format!("{path}: {text}"),
            });
        }
        Ok(text)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(String, &str)>,
    ) -> Result<T, CliError> {
        let text = self.send(method, path, body).await?;
        destiny_sdk::models::from_json_str(&text)
            .map_err(|e| failure(format!("{path}: unexpected answer: {e}")))
    }
}

fn failure(message: String) -> CliError {
    CliError::failed("demo", message)
}

/// Runs the demo.
///
/// # Errors
/// Start-up failures, or a request that did not complete.
pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let runtime = crate::error::runtime()?;
    if args.chain {
        runtime.block_on(chain::demo(args))
    } else {
        runtime.block_on(demo(args))
    }
}

/// The demo's repository: in this process, on a free port, in a directory of its own.
struct Local {
    /// The temporary directory, when none was given (removed on drop).
    temp: Option<tempfile::TempDir>,
    dir: PathBuf,
    db_path: PathBuf,
    blob_dir: PathBuf,
    base: String,
    admin: Admin,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), destiny_repository::server::ServeError>>,
}

impl Local {
    /// Starts a repository in `dir` (default: a new temporary directory).
    async fn start(dir: Option<&PathBuf>, report: Report) -> Result<Self, CliError> {
        let temp = match dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("destiny-demo-")
                    .tempdir()
                    .map_err(|source| CliError::Io {
                        what: "creating a temporary directory".into(),
                        source,
                    })?,
            ),
        };
        let dir = dir.cloned().unwrap_or_else(|| {
            temp.as_ref()
                .map(|t| t.path().to_owned())
                .unwrap_or_default()
        });
        std::fs::create_dir_all(&dir).map_err(|source| CliError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        let db_path = dir.join("destiny.db");
        let blob_dir = dir.join("blobs");
        let mut config = Config::new(format!("sqlite://{}", db_path.display()), &blob_dir);
        config.listen = "127.0.0.1:0".parse().expect("valid address");
        config.expiry_interval = Duration::from_secs(5);
        let prepared = prepare(config, Arc::new(SystemClock))
            .await
            .map_err(|e| failure(format!("starting the repository: {e}")))?;
        let base = format!("http://{}", prepared.addr);
        let admin = Admin {
            http: reqwest::Client::new(),
            base: base.clone(),
            token: prepared.state.admin_token.expose().to_owned(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(prepared.serve(async move {
            let _ = stopped.await;
        }));
        report.say(&format!(
            "Local repository on {base} (SQLite: {})",
            db_path.display()
        ));
        Ok(Self {
            temp,
            dir,
            db_path,
            blob_dir,
            base,
            admin,
            stop,
            server,
        })
    }

    /// Registers a robot.
    async fn robot(&self, name: &str, description: &str) -> Result<ProvisionedRobot, CliError> {
        let body = json!({"name": name, "description": description, "owner": "destiny demo"});
        self.admin
            .json(
                reqwest::Method::POST,
                "/v1/robots/",
                Some((body.to_string(), "application/json")),
            )
            .await
    }

    /// A runner of `robot` as `provisioned`, polling briskly.
    fn runner<R: destiny_robot::Robot>(
        &self,
        robot: R,
        provisioned: &ProvisionedRobot,
        batch_size: u32,
        concurrent_batches: u64,
    ) -> Result<Runner<R>, CliError> {
        let mut settings = RunnerSettings::default();
        settings.batch_size = batch_size;
        settings.lease = LeaseDuration::from_secs(120).expect("a valid lease");
        settings.concurrent_batches = concurrent_batches as usize;
        settings.poll_interval = Duration::from_millis(200);
        Runner::builder(robot)
            .repository(
                self.base.clone(),
                provisioned.id,
                provisioned.client_secret.clone(),
            )
            .settings(settings)
            .build()
            .map_err(|e| CliError::Usage(e.to_string()))
    }

    /// Adds where the files were, and whether they are removed now, to `summary`.
    fn files(&self, keep: bool, summary: &mut Summary) {
        let removed = self.temp.is_some() && !keep;
        summary
            .row(
                "database",
                self.db_path.display().to_string(),
                &[("database", json!(self.db_path))],
            )
            .row(
                "files",
                self.blob_dir.display().to_string(),
                &[("files", json!(self.blob_dir)), ("removed", json!(removed))],
            );
        if removed {
            summary.row(
                "",
                "(a temporary directory, removed now: use --dir DIR or --keep to keep it)".into(),
                &[],
            );
        }
    }

    /// Stops the repository (its directory is removed unless it was given, or `keep`).
    async fn stop(self, keep: bool) {
        if keep {
            let _ = self.temp.map(tempfile::TempDir::keep);
        }
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

async fn demo(args: DemoArgs) -> Result<(), CliError> {
    let report = args.report();
    let local = Local::start(args.dir.as_ref(), report).await?;
    let admin = &local.admin;
    let robot = local
        .robot("toy-robot", "Annotates references with a toy.")
        .await?;
    let ids = load_references(admin, args.references, args.seed).await?;
    let request: EnhancementRequestRead = admin
        .json(
            reqwest::Method::POST,
            "/v1/enhancement-requests/",
            Some((
                json!({"robot_id": robot.id, "reference_ids": ids, "source": "destiny demo"})
                    .to_string(),
                "application/json",
            )),
        )
        .await?;
    report.say(&format!(
        "Registered robot {}, loaded {} references, requested enhancements ({})",
        robot.id,
        ids.len(),
        request.id
    ));

    let runner = local.runner(
        ToyRobot::new().with_seed(args.seed),
        &robot,
        args.batch_size,
        args.concurrent_batches,
    )?;
    let metrics = runner.metrics();
    let stop_robot = runner.shutdown_token();
    let started = Instant::now();
    let mut robot_task = tokio::spawn(runner.run());

    let status = watch_progress(
        admin,
        &metrics,
        request.id,
        ids.len() as u64,
        &mut robot_task,
    )
    .await;
    let elapsed = started.elapsed();
    stop_robot.cancel();
    let robot_result = robot_task.await;
    let status = status?;
    if let Ok(Err(e)) = robot_result {
        eprintln!("warning: the robot stopped with an error: {e}");
    }
    let mut summary = summary(&metrics, status, ids.len(), elapsed);
    local.files(args.keep, &mut summary);
    report.summary(&summary);
    if args.keep {
        print_keep_instructions(
            report,
            &local.dir,
            &local.base,
            &admin.token,
            &robot,
            request.id,
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    local.stop(args.keep).await;
    if status == EnhancementRequestStatus::Completed {
        Ok(())
    } else {
        Err(failure(format!(
            "the enhancement request ended {}",
            status.as_str()
        )))
    }
}

/// Imports the shipped samples, then generated references, up to `count`.
async fn load_references(admin: &Admin, count: u64, seed: u64) -> Result<Vec<Uuid>, CliError> {
    let samples = SAMPLES.lines().take(count as usize);
    let generated = ReferenceGenerator::new(seed)
        .take((count as usize).saturating_sub(SAMPLES.lines().count()))
        .map(|r| jsonl::to_line(&r).map_err(|e| failure(e.to_string())));
    let lines = samples.map(|l| Ok(l.to_owned())).chain(generated);
    let mut ids = Vec::with_capacity(count as usize);
    let bar = ProgressBar::new(count);
    bar.set_style(report::style(
        "loading {bar:40} {pos}/{len} references  {rate}",
    ));
    let mut body = String::new();
    let mut in_body = 0;
    for line in lines {
        body.push_str(&line?);
        body.push('\n');
        in_body += 1;
        if in_body == IMPORT_CHUNK {
            ids.extend(import(admin, std::mem::take(&mut body)).await?);
            bar.set_position(ids.len() as u64);
            in_body = 0;
        }
    }
    if in_body > 0 {
        ids.extend(import(admin, body).await?);
    }
    bar.finish_and_clear();
    Ok(ids)
}

async fn import(admin: &Admin, body: String) -> Result<Vec<Uuid>, CliError> {
    admin
        .json(
            reqwest::Method::POST,
            "/v1/references/",
            Some((body, "application/jsonl")),
        )
        .await
}

/// Shows a progress bar until the request reaches a final status (or the robot stops).
async fn watch_progress(
    admin: &Admin,
    metrics: &Metrics,
    request: Uuid,
    total: u64,
    robot: &mut tokio::task::JoinHandle<
        Result<destiny_robot::MetricsSnapshot, destiny_robot::RunError>,
    >,
) -> Result<EnhancementRequestStatus, CliError> {
    let bar = ProgressBar::new(total);
    bar.set_style(report::style(
        "{bar:40} {pos}/{len} references  {rate}  ETA {eta}  {msg}",
    ));
    let path = format!("/v1/enhancement-requests/{request}/");
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            finished = &mut *robot => {
                bar.abandon();
                let why = match finished {
                    Ok(Ok(_)) => "the robot stopped early".to_owned(),
                    Ok(Err(e)) => format!("the robot stopped: {e}"),
                    Err(e) => format!("the robot task failed: {e}"),
                };
                return Err(failure(why));
            }
        }
        let m = metrics.snapshot();
        bar.set_position((m.references_enhanced + m.references_failed).min(total));
        let read: EnhancementRequestRead = admin.json(reqwest::Method::GET, &path, None).await?;
        bar.set_message(read.request_status.as_str());
        use EnhancementRequestStatus as S;
        if matches!(
            read.request_status,
            S::Completed | S::Failed | S::PartialFailed | S::IndexingFailed | S::Rejected
        ) {
            bar.finish();
            return Ok(read.request_status);
        }
    }
}

/// The summary of a run: what the request ended as, what the robot did, how fast.
fn summary(
    metrics: &Metrics,
    status: EnhancementRequestStatus,
    total: usize,
    elapsed: Duration,
) -> Summary {
    let m = metrics.snapshot();
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let shown = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
    let (p50, p95) = (
        ms(metrics.poll_latency_quantile(0.5)),
        ms(metrics.poll_latency_quantile(0.95)),
    );
    let rate = total as f64 / elapsed.as_secs_f64().max(1e-9);
    let mut summary = Summary::default();
    summary
        .row(
            "request status",
            status.as_str().to_owned(),
            &[("request_status", json!(status.as_str()))],
        )
        .row(
            "references",
            total.to_string(),
            &[("references", json!(total))],
        )
        .row(
            "enhanced / failed",
            format!("{} / {}", m.references_enhanced, m.references_failed),
            &[
                ("enhanced", json!(m.references_enhanced)),
                ("failed", json!(m.references_failed)),
            ],
        )
        .row(
            "references per second",
            report::whole(rate),
            &[("references_per_second", json!(rate.round() as u64))],
        )
        .row(
            "elapsed",
            format!("{:.2} s", elapsed.as_secs_f64()),
            &[("elapsed_seconds", json!(elapsed.as_secs_f64()))],
        )
        .row(
            "batches",
            m.batches_completed.to_string(),
            &[("batches", json!(m.batches_completed))],
        )
        .row(
            "poll latency p50 / p95",
            format!("{} / {}", shown(p50), shown(p95)),
            &[
                ("poll_latency_p50_ms", json!(p50)),
                ("poll_latency_p95_ms", json!(p95)),
            ],
        )
        .row(
            "lease renewals",
            m.lease_renewals.to_string(),
            &[("lease_renewals", json!(m.lease_renewals))],
        );
    summary
}

/// Writes the demo's credentials to `<dir>/demo.env` (mode 0600) rather than printing
/// secrets, and prints how to use them.
fn print_keep_instructions(
    report: Report,
    dir: &std::path::Path,
    base: &str,
    token: &str,
    robot: &ProvisionedRobot,
    request: Uuid,
) {
    let env_file = dir.join("demo.env");
    let text = format!(
        "export DESTINY_REPOSITORY_URL={base}\nexport ROBOT_ID={}\nexport ROBOT_SECRET={}\nexport DESTINY_ADMIN_TOKEN={token}\n",
        robot.id, robot.client_secret
    );
    if let Err(e) = write_private(&env_file, &text) {
        eprintln!("warning: cannot write {}: {e}", env_file.display());
    }
    report.say(&format!(
        "\nThe repository stays up on {base} until Ctrl-C. Its credentials are in {env}:\n\
         \n  source {env}\n\
         \n  # the request, with curl (admin API):\n\
         \x20 curl -H \"Authorization: Bearer $DESTINY_ADMIN_TOKEN\" $DESTINY_REPOSITORY_URL/v1/enhancement-requests/{request}/\n\
         \n  # a robot poll with this toolkit:\n\
         \x20 destiny client poll --limit 10\n\
         \n  # a robot poll with the Python SDK (pip install destiny-sdk==0.7.4):\n\
         \x20 python3 -c \"import os; from destiny_sdk.client import RobotClient; \\\n\
         \x20   c = RobotClient(os.environ['DESTINY_REPOSITORY_URL'], os.environ['ROBOT_SECRET'], os.environ['ROBOT_ID']); \\\n\
         \x20   print(c.poll_robot_enhancement_batch(os.environ['ROBOT_ID'], limit=10))\"\n",
        env = env_file.display(),
    ));
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
