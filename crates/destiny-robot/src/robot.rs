//! The [`Robot`] trait: what a robot author writes.

use std::future::Future;

use destiny_sdk::models::{
    Enhancement, EnhancementContent, EnhancementResultEntry, Reference, Visibility,
};
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::failure::RobotFailure;
use crate::limits::{Limiter, Limiters};

/// What a robot makes of one reference: an enhancement, or a failure whose kind says
/// what the runtime does next.
pub type Outcome = Result<Enhanced, RobotFailure>;

/// A robot: one async function per reference, plus its name and version.
///
/// Implement [`info`](Robot::info) and [`enhance`](Robot::enhance) (write it as an
/// `async fn`); the runtime does the rest. Robots that call a model in batches
/// override [`chunk_size`](Robot::chunk_size) and [`enhance_batch`](Robot::enhance_batch).
///
/// ```
/// use destiny_robot::{Context, Outcome, Robot, RobotFailure, RobotInfo};
/// use destiny_sdk::models::{AbstractContent, AbstractProcessType, EnhancementContent, Reference};
///
/// struct Echo;
///
/// impl Robot for Echo {
///     fn info(&self) -> RobotInfo {
///         RobotInfo::new("Echo Robot", "1.0.0")
///     }
///
///     async fn enhance(&self, reference: &Reference, _ctx: &Context) -> Outcome {
///         if reference.identifiers.is_none() {
///             return Err(RobotFailure::permanent("no identifiers"));
///         }
///         Ok(EnhancementContent::Abstract(AbstractContent {
///             process: AbstractProcessType::Other,
///             abstract_: format!("Reference {}", reference.id),
///         })
///         .into())
///     }
/// }
/// ```
pub trait Robot: Send + Sync + 'static {
    /// The robot's name (the `source` of its enhancements) and version.
    fn info(&self) -> RobotInfo;

    /// Enhances one reference.
    ///
    /// Return [`Enhanced`] (usually made from an [`EnhancementContent`] with `.into()`:
    /// the runtime fills in the reference id, source, visibility and robot version), or
    /// a [`RobotFailure`]. May run concurrently for several references (up to the
    /// runner's reference concurrency).
    fn enhance(&self, reference: &Reference, ctx: &Context)
        -> impl Future<Output = Outcome> + Send;

    /// How many references [`enhance_batch`](Robot::enhance_batch) is given at once
    /// (default 1). A robot that sends references to a model in groups returns the
    /// group size here.
    fn chunk_size(&self) -> usize {
        1
    }

    /// Enhances up to [`chunk_size`](Robot::chunk_size) references at once, returning
    /// one outcome per reference, in order (a missing outcome counts as a permanent
    /// failure).
    ///
    /// The default calls [`enhance`](Robot::enhance) for each, at most
    /// [`Context::reference_concurrency`] at a time. References that fail transiently
    /// are passed again (alone or with the chunk's other transient failures) on retry.
    fn enhance_batch(
        &self,
        references: &[Reference],
        ctx: &Context,
    ) -> impl Future<Output = Vec<Outcome>> + Send {
        async move {
            // A loop rather than `stream::iter(..).map(..).buffered(..)`: a closure
            // returning the borrowed future would defeat the `Send` proof.
            let limit = ctx.reference_concurrency().max(1);
            let mut outcomes = Vec::with_capacity(references.len());
            let mut running = FuturesOrdered::new();
            let mut rest = references.iter();
            loop {
                while running.len() < limit {
                    match rest.next() {
                        Some(reference) => running.push_back(self.enhance(reference, ctx)),
                        None => break,
                    }
                }
                match running.next().await {
                    Some(outcome) => outcomes.push(outcome),
                    None => return outcomes,
                }
            }
        }
    }
}

/// A robot's name and version, stamped on each enhancement it makes from content.
///
/// ```
/// use destiny_robot::RobotInfo;
/// use destiny_sdk::models::Visibility;
/// let info = RobotInfo::new("Toy Robot", "0.1.0").with_visibility(Visibility::Restricted);
/// assert_eq!(info.source, "Toy Robot");
/// assert_eq!(info.visibility, Visibility::Restricted);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotInfo {
    /// The `source` of the robot's enhancements: its name.
    pub source: String,
    /// The `robot_version` of the robot's enhancements.
    pub version: String,
    /// The visibility of the robot's enhancements (default public).
    pub visibility: Visibility,
}

impl RobotInfo {
    /// A public robot's name and version.
    pub fn new(source: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            version: version.into(),
            visibility: Visibility::Public,
        }
    }

    /// The same with another visibility for its enhancements.
    #[must_use]
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }
}

/// What a robot made of a reference.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Enhanced {
    /// Content; the runtime adds the reference id and the robot's [`RobotInfo`].
    Content(EnhancementContent),
    /// A complete enhancement, written as it is (its `reference_id` must be the
    /// reference's).
    Enhancement(Box<Enhancement>),
}

impl From<EnhancementContent> for Enhanced {
    fn from(content: EnhancementContent) -> Self {
        Self::Content(content)
    }
}

impl From<Enhancement> for Enhanced {
    fn from(enhancement: Enhancement) -> Self {
        Self::Enhancement(Box::new(enhancement))
    }
}

impl Enhanced {
    /// The result line for `reference_id`. Raw content is written as it is: the repository
    /// decides from the robot's entitlements (`raw_enhancement_writer`), which a robot
    /// cannot read.
    pub(crate) fn into_entry(self, reference_id: Uuid, info: &RobotInfo) -> EnhancementResultEntry {
        let enhancement = match self {
            Self::Content(content) => Enhancement {
                id: None,
                reference_id,
                source: info.source.clone(),
                visibility: info.visibility,
                robot_version: Some(info.version.clone()),
                derived_from: None,
                supersedes: None,
                content,
                created_at: None,
            },
            Self::Enhancement(e) => *e,
        };
        EnhancementResultEntry::Enhancement(Box::new(enhancement))
    }
}

/// Where a call of the robot happens: the batch, the attempt, the concurrency, and a
/// token cancelled when the batch stops (for robots that start work of their own).
///
/// ```
/// use destiny_robot::Context;
/// let ctx = Context::new(8);
/// assert_eq!(ctx.attempt(), 1);
/// assert_eq!(ctx.batch_id(), None);
/// assert!(!ctx.is_cancelled());
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    /// The repository's batch, `None` offline.
    batch_id: Option<Uuid>,
    /// 1 for the first attempt, 2 for the first retry of a transient failure...
    attempt: u32,
    /// How many references may be in flight at once.
    reference_concurrency: usize,
    /// Cancelled when the batch stops (lease lost, shutdown).
    cancel: CancellationToken,
    /// The limits on the robot's own calls, shared by the runner's batches.
    limiters: Limiters,
}

impl Context {
    /// A first-attempt context outside any batch (tests, offline runs).
    pub fn new(reference_concurrency: usize) -> Self {
        Self {
            batch_id: None,
            attempt: 1,
            reference_concurrency: reference_concurrency.max(1),
            cancel: CancellationToken::new(),
            limiters: Limiters::default(),
        }
    }

    /// This context with `limiters` (tests; the runner and offline runs give theirs).
    #[must_use]
    pub fn with_limiters(mut self, limiters: Limiters) -> Self {
        self.limiters = limiters;
        self
    }

    /// The limiter of the outbound service `name`, when the runner limits it
    /// ([`RunnerSettings::call_limits`](crate::RunnerSettings::call_limits)).
    pub fn limiter(&self, name: &str) -> Option<&Limiter> {
        self.limiters.get(name)
    }

    /// Runs `call` to the outbound service `name` in its turn under the runner's limit
    /// of that service (at once when there is none): the limit is shared by every
    /// reference of every batch.
    pub async fn limited<F: Future>(&self, name: &str, call: F) -> F::Output {
        match self.limiter(name) {
            Some(limiter) => limiter.run(call).await,
            None => call.await,
        }
    }

    pub(crate) fn for_batch(
        batch_id: Option<Uuid>,
        reference_concurrency: usize,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            batch_id,
            cancel,
            ..Self::new(reference_concurrency)
        }
    }

    pub(crate) fn with_attempt(&self, attempt: u32) -> Self {
        Self {
            attempt,
            ..self.clone()
        }
    }

    /// The batch being processed (`None` offline).
    pub fn batch_id(&self) -> Option<Uuid> {
        self.batch_id
    }

    /// 1 for the first attempt at these references, 2 for the first retry...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many references may be in flight at once.
    pub fn reference_concurrency(&self) -> usize {
        self.reference_concurrency
    }

    /// Whether the batch has stopped (its work will be dropped).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the batch stops.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }
}
