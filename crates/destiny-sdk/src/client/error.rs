//! [`ClientError`]: everything a robot API call can fail with.

use http::{Method, StatusCode};

use crate::models::ModelError;

/// The details of the repository's 401 for a stale `X-Request-Timestamp`: today's
/// (SDK 0.17.6 and the live repository) and 2025's (SDK 0.7.4). The client retries once
/// with a fresh timestamp when it sees either.
pub(crate) const TIMESTAMP_EXPIRED: [&str; 2] =
    [crate::auth::TOKEN_EXPIRED, "Request timestamp has expired."];

/// Whether an answer says the request's timestamp was too old (either text).
pub(crate) fn is_expired_timestamp(status: StatusCode, detail: &str) -> bool {
    status == StatusCode::UNAUTHORIZED && TIMESTAMP_EXPIRED.contains(&detail)
}

/// How much of a non-JSON error body is kept as the detail.
const MAX_RAW_DETAIL: usize = 2000;

/// A failed call of the [`RobotClient`](super::RobotClient).
///
/// Every non-2xx answer becomes [`ClientError::Api`] with the status and the server's
/// `detail`. `Display` names the method and the URL path (never the query of a signed
/// storage URL, and never the secret).
///
/// ```
/// use destiny_sdk::client::ClientError;
/// let err = ClientError::api(404, "RobotEnhancementBatch with id x does not exist.");
/// assert_eq!(err.status(), Some(404));
/// assert_eq!(err.detail(), Some("RobotEnhancementBatch with id x does not exist."));
/// assert!(!err.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with a non-2xx status.
    #[error("{method} {path}: HTTP {status}: {detail}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The server's `detail`: a string detail as is, any other detail (such as
        /// FastAPI's list of validation errors) as compact JSON, or the raw body text
        /// when it is not JSON with a `detail` (the status's reason when empty).
        detail: String,
        /// The request method.
        method: Method,
        /// The request URL's path (no query).
        path: String,
    },
    /// The request could not be sent or the response not read (connection refused,
    /// reset, TLS failure...). `Display` includes the chain of causes.
    #[error("{method} {path}: {}", chain(source))]
    Transport {
        /// The request method.
        method: Method,
        /// The request URL's path (no query).
        path: String,
        /// The underlying error (its URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// No complete response within the configured timeout.
    #[error("{method} {path}: timed out")]
    Timeout {
        /// The request method.
        method: Method,
        /// The request URL's path (no query).
        path: String,
    },
    /// A 2xx response whose body is not what the endpoint returns.
    #[error("{method} {path}: unexpected response body: {source}")]
    Decode {
        /// The request method.
        method: Method,
        /// The request URL's path (no query).
        path: String,
        /// What is wrong, with the JSON path of the offending value.
        #[source]
        source: ModelError,
    },
    /// The base URL given to the client is not an absolute `http(s)` URL.
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The client configuration is invalid (such as a user agent that is not a valid
    /// header value), or the HTTP client could not be built.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// An [`Api`](Self::Api) error without request details, for tests and adapters.
    ///
    /// A status outside 100..=999 becomes 500.
    pub fn api(status: u16, detail: impl Into<String>) -> Self {
        Self::Api {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            detail: detail.into(),
            method: Method::GET,
            path: String::new(),
        }
    }

    /// The HTTP status of an [`Api`](Self::Api) error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(status.as_u16()),
            _ => None,
        }
    }

    /// The server's detail of an [`Api`](Self::Api) error.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Api { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// Whether the failure may be transient, so that the same call could succeed later:
    /// transport errors, timeouts, 5xx, 429 and an expired request timestamp.
    ///
    /// Whether repeating a call is *safe* is another matter: a poll or a submit that
    /// timed out may have been applied. The client's own retries follow the policy
    /// documented on each method.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Api { status, detail, .. } => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || is_expired_timestamp(*status, detail)
            }
            Self::Decode { .. } | Self::InvalidBaseUrl { .. } | Self::Config(_) => false,
        }
    }

    /// Whether the request never reached the server (a connection could not be made),
    /// so repeating it cannot repeat its effect.
    pub fn is_unsent(&self) -> bool {
        matches!(self, Self::Transport { source, .. } if source.is_connect())
    }

    /// An error from a reqwest failure, classified as timeout or transport.
    pub(crate) fn from_reqwest(method: &Method, path: &str, err: reqwest::Error) -> Self {
        if err.is_timeout() && !err.is_connect() {
            Self::Timeout {
                method: method.clone(),
                path: path.to_owned(),
            }
        } else {
            Self::Transport {
                method: method.clone(),
                path: path.to_owned(),
                source: err.without_url(),
            }
        }
    }
}

/// An error and its causes, `: `-separated (reqwest's own message is terse, such as
/// "error sending request"; the cause says "Connection refused").
fn chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The `detail` of an error body (see [`ClientError::Api`]).
pub(crate) fn detail_of(status: StatusCode, body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(body) {
        match map.remove("detail") {
            Some(serde_json::Value::String(s)) => return s,
            Some(other) => return other.to_string(),
            None => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status.canonical_reason().unwrap_or("").to_owned();
    }
    match text.char_indices().nth(MAX_RAW_DETAIL) {
        Some((idx, _)) => format!("{}...", &text[..idx]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_forms() {
        let s = StatusCode::UNPROCESSABLE_ENTITY;
        assert_eq!(detail_of(s, br#"{"detail": "nope"}"#), "nope");
        let list = detail_of(
            s,
            br#"{"detail": [{"type": "missing", "loc": ["query", "robot_id"]}]}"#,
        );
        assert!(!list.contains(' '), "compact JSON: {list}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&list).ok(),
            Some(serde_json::json!([{"type": "missing", "loc": ["query", "robot_id"]}]))
        );
        assert_eq!(
            detail_of(s, b"<html>bad gateway</html>\n"),
            "<html>bad gateway</html>"
        );
        assert_eq!(detail_of(s, br#"{"message": "x"}"#), r#"{"message": "x"}"#);
        assert_eq!(detail_of(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
        assert_eq!(
            detail_of(s, "x".repeat(5000).as_bytes()).len(),
            MAX_RAW_DETAIL + 3
        );
    }

    #[test]
    fn retryable() {
        assert!(ClientError::api(503, "down").is_retryable());
        assert!(ClientError::api(429, "slow down").is_retryable());
        for text in TIMESTAMP_EXPIRED {
            assert!(ClientError::api(401, text).is_retryable(), "{text}");
        }
        assert!(!ClientError::api(401, "Signature is invalid.").is_retryable());
        assert!(!ClientError::api(422, "x").is_retryable());
        assert_eq!(ClientError::api(1, "x").status(), Some(500));
    }
}
