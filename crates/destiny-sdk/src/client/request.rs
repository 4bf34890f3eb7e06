//! One signed API call with its retries: the only place requests to the repository are
//! built, signed and sent.

use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{detail_of, is_expired_timestamp};
use super::retry::Retry;
use super::{ClientError, RobotClient};
use crate::auth::{create_signature, pyfloat};
use crate::models::{from_json_slice, ModelError};

/// A call to make: everything but the signature, which each attempt computes afresh.
pub(super) struct ApiCall {
    /// The HTTP method.
    pub(super) method: Method,
    /// The path under the API root, such as `/robot-enhancement-batches/`.
    pub(super) path: String,
    /// Query parameters, in order.
    pub(super) query: Vec<(&'static str, String)>,
    /// The exact JSON body bytes (also what is signed); `None` sends no body.
    pub(super) body: Option<Bytes>,
    /// Which failures may be retried.
    pub(super) retry: Retry,
    /// Limit on the whole call (each attempt).
    pub(super) timeout: Duration,
}

/// The longest `Retry-After` honoured; a longer one is waited only this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A 2xx answer.
pub(super) struct Answer {
    /// The status (200, 202, 204...).
    pub(super) status: StatusCode,
    /// The whole body.
    pub(super) body: Bytes,
    /// The method of the call answered, for errors.
    method: Method,
    /// The URL path of the call answered (base path included), for errors.
    path: String,
}

impl Answer {
    /// The body read as JSON.
    pub(super) fn decode<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        from_json_slice(&self.body).map_err(|source| self.decode_error(source))
    }

    /// [`ClientError::Decode`] for this answer's body.
    pub(super) fn decode_error(&self, source: ModelError) -> ClientError {
        ClientError::Decode {
            method: self.method.clone(),
            path: self.path.clone(),
            source,
        }
    }
}

/// What one attempt ended with.
enum Outcome {
    Done(Answer),
    /// A failure; `retryable` says whether this call's policy allows another attempt.
    Failed {
        error: ClientError,
        retryable: bool,
        expired: bool,
        /// The server's `Retry-After`, in seconds, on a 503.
        retry_after: Option<Duration>,
    },
}

impl ApiCall {
    /// Adds query parameters, in order.
    pub(super) fn query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query;
        self
    }

    /// Sends `body` as compact JSON (the bytes sent are the bytes signed).
    ///
    /// # Errors
    /// [`ClientError::Config`] when `body` cannot be serialised.
    pub(super) fn json(mut self, body: &impl Serialize) -> Result<Self, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ClientError::Config(format!("could not serialise the request body: {e}"))
        })?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }

    /// Sets which failures may be retried.
    pub(super) fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }
}

impl RobotClient {
    /// A call of `method` to `path` (under the API root) with the request timeout, no
    /// query and no body, retried as idempotent until told otherwise.
    pub(super) fn api_call(&self, method: Method, path: String) -> ApiCall {
        ApiCall {
            method,
            path,
            query: Vec::new(),
            body: None,
            retry: Retry::Idempotent,
            timeout: self.inner.request_timeout,
        }
    }

    /// Sends `call` and reads its answer as JSON.
    pub(super) async fn call_json<T: DeserializeOwned>(
        &self,
        call: ApiCall,
    ) -> Result<T, ClientError> {
        self.call(call).await?.decode()
    }

    /// Sends `call`, signed, retrying as its [`Retry`] class and the policy allow, and
    /// once more with a fresh timestamp if the server says the timestamp expired.
    pub(super) async fn call(&self, call: ApiCall) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.inner.base_url, call.path);
        let path = format!("{}{}", self.inner.base_path, call.path);
        let policy = self.inner.retry;
        let mut attempt = 1u32;
        let mut refreshed_timestamp = false;
        loop {
            match self.attempt(&call, &url, &path).await {
                Outcome::Done(answer) => return Ok(answer),
                Outcome::Failed { expired: true, .. } if !refreshed_timestamp => {
                    tracing::debug!(%path, "request timestamp expired; retrying once with a fresh one");
                    refreshed_timestamp = true;
                }
                Outcome::Failed {
                    error,
                    retryable,
                    retry_after,
                    ..
                } => {
                    if !retryable || attempt >= policy.max_attempts {
                        return Err(error);
                    }
                    attempt += 1;
                    let delay = policy
                        .delay_before(attempt)
                        .max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
                    tracing::warn!(%path, attempt, ?delay, error = %error, "retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(&self, call: &ApiCall, url: &str, path: &str) -> Outcome {
        let inner = &self.inner;
        let now = inner.clock.now();
        let body = call.body.clone().unwrap_or_default();
        let signature = create_signature(inner.secret.expose(), &body, &inner.client_id, now);
        let mut request = inner
            .http
            .request(call.method.clone(), url)
            .timeout(call.timeout)
            .header(header::AUTHORIZATION, format!("Signature {signature}"))
            .header("x-client-id", inner.client_id.hyphenated().to_string())
            .header("x-request-timestamp", pyfloat::repr(now));
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if call.body.is_some() {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let sent = match request.send().await {
            Ok(response) => response,
            Err(err) => return transport_failure(call, path, err),
        };
        let status = sent.status();
        let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE)
            .then(|| sent.headers().get(header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match sent.bytes().await {
            Ok(body) => body,
            Err(err) => return transport_failure(call, path, err),
        };
        if status.is_success() {
            return Outcome::Done(Answer {
                status,
                body,
                method: call.method.clone(),
                path: path.to_owned(),
            });
        }
        let detail = detail_of(status, &body);
        let expired = is_expired_timestamp(status, &detail);
        let retryable = match call.retry {
            Retry::Idempotent => status.is_server_error(),
            Retry::UnsentOrRefused => retry_after.is_some(),
            Retry::UnsentOnly => false,
        };
        Outcome::Failed {
            retryable,
            expired,
            retry_after,
            error: ClientError::Api {
                status,
                detail,
                method: call.method.clone(),
                path: path.to_owned(),
            },
        }
    }
}

/// A failure before a complete response: retryable if the request was never sent, or
/// for idempotent calls.
fn transport_failure(call: &ApiCall, path: &str, err: reqwest::Error) -> Outcome {
    let retryable = err.is_connect() || call.retry == Retry::Idempotent;
    Outcome::Failed {
        error: ClientError::from_reqwest(&call.method, path, err),
        retryable,
        expired: false,
        retry_after: None,
    }
}
