//! [`Metrics`]: what the server counts, served at `GET /metrics` in the OpenMetrics text
//! format (which Prometheus scrapes) by `prometheus-client`.
//!
//! - `destiny_polls_total{outcome}`: robot polls answered with work (`work`) or without
//!   (`empty`).
//! - `destiny_leased_total`: pending enhancements leased by polls.
//! - `destiny_expired_total`, `destiny_retried_total`: leases the expiry job found run
//!   out, and the retries it gave them (a renewal or submit that finds its own lease run
//!   out expires it on the spot, uncounted here).
//! - `destiny_imported_total{outcome}`: pending enhancements finished by imports
//!   (`completed`, `discarded` exact duplicates, `failed`).
//! - `destiny_import_queue_depth`: result files waiting for or under import, read from the
//!   database at each scrape (so every server sharing it reports the same queue).
//! - `destiny_http_requests_in_flight`: requests being handled now.
//! - `destiny_http_request_duration_seconds{method,route,status}`: latency per route, the
//!   route as declared (`/v1/robot-enhancement-batches/{id}/`), never the raw path.
//! - `destiny_poll_phase_seconds{phase}`: a poll with work in its two phases: the claim
//!   (`claim`: the lease taken and committed) and its reference file (`reference_file`:
//!   read and written).
//!
//! Counters are this process's: with several servers, sum them across instances.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::AppState;
use crate::error::ApiError;

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The `outcome` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// The `phase` label of a poll's phases.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Phase {
    phase: &'static str,
}

/// The labels of a request's latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    /// The declared route, or `unmatched` (404s: raw paths would grow without bound).
    route: String,
    status: u16,
}

/// The server's counters, shared by its handlers and jobs; cheap to clone.
///
/// ```
/// use destiny_repository::metrics::Metrics;
/// let metrics = Metrics::default();
/// metrics.polled(3);
/// metrics.polled(0);
/// let text = metrics.render(7);
/// assert!(text.contains("destiny_polls_total{outcome=\"work\"} 1\n"), "{text}");
/// assert!(text.contains("destiny_leased_total 3\n"));
/// assert!(text.contains("destiny_import_queue_depth 7\n"));
/// ```
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    polls: Family<Outcome, Counter>,
    leased: Counter,
    expired: Counter,
    retried: Counter,
    imported: Family<Outcome, Counter>,
    import_queue: Gauge,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    poll_phases: Family<Phase, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let polls = Family::<Outcome, Counter>::default();
        let leased = Counter::default();
        let expired = Counter::default();
        let retried = Counter::default();
        let imported = Family::<Outcome, Counter>::default();
        let import_queue = Gauge::default();
        let in_flight = Gauge::default();
        registry.register(
            "destiny_http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        let poll_phases: Family<Phase, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "destiny_poll_phase_seconds",
            "Time of each phase of a poll with work: the claim, then the reference file",
            poll_phases.clone(),
        );
        registry.register(
            "destiny_polls",
            "Robot polls answered, with work or without",
            polls.clone(),
        );
        registry.register(
            "destiny_leased",
            "Pending enhancements leased by polls",
            leased.clone(),
        );
        registry.register(
            "destiny_expired",
            "Leased pending enhancements the expiry job found run out",
            expired.clone(),
        );
        registry.register(
            "destiny_retried",
            "Retries the expiry job created for expired pending enhancements",
            retried.clone(),
        );
        registry.register(
            "destiny_imported",
            "Pending enhancements finished by result imports",
            imported.clone(),
        );
        registry.register(
            "destiny_import_queue_depth",
            "Result files queued for import or being imported (all servers)",
            import_queue.clone(),
        );
        registry.register(
            "destiny_http_request_duration_seconds",
            "Time to answer a request, per declared route",
            latency.clone(),
        );
        Self(Arc::new(Inner {
            registry,
            polls,
            leased,
            expired,
            retried,
            imported,
            import_queue,
            latency,
            poll_phases,
            in_flight,
        }))
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A poll answered, having leased `leased` pending enhancements (0: no work).
    pub fn polled(&self, leased: u64) {
        let outcome = if leased == 0 { "empty" } else { "work" };
        self.0.polls.get_or_create(&Outcome { outcome }).inc();
        self.0.leased.inc_by(leased);
    }

    /// A poll with work spent `claim` taking its lease and `reference_file` writing its
    /// reference file.
    pub fn poll_phases(&self, claim: std::time::Duration, reference_file: std::time::Duration) {
        for (phase, took) in [("claim", claim), ("reference_file", reference_file)] {
            self.0
                .poll_phases
                .get_or_create(&Phase { phase })
                .observe(took.as_secs_f64());
        }
    }

    /// An expiry run: `expired` leases ran out, `retried` retries were created.
    pub fn expired(&self, expired: u64, retried: u64) {
        self.0.expired.inc_by(expired);
        self.0.retried.inc_by(retried);
    }

    /// An import finished.
    pub fn imported(&self, completed: u64, discarded: u64, failed: u64) {
        for (outcome, n) in [
            ("completed", completed),
            ("discarded", discarded),
            ("failed", failed),
        ] {
            self.0.imported.get_or_create(&Outcome { outcome }).inc_by(n);
        }
    }

    /// Pending enhancements an import that was given up failed.
    pub fn import_failed(&self, failed: u64) {
        self.imported(0, 0, failed);
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]), with the import
    /// queue at `import_queue` (read by the caller from the database).
    pub fn render(&self, import_queue: u64) -> String {
        self.0
            .import_queue
            .set(i64::try_from(import_queue).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }

    /// Records how long a request to `route` took.
    fn observe(&self, labels: RouteLabels, seconds: f64) {
        self.0.latency.get_or_create(&labels).observe(seconds);
    }
}

/// Middleware timing every request by its declared route, and counting it in flight
/// while it is handled (also when its client goes away mid-request).
pub async fn track_latency(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let _in_flight = InFlight::enter(&metrics.0.in_flight);
    let response = next.run(req).await;
    let labels = RouteLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics.observe(labels, started.elapsed().as_secs_f64());
    response
}

/// One request counted in flight until dropped.
struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`.
///
/// # Errors
/// 503 when the database cannot be read for the import queue.
pub async fn serve(State(state): State<AppState>) -> Result<Response, ApiError> {
    let queue = state.db.import_queue_depth().await?;
    Ok((
        [(http::header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(queue),
    )
        .into_response())
}
