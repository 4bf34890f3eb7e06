//! [`AuthError`]: why a request was not authenticated, rendered as FastAPI renders an
//! `HTTPException`: the status and `{"detail": "..."}`.

use std::fmt;

#[cfg(feature = "server")]
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use uuid::Uuid;

/// Which check failed; the HTTP status and detail text follow from it (see
/// [`AuthError`]'s constructors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No (or an empty) `Authorization` header.
    MissingAuthorization,
    /// The `Authorization` scheme is not `Signature`.
    UnsupportedScheme,
    /// No (or an empty) `X-Client-Id` header.
    MissingClientId,
    /// `X-Client-Id` is not a UUID.
    InvalidClientId,
    /// `X-Client-Id` is a UUID of a version other than 4 or 7 (DEVIATION).
    UnsupportedClientIdVersion,
    /// No (or an empty) `X-Request-Timestamp` header.
    MissingTimestamp,
    /// `X-Request-Timestamp` is not a number (DEVIATION).
    InvalidTimestamp,
    /// `X-Request-Timestamp` is `nan` or infinite (DEVIATION).
    NonFiniteTimestamp,
    /// The timestamp is older than the policy's maximum age.
    ExpiredTimestamp,
    /// The timestamp is further ahead than the policy allows (DEVIATION).
    FutureTimestamp,
    /// No secret is known for the client id (multi-client verifiers).
    UnknownClient,
    /// The signature does not match.
    InvalidSignature,
    /// The body is larger than the configured limit.
    BodyTooLarge,
    /// The body could not be read.
    BodyUnreadable,
    /// A backend needed for verification (e.g. the secret store) is unavailable.
    Unavailable,
    /// Any other failure, built with [`AuthError::new`].
    Other,
}

/// An authentication failure: HTTP status, `detail` text and extra response headers.
///
/// Renders (via [`IntoResponse`]) as `status` with the JSON body `{"detail": "..."}`, the
/// shape of FastAPI's `HTTPException`. The detail texts of the spec §1 checks are exact.
///
/// ```
/// use destiny_sdk::auth::AuthError;
/// let err = AuthError::missing_authorization();
/// assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(err.detail(), "Authorization header missing.");
/// assert_eq!(err.to_string(), "401 Unauthorized: Authorization header missing.");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
pub struct AuthError {
    /// Boxed so `Result<_, AuthError>` stays small on the success path.
    inner: Box<Inner>,
}

/// The parts of an [`AuthError`].
#[derive(Debug, Clone)]
struct Inner {
    /// What failed, for callers that branch on it.
    kind: AuthErrorKind,
    /// The response status (401 for every spec check).
    status: StatusCode,
    /// The `detail` text of the JSON body; never contains a secret.
    detail: String,
    /// Extra response headers (e.g. `Retry-After` on 503).
    headers: HeaderMap,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.status, self.inner.detail)
    }
}

/// Today's text for a signature older than the window (the client re-signs on it).
pub(crate) const TOKEN_EXPIRED: &str = "Token is expired.";

/// Today's text for a client id that is not a UUIDv4 or UUIDv7.
const INVALID_CLIENT_ID: &str = "Invalid format for client id, expected UUIDv4 or UUIDv7.";

impl AuthError {
    fn build(kind: AuthErrorKind, status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                status,
                detail: detail.into(),
                headers: HeaderMap::new(),
            }),
        }
    }

    fn unauthorized(kind: AuthErrorKind, detail: impl Into<String>) -> Self {
        Self::build(kind, StatusCode::UNAUTHORIZED, detail)
    }

    /// A custom failure (kind [`AuthErrorKind::Other`]).
    ///
    /// ```
    /// use destiny_sdk::auth::AuthError;
    /// let err = AuthError::new(http::StatusCode::FORBIDDEN, "Robot is disabled.");
    /// assert_eq!(err.status().as_u16(), 403);
    /// ```
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::build(AuthErrorKind::Other, status, detail)
    }

    /// Adds a response header (e.g. `WWW-Authenticate`, `Retry-After`).
    ///
    /// ```
    /// use destiny_sdk::auth::AuthError;
    /// let err = AuthError::unavailable("Secret store unavailable.")
    ///     .with_header(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"));
    /// assert_eq!(err.headers()[http::header::RETRY_AFTER], "5");
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.inner.headers.append(name, value);
        self
    }

    /// 401 `Authorization header missing.`
    pub fn missing_authorization() -> Self {
        Self::unauthorized(
            AuthErrorKind::MissingAuthorization,
            "Authorization header missing.",
        )
    }

    /// 401 `Authorization type not supported.`
    pub fn unsupported_scheme() -> Self {
        Self::unauthorized(
            AuthErrorKind::UnsupportedScheme,
            "Authorization type not supported.",
        )
    }

    /// 401 `X-Client-Id header missing` (no final period, as in Python).
    pub fn missing_client_id() -> Self {
        Self::unauthorized(AuthErrorKind::MissingClientId, "X-Client-Id header missing")
    }

    /// 401 `Invalid format for client id, expected UUIDv4 or UUIDv7.` (today's text, SDK
    /// >= 0.12.4; 0.7.4 said `… expected UUID4.`).
    pub fn invalid_client_id() -> Self {
        Self::unauthorized(AuthErrorKind::InvalidClientId, INVALID_CLIENT_ID)
    }

    /// 401 for a UUID of another version than 4 or 7, with the text today's repository
    /// answers it with ([`invalid_client_id`](Self::invalid_client_id)'s); its own kind.
    /// (SDK 0.7.4's `UUID4` check answered 500.)
    pub fn unsupported_client_id_version() -> Self {
        Self::unauthorized(AuthErrorKind::UnsupportedClientIdVersion, INVALID_CLIENT_ID)
    }

    /// 401 `X-Request-Timestamp header missing` (no final period, as in Python).
    pub fn missing_timestamp() -> Self {
        Self::unauthorized(
            AuthErrorKind::MissingTimestamp,
            "X-Request-Timestamp header missing",
        )
    }

    /// 401 `Invalid format for request timestamp, expected a number.`
    ///
    /// DEVIATION: Python's `float()` raises and the request ends in a 500.
    pub fn invalid_timestamp() -> Self {
        Self::unauthorized(
            AuthErrorKind::InvalidTimestamp,
            "Invalid format for request timestamp, expected a number.",
        )
    }

    /// 401 `Invalid request timestamp, expected a finite number.`
    ///
    /// DEVIATION: Python accepts `nan` and `inf` (both pass its expiry check, so such a
    /// signed request could be replayed forever).
    pub fn non_finite_timestamp() -> Self {
        Self::unauthorized(
            AuthErrorKind::NonFiniteTimestamp,
            "Invalid request timestamp, expected a finite number.",
        )
    }

    /// 401 `Token is expired.` (today's text, SDK >= 0.12.4; 0.7.4 said `Request
    /// timestamp has expired.`, and clients re-sign on either).
    pub fn expired_timestamp() -> Self {
        Self::unauthorized(AuthErrorKind::ExpiredTimestamp, TOKEN_EXPIRED)
    }

    /// 401 `Request timestamp is too far in the future.`
    ///
    /// DEVIATION: Python only checks the age, so a request stamped in the future can be
    /// replayed until that time has passed.
    pub fn future_timestamp() -> Self {
        Self::unauthorized(
            AuthErrorKind::FutureTimestamp,
            "Request timestamp is too far in the future.",
        )
    }

    /// 401 `robot client <id> does not exist.`
    pub fn unknown_client(client_id: &Uuid) -> Self {
        Self::unauthorized(
            AuthErrorKind::UnknownClient,
            format!("robot client {client_id} does not exist."),
        )
    }

    /// 401 `Signature is invalid.`
    pub fn invalid_signature() -> Self {
        Self::unauthorized(AuthErrorKind::InvalidSignature, "Signature is invalid.")
    }

    /// 413 `Request body too large (limit <limit> bytes).`
    pub fn body_too_large(limit: usize) -> Self {
        Self::build(
            AuthErrorKind::BodyTooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body too large (limit {limit} bytes)."),
        )
    }

    /// 400 `Failed to read request body.`
    pub fn body_unreadable() -> Self {
        Self::build(
            AuthErrorKind::BodyUnreadable,
            StatusCode::BAD_REQUEST,
            "Failed to read request body.",
        )
    }

    /// 503 with `detail`: a backend the verifier needs (such as the secret store) failed;
    /// the client should retry later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::build(
            AuthErrorKind::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            detail,
        )
    }

    /// Which check failed.
    pub fn kind(&self) -> AuthErrorKind {
        self.inner.kind
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// The `detail` text of the response body.
    pub fn detail(&self) -> &str {
        &self.inner.detail
    }

    /// Extra response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }
}

#[cfg(feature = "server")]
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let Inner {
            status,
            detail,
            headers,
            ..
        } = *self.inner;
        let body = axum::Json(serde_json::json!({ "detail": detail }));
        (status, headers, body).into_response()
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_fastapi_detail_json() {
        let err = AuthError::unknown_client(&Uuid::nil()).with_header(
            HeaderName::from_static("x-extra"),
            HeaderValue::from_static("1"),
        );
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["x-extra"], "1");
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        let bytes = response.into_body().collect().await.map(|b| b.to_bytes());
        assert_eq!(
            bytes.ok().as_deref(),
            Some(&br#"{"detail":"robot client 00000000-0000-0000-0000-000000000000 does not exist."}"#[..])
        );
    }

    #[test]
    fn statuses_follow_the_kind() {
        assert_eq!(AuthError::body_too_large(10).status().as_u16(), 413);
        assert_eq!(AuthError::body_unreadable().status().as_u16(), 400);
        assert_eq!(AuthError::unavailable("x").status().as_u16(), 503);
        assert_eq!(AuthError::invalid_signature().status().as_u16(), 401);
        assert_eq!(
            AuthError::body_too_large(10).detail(),
            "Request body too large (limit 10 bytes)."
        );
    }
}
