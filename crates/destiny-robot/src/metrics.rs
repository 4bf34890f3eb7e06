//! [`Metrics`]: counters of a running [`Runner`](crate::Runner), exposed in the
//! OpenMetrics text format by `prometheus-client`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the poll latency histogram's buckets.
const POLL_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
}

/// Counters of a runner, shared by its tasks; cheap to clone.
///
/// ```
/// use destiny_robot::Metrics;
/// let metrics = Metrics::default();
/// let text = metrics.render();
/// assert!(text.contains("# TYPE destiny_robot_batches_completed counter"));
/// assert!(text.contains("destiny_robot_batches_completed_total 0\n"));
/// assert!(text.contains("destiny_robot_in_flight_batches 0\n"));
/// assert_eq!(metrics.snapshot().batches_completed, 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Inner>);

/// How many poll latencies are kept for [`Metrics::poll_latency_quantile`].
const POLL_SAMPLES: usize = 10_000;

/// The `reason` label of abandoned batches.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The `result` label of polls.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// The metrics, registered once in `registry`.
#[derive(Debug)]
struct Inner {
    /// What `/metrics` renders.
    registry: Registry,
    /// Results accepted by the repository.
    batches_completed: Counter,
    /// Batch-level errors reported and accepted.
    batches_failed: Counter,
    /// Batches given up without a report, by [`AbandonReason`].
    batches_abandoned: Family<ReasonLabel, Counter>,
    /// Enhancement lines in accepted results.
    references_enhanced: Counter,
    /// `LinkedRobotError` lines in accepted results.
    references_failed: Counter,
    /// Retries of transient robot failures.
    reference_retries: Counter,
    /// Successful renewals.
    lease_renewals: Counter,
    /// Batches fetched again for fresh signed URLs.
    url_refreshes: Counter,
    /// Polls by result: `batch`, `empty` (204) or `error`.
    polls: Family<ResultLabel, Counter>,
    /// Batches being processed.
    in_flight: Gauge,
    /// Poll latency, seconds.
    poll_duration: Histogram,
    /// The latest answered polls' latencies (microseconds), at most [`POLL_SAMPLES`]:
    /// the demo reports exact p50/p95, where an estimate from the histogram's buckets
    /// could be off by a whole bucket (25 ms to 50 ms, say).
    poll_samples: Mutex<std::collections::VecDeque<u64>>,
    /// Set once polling stopped for shutdown (`/health` says `draining`).
    draining: AtomicBool,
    /// The circuit breaker's state: 0 closed, 1 open, 2 probing.
    circuit_state: Gauge,
    /// Times the circuit breaker opened.
    circuit_opened: Counter,
}

impl Default for Inner {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("destiny_robot");
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let batches_completed = counter(
            &mut registry,
            "batches_completed",
            "Batches whose result the repository accepted.",
        );
        let batches_failed = counter(
            &mut registry,
            "batches_failed",
            "Batches reported failed with a batch-level RobotError.",
        );
        let references_enhanced = counter(
            &mut registry,
            "references_enhanced",
            "Enhancements in accepted batch results.",
        );
        let references_failed = counter(
            &mut registry,
            "references_failed",
            "LinkedRobotError lines in accepted batch results.",
        );
        let reference_retries = counter(
            &mut registry,
            "reference_retries",
            "Retries of references that failed transiently.",
        );
        let lease_renewals = counter(
            &mut registry,
            "lease_renewals",
            "Successful lease renewals.",
        );
        let url_refreshes = counter(
            &mut registry,
            "url_refreshes",
            "Signed storage URLs fetched again after a 403.",
        );
        let batches_abandoned = Family::<ReasonLabel, Counter>::default();
        for reason in AbandonReason::ALL {
            // Every reason shows, at 0 until it happens.
            drop(batches_abandoned.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            }));
        }
        registry.register(
            "batches_abandoned",
            "Batches given up without a report (their leases lapse), by reason.",
            batches_abandoned.clone(),
        );
        let polls = Family::<ResultLabel, Counter>::default();
        for result in ["batch", "empty", "error"] {
            drop(polls.get_or_create(&ResultLabel { result }));
        }
        registry.register("polls", "Polls for work, by result.", polls.clone());
        let in_flight = Gauge::default();
        registry.register(
            "in_flight_batches",
            "Batches being processed.",
            in_flight.clone(),
        );
        let poll_duration = Histogram::new(POLL_BUCKETS);
        registry.register(
            "poll_duration_seconds",
            "Latency of polls for work.",
            poll_duration.clone(),
        );
        let circuit_state = Gauge::default();
        registry.register(
            "circuit_state",
            "The circuit breaker: 0 closed (taking batches), 1 open, 2 probing.",
            circuit_state.clone(),
        );
        let circuit_opened = counter(
            &mut registry,
            "circuit_opened",
            "Times the circuit breaker opened.",
        );
        Self {
            registry,
            circuit_state,
            circuit_opened,
            batches_completed,
            batches_failed,
            batches_abandoned,
            references_enhanced,
            references_failed,
            reference_retries,
            lease_renewals,
            url_refreshes,
            polls,
            in_flight,
            poll_duration,
            poll_samples: Mutex::default(),
            draining: AtomicBool::new(false),
        }
    }
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
    /// Times the circuit breaker opened.
    pub circuit_opened: u64,
}

impl Metrics {
    pub(crate) fn batch_completed(&self, enhanced: u64, failed: u64) {
        self.0.batches_completed.inc();
        self.0.references_enhanced.inc_by(enhanced);
        self.0.references_failed.inc_by(failed);
    }

    pub(crate) fn batch_failed(&self) {
        self.0.batches_failed.inc();
    }

    pub(crate) fn batch_abandoned(&self, reason: AbandonReason) {
        self.abandoned_counter(reason).inc();
    }

    pub(crate) fn reference_retries(&self, n: u64) {
        self.0.reference_retries.inc_by(n);
    }

    pub(crate) fn lease_renewed(&self) {
        self.0.lease_renewals.inc();
    }

    pub(crate) fn url_refreshed(&self) {
        self.0.url_refreshes.inc();
    }

    pub(crate) fn poll(&self, found: Option<bool>, latency: Duration) {
        self.poll_counter(match found {
            Some(true) => "batch",
            Some(false) => "empty",
            None => "error",
        })
        .inc();
        self.0.poll_duration.observe(latency.as_secs_f64());
        if found.is_some() {
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
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

    fn abandoned_counter(&self, reason: AbandonReason) -> Counter {
        self.0
            .batches_abandoned
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .clone()
    }

    fn poll_counter(&self, result: &'static str) -> Counter {
        self.0.polls.get_or_create(&ResultLabel { result }).clone()
    }

    /// Counts a batch in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> InFlight {
        self.0.in_flight.inc();
        InFlight(self.clone())
    }

    pub(crate) fn circuit_state(&self, state: i64) {
        self.0.circuit_state.set(state);
    }

    pub(crate) fn circuit_opened(&self) {
        self.0.circuit_opened.inc();
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
        let abandoned = |r| self.abandoned(r);
        MetricsSnapshot {
            batches_completed: i.batches_completed.get(),
            batches_failed: i.batches_failed.get(),
            batches_abandoned: AbandonReason::ALL.into_iter().map(abandoned).sum(),
            leases_lost: abandoned(AbandonReason::LeaseLost)
                + abandoned(AbandonReason::SubmitRefused),
            references_enhanced: i.references_enhanced.get(),
            references_failed: i.references_failed.get(),
            reference_retries: i.reference_retries.get(),
            lease_renewals: i.lease_renewals.get(),
            url_refreshes: i.url_refreshes.get(),
            polls_batch: self.poll_counter("batch").get(),
            polls_empty: self.poll_counter("empty").get(),
            polls_failed: self.poll_counter("error").get(),
            in_flight_batches: i.in_flight.get(),
            circuit_opened: i.circuit_opened.get(),
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
        self.abandoned_counter(reason).get()
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]), which Prometheus
    /// scrapes.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.in_flight.dec();
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
            "destiny_robot_poll_duration_seconds_bucket{le=\"5.0\"} 2",
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
                .trim_end_matches("_total")
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
