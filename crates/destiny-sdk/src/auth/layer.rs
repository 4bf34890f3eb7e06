//! [`HmacAuthLayer`]: tower/axum middleware that buffers the body (up to a limit),
//! authenticates the request with an [`HmacAuthMethod`] and hands the inner service the
//! same request with a [`VerifiedClient`] in its extensions.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{header, Request};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::{Layer, Service};

use super::clock::{Clock, SharedClock, SystemClock};
use super::error::AuthError;
use super::headers::TimestampPolicy;
use super::method::{HmacAuthMethod, SignedRequest, VerifiedClient};

/// Default largest body the layer buffers: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Authenticates every request with `A` before the inner service sees it.
///
/// Rejections are responses (`401 {"detail": ...}`, `413` past the body limit); on
/// success the request reaches the inner service with the buffered body and a
/// [`VerifiedClient`] extension.
///
/// ```
/// use axum::{routing::post, Router};
/// use destiny_sdk::auth::{HmacAuth, HmacAuthLayer, VerifiedClient};
///
/// async fn whoami(client: VerifiedClient, body: String) -> String {
///     format!("{} sent {body}", client.client_id())
/// }
///
/// let app: Router = Router::new()
///     .route("/v1/echo/", post(whoami))
///     .layer(HmacAuthLayer::new(HmacAuth::new("s3cret")).with_body_limit(64 * 1024));
/// ```
pub struct HmacAuthLayer<A> {
    /// The verifier, shared by every clone of the service.
    auth: Arc<A>,
    /// Bodies larger than this are refused with 413 before verification.
    body_limit: usize,
    /// The time the timestamp window is checked against.
    clock: SharedClock,
    /// The accepted timestamp window.
    policy: TimestampPolicy,
    /// Requests another authentication already accepted (an identity token on a hybrid
    /// route), which pass without a signature.
    accepted_elsewhere: Option<AcceptedElsewhere>,
}

/// Tells from a request's head that another authentication already accepted it.
type AcceptedElsewhere = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

impl<A> Clone for HmacAuthLayer<A> {
    fn clone(&self) -> Self {
        Self {
            auth: Arc::clone(&self.auth),
            body_limit: self.body_limit,
            clock: Arc::clone(&self.clock),
            policy: self.policy,
            accepted_elsewhere: self.accepted_elsewhere.clone(),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for HmacAuthLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacAuthLayer")
            .field("auth", &self.auth)
            .field("body_limit", &self.body_limit)
            .field("policy", &self.policy)
            .field("hybrid", &self.accepted_elsewhere.is_some())
            .finish_non_exhaustive()
    }
}

impl<A: HmacAuthMethod> HmacAuthLayer<A> {
    /// Authenticates with `auth`, the system clock, a 1 MiB body limit and a ±300 s
    /// timestamp window.
    pub fn new(auth: A) -> Self {
        Self::from_shared(Arc::new(auth))
    }

    /// Like [`HmacAuthLayer::new`] with a verifier shared elsewhere (e.g. to cycle secrets).
    pub fn from_shared(auth: Arc<A>) -> Self {
        Self {
            auth,
            body_limit: DEFAULT_BODY_LIMIT,
            clock: Arc::new(SystemClock),
            policy: TimestampPolicy::default(),
            accepted_elsewhere: None,
        }
    }

    /// Sets the largest body (in bytes) the layer buffers; larger ones get 413.
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Replaces the clock (tests pin the time with a closure).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces the accepted timestamp window.
    #[must_use]
    pub fn with_policy(mut self, policy: TimestampPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Makes the routes hybrid: a request for which `accepted` answers true (say, one an
    /// outer layer already authenticated by an identity token, and marked in its
    /// extensions) reaches the inner service without a signature, and without a
    /// [`VerifiedClient`]. `accepted` must only answer true for what the other
    /// authentication verified: a request it lets through is not checked at all.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use destiny_sdk::auth::{HmacAuth, HmacAuthLayer, VerifiedClient};
    ///
    /// /// Put in the extensions by an outer layer that checked an identity token.
    /// #[derive(Clone)]
    /// struct Admin;
    ///
    /// async fn who(client: Option<VerifiedClient>) -> String {
    ///     client.map_or("the admin".into(), |c| c.client_id().to_string())
    /// }
    ///
    /// let app: Router = Router::new().route("/v1/who/", get(who)).layer(
    ///     HmacAuthLayer::new(HmacAuth::new("s3cret"))
    ///         .accepting(|parts| parts.extensions.get::<Admin>().is_some()),
    /// );
    /// ```
    #[must_use]
    pub fn accepting(mut self, accepted: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.accepted_elsewhere = Some(Arc::new(accepted));
        self
    }
}

impl<S, A> Layer<S> for HmacAuthLayer<A> {
    type Service = HmacAuthService<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        HmacAuthService {
            inner,
            config: self.clone(),
        }
    }
}

/// The service [`HmacAuthLayer`] wraps around `S`.
pub struct HmacAuthService<S, A> {
    /// The wrapped service; only called for authenticated requests.
    inner: S,
    /// Verifier, limit, clock and window.
    config: HmacAuthLayer<A>,
}

impl<S: Clone, A> Clone for HmacAuthService<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: fmt::Debug, A: fmt::Debug> fmt::Debug for HmacAuthService<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacAuthService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

/// A boxed, sendable future (the service's response future).
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, A, B> Service<Request<B>> for HmacAuthService<S, A>
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    A: HmacAuthMethod,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Call the instance that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let bytes = match read_body(&parts, body, config.body_limit).await {
                Ok(bytes) => bytes,
                Err(err) => return Ok(err.into_response()),
            };
            if config
                .accepted_elsewhere
                .as_ref()
                .is_some_and(|f| f(&parts))
            {
                let request = Request::from_parts(parts, Body::from(bytes));
                return inner.call(request).await.map(IntoResponse::into_response);
            }
            let signed = SignedRequest {
                headers: &parts.headers,
                body: &bytes,
                now: config.clock.now(),
                policy: config.policy,
            };
            match config.auth.authenticate(signed).await {
                Ok(client) => {
                    parts.extensions.insert(client);
                    let request = Request::from_parts(parts, Body::from(bytes));
                    inner.call(request).await.map(IntoResponse::into_response)
                }
                Err(err) => {
                    tracing::debug!(status = %err.status(), detail = err.detail(), "request not authenticated");
                    Ok(err.into_response())
                }
            }
        })
    }
}

/// Buffers the body, refusing more than `limit` bytes (early when `Content-Length` says so).
async fn read_body<B>(parts: &Parts, body: B, limit: usize) -> Result<Bytes, AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(AuthError::body_too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(AuthError::body_too_large(limit))
        }
        Err(err) => {
            tracing::debug!(error = %err, "failed to read request body");
            Err(AuthError::body_unreadable())
        }
    }
}

/// Handlers behind [`HmacAuthLayer`] take the authenticated client as an extractor.
///
/// Without the layer (a misconfigured router) there is no verified client: the extractor
/// fails closed with 401 `Authorization header missing.` and logs an error, rather than
/// answering 500 or letting the request through.
impl<S: Send + Sync> FromRequestParts<S> for VerifiedClient {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<VerifiedClient>() {
            Some(client) => Ok(*client),
            None => {
                tracing::error!(
                    "VerifiedClient extractor used on a route without HmacAuthLayer; rejecting"
                );
                Err(AuthError::missing_authorization())
            }
        }
    }
}

/// `Option<VerifiedClient>`: `None` on routes without [`HmacAuthLayer`].
impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedClient {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<VerifiedClient>().copied())
    }
}

#[cfg(test)]
mod tests;
