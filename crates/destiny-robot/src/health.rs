//! The health server: `GET /health` and `GET /metrics` (Prometheus text) on
//! `HEALTH_LISTEN`.

use std::future::Future;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// The routes: `/health` answers `{"status": "ok" | "draining", "in_flight_batches": N}`
/// (200 either way: a draining robot is alive), `/metrics` the Prometheus text.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(render))
        .with_state(metrics)
}

/// Serves [`router`] on `listener` until `shutdown` completes.
///
/// # Errors
/// I/O errors of the listener.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
/// let metrics = destiny_robot::Metrics::default();
/// destiny_robot::health::serve(listener, metrics, std::future::pending()).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn health(State(metrics): State<Metrics>) -> Json<serde_json::Value> {
    let status = if metrics.is_draining() {
        "draining"
    } else {
        "ok"
    };
    Json(serde_json::json!({
        "status": status,
        "in_flight_batches": metrics.snapshot().in_flight_batches,
    }))
}

async fn render(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}
