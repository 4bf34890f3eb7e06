//! `destiny demo --chain`: today's robots, which get their work through automations. A
//! flagger is asked for every reference imported; a prefilter for every reference the
//! flagger flags; a classifier for every reference the prefilter finds relevant. The
//! demo registers the three robots and their automations, imports the references and
//! runs the three robots through the runtime, each over HTTP with HMAC, showing each
//! robot's progress and then a summary.

use std::time::{Duration, Instant};

use destiny_robot::{Context, Metrics, Outcome, Robot, RobotFailure, RobotInfo, ToyRobot};
use destiny_sdk::models::{
    Annotation, AnnotationContent, AnnotationScheme, BooleanAnnotation, EnhancementContent,
    Reference,
};
use indicatif::{MultiProgress, ProgressBar};
use serde_json::{json, Value};
use uuid::Uuid;

use super::report::{self, Summary};
use super::{failure, load_references, DemoArgs, Local};
use crate::error::CliError;

/// How long the chain may go without any robot moving before the demo gives up.
const STALL: Duration = Duration::from_secs(60);

/// A robot of the chain: one boolean annotation (`scheme`/`label`), true for about
/// `share` of the references, decided by the reference id and a seed.
#[derive(Debug, Clone)]
struct Labeller {
    name: &'static str,
    scheme: &'static str,
    label: &'static str,
    share: f64,
    decide: ToyRobot,
}

impl Labeller {
    /// Whether this robot says yes for `id` (what it will annotate).
    fn says_yes(&self, id: Uuid) -> bool {
        self.decide.pick(id).1 < self.share
    }
}

impl Robot for Labeller {
    fn info(&self) -> RobotInfo {
        RobotInfo::new(self.name, env!("CARGO_PKG_VERSION"))
    }

    async fn enhance(&self, reference: &Reference, _ctx: &Context) -> Outcome {
        let scheme: AnnotationScheme = self.scheme.parse().map_err(RobotFailure::fatal_batch)?;
        Ok(EnhancementContent::Annotation(AnnotationContent {
            annotations: vec![Annotation::Boolean(BooleanAnnotation {
                scheme,
                label: self.label.to_owned(),
                value: self.says_yes(reference.id),
                score: None,
                data: serde_json::Map::new(),
            })],
        })
        .into())
    }
}

/// A changeset annotation `scheme`/`label` that is true.
fn annotated(scheme: &str, label: &str) -> Value {
    let a = "changeset.enhancements.content.annotations";
    json!({"nested": {"path": "changeset.enhancements", "query": {"nested": {"path": a,
        "query": {"bool": {"filter": [
            {"term": {format!("{a}.scheme"): scheme}},
            {"term": {format!("{a}.label"): label}},
            {"term": {format!("{a}.value"): true}}]}}}}}})
}

/// One robot of the chain, running.
struct Stage {
    robot: Labeller,
    /// How many references it will be asked for.
    expected: u64,
    metrics: Metrics,
    bar: ProgressBar,
}

impl Stage {
    fn done(&self) -> u64 {
        let m = self.metrics.snapshot();
        m.references_enhanced + m.references_failed
    }
}

/// Runs the chain demo.
pub async fn demo(args: DemoArgs) -> Result<(), CliError> {
    let report = args.report();
    let local = Local::start(args.dir.as_ref(), report).await?;
    let robots = [
        Labeller {
            name: "flagger",
            scheme: "demo:flag",
            label: "include",
            share: 0.5,
            decide: ToyRobot::new().with_seed(args.seed),
        },
        Labeller {
            name: "prefilter",
            scheme: "demo:prefilter",
            label: "relevant",
            share: 0.5,
            decide: ToyRobot::new().with_seed(args.seed.wrapping_add(1)),
        },
        Labeller {
            name: "classifier",
            scheme: "demo:classifier",
            label: "in_scope",
            share: 0.5,
            decide: ToyRobot::new().with_seed(args.seed.wrapping_add(2)),
        },
    ];
    // The flagger on imports only (their changesets carry the import's duplicate
    // decision; a robot's results do not); each next robot on the previous one's yes.
    let queries = [
        json!({"exists": {"field": "changeset.duplicate_determination"}}),
        annotated("demo:flag", "include"),
        annotated("demo:prefilter", "relevant"),
    ];
    let mut provisioned = Vec::new();
    for (robot, query) in robots.iter().zip(&queries) {
        let registered = local
            .robot(
                robot.name,
                &format!("Labels `{}` (demo chain).", robot.scheme),
            )
            .await?;
        let body = json!({"robot_id": registered.id, "query": query});
        local
            .admin
            .send(
                reqwest::Method::POST,
                "/v1/enhancement-requests/automations/",
                Some((body.to_string(), "application/json")),
            )
            .await?;
        provisioned.push(registered);
    }
    report.say("Registered the flagger, the prefilter and the classifier with their automations");

    let bars = MultiProgress::new();
    let style = report::style("{prefix:>10} {bar:40} {pos}/{len}  {rate}");
    let mut stages = Vec::new();
    let mut tasks = Vec::new();
    let mut stops = Vec::new();
    for (robot, registered) in robots.iter().zip(&provisioned) {
        let runner = local.runner(
            robot.clone(),
            registered,
            args.batch_size,
            args.concurrent_batches,
        )?;
        let bar = bars.add(ProgressBar::new(0));
        bar.set_style(style.clone());
        bar.set_prefix(robot.name);
        stages.push(Stage {
            robot: robot.clone(),
            expected: 0,
            metrics: runner.metrics(),
            bar,
        });
        stops.push(runner.shutdown_token());
        tasks.push(tokio::spawn(runner.run()));
    }

    let started = Instant::now();
    let ids = load_references(&local.admin, args.references, args.seed).await?;
    // Who will be asked for what follows from the robots' decisions.
    let flagged: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| robots[0].says_yes(*id))
        .collect();
    let relevant = flagged.iter().filter(|id| robots[1].says_yes(**id)).count();
    for (stage, expected) in stages.iter_mut().zip([ids.len(), flagged.len(), relevant]) {
        stage.expected = expected as u64;
        stage.bar.set_length(expected as u64);
    }

    let outcome = watch(&stages, &tasks).await.and_then(|()| {
        match stages
            .iter()
            .find(|s| s.metrics.snapshot().references_failed > 0)
        {
            Some(stage) => Err(failure(format!(
                "the {} failed to enhance some references",
                stage.robot.name
            ))),
            None => Ok(()),
        }
    });
    let elapsed = started.elapsed();
    for stop in &stops {
        stop.cancel();
    }
    for task in tasks {
        if let Ok(Err(e)) = task.await {
            eprintln!("warning: a robot stopped with an error: {e}");
        }
    }
    let mut summary = Summary::default();
    summary.row(
        "references imported",
        ids.len().to_string(),
        &[("references_imported", json!(ids.len()))],
    );
    let mut robots_json = Vec::new();
    for stage in &stages {
        let m = stage.metrics.snapshot();
        summary.row(
            stage.robot.name,
            format!(
                "asked {}, enhanced {}, failed {}, batches {}",
                stage.expected, m.references_enhanced, m.references_failed, m.batches_completed
            ),
            &[],
        );
        robots_json.push(json!({"name": stage.robot.name, "asked": stage.expected,
            "enhanced": m.references_enhanced, "failed": m.references_failed,
            "batches": m.batches_completed}));
    }
    summary
        .field("robots", Value::Array(robots_json))
        .field("completed", json!(outcome.is_ok()))
        .row(
            "elapsed",
            format!("{:.2} s", elapsed.as_secs_f64()),
            &[("elapsed_seconds", json!(elapsed.as_secs_f64()))],
        );
    local.files(args.keep, &mut summary);
    report.summary(&summary);
    local.stop(args.keep).await;
    outcome
}

/// Follows the robots until each has done what it will be asked for (or the chain
/// stalls, or a robot stops).
async fn watch(
    stages: &[Stage],
    tasks: &[tokio::task::JoinHandle<
        Result<destiny_robot::MetricsSnapshot, destiny_robot::RunError>,
    >],
) -> Result<(), CliError> {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last = (Instant::now(), 0u64);
    loop {
        tick.tick().await;
        let mut moved = 0;
        for stage in stages {
            let done = stage.done();
            stage.bar.set_position(done.min(stage.expected));
            moved += done;
        }
        if stages.iter().all(|s| s.done() >= s.expected) {
            stages.iter().for_each(|s| s.bar.finish());
            return Ok(());
        }
        if let Some((i, _)) = tasks.iter().enumerate().find(|(_, t)| t.is_finished()) {
            return Err(failure(format!(
                "the {} stopped early",
                stages[i].robot.name
            )));
        }
        if moved > last.1 {
            last = (Instant::now(), moved);
        } else if last.0.elapsed() > STALL {
            return Err(failure(format!(
                "the chain made no progress for {} s",
                STALL.as_secs()
            )));
        }
    }
}
