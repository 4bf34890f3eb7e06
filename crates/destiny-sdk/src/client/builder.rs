//! [`RobotClientBuilder`]: timeouts, retries, user agent and clock of a
//! [`RobotClient`].

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{base_url, ClientError, Clock, Inner, RetryPolicy, RobotClient};
use crate::secret::Secret;

/// How long an idle pooled connection is kept: below uvicorn's default keep-alive (5 s).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// The default `User-Agent`, naming this SDK and its version (the Python SDK sends
/// `python@X.Y.Z/destiny-sdk@V`).
pub const DEFAULT_USER_AGENT: &str = concat!("rust/destiny-sdk-rs@", env!("CARGO_PKG_VERSION"));

/// Builder methods that set the timeout field of the same name.
macro_rules! timeout_setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, timeout: $ty) -> Self {
                self.$field = timeout;
                self
            }
        )*
    };
}

/// Configures and builds a [`RobotClient`]; start with [`RobotClient::builder`].
///
/// ```
/// use destiny_sdk::client::{RetryPolicy, RobotClient};
/// use std::time::Duration;
/// let client = RobotClient::builder("http://localhost:8000", "secret", uuid::Uuid::nil())
///     .request_timeout(Duration::from_secs(10))
///     .poll_timeout(Duration::from_secs(120))
///     .retry_policy(RetryPolicy::none())
///     .user_agent("my-robot/1.0")
///     .clock(|| 1_733_380_000.0)
///     .build()?;
/// assert_eq!(client.base_url(), "http://localhost:8000/v1");
/// # Ok::<(), destiny_sdk::client::ClientError>(())
/// ```
#[must_use]
#[derive(Debug)]
pub struct RobotClientBuilder {
    /// The repository URL as given (normalised in `build`).
    base_url: String,
    /// The robot's HMAC secret.
    secret: Secret,
    /// The robot's client id (its robot id).
    client_id: Uuid,
    /// Limit on establishing a TCP/TLS connection.
    connect_timeout: Duration,
    /// Limit on a whole API call (request and response body), except polls.
    request_timeout: Duration,
    /// Limit on a poll, which may lease many references and take longer.
    poll_timeout: Duration,
    /// Limit on a whole storage download or upload (`None`: no limit).
    storage_timeout: Option<Duration>,
    /// Limit on a pause between two reads of a response, downloads included.
    read_timeout: Duration,
    /// Retries of failed requests.
    retry: RetryPolicy,
    /// `User-Agent` header value.
    user_agent: String,
    /// Source of signing timestamps.
    clock: Clock,
}

impl RobotClientBuilder {
    pub(super) fn new(base_url: &str, secret: Secret, client_id: Uuid) -> Self {
        Self {
            base_url: base_url.to_owned(),
            secret,
            client_id,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            poll_timeout: Duration::from_secs(60),
            storage_timeout: Some(Duration::from_secs(600)),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            clock: Clock(Arc::new(system_time)),
        }
    }

    timeout_setters! {
        /// Limit on establishing a connection (default 10 s).
        connect_timeout: Duration;
        /// Limit on a whole API call other than a poll (default 30 s).
        request_timeout: Duration;
        /// Limit on a poll (default 60 s, as the Python SDK's `timeout=60`).
        poll_timeout: Duration;
        /// Limit on a whole storage download or upload (default 10 minutes; `None` for no
        /// limit beyond the read timeout).
        storage_timeout: Option<Duration>;
        /// Limit on a pause between two reads of any response (default 60 s).
        read_timeout: Duration;
    }

    /// How failed requests are retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Replaces the `User-Agent` (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Replaces the source of signing timestamps (seconds since the Unix epoch; default
    /// the system clock), e.g. to sign with a skewed time in tests.
    pub fn clock(mut self, clock: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.clock = Clock(Arc::new(clock));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`ClientError::InvalidBaseUrl`] when the base URL is not an absolute `http(s)` URL;
    /// [`ClientError::Config`] for a user agent that is not a valid header value or a TLS
    /// setup failure.
    pub fn build(self) -> Result<RobotClient, ClientError> {
        let base_url = base_url::normalize(&self.base_url)?;
        let base_path = reqwest::Url::parse(&base_url)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .map_err(|e| ClientError::InvalidBaseUrl {
                url: self.base_url.clone(),
                reason: e.to_string(),
            })?;
        let user_agent = http::HeaderValue::from_str(&self.user_agent).map_err(|_| {
            ClientError::Config(format!("invalid user agent {:?}", self.user_agent))
        })?;
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            // Idle connections are dropped before servers close them (uvicorn, which
            // serves the real repository, closes after 5 s idle; `destiny serve` after its
            // header-read timeout), so a request never races the server's close.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Config(e.without_url().to_string()))?;
        Ok(RobotClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                base_path,
                secret: self.secret,
                client_id: self.client_id,
                clock: self.clock,
                request_timeout: self.request_timeout,
                poll_timeout: self.poll_timeout,
                storage_timeout: self.storage_timeout,
                retry: RetryPolicy {
                    max_attempts: self.retry.max_attempts.max(1),
                    ..self.retry
                },
            }),
        })
    }
}

/// Seconds since the Unix epoch from the system clock, as Python's `time.time()`.
pub(crate) fn system_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
