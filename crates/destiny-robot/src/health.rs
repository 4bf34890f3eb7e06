//! The health server: `GET /health` and `GET /metrics` (OpenMetrics text) on
//! `HEALTH_LISTEN`.
//!
//! Two fixed routes need no router: this is hyper's HTTP/1.1 connection server with
//! graceful shutdown (the crates `reqwest` already builds), so a robot does not compile
//! axum and tower.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// How long connections still open at shutdown get to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `/health` and `/metrics` on `listener` until `shutdown` completes.
///
/// `/health` answers `{"status": "ok" | "draining", "in_flight_batches": N}` (200 either
/// way: a draining robot is alive), `/metrics` the OpenMetrics text; another path is 404,
/// another method 405.
///
/// # Errors
/// None today; the `Result` is kept for listener errors a caller may want to see.
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
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!(error = %e, "health server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let answer = respond(&metrics, request.method(), request.uri().path());
            async move { Ok::<_, Infallible>(answer) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

/// The answer to `method path`.
fn respond(metrics: &Metrics, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let known = matches!(path, "/health" | "/metrics");
    if known && method != Method::GET && method != Method::HEAD {
        return status_only(StatusCode::METHOD_NOT_ALLOWED);
    }
    let (content_type, body) = match path {
        "/health" => {
            let status = if metrics.is_draining() {
                "draining"
            } else {
                "ok"
            };
            let body = serde_json::json!({
                "status": status,
                "in_flight_batches": metrics.snapshot().in_flight_batches,
            });
            ("application/json", body.to_string())
        }
        "/metrics" => (crate::metrics::CONTENT_TYPE, metrics.render()),
        _ => return status_only(StatusCode::NOT_FOUND),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
