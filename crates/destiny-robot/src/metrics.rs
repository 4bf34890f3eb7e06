//! [`Metrics`]: counters of a running [`Runner`](crate::Runner), rendered in the
//! Prometheus text format (written by hand: a few atomics need no metrics crate).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds (seconds) of the poll latency histogram's buckets.
const POLL_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Why a batch was given up without a report (its lease lapses, or lapsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbandonReason {
    /// A renewal answered 409 (or 403/404): the lease had run out.
    LeaseLost,
    /// The repository refused the result (422): the lease had run out.
    SubmitRefused,
    /// Shutdown: the grace period ended before the batch did.
    Shutdown,
    /// Transient robot failures outlasted their retries
    /// ([`WhenExhausted::LeaveBatchToLease`](crate::WhenExhausted::LeaveBatchToLease)).
    Transient,
    /// Downloading, spooling, uploading or submitting failed beyond retries.
    Error,
}

impl AbandonReason {
    /// Every reason, in the order of the metric's series.
    pub const ALL: [Self; 5] = [
        Self::LeaseLost,
        Self::SubmitRefused,
        Self::Shutdown,
        Self::Transient,
        Self::Error,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeaseLost => "lease_lost",
            Self::SubmitRefused => "submit_refused",
            Self::Shutdown => "shutdown",
            Self::Transient => "transient",
            Self::Error => "error",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Counters of a runner, shared by its tasks; cheap to clone.
///
/// ```
/// use destiny_robot::Metrics;
/// let metrics = Metrics::default();
/// let text = metrics.render();
/// assert!(text.contains("# TYPE destiny_robot_batches_completed_total counter"));
/// assert!(text.contains("destiny_robot_in_flight_batches 0\n"));
/// assert_eq!(metrics.snapshot().batches_completed, 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Inner>);

/// How many poll latencies are kept for [`Metrics::poll_latency_quantile`].
const POLL_SAMPLES: usize = 10_000;

/// The counters.
#[derive(Debug, Default)]
struct Inner {
    /// Results accepted by the repository.
    batches_completed: AtomicU64,
    /// Batch-level errors reported and accepted.
    batches_failed: AtomicU64,
    /// Batches given up without a report, one counter per [`AbandonReason`].
    batches_abandoned: [AtomicU64; AbandonReason::ALL.len()],
    /// Enhancement lines in accepted results.
    references_enhanced: AtomicU64,
    /// `LinkedRobotError` lines in accepted results.
    references_failed: AtomicU64,
    /// Retries of transient robot failures.
    reference_retries: AtomicU64,
    /// Successful renewals.
    lease_renewals: AtomicU64,
    /// Batches fetched again for fresh signed URLs.
    url_refreshes: AtomicU64,
    /// Polls that leased a batch.
    polls_batch: AtomicU64,
    /// Polls answered 204.
    polls_empty: AtomicU64,
    /// Polls that failed.
    polls_failed: AtomicU64,
    /// Batches being processed (a gauge: signed so a stray decrement shows).
    in_flight: AtomicI64,
    /// Cumulative poll latency histogram, one counter per bound of [`POLL_BUCKETS`].
    poll_buckets: [AtomicU64; POLL_BUCKETS.len()],
    /// The latest poll latencies (microseconds), at most [`POLL_SAMPLES`], for quantiles.
    poll_samples: std::sync::Mutex<std::collections::VecDeque<u64>>,
    /// Their total latency.
    poll_sum_micros: AtomicU64,
    /// Set once polling stopped for shutdown (`/health` says `draining`).
    draining: AtomicBool,
}

/// The values of [`Metrics`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Batches whose result the repository accepted.
    pub batches_completed: u64,
    /// Batches reported failed (a batch-level `RobotError`) and accepted.
    pub batches_failed: u64,
    /// Batches given up without a report, all reasons.
    pub batches_abandoned: u64,
    /// Batches given up because their lease was lost (renewal 409 or submit 422).
    pub leases_lost: u64,
    /// Enhancements in accepted results.
    pub references_enhanced: u64,
    /// `LinkedRobotError` lines in accepted results.
    pub references_failed: u64,
    /// Retries of transient robot failures.
    pub reference_retries: u64,
    /// Successful lease renewals.
    pub lease_renewals: u64,
    /// Signed URLs fetched again after a 403.
    pub url_refreshes: u64,
    /// Polls that leased a batch.
    pub polls_batch: u64,
    /// Polls that found nothing (204).
    pub polls_empty: u64,
    /// Polls that failed.
    pub polls_failed: u64,
    /// Batches being processed now.
    pub in_flight_batches: i64,
}

impl Metrics {
    pub(crate) fn batch_completed(&self, enhanced: u64, failed: u64) {
        self.0.batches_completed.fetch_add(1, Ordering::Relaxed);
        self.0
            .references_enhanced
            .fetch_add(enhanced, Ordering::Relaxed);
        self.0
            .references_failed
            .fetch_add(failed, Ordering::Relaxed);
    }

    pub(crate) fn batch_failed(&self) {
        self.0.batches_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn batch_abandoned(&self, reason: AbandonReason) {
        self.0.batches_abandoned[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reference_retries(&self, n: u64) {
        self.0.reference_retries.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn lease_renewed(&self) {
        self.0.lease_renewals.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn url_refreshed(&self) {
        self.0.url_refreshes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn poll(&self, found: Option<bool>, latency: Duration) {
        let counter = match found {
            Some(true) => &self.0.polls_batch,
            Some(false) => &self.0.polls_empty,
            None => &self.0.polls_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let secs = latency.as_secs_f64();
        for (bound, bucket) in POLL_BUCKETS.iter().zip(&self.0.poll_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.poll_sum_micros.fetch_add(micros, Ordering::Relaxed);
        if found.is_some() {
            let mut samples = self
                .0
                .poll_samples
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if samples.len() == POLL_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(micros);
        }
    }

    /// Counts a batch in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub(crate) fn set_draining(&self) {
        self.0.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the runner is shutting down (no more polls).
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::Relaxed)
    }

    /// The current values.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let i = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let abandoned = |r: AbandonReason| get(&i.batches_abandoned[r.index()]);
        MetricsSnapshot {
            batches_completed: get(&i.batches_completed),
            batches_failed: get(&i.batches_failed),
            batches_abandoned: i.batches_abandoned.iter().map(get).sum(),
            leases_lost: abandoned(AbandonReason::LeaseLost)
                + abandoned(AbandonReason::SubmitRefused),
            references_enhanced: get(&i.references_enhanced),
            references_failed: get(&i.references_failed),
            reference_retries: get(&i.reference_retries),
            lease_renewals: get(&i.lease_renewals),
            url_refreshes: get(&i.url_refreshes),
            polls_batch: get(&i.polls_batch),
            polls_empty: get(&i.polls_empty),
            polls_failed: get(&i.polls_failed),
            in_flight_batches: i.in_flight.load(Ordering::Relaxed),
        }
    }

    /// The `q` quantile (0.0 to 1.0, nearest rank) of the latest answered polls'
    /// latencies (up to the last 10,000), or `None` before the first poll.
    ///
    /// ```
    /// let metrics = destiny_robot::Metrics::default();
    /// assert_eq!(metrics.poll_latency_quantile(0.5), None);
    /// ```
    pub fn poll_latency_quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted: Vec<u64> = {
            let samples = self
                .0
                .poll_samples
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            samples.iter().copied().collect()
        };
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
        Some(Duration::from_micros(
            sorted[rank.clamp(1, sorted.len()) - 1],
        ))
    }

    /// The batches given up for `reason`.
    pub fn abandoned(&self, reason: AbandonReason) -> u64 {
        self.0.batches_abandoned[reason.index()].load(Ordering::Relaxed)
    }

    /// The metrics in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let s = self.snapshot();
        let i = &self.0;
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP destiny_robot_{name} {help}\n# TYPE destiny_robot_{name} counter\ndestiny_robot_{name} {value}\n"
            );
        };
        counter(
            "batches_completed_total",
            "Batches whose result the repository accepted.",
            s.batches_completed,
        );
        counter(
            "batches_failed_total",
            "Batches reported failed with a batch-level RobotError.",
            s.batches_failed,
        );
        counter(
            "references_enhanced_total",
            "Enhancements in accepted batch results.",
            s.references_enhanced,
        );
        counter(
            "references_failed_total",
            "LinkedRobotError lines in accepted batch results.",
            s.references_failed,
        );
        counter(
            "reference_retries_total",
            "Retries of references that failed transiently.",
            s.reference_retries,
        );
        counter(
            "lease_renewals_total",
            "Successful lease renewals.",
            s.lease_renewals,
        );
        counter(
            "url_refreshes_total",
            "Signed storage URLs fetched again after a 403.",
            s.url_refreshes,
        );
        let _ = write!(
            out,
            "# HELP destiny_robot_batches_abandoned_total Batches given up without a report (their leases lapse), by reason.\n\
             # TYPE destiny_robot_batches_abandoned_total counter\n"
        );
        for reason in AbandonReason::ALL {
            let _ = writeln!(
                out,
                "destiny_robot_batches_abandoned_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.abandoned(reason)
            );
        }
        let _ = write!(
            out,
            "# HELP destiny_robot_polls_total Polls for work, by result.\n# TYPE destiny_robot_polls_total counter\n\
             destiny_robot_polls_total{{result=\"batch\"}} {}\ndestiny_robot_polls_total{{result=\"empty\"}} {}\n\
             destiny_robot_polls_total{{result=\"error\"}} {}\n",
            s.polls_batch, s.polls_empty, s.polls_failed
        );
        let _ = write!(
            out,
            "# HELP destiny_robot_in_flight_batches Batches being processed.\n# TYPE destiny_robot_in_flight_batches gauge\n\
             destiny_robot_in_flight_batches {}\n",
            s.in_flight_batches
        );
        let _ = write!(
            out,
            "# HELP destiny_robot_poll_duration_seconds Latency of polls for work.\n\
             # TYPE destiny_robot_poll_duration_seconds histogram\n"
        );
        for (bound, bucket) in POLL_BUCKETS.iter().zip(&i.poll_buckets) {
            let _ = writeln!(
                out,
                "destiny_robot_poll_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        // Every poll is counted once by its outcome.
        let count = [&i.polls_batch, &i.polls_empty, &i.polls_failed]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>();
        let sum = i.poll_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(
            out,
            "destiny_robot_poll_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             destiny_robot_poll_duration_seconds_sum {sum}\ndestiny_robot_poll_duration_seconds_count {count}\n"
        );
        out
    }
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauge_and_histogram() {
        let m = Metrics::default();
        m.batch_completed(10, 2);
        m.batch_abandoned(AbandonReason::SubmitRefused);
        m.lease_renewed();
        m.poll(Some(true), Duration::from_millis(30));
        m.poll(Some(false), Duration::from_secs(3));
        let guard = m.in_flight();
        let text = m.render();
        for line in [
            "destiny_robot_batches_completed_total 1",
            "destiny_robot_references_enhanced_total 10",
            "destiny_robot_references_failed_total 2",
            "destiny_robot_lease_renewals_total 1",
            "destiny_robot_batches_abandoned_total{reason=\"submit_refused\"} 1",
            "destiny_robot_batches_abandoned_total{reason=\"lease_lost\"} 0",
            "destiny_robot_polls_total{result=\"batch\"} 1",
            "destiny_robot_polls_total{result=\"empty\"} 1",
            "destiny_robot_in_flight_batches 1",
            "destiny_robot_poll_duration_seconds_bucket{le=\"0.025\"} 0",
            "destiny_robot_poll_duration_seconds_bucket{le=\"0.05\"} 1",
            "destiny_robot_poll_duration_seconds_bucket{le=\"5\"} 2",
            "destiny_robot_poll_duration_seconds_bucket{le=\"+Inf\"} 2",
            "destiny_robot_poll_duration_seconds_sum 3.03",
            "destiny_robot_poll_duration_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Every sample line belongs to a declared metric.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {base} ")), "{l}");
        }
        drop(guard);
        assert_eq!(m.snapshot().in_flight_batches, 0);
        assert_eq!(m.snapshot().leases_lost, 1);
    }

    #[test]
    fn poll_latency_quantiles_use_answered_polls_only() {
        let m = Metrics::default();
        for ms in 1..=100 {
            m.poll(Some(ms % 2 == 0), Duration::from_millis(ms));
        }
        m.poll(None, Duration::from_secs(60));
        assert_eq!(
            m.poll_latency_quantile(0.5),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            m.poll_latency_quantile(0.95),
            Some(Duration::from_millis(95))
        );
        assert_eq!(
            m.poll_latency_quantile(1.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(m.poll_latency_quantile(0.0), Some(Duration::from_millis(1)));
    }
}
