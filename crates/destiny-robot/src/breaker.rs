//! A circuit breaker over the robot's transient failures: when the service a robot
//! depends on looks dead (N transient failures in a row, or too many among the latest
//! outcomes), the runner stops taking batches, settles the references it holds per
//! [`WhenOpen`], waits, then probes with a one-reference batch and resumes when it works.
//!
//! ```
//! use destiny_robot::breaker::{BreakerPolicy, FailureRatio};
//! let ratio: FailureRatio = "50%/100".parse()?;
//! assert_eq!((ratio.percent, ratio.window), (50, 100));
//! assert!(!BreakerPolicy::default().is_on());
//! # Ok::<(), String>(())
//! ```
//!
//! Outcomes counted: a reference enhanced or failed permanently is a success of the
//! service (the reference was the problem, not the service); a transient failure is a
//! failure. The states are logged (`circuit opened`, `circuit probing`, `circuit
//! closed`) and exported (`destiny_robot_circuit_state`, `destiny_robot_circuit_opened`).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// A failure ratio over a window of the latest outcomes: `PERCENT%/WINDOW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRatio {
    /// Opens when more than this share of the window failed (1–100).
    pub percent: u8,
    /// Outcomes looked at (the breaker waits for this many before judging).
    pub window: u32,
}

impl FromStr for FailureRatio {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a failure ratio such as 50%/100");
        let (percent, window) = text.trim().split_once("%/").ok_or_else(bad)?;
        let percent = percent.parse::<u8>().ok().filter(|p| (1..=100).contains(p));
        let window = window.parse::<u32>().ok().filter(|w| *w > 0);
        match (percent, window) {
            (Some(percent), Some(window)) => Ok(Self { percent, window }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for FailureRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%/{}", self.percent, self.window)
    }
}

/// What becomes of the references a runner holds when the circuit opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenOpen {
    /// Their batches stop without a report: the leases lapse and the repository hands
    /// the work out again later.
    #[default]
    Lapse,
    /// Each is reported as a `LinkedRobotError` ("circuit open") and the batch submitted.
    Report,
}

impl FromStr for WhenOpen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "lapse" => Ok(Self::Lapse),
            "report" => Ok(Self::Report),
            other => Err(format!("{other:?} is neither lapse nor report")),
        }
    }
}

impl fmt::Display for WhenOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lapse => "lapse",
            Self::Report => "report",
        })
    }
}

/// When the breaker opens, and what it does then. Off unless `consecutive` or `ratio`
/// is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Opens after this many transient failures in a row (0: never).
    pub consecutive: u32,
    /// Opens when the failure ratio over the latest outcomes exceeds this.
    pub ratio: Option<FailureRatio>,
    /// How long it stays open before a probe.
    pub open_for: Duration,
    /// What becomes of the references held when it opens.
    pub when_open: WhenOpen,
}

impl Default for BreakerPolicy {
    /// As [`RunnerSettings::default`](crate::RunnerSettings) has it: off, open for 30 s,
    /// held references lapse.
    fn default() -> Self {
        crate::RunnerSettings::default().breaker_policy()
    }
}

impl BreakerPolicy {
    /// Whether anything can open the breaker.
    pub fn is_on(&self) -> bool {
        self.consecutive > 0 || self.ratio.is_some()
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Batches are taken.
    Closed,
    /// No batch is taken until the instant; held references are settled.
    Open(Instant),
    /// One one-reference batch is out to see whether the service is back.
    Probing,
}

impl Phase {
    /// The `circuit_state` gauge's value: 0 closed, 1 open, 2 probing.
    fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open(_) => 1,
            Self::Probing => 2,
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    in_a_row: u32,
    latest: VecDeque<bool>,
    failed_in_latest: u32,
}

/// A runner's circuit breaker (one, shared by its batches).
#[derive(Debug)]
pub(crate) struct Breaker {
    policy: BreakerPolicy,
    counts: Mutex<Counts>,
    phase: watch::Sender<Phase>,
    metrics: Metrics,
}

impl Breaker {
    pub(crate) fn new(policy: BreakerPolicy, metrics: Metrics) -> Self {
        Self {
            policy,
            counts: Mutex::default(),
            phase: watch::channel(Phase::Closed).0,
            metrics,
        }
    }

    pub(crate) fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// Whether held references are to be settled now (the breaker is open).
    pub(crate) fn is_open(&self) -> bool {
        matches!(*self.phase.borrow(), Phase::Open(_))
    }

    /// Counts one outcome of the service: `ok` unless it was a transient failure.
    pub(crate) fn record(&self, ok: bool) {
        if !self.policy.is_on() {
            return;
        }
        let reason = {
            let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            c.in_a_row = if ok { 0 } else { c.in_a_row + 1 };
            if let Some(ratio) = self.policy.ratio {
                c.latest.push_back(ok);
                c.failed_in_latest += u32::from(!ok);
                if c.latest.len() > ratio.window as usize {
                    let dropped = c.latest.pop_front();
                    c.failed_in_latest -= u32::from(dropped == Some(false));
                }
            }
            // Copied out: a borrow held across `set` would deadlock the channel.
            let phase = *self.phase.borrow();
            match phase {
                Phase::Probing if ok => {
                    *c = Counts::default();
                    self.set(Phase::Closed);
                    tracing::info!("circuit closed: the probe succeeded; taking batches again");
                    return;
                }
                Phase::Probing => Some("the probe failed".to_owned()),
                Phase::Closed => self.trip_reason(&c),
                Phase::Open(_) => None,
            }
        };
        if let Some(reason) = reason {
            self.open(&reason);
        }
    }

    fn trip_reason(&self, c: &Counts) -> Option<String> {
        if self.policy.consecutive > 0 && c.in_a_row >= self.policy.consecutive {
            return Some(format!("{} transient failures in a row", c.in_a_row));
        }
        let ratio = self.policy.ratio?;
        let judged = c.latest.len() >= ratio.window as usize;
        (judged
            && u64::from(c.failed_in_latest) * 100
                > u64::from(ratio.percent) * c.latest.len() as u64)
            .then(|| {
                format!(
                    "{} of the latest {} outcomes failed",
                    c.failed_in_latest,
                    c.latest.len()
                )
            })
    }

    /// Opens the breaker (again) for `open_for`.
    pub(crate) fn open(&self, reason: &str) {
        if let Ok(mut c) = self.counts.lock() {
            *c = Counts::default();
        }
        self.set(Phase::Open(Instant::now() + self.policy.open_for));
        self.metrics.circuit_opened();
        tracing::warn!(
            reason,
            open_ms = self.policy.open_for.as_millis() as u64,
            when_open = %self.policy.when_open,
            "circuit opened: no new batches; held references settled"
        );
    }

    /// Called by the poll loop before a poll, with no probe batch out: `None` to poll as
    /// usual; `Some(1)` to poll for a one-reference probe batch (the breaker is now
    /// probing). Waits while open; answers `None` at once when `stop` is cancelled.
    pub(crate) async fn before_poll(
        &self,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Option<u32> {
        let mut phase = self.phase.subscribe();
        loop {
            let now = *phase.borrow_and_update();
            match now {
                Phase::Closed => return None,
                Phase::Open(until) => {
                    tokio::select! {
                        () = stop.cancelled() => return None,
                        () = tokio::time::sleep_until(until) => {
                            if *self.phase.borrow() == now {
                                self.set(Phase::Probing);
                                tracing::info!("circuit probing: one batch of one reference");
                                return Some(1);
                            }
                        }
                        _ = phase.changed() => {}
                    }
                }
                // No probe batch is out (the poll loop waits for one that is): the
                // probe's poll failed or found nothing yet, so poll for one again.
                Phase::Probing => return Some(1),
            }
        }
    }

    /// The probe batch ended without a verdict (no work to probe with, or the batch
    /// ended otherwise): with no work, closes; otherwise opens again.
    pub(crate) fn probe_ended(&self, found_work: bool) {
        if *self.phase.borrow() != Phase::Probing {
            return;
        }
        if found_work {
            self.open("the probe batch ended without an outcome");
        } else {
            self.set(Phase::Closed);
            tracing::info!("circuit closed: no work to probe with");
        }
    }

    pub(crate) fn is_probing(&self) -> bool {
        *self.phase.borrow() == Phase::Probing
    }

    /// Waits until the breaker is no longer probing.
    pub(crate) async fn probe_verdict(&self) {
        let mut phase = self.phase.subscribe();
        // The sender lives as long as `self`.
        let _ = phase.wait_for(|p| *p != Phase::Probing).await;
    }

    fn set(&self, phase: Phase) {
        self.metrics.circuit_state(phase.gauge());
        self.phase.send_replace(phase);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(policy: BreakerPolicy) -> Breaker {
        Breaker::new(policy, Metrics::default())
    }

    #[test]
    fn ratios_and_policies_parse_and_say_what_is_wrong() {
        assert_eq!(
            "50%/100".parse::<FailureRatio>().unwrap().to_string(),
            "50%/100"
        );
        for bad in ["50/100", "0%/10", "101%/10", "50%/0", "half"] {
            assert!(
                bad.parse::<FailureRatio>().unwrap_err().contains("50%/100"),
                "{bad}"
            );
        }
        assert_eq!("report".parse::<WhenOpen>(), Ok(WhenOpen::Report));
        assert!("later".parse::<WhenOpen>().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_it_and_a_success_resets_the_count() {
        let b = breaker(BreakerPolicy {
            consecutive: 3,
            ..BreakerPolicy::default()
        });
        for ok in [false, false, true, false, false] {
            b.record(ok);
        }
        assert!(!b.is_open(), "never three in a row");
        b.record(false);
        assert!(b.is_open());
        assert_eq!(b.metrics.snapshot().circuit_opened, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_ratio_opens_it_once_the_window_is_full() {
        let b = breaker(BreakerPolicy {
            ratio: Some("50%/4".parse().unwrap()),
            ..BreakerPolicy::default()
        });
        for ok in [false, false, false] {
            b.record(ok);
        }
        assert!(!b.is_open(), "the window is not full yet");
        b.record(true);
        assert!(b.is_open(), "3 of 4 failed");
    }

    #[tokio::test(start_paused = true)]
    async fn it_probes_after_open_for_and_closes_on_success_or_opens_again() {
        let b = breaker(BreakerPolicy {
            consecutive: 1,
            open_for: Duration::from_secs(30),
            ..BreakerPolicy::default()
        });
        let stop = tokio_util::sync::CancellationToken::new();
        assert_eq!(b.before_poll(&stop).await, None, "closed: poll as usual");
        b.record(false);
        let opened = Instant::now();
        assert_eq!(
            b.before_poll(&stop).await,
            Some(1),
            "a probe of one reference"
        );
        assert_eq!(opened.elapsed(), Duration::from_secs(30));
        b.record(false);
        assert!(b.is_open(), "the probe failed");
        assert_eq!(b.before_poll(&stop).await, Some(1));
        // A probe whose poll failed is asked for again at once, not waited on.
        let asked = Instant::now();
        assert_eq!(b.before_poll(&stop).await, Some(1));
        assert_eq!(asked.elapsed(), Duration::ZERO);
        b.record(true);
        assert_eq!(b.before_poll(&stop).await, None, "closed again");
        assert_eq!(b.metrics.snapshot().circuit_opened, 2);
    }
}
