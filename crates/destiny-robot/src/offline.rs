//! Offline runs: a robot over a JSONL file of references, its results to another, with
//! no repository: the same processing path as the [`Runner`](crate::Runner) (a
//! reference stream in, a result stream out).

use std::path::Path;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::failure::TransientPolicy;
use crate::limits::{CallLimits, Limiters};
use crate::lines::{lines, MAX_LINE};
use crate::process::{process, ProcessError, ProcessReport, ProcessSettings, Verdict};
use crate::robot::Robot;
use crate::spool::JsonlSink;

/// How an offline run behaves.
///
/// ```
/// let options = destiny_robot::OfflineOptions::default();
/// assert_eq!(options.reference_concurrency, 16);
/// ```
#[derive(Debug, Clone)]
pub struct OfflineOptions {
    /// References in the robot's hands at once.
    pub reference_concurrency: usize,
    /// Retries of transient failures.
    pub transient: TransientPolicy,
    /// Limits on the robot's own outbound calls (none by default).
    pub call_limits: CallLimits,
}

impl Default for OfflineOptions {
    /// 16 references at once, the default [`TransientPolicy`].
    fn default() -> Self {
        Self {
            reference_concurrency: crate::RunnerSettings::default().reference_concurrency,
            transient: TransientPolicy::default(),
            call_limits: CallLimits::default(),
        }
    }
}

/// Why an offline run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// The input could not be read (or a line was too long).
    #[error("reading references: {0}")]
    Input(Box<dyn std::error::Error + Send + Sync>),
    /// The output could not be written.
    #[error(transparent)]
    Output(#[from] crate::spool::SinkError),
    /// The robot declared the run failed ([`FailureKind::FatalBatch`](crate::FailureKind::FatalBatch)).
    #[error("the robot failed the whole run: {0}")]
    Fatal(String),
    /// Transient failures outlasted their retries
    /// ([`WhenExhausted::LeaveBatchToLease`](crate::WhenExhausted::LeaveBatchToLease)).
    #[error("gave up: {0}")]
    GaveUp(String),
}

/// Runs `robot` over the references in `input` (JSONL, one `Reference` a line) and
/// writes one result line per reference to `output` (an `Enhancement` or a
/// `LinkedRobotError`), as a batch's result file. Lines come out in the order the robot
/// finishes them, which with concurrency is not always the input's.
///
/// # Errors
/// [`OfflineError`]: input or output failures, or a robot that failed the run.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), destiny_robot::OfflineError> {
/// use destiny_robot::{run_offline, OfflineOptions, ToyRobot};
/// let input = b"{\"id\": \"3a533776-c9ad-4aac-a089-d654d509490c\"}\n";
/// let mut output = Vec::new();
/// let report = run_offline(&ToyRobot::new().with_seed(7), &input[..], &mut output,
///     &OfflineOptions::default()).await?;
/// assert_eq!(report.enhanced, 1);
/// assert!(String::from_utf8_lossy(&output).contains("\"scheme\":\"meta:toy\""));
/// # Ok(()) }
/// ```
pub async fn run_offline<R, I, O>(
    robot: &R,
    input: I,
    output: O,
    options: &OfflineOptions,
) -> Result<ProcessReport, OfflineError>
where
    R: Robot,
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let chunks = tokio_util::io::ReaderStream::with_capacity(input, 64 * 1024);
    let input = lines(chunks, MAX_LINE);
    let mut sink = JsonlSink::new(output);
    let settings = ProcessSettings {
        reference_concurrency: options.reference_concurrency,
        transient: options.transient,
        batch_id: None,
        cancel: CancellationToken::new(),
        limiters: Limiters::new(&options.call_limits),
        breaker: None,
    };
    let (report, verdict) =
        process(robot, input, &mut sink, &settings)
            .await
            .map_err(|e| match e {
                ProcessError::Input(e) => OfflineError::Input(e),
                ProcessError::Sink(e) => OfflineError::Output(e),
            })?;
    sink.finish().await?;
    match verdict {
        Verdict::Finished => Ok(report),
        Verdict::FatalBatch(message) => Err(OfflineError::Fatal(message)),
        Verdict::LeaveToLease(message) => Err(OfflineError::GaveUp(message)),
    }
}

/// Where an offline run reads or writes: a file, or standard input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// A file.
    File(&'a Path),
    /// Standard input (as input) or standard output (as output).
    Std,
}

impl<'a> Endpoint<'a> {
    /// `-` means standard input or output, anything else a file.
    ///
    /// ```
    /// use destiny_robot::offline::Endpoint;
    /// use std::path::Path;
    /// assert_eq!(Endpoint::from_arg(Path::new("-")), Endpoint::Std);
    /// assert_eq!(Endpoint::from_arg(Path::new("refs.jsonl")), Endpoint::File(Path::new("refs.jsonl")));
    /// ```
    pub fn from_arg(path: &'a Path) -> Self {
        if path == Path::new("-") {
            Self::Std
        } else {
            Self::File(path)
        }
    }
}

/// [`run_offline`] between files (or standard input and output).
///
/// # Errors
/// [`OfflineError::Input`] / [`OfflineError::Output`] when a file cannot be opened or
/// created (naming it), and as [`run_offline`].
pub async fn run_offline_files<R: Robot>(
    robot: &R,
    input: Endpoint<'_>,
    output: Endpoint<'_>,
    options: &OfflineOptions,
) -> Result<ProcessReport, OfflineError> {
    let named = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    let reader: Box<dyn AsyncRead + Unpin + Send> = match input {
        Endpoint::Std => Box::new(tokio::io::stdin()),
        Endpoint::File(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| OfflineError::Input(named(path, e).into()))?,
        ),
    };
    let writer: Box<dyn AsyncWrite + Unpin + Send> = match output {
        Endpoint::Std => Box::new(tokio::io::stdout()),
        Endpoint::File(path) => Box::new(tokio::fs::File::create(path).await.map_err(|e| {
            OfflineError::Output(crate::spool::SinkError::Io(std::io::Error::new(
                e.kind(),
                named(path, e),
            )))
        })?),
    };
    run_offline(robot, reader, writer, options).await
}
