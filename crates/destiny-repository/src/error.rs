//! API errors: one enum, with the HTTP status of each kind decided in one `match`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request contradicts itself (`Request ID mismatch`).
    #[error("{0}")]
    BadRequest(String),
    /// 401 (admin routes): no or wrong bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller may not touch this resource.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the current state (duplicate name, nothing left to renew).
    #[error("{0}")]
    Conflict(String),
    /// 422 with a text detail: a refused state transition, an invalid file line.
    #[error("{0}")]
    Unprocessable(String),
    /// 422 with FastAPI's list detail: a query parameter or body field is invalid.
    #[error("invalid {loc:?}: {msg}")]
    Validation {
        /// Where (`["query", "limit"]`).
        loc: Vec<String>,
        /// What.
        msg: String,
        /// The offending input.
        input: serde_json::Value,
    },
    /// 413: the body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// 408: the request body sent nothing for this long; nothing was done.
    #[error("Request body stalled: no data received for {} s.", format_secs(*.0))]
    Timeout(std::time::Duration),
    /// 503: the database (or storage) is unreachable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// 503: too many polls are waiting for their turn (see [`crate::admission`]);
    /// nothing was claimed.
    #[error("busy: {0}")]
    Busy(String),
    /// 503: blob storage could not take a file (full, or failing); retry later. The
    /// detail says which; the I/O error itself is logged, not sent.
    #[error("blob storage: {0}")]
    Storage(#[from] crate::blob::BlobError),
    /// 500: a bug or an unexpected failure; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) | Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) | Self::Busy(_) | Self::Storage(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the same work may succeed later unchanged: the database or blob storage was
    /// unreachable, busy or full, or a body stalled. Everything else (a refused value, a
    /// conflict, a bug) fails again on a retry; the import worker gives such a batch up at
    /// once instead of retrying it ([`crate::jobs`]).
    ///
    /// ```
    /// use destiny_repository::error::ApiError;
    /// assert!(ApiError::Unavailable("connection refused".into()).is_transient());
    /// assert!(!ApiError::Internal("invalid byte sequence".into()).is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Busy(_) | Self::Timeout(_) => true,
            Self::Storage(e) => matches!(
                e,
                crate::blob::BlobError::StorageFull(_) | crate::blob::BlobError::Io(_)
            ),
            _ => false,
        }
    }

    /// A 422 for a query parameter, in FastAPI's shape.
    pub fn query(name: &str, msg: impl Into<String>, input: impl Into<serde_json::Value>) -> Self {
        Self::Validation {
            loc: vec!["query".into(), name.into()],
            msg: msg.into(),
            input: input.into(),
        }
    }

    /// A 422 for the request body, in FastAPI's shape.
    pub fn body(msg: impl Into<String>) -> Self {
        Self::Validation {
            loc: vec!["body".into()],
            msg: msg.into(),
            input: serde_json::Value::Null,
        }
    }
}

/// Seconds as a person writes them: `60`, `0.5`.
fn format_secs(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{}", d.as_secs())
    } else {
        format!("{secs}")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Validation { loc, msg, input } => json!({
                "detail": [{"type": "value_error", "loc": loc, "msg": msg, "input": input}]
            }),
            Self::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                json!({"detail": "Internal server error."})
            }
            Self::Unavailable(why) => {
                tracing::warn!(error = %why, "service unavailable");
                json!({"detail": "The database is unavailable; retry later."})
            }
            Self::Busy(why) => {
                tracing::warn!(reason = %why, "poll refused: busy");
                json!({"detail": "The repository is busy; retry later."})
            }
            Self::Storage(why) => {
                tracing::warn!(error = %why, "blob storage unavailable");
                let detail = match why {
                    crate::blob::BlobError::StorageFull(_) => "Blob storage is full; retry later.",
                    _ => "Blob storage is unavailable; retry later.",
                };
                json!({"detail": detail})
            }
            other => json!({"detail": other.to_string()}),
        };
        json_response(status, body)
    }
}

/// A blob key the server built itself failed validation: a bug (500).
impl From<crate::blob::BlobKeyError> for ApiError {
    fn from(e: crate::blob::BlobKeyError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(format!(
                "Conflicts with an existing record: {}",
                db.message()
            )),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::Unprocessable(
                format!("Refers to a record that does not exist: {}", db.message()),
            ),
            sqlx::Error::Database(db)
                if db.message().contains("database is locked")
                    || db.code().is_some_and(|c| passing_condition(&c)) =>
            {
                Self::Unavailable(e.to_string())
            }
            // A value the database cannot store (PostgreSQL: a data exception, such as NUL
            // in `text`, or a program limit, such as an index entry over 2,704 bytes;
            // SQLite: a string or blob too big). The text policy (`crate::text`) refuses
            // such values first, naming the field; this keeps any it missed a 422.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| refused_value(&c)) => {
                Self::Unprocessable(format!("The database refused a value: {}", db.message()))
            }
            _ => Self::Internal(e.to_string()),
        }
    }
}

/// Whether a database error code is a condition that passes: PostgreSQL's connection
/// exceptions (08), operator intervention (57P), serialization failures and deadlocks
/// (40001, 40P01), insufficient resources (53: disk full, out of memory, too many
/// connections) and lock timeouts (55P03); SQLite's busy, locked and full (5, 6, 13,
/// with their extended codes).
fn passing_condition(code: &str) -> bool {
    if let Some(primary) = sqlite_primary_code(code) {
        return matches!(primary, 5 | 6 | 13);
    }
    code.starts_with("08")
        || code.starts_with("57P")
        || code.starts_with("53")
        || matches!(code, "40001" | "40P01" | "55P03")
}

/// Whether a database error code says a value cannot be stored: PostgreSQL's data
/// exceptions (22) and program limits (54); SQLite's too big (18).
fn refused_value(code: &str) -> bool {
    match sqlite_primary_code(code) {
        Some(primary) => primary == 18,
        None => code.starts_with("22") || code.starts_with("54"),
    }
}

/// SQLite's primary result code of an (extended) code: SQLite codes are decimal numbers
/// of at most 4 digits, PostgreSQL's SQLSTATEs 5 characters.
fn sqlite_primary_code(code: &str) -> Option<u32> {
    if code.len() <= 4 && code.bytes().all(|b| b.is_ascii_digit()) {
        code.parse::<u32>().ok().map(|c| c & 0xff)
    } else {
        None
    }
}

impl From<destiny_sdk::auth::AuthError> for ApiError {
    fn from(e: destiny_sdk::auth::AuthError) -> Self {
        match e.status().as_u16() {
            401 => Self::Unauthorized(e.detail().to_owned()),
            403 => Self::Forbidden(e.detail().to_owned()),
            413 => Self::TooLarge(e.detail().to_owned()),
            503 => Self::Unavailable(e.detail().to_owned()),
            _ => Self::Internal(e.detail().to_owned()),
        }
    }
}

/// A JSON error answer; every 503 gets `Retry-After` (a passing condition: say when to
/// come back; a poll answered 503 claimed nothing, or gave its claim back, so clients may
/// repeat it). Shared by the API's errors and the blob routes'.
pub(crate) fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let secs = crate::admission::RETRY_AFTER.as_secs().to_string();
        return (status, [(http::header::RETRY_AFTER, secs)], Json(body)).into_response();
    }
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_and_a_bug_is_500() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(io),
            sqlx::Error::WorkerCrashed,
        ] {
            let api = ApiError::from(e);
            assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE, "{api:?}");
        }
        let bug = ApiError::from(sqlx::Error::RowNotFound);
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn database_codes_are_classified_by_what_a_retry_can_do() {
        for code in [
            "08006", "57P01", "40001", "40P01", "53100", "55P03", "5", "517", "6", "13",
        ] {
            assert!(passing_condition(code), "{code}");
            assert!(!refused_value(code), "{code}");
        }
        for code in ["22021", "22001", "54000", "18"] {
            assert!(refused_value(code), "{code}");
            assert!(!passing_condition(code), "{code}");
        }
        for code in ["23505", "42P01", "1", "2067", "XX000"] {
            assert!(!passing_condition(code) && !refused_value(code), "{code}");
        }
    }

    #[tokio::test]
    async fn internal_details_are_not_sent() {
        for (error, status, detail) in [
            (
                ApiError::Internal("secret path /etc".into()),
                500,
                "Internal server error.",
            ),
            (
                ApiError::Unavailable("connection refused at 10.0.0.1".into()),
                503,
                "The database is unavailable; retry later.",
            ),
            (
                ApiError::Busy("40 polls waiting".into()),
                503,
                "The repository is busy; retry later.",
            ),
            (
                ApiError::Storage(crate::blob::BlobError::from_io(std::io::Error::from(
                    std::io::ErrorKind::StorageFull,
                ))),
                503,
                "Blob storage is full; retry later.",
            ),
            (
                ApiError::Storage(crate::blob::BlobError::from_io(std::io::Error::other(
                    "/secret/path: permission denied",
                ))),
                503,
                "Blob storage is unavailable; retry later.",
            ),
        ] {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            let retry_after = response.headers().get(http::header::RETRY_AFTER);
            if status == 503 {
                assert_eq!(retry_after.expect("Retry-After on a 503"), "1");
            } else {
                assert!(retry_after.is_none(), "{retry_after:?}");
            }
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(body, json!({ "detail": detail }));
        }
    }
}
