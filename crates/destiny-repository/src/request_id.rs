//! A request id on every request: taken from the caller's `X-Request-Id` when it is a
//! plausible id (a load balancer's), made up otherwise, answered in `X-Request-Id`, and
//! carried by a `request` span so every log line written while the request is handled
//! names it. Each answer is logged at `debug` (status and time taken), in that span.
//! The path is logged without its query, which for blob URLs holds the signature.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

/// The header carrying the id, both ways.
pub const HEADER: &str = "x-request-id";

/// The longest id taken from a caller.
const MAX_LEN: usize = 128;

/// The caller's id if it is one to repeat in logs: 1 to 128 characters of letters,
/// digits, `-`, `_`, `.` and `:` (nothing that could forge a log line).
///
/// ```
/// use destiny_repository::request_id::accepted;
/// assert_eq!(accepted("lb-7f3a.1"), Some("lb-7f3a.1"));
/// assert_eq!(accepted("a b"), None);
/// assert_eq!(accepted(""), None);
/// assert_eq!(accepted("x\nlevel=error"), None);
/// ```
pub fn accepted(id: &str) -> Option<&str> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    (!id.is_empty() && id.len() <= MAX_LEN && id.chars().all(fine)).then_some(id)
}

/// Middleware: names the request and handles it inside its span.
pub async fn track(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(accepted)
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = std::time::Instant::now();
    let mut response = async move {
        let response = next.run(req).await;
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        );
        response
    }
    .instrument(span)
    .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
