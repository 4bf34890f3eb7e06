//! What can go wrong inside a robot, and what the runtime does about it.
//!
//! A robot reports a failure as a [`RobotFailure`] whose [`FailureKind`] decides the
//! runtime's reaction:
//!
//! | kind | the runtime |
//! |---|---|
//! | [`Permanent`](FailureKind::Permanent) | writes a `LinkedRobotError` line for the reference; the rest of the batch goes on |
//! | [`Transient`](FailureKind::Transient) | retries the reference with backoff per the [`TransientPolicy`]; once attempts run out, a `LinkedRobotError` line or the whole batch left to its lease ([`WhenExhausted`]) |
//! | [`FatalBatch`](FailureKind::FatalBatch) | stops the batch and reports a batch-level `RobotError` (every reference of the batch fails) |

use std::fmt;
use std::time::Duration;

/// How the runtime treats a [`RobotFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// This reference cannot be enhanced, now or later (no abstract, unsupported
    /// language...): reported as a `LinkedRobotError` line.
    Permanent,
    /// This reference could be enhanced later (a model server timed out, a rate limit):
    /// retried with backoff.
    Transient,
    /// Nothing in this batch can be enhanced (credentials of a model API revoked, a
    /// corrupt model file): the batch is reported failed with a `RobotError`.
    FatalBatch,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Permanent => "permanent",
            Self::Transient => "transient",
            Self::FatalBatch => "fatal for the batch",
        })
    }
}

/// A robot's failure to enhance a reference: a kind and a message for the repository.
///
/// The message ends up in the repository (in a `LinkedRobotError` or a `RobotError`),
/// so it should say what went wrong without secrets.
///
/// ```
/// use destiny_robot::{FailureKind, RobotFailure};
/// let f = RobotFailure::permanent("no abstract to classify");
/// assert_eq!(f.kind(), FailureKind::Permanent);
/// assert_eq!(f.message(), "no abstract to classify");
/// assert_eq!(f.to_string(), "permanent failure: no abstract to classify");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} failure: {message}")]
pub struct RobotFailure {
    /// What the runtime does about it.
    kind: FailureKind,
    /// What went wrong, for the repository and the logs.
    message: String,
}

impl RobotFailure {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// This reference cannot be enhanced: a `LinkedRobotError` line.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Permanent, message)
    }

    /// This reference may be enhanced later: retried per the [`TransientPolicy`].
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Transient, message)
    }

    /// The whole batch failed: a batch-level `RobotError`.
    pub fn fatal_batch(message: impl Into<String>) -> Self {
        Self::new(FailureKind::FatalBatch, message)
    }

    /// The kind.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// What happens to a reference whose transient failures outlast its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum WhenExhausted {
    /// Report it as a `LinkedRobotError` (the rest of the batch is submitted).
    #[default]
    LinkedError,
    /// Stop the batch without reporting anything: its lease lapses and the repository
    /// hands the work out again later (up to its retry limit). Suits outages that
    /// outlast the retries, where a failure report would lose work that could succeed.
    LeaveBatchToLease,
}

/// How transient failures of a reference are retried.
///
/// Delays grow exponentially from `base_delay` up to `max_delay`, jittered (a random
/// point in the upper half of the delay).
///
/// ```
/// use destiny_robot::{TransientPolicy, WhenExhausted};
/// use std::time::Duration;
/// let policy = TransientPolicy {
///     max_attempts: 5,
///     base_delay: Duration::from_millis(100),
///     max_delay: Duration::from_secs(2),
///     when_exhausted: WhenExhausted::LeaveBatchToLease,
/// };
/// assert!(policy.delay_before(2) <= Duration::from_millis(100));
/// assert!(policy.delay_before(30) <= Duration::from_secs(2));
/// assert_eq!(TransientPolicy::default().max_attempts, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransientPolicy {
    /// Attempts per reference in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The delay before the second attempt (before jitter).
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// What happens once the attempts are used up.
    pub when_exhausted: WhenExhausted,
}

impl Default for TransientPolicy {
    /// Three attempts, 500 ms then 1 s (jittered), capped at 10 s, then a
    /// `LinkedRobotError`.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            when_exhausted: WhenExhausted::LinkedError,
        }
    }
}

impl TransientPolicy {
    /// The jittered delay before attempt number `attempt` (2 for the first retry).
    pub fn delay_before(&self, attempt: u32) -> Duration {
        destiny_sdk::backoff::Backoff::new(self.base_delay, self.max_delay)
            .delay(attempt.saturating_sub(1))
    }
}
