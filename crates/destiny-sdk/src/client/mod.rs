//! [`RobotClient`]: the async client of the repository's robot API, the Rust counterpart
//! of the Python SDK's `RobotClient` (0.7.4), with the HMAC routes today's repository
//! also opens to robots (SDK 0.17.6: enhancement requests, automations, search-based
//! requests), plus a [`blocking`] wrapper.
//!
//! Every API request is HMAC-signed (spec §1) over exactly the bytes sent; every non-2xx
//! answer becomes [`ClientError::Api`] with the status and the server's `detail`.
//!
//! ## Retries
//!
//! A 401 saying the timestamp expired (`Token is expired.` today, `Request timestamp has
//! expired.` in 2025) is retried once with a fresh timestamp. Other
//! failures are retried per the [`RetryPolicy`] (capped exponential backoff with
//! jitter) only where a retry cannot double an effect:
//!
//! | call | retried on |
//! |---|---|
//! | [`get_robot_enhancement_batch`](RobotClient::get_robot_enhancement_batch), [`renew_robot_enhancement_batch_lease`](RobotClient::renew_robot_enhancement_batch_lease), [`download_stream`](RobotClient::download_stream), [`get_enhancement_request`](RobotClient::get_enhancement_request), [`list_robot_automations`](RobotClient::list_robot_automations), [`update_robot_automation`](RobotClient::update_robot_automation), [`request_search_enhancement_dry_run`](RobotClient::request_search_enhancement_dry_run), [`get_search_enhancement_request`](RobotClient::get_search_enhancement_request) | connection errors, other transport errors, timeouts, 5xx |
//! | [`poll_robot_enhancement_batch`](RobotClient::poll_robot_enhancement_batch) | connection errors, and 503 with `Retry-After` (the repository refused the poll before claiming anything), waiting at least what `Retry-After` says (up to 30 s) |
//! | [`send_robot_enhancement_batch_result`](RobotClient::send_robot_enhancement_batch_result), [`send_robot_result`](RobotClient::send_robot_result), [`create_enhancement_request`](RobotClient::create_enhancement_request), [`create_robot_automation`](RobotClient::create_robot_automation), [`request_search_enhancement`](RobotClient::request_search_enhancement) | connection errors only (the request was never sent) |
//! | [`upload_file`](RobotClient::upload_file), [`upload_stream`](RobotClient::upload_stream) | never |
//!
//! ## Layout
//! - `builder`: [`RobotClientBuilder`] (timeouts, retries, user agent, clock).
//! - `request`: signing and sending one call, with its retries.
//! - `enhancement_requests`: enhancement requests, robot automations and search-based
//!   enhancement requests (the robot routes of today's repository, SDK 0.17.6).
//! - `storage`: downloads and uploads through signed storage URLs.
//! - `error`, `retry`, `base_url`, `expiry`: [`ClientError`], [`RetryPolicy`], the
//!   Python SDK's base URL rule, the renewal's expiry text.

mod base_url;
pub mod blocking;
mod builder;
mod enhancement_requests;
mod error;

mod request;
mod retry;
mod storage;

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub use crate::expiry::{parse_lease_expiry, python_isoformat};
pub use builder::{RobotClientBuilder, DEFAULT_USER_AGENT};
pub use error::ClientError;
pub use retry::RetryPolicy;
pub use storage::ByteStream;

use crate::duration::LeaseDuration;
use crate::models::{
    EnhancementRequestRead, RobotEnhancementBatch, RobotEnhancementBatchRead,
    RobotEnhancementBatchResult, RobotResult,
};
use crate::secret::Secret;
use request::ApiCall;
use retry::Retry;

/// A source of signing timestamps, seconds since the Unix epoch.
#[derive(Clone)]
struct Clock(Arc<dyn Fn() -> f64 + Send + Sync>);

impl Clock {
    /// The time now, by this clock.
    fn now(&self) -> f64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The async client of the robot API. Cheap to clone (one shared connection pool).
///
/// ```no_run
/// use destiny_sdk::client::RobotClient;
/// # async fn f() -> Result<(), destiny_sdk::client::ClientError> {
/// let robot_id = uuid::Uuid::parse_str("3a533776-c9ad-4aac-a089-d654d509490c").unwrap();
/// let client = RobotClient::new("https://repository.example.org", "secret", robot_id)?;
/// if let Some(batch) = client.poll_robot_enhancement_batch(robot_id, 10, None).await? {
///     println!("leased batch {}", batch.id);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RobotClient {
    /// Shared by clones.
    inner: Arc<Inner>,
}

/// The configuration and connection pool shared by clones of a [`RobotClient`].
struct Inner {
    /// The connection pool (user agent, connect and read timeouts set).
    http: reqwest::Client,
    /// The API root, ending in `/v1` (no trailing slash).
    base_url: String,
    /// The path of `base_url`, for error messages.
    base_path: String,
    /// The HMAC key.
    secret: Secret,
    /// Sent as `X-Client-Id` and signed.
    client_id: Uuid,
    /// Signing timestamps (injectable to test clock skew).
    clock: Clock,
    /// Limit on a call other than a poll.
    request_timeout: Duration,
    /// Limit on a poll.
    poll_timeout: Duration,
    /// Limit on a storage transfer.
    storage_timeout: Option<Duration>,
    /// Retries of failed requests.
    retry: RetryPolicy,
}

impl RobotClient {
    /// A client with default settings (see [`RobotClientBuilder`]).
    ///
    /// The base URL is normalised as the Python SDK does: one trailing `/` and then one
    /// trailing `/v1` are removed and `/v1` is appended.
    ///
    /// # Errors
    /// [`ClientError::InvalidBaseUrl`] when `base_url` is not an absolute `http(s)` URL.
    ///
    /// ```
    /// use destiny_sdk::client::RobotClient;
    /// let client = RobotClient::new("http://localhost:8000/v1/", "secret", uuid::Uuid::nil())?;
    /// assert_eq!(client.base_url(), "http://localhost:8000/v1");
    /// # Ok::<(), destiny_sdk::client::ClientError>(())
    /// ```
    pub fn new(
        base_url: &str,
        secret: impl Into<Secret>,
        client_id: Uuid,
    ) -> Result<Self, ClientError> {
        Self::builder(base_url, secret, client_id).build()
    }

    /// A builder to set timeouts, retries, the user agent or the clock.
    pub fn builder(
        base_url: &str,
        secret: impl Into<Secret>,
        client_id: Uuid,
    ) -> RobotClientBuilder {
        RobotClientBuilder::new(base_url, secret.into(), client_id)
    }

    /// The API root requests go to, ending in `/v1`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The client id sent as `X-Client-Id`.
    pub fn client_id(&self) -> Uuid {
        self.inner.client_id
    }

    /// Polls for work: `POST /v1/robot-enhancement-batches/?robot_id=..&limit=..[&lease=..]`
    /// (no body). `None` when nothing is pending (204). Without `lease` the repository's
    /// default (10 minutes) applies.
    ///
    /// Uses the poll timeout (default 60 s). Retried when the request could not be sent
    /// (connection errors) and when the repository answers 503 with `Retry-After` (it
    /// refused the poll before claiming anything, or gave its claim back): a poll that
    /// reached the server otherwise may have leased work, so it is never repeated after
    /// a timeout or another 5xx.
    ///
    /// # Errors
    /// [`ClientError::Api`] for a non-2xx status (401 bad signature, 403, 422...),
    /// [`ClientError::Transport`], [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn poll_robot_enhancement_batch(
        &self,
        robot_id: Uuid,
        limit: u32,
        lease: Option<LeaseDuration>,
    ) -> Result<Option<RobotEnhancementBatch>, ClientError> {
        let mut query = vec![
            ("robot_id", robot_id.to_string()),
            ("limit", limit.to_string()),
        ];
        if let Some(lease) = lease {
            query.push(("lease", lease.to_string()));
        }
        let call = ApiCall {
            timeout: self.inner.poll_timeout,
            ..self
                .api_call(Method::POST, "/robot-enhancement-batches/".to_owned())
                .query(query)
                .retry(Retry::UnsentOrRefused)
        };
        let answer = self.call(call).await?;
        if answer.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        answer.decode().map(Some)
    }

    /// Extends the lease of a batch's unfinished work:
    /// `PATCH /v1/robot-enhancement-batches/{id}/renew-lease/[?lease=..]`, and returns the
    /// new expiry (the repository answers it as raw `isoformat()` text).
    ///
    /// Idempotent: retried on transport errors, timeouts and 5xx.
    ///
    /// # Errors
    /// [`ClientError::Api`] (409 when the batch has no pending enhancements left),
    /// [`ClientError::Transport`], [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn renew_robot_enhancement_batch_lease(
        &self,
        batch_id: Uuid,
        lease: Option<LeaseDuration>,
    ) -> Result<jiff::Timestamp, ClientError> {
        let call = self
            .api_call(
                Method::PATCH,
                format!("/robot-enhancement-batches/{batch_id}/renew-lease/"),
            )
            .query(
                lease
                    .map(|l| ("lease", l.to_string()))
                    .into_iter()
                    .collect(),
            );
        let answer = self.call(call).await?;
        parse_lease_expiry(&answer.body).map_err(|source| answer.decode_error(source))
    }

    /// Fetches a batch again (with freshly signed storage URLs):
    /// `GET /v1/robot-enhancement-batches/{id}/`.
    ///
    /// Idempotent: retried on transport errors, timeouts and 5xx.
    ///
    /// # Errors
    /// [`ClientError::Api`] (404 for an unknown batch), [`ClientError::Transport`],
    /// [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn get_robot_enhancement_batch(
        &self,
        batch_id: Uuid,
    ) -> Result<RobotEnhancementBatch, ClientError> {
        self.get_json(format!("/robot-enhancement-batches/{batch_id}/"))
            .await
    }

    /// Reports on a batch once its result file is uploaded (or that it failed):
    /// `POST /v1/robot-enhancement-batches/{request_id}/results/` with the result as
    /// compact JSON.
    ///
    /// Retried only when the request could not be sent: a submit that reached the server
    /// may have been applied.
    ///
    /// # Errors
    /// [`ClientError::Api`] (400 id mismatch, 422 lease expired or already submitted),
    /// [`ClientError::Transport`], [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn send_robot_enhancement_batch_result(
        &self,
        result: &RobotEnhancementBatchResult,
    ) -> Result<RobotEnhancementBatchRead, ClientError> {
        let path = format!("/robot-enhancement-batches/{}/results/", result.request_id);
        self.post_json(path, result).await
    }

    /// Reports on a legacy enhancement request:
    /// `POST /v1/enhancement-requests/{request_id}/results/`.
    ///
    /// Retried only when the request could not be sent.
    ///
    /// # Errors
    /// [`ClientError::Api`], [`ClientError::Transport`], [`ClientError::Timeout`],
    /// [`ClientError::Decode`].
    pub async fn send_robot_result(
        &self,
        result: &RobotResult,
    ) -> Result<EnhancementRequestRead, ClientError> {
        let path = format!("/enhancement-requests/{}/results/", result.request_id);
        self.post_json(path, result).await
    }

    /// `GET path`, answered with JSON; retried as an idempotent call.
    async fn get_json<T: DeserializeOwned>(&self, path: String) -> Result<T, ClientError> {
        self.call_json(self.api_call(Method::GET, path)).await
    }

    /// `POST path` with `body` as JSON, answered with JSON; retried only when unsent (a
    /// call that reached the server may have had its effect).
    async fn post_json<T: DeserializeOwned>(
        &self,
        path: String,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let call = self.api_call(Method::POST, path).json(body)?;
        self.call_json(call.retry(Retry::UnsentOnly)).await
    }
}

impl std::fmt::Debug for RobotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RobotClient")
            .field("base_url", &self.inner.base_url)
            .field("client_id", &self.inner.client_id)
            .field("secret", &self.inner.secret)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}
