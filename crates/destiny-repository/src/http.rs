//! Serving HTTP/1.1 connections: hyper directly (rather than `axum::serve`) so that a
//! client stalling in its request headers is cut off after `header_read_timeout`, with
//! `TCP_NODELAY` on every connection, a cap on connections open at once, and a graceful
//! shutdown that lets requests in flight finish within a deadline.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;

/// How [`serve`] treats connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A connection whose request headers take longer than this to arrive (the first
    /// request's, or the next one's on a kept-alive connection, so this is also the idle
    /// keep-alive limit) is closed.
    pub(crate) header_read_timeout: Duration,
    /// Connections open at once; the next is accepted once one closes (until then it
    /// waits in the system's accept queue).
    pub(crate) max_connections: usize,
    /// After `shutdown` fires, how long requests in flight get to finish before their
    /// connections are closed.
    pub(crate) grace: Duration,
}

/// Accepts connections on `listener` and serves `app` on each until `shutdown` is
/// cancelled; then stops accepting and lets the connections' requests in flight finish,
/// closing what is still open after the grace period. Answers when shutdown began.
/// HTTP/1.1 only (no h2c, no upgrades).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> Instant {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        // A free slot first: at the cap, connections wait in the accept queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                // The peer gave up before we took the connection: nothing to do.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            // Reap finished connections while waiting, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = shutdown.cancelled() => break,
        };
        // Small responses (a 10-reference file, a renew body) would otherwise wait for the
        // client's delayed ACK (Nagle): 40 ms each.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    let began = Instant::now();
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        while connections.try_join_next().is_some() {}
        tracing::warn!(
            open = connections.len(),
            grace_s = limits.grace.as_secs_f64(),
            "requests still in flight after the shutdown grace period; their connections are closed"
        );
    }
    connections.shutdown().await;
    began
}

/// Middleware: the `Host` header as RFC 9112 §3.2 requires it. An HTTP/1.1 request
/// without one, with more than one, or with a value that is not a host (an
/// `authority` without user info, or empty) is answered 400 before any route runs;
/// HTTP/1.0 requests may omit it (RFC 9112 §3.2 applies to HTTP/1.1).
pub(crate) async fn require_host(req: Request, next: Next) -> Response {
    let mut hosts = req.headers().get_all(http::header::HOST).iter();
    let problem = match (hosts.next(), hosts.next()) {
        (None, _) if req.version() == http::Version::HTTP_11 => {
            Some("Missing Host header: HTTP/1.1 requests must carry one (RFC 9112 section 3.2).")
        }
        (None, _) => None,
        (Some(_), Some(_)) => Some("More than one Host header (RFC 9112 section 3.2)."),
        (Some(host), None) if !is_host(host.as_bytes()) => {
            Some("Invalid Host header (RFC 9112 section 3.2).")
        }
        (Some(_), None) => None,
    };
    match problem {
        Some(detail) => ApiError::BadRequest(detail.to_owned()).into_response(),
        None => next.run(req).await,
    }
}

/// Whether a `Host` value is empty (allowed when the target has no authority) or
/// `host[:port]`.
fn is_host(value: &[u8]) -> bool {
    value.is_empty() || (!value.contains(&b'@') && http::uri::Authority::try_from(value).is_ok())
}

/// An accept error about one connection (not about the listener).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
