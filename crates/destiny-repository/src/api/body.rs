//! Request input of the JSON API, checked at the edge so every refusal is JSON:
//!
//! - [`buffer_body`]: reads the whole body under a size limit and an idle timeout before
//!   any route (or the HMAC layer) sees it: an oversized body is a 413, a stalled one a
//!   408 and a broken one a 400, whichever route it was sent to.
//! - [`IdPath`]: the `{id}` path segment as a UUID, refused as FastAPI refuses it (422)
//!   rather than with axum's plain-text 400.
//! - [`json_body`]: a JSON body as a model, refused (422) with the failing field's
//!   location.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::error::ApiError;

/// The limits [`buffer_body`] enforces.
///
/// ```
/// use destiny_repository::api::body::BodyLimits;
/// let limits = BodyLimits { max_bytes: 1024, idle_timeout: std::time::Duration::from_secs(5) };
/// assert_eq!(limits.max_bytes, 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest accepted body; larger ones get 413 (early when `Content-Length` says so).
    pub max_bytes: usize,
    /// A body that sends nothing for this long gets 408, so a stalled client cannot hold
    /// a connection forever.
    pub idle_timeout: Duration,
}

/// Middleware: buffers the request body within [`BodyLimits`] and hands the next service
/// the same request with the buffered body.
///
/// Answers, each with a JSON `{"detail": ...}`: 413 `Request body too large (limit N
/// bytes).` (the HMAC layer's text), 408 `Request body stalled: no data received for N s.`
/// and 400 `Failed to read request body.` (bad framing, client gone).
pub async fn buffer_body(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match read(&parts, body, limits).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => e.into_response(),
    }
}

async fn read(parts: &Parts, body: Body, limits: BodyLimits) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "Request body too large (limit {} bytes).",
            limits.max_bytes
        ))
    };
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limits.max_bytes as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    loop {
        let chunk = tokio::time::timeout(limits.idle_timeout, stream.next())
            .await
            .map_err(|_| ApiError::Timeout(limits.idle_timeout))?;
        match chunk {
            None => break,
            Some(Ok(data)) => {
                if buf.len() + data.len() > limits.max_bytes {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "failed to read request body");
                return Err(ApiError::BadRequest("Failed to read request body.".into()));
            }
        }
    }
    Ok(buf.freeze())
}

/// The `{id}` segment of a route as a UUID.
///
/// A segment that is not a UUID (or not UTF-8 once percent-decoded) is a 422 in
/// FastAPI's shape, `loc: ["path", "id"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = |msg: String, input: String| ApiError::Validation {
            loc: vec!["path".into(), "id".into()],
            msg,
            input: input.into(),
        };
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                invalid(
                    "Input should be a valid UUID, the segment is not valid UTF-8".into(),
                    String::new(),
                )
            })?;
        Uuid::parse_str(&text)
            .map(Self)
            .map_err(|e| invalid(format!("Input should be a valid UUID, {e}"), text))
    }
}

/// Parses a JSON body into a model; a 422 in FastAPI's shape otherwise, `loc` naming the
/// failing field (`["body", "request_id"]`).
///
/// ```
/// use destiny_repository::api::body::json_body;
/// use destiny_sdk::models::RobotIn;
/// let err = json_body::<RobotIn>(br#"{"name": 5}"#).unwrap_err();
/// assert_eq!(err.status().as_u16(), 422);
/// assert!(err.to_string().contains("\"name\""), "{err}");
/// ```
///
/// # Errors
/// [`ApiError::Validation`] when the body is not UTF-8, not JSON or not the model.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    destiny_sdk::models::from_json_slice(body).map_err(|e| ApiError::Validation {
        loc: std::iter::once("body".to_owned())
            .chain(
                e.path()
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            )
            .collect(),
        msg: e.message().to_owned(),
        input: serde_json::Value::Null,
    })
}
