//! The processing path shared by the [`Runner`](crate::Runner) and offline runs: a
//! stream of reference lines in, result lines out, with bounded concurrency and the
//! failure policy applied.
//!
//! At most `reference_concurrency` references (rounded up to whole chunks of the robot's
//! [`chunk_size`](crate::Robot::chunk_size)) are in the robot's hands at once, and no
//! more input is read until one finishes, so memory stays bounded by the concurrency,
//! not the batch size.

use std::error::Error as StdError;
use std::sync::Arc;

use bytes::Bytes;
use destiny_sdk::models::{EnhancementResultEntry, LinkedRobotError, Reference};
use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWrite;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::breaker::{Breaker, WhenOpen};
use crate::failure::{FailureKind, TransientPolicy, WhenExhausted};
use crate::limits::Limiters;
use crate::robot::{Context, Robot, RobotInfo};
use crate::spool::{JsonlSink, SinkError};

/// How one run of the processing path behaves.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSettings {
    /// References in the robot's hands at once.
    pub(crate) reference_concurrency: usize,
    /// Retries of transient failures.
    pub(crate) transient: TransientPolicy,
    /// The batch, for the robot's [`Context`] (`None` offline).
    pub(crate) batch_id: Option<Uuid>,
    /// Given to the robot's [`Context`]; cancelled by the caller when it stops.
    pub(crate) cancel: CancellationToken,
    /// The limits on the robot's own calls, for its [`Context`].
    pub(crate) limiters: Limiters,
    /// The runner's circuit breaker (none offline).
    pub(crate) breaker: Option<Arc<Breaker>>,
}

/// Counts of what the processing path wrote.
///
/// ```
/// let report = destiny_robot::ProcessReport::default();
/// assert_eq!(report.enhanced + report.failed, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessReport {
    /// Enhancement lines written.
    pub enhanced: u64,
    /// `LinkedRobotError` lines written (permanent failures, transient failures that
    /// outlasted their attempts, unparseable references).
    pub failed: u64,
    /// Lines skipped: unparseable and without a reference id to report against.
    pub skipped: u64,
    /// Retries of transient failures (one per reference per retry).
    pub retries: u64,
}

/// How the processing of a stream ended (besides errors of the input or output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every reference has its line.
    Finished,
    /// The robot declared the batch failed, with this message.
    FatalBatch(String),
    /// Transient failures outlasted their attempts under
    /// [`WhenExhausted::LeaveBatchToLease`], with this message.
    LeaveToLease(String),
}

/// A failure of the input or the output of the processing path.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    /// Reading the references failed.
    #[error("reading references: {0}")]
    Input(Box<dyn StdError + Send + Sync>),
    /// Writing the results failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Runs `robot` over the reference lines of `input`, writing a result line per
/// reference to `sink`.
pub(crate) async fn process<R, S, E, W>(
    robot: &R,
    input: S,
    sink: &mut JsonlSink<W>,
    settings: &ProcessSettings,
) -> Result<(ProcessReport, Verdict), ProcessError>
where
    R: Robot,
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<Box<dyn StdError + Send + Sync>>,
    W: AsyncWrite + Unpin,
{
    let info = robot.info();
    let chunk_size = robot.chunk_size().max(1);
    let concurrency = settings.reference_concurrency.max(1);
    let chunks_in_flight = concurrency.div_ceil(chunk_size);
    let ctx = Context::for_batch(settings.batch_id, concurrency, settings.cancel.clone())
        .with_limiters(settings.limiters.clone());
    let mut input = std::pin::pin!(input);
    let mut running = FuturesUnordered::new();
    let mut gathering: Vec<Reference> = Vec::with_capacity(chunk_size);
    let mut input_done = false;
    let mut report = ProcessReport::default();
    loop {
        if input_done && running.is_empty() {
            return Ok((report, Verdict::Finished));
        }
        tokio::select! {
            biased;
            Some(done) = running.next(), if !running.is_empty() => {
                match done {
                    ChunkDone::Entries { entries, retries } => {
                        report.retries += retries;
                        for entry in entries {
                            write_entry(sink, &entry, &mut report).await?;
                        }
                    }
                    ChunkDone::Fatal(message) => return Ok((report, Verdict::FatalBatch(message))),
                    ChunkDone::LeaveToLease(message) => {
                        return Ok((report, Verdict::LeaveToLease(message)))
                    }
                }
            }
            item = input.next(), if !input_done && running.len() < chunks_in_flight => {
                match item {
                    None => {
                        input_done = true;
                        if !gathering.is_empty() {
                            let refs = std::mem::take(&mut gathering);
                            running.push(run_chunk(robot, refs, &ctx, settings, &info));
                        }
                    }
                    Some(Err(e)) => return Err(ProcessError::Input(e.into())),
                    Some(Ok(line)) => match parse_line(&line) {
                        Parsed::Blank => {}
                        Parsed::Reference(reference) => {
                            gathering.push(*reference);
                            if gathering.len() >= chunk_size {
                                let refs = std::mem::replace(&mut gathering, Vec::with_capacity(chunk_size));
                                running.push(run_chunk(robot, refs, &ctx, settings, &info));
                            }
                        }
                        Parsed::Invalid(entry) => write_entry(sink, &entry, &mut report).await?,
                        Parsed::Unidentifiable(reason) => {
                            report.skipped += 1;
                            tracing::warn!(%reason, "skipped a reference line without a readable id");
                        }
                    },
                }
            }
            else => return Ok((report, Verdict::Finished)),
        }
    }
}

async fn write_entry<W: AsyncWrite + Unpin>(
    sink: &mut JsonlSink<W>,
    entry: &EnhancementResultEntry,
    report: &mut ProcessReport,
) -> Result<(), SinkError> {
    match entry {
        EnhancementResultEntry::Enhancement(_) => report.enhanced += 1,
        EnhancementResultEntry::Error(e) => {
            report.failed += 1;
            tracing::debug!(reference_id = %e.reference_id, message = %e.message, "reference failed");
        }
    }
    sink.write(entry).await
}

/// A line of the reference file, read.
enum Parsed {
    /// An empty line (skipped, as the repository does).
    Blank,
    /// A reference.
    Reference(Box<Reference>),
    /// Not a valid reference, but its id could be read: reported against it.
    Invalid(EnhancementResultEntry),
    /// Not a valid reference and no id: skipped (the repository reports the reference
    /// as missing from the result).
    Unidentifiable(String),
}

fn parse_line(line: &[u8]) -> Parsed {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Blank;
    }
    match destiny_sdk::models::from_json_slice::<Reference>(line) {
        Ok(reference) => Parsed::Reference(Box::new(reference)),
        Err(error) => {
            /// Just the id of a reference line.
            #[derive(serde::Deserialize)]
            struct IdOnly {
                /// The reference id.
                id: Uuid,
            }
            match serde_json::from_slice::<IdOnly>(line) {
                Ok(IdOnly { id }) => {
                    Parsed::Invalid(EnhancementResultEntry::Error(LinkedRobotError {
                        message: format!("Reference could not be parsed: {error}"),
                        reference_id: id,
                    }))
                }
                Err(_) => Parsed::Unidentifiable(error.to_string()),
            }
        }
    }
}

/// What became of a chunk.
enum ChunkDone {
    /// A line for each reference of the chunk.
    Entries {
        /// The lines.
        entries: Vec<EnhancementResultEntry>,
        /// Retries made for transient failures.
        retries: u64,
    },
    /// The robot declared the batch failed.
    Fatal(String),
    /// Transient failures outlasted their attempts; leave the batch to its lease.
    LeaveToLease(String),
}

/// Runs the robot over one chunk, retrying transient failures per `policy`.
async fn run_chunk<R: Robot>(
    robot: &R,
    refs: Vec<Reference>,
    ctx: &Context,
    settings: &ProcessSettings,
    info: &RobotInfo,
) -> ChunkDone {
    let policy = &settings.transient;
    let breaker = settings.breaker.as_deref();
    let mut lines: Vec<Option<EnhancementResultEntry>> = vec![None; refs.len()];
    let mut last_error: Vec<String> = vec![String::new(); refs.len()];
    let mut todo: Vec<usize> = (0..refs.len()).collect();
    let mut attempt = 1u32;
    let mut retries = 0u64;
    loop {
        if let Some(breaker) = breaker.filter(|b| b.is_open()) {
            match breaker.policy().when_open {
                WhenOpen::Lapse => {
                    return ChunkDone::LeaveToLease(format!(
                        "the circuit breaker is open; {} references left to the lease",
                        todo.len()
                    ))
                }
                WhenOpen::Report => {
                    for &i in &todo {
                        lines[i] = Some(error_line(refs[i].id, CIRCUIT_OPEN.to_owned()));
                    }
                    break;
                }
            }
        }
        let attempt_ctx = ctx.with_attempt(attempt);
        let outcomes = if attempt == 1 {
            robot.enhance_batch(&refs, &attempt_ctx).await
        } else {
            let subset: Vec<Reference> = todo.iter().map(|&i| refs[i].clone()).collect();
            robot.enhance_batch(&subset, &attempt_ctx).await
        };
        if outcomes.len() > todo.len() {
            tracing::warn!(
                expected = todo.len(),
                got = outcomes.len(),
                "the robot returned more outcomes than references; extra ones ignored"
            );
        }
        let mut outcomes = outcomes.into_iter();
        let mut transient = Vec::new();
        for &i in &todo {
            let reference_id = refs[i].id;
            let outcome = outcomes.next();
            if let (Some(breaker), Some(outcome)) = (breaker, &outcome) {
                let transient = matches!(outcome, Err(f) if f.kind() == FailureKind::Transient);
                breaker.record(!transient);
            }
            match outcome {
                Some(Ok(enhanced)) => lines[i] = Some(enhanced.into_entry(reference_id, info)),
                Some(Err(failure)) => match failure.kind() {
                    FailureKind::Permanent => {
                        lines[i] = Some(error_line(reference_id, failure.message().to_owned()));
                    }
                    FailureKind::FatalBatch => {
                        return ChunkDone::Fatal(failure.message().to_owned())
                    }
                    FailureKind::Transient => {
                        tracing::debug!(%reference_id, attempt, message = failure.message(), "transient failure");
                        last_error[i] = failure.message().to_owned();
                        transient.push(i);
                    }
                },
                None => {
                    lines[i] = Some(error_line(
                        reference_id,
                        "The robot returned no outcome for this reference.".to_owned(),
                    ));
                }
            }
        }
        if transient.is_empty() {
            break;
        }
        if attempt >= policy.max_attempts.max(1) {
            match policy.when_exhausted {
                WhenExhausted::LinkedError => {
                    for i in transient {
                        let message = format!(
                            "{} (transient failure; gave up after {attempt} attempts)",
                            last_error[i]
                        );
                        lines[i] = Some(error_line(refs[i].id, message));
                    }
                    break;
                }
                WhenExhausted::LeaveBatchToLease => {
                    return ChunkDone::LeaveToLease(format!(
                        "{} references still failing after {attempt} attempts, such as {}: {}",
                        transient.len(),
                        refs[transient[0]].id,
                        last_error[transient[0]]
                    ));
                }
            }
        }
        attempt += 1;
        retries += transient.len() as u64;
        tokio::time::sleep(policy.delay_before(attempt)).await;
        todo = transient;
    }
    ChunkDone::Entries {
        entries: lines.into_iter().flatten().collect(),
        retries,
    }
}

/// The failure line of a reference the open circuit breaker kept from the robot.
const CIRCUIT_OPEN: &str =
    "Not tried: the robot's circuit breaker is open (its service looks unavailable).";

fn error_line(reference_id: Uuid, message: String) -> EnhancementResultEntry {
    EnhancementResultEntry::Error(LinkedRobotError {
        message,
        reference_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::robot::Outcome;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// The toy robot, recording how far input reading ran ahead of it.
    struct Watcher {
        pulled: Arc<AtomicU64>,
        done: AtomicU64,
        ahead: AtomicU64,
    }

    impl Robot for Watcher {
        fn info(&self) -> RobotInfo {
            crate::toy::ToyRobot::new().info()
        }

        async fn enhance(&self, reference: &Reference, ctx: &Context) -> Outcome {
            let ahead = self.pulled.load(Ordering::SeqCst) - self.done.load(Ordering::SeqCst);
            self.ahead.fetch_max(ahead, Ordering::SeqCst);
            tokio::task::yield_now().await;
            let outcome = crate::toy::ToyRobot::new().enhance(reference, ctx).await;
            self.done.fetch_add(1, Ordering::SeqCst);
            outcome
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn input_is_read_no_further_ahead_than_the_concurrency() {
        let pulled = Arc::new(AtomicU64::new(0));
        let lines: Vec<Result<Bytes, std::io::Error>> = (0..500)
            .map(|_| Ok(Bytes::from(format!("{{\"id\": \"{}\"}}", Uuid::new_v4()))))
            .collect();
        let counter = Arc::clone(&pulled);
        let input = futures_util::stream::iter(lines).inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let robot = Watcher {
            pulled,
            done: AtomicU64::new(0),
            ahead: AtomicU64::new(0),
        };
        let settings = ProcessSettings {
            reference_concurrency: 4,
            transient: TransientPolicy::default(),
            batch_id: None,
            cancel: CancellationToken::new(),
            limiters: Limiters::default(),
            breaker: None,
        };
        let mut sink = JsonlSink::new(Vec::new());
        let (report, verdict) = process(&robot, input, &mut sink, &settings).await.unwrap();
        assert_eq!((report.enhanced, verdict), (500, Verdict::Finished));
        let ahead = robot.ahead.load(Ordering::SeqCst);
        assert!(
            (1..=4).contains(&ahead),
            "read {ahead} references ahead of the robot"
        );
    }
}
