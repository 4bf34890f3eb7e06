//! The pluggable verifier ([`HmacAuthMethod`]) and its implementations: one secret
//! ([`HmacAuth`]), a secret per client ([`MultiClientHmacAuth`] over a [`SecretLookup`]
//! such as [`StaticSecrets`]), and [`BypassHmacAuth`] for local development.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

use http::HeaderMap;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::error::AuthError;
use super::headers::{HmacAuthorizationHeaders, TimestampPolicy};
use super::signature::{SigningKey, X_CLIENT_ID};
use crate::secret::Secret;

/// A request as the verifier sees it: headers, the buffered body, the time of the check
/// and the timestamp window.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The exact raw body bytes (what was signed).
    pub body: &'a [u8],
    /// The verifier's clock, seconds since the Unix epoch.
    pub now: f64,
    /// How old or new the request timestamp may be.
    pub policy: TimestampPolicy,
}

impl SignedRequest<'_> {
    /// Parses and checks the HMAC headers (see [`HmacAuthorizationHeaders::from_headers`]).
    ///
    /// # Errors
    ///
    /// The first failing header check.
    pub fn authorization(&self) -> Result<HmacAuthorizationHeaders, AuthError> {
        HmacAuthorizationHeaders::from_headers(self.headers, self.now, &self.policy)
    }
}

/// The client a request was authenticated as. The layer puts it in the request
/// extensions; handlers take it as an extractor.
///
/// ```
/// use destiny_sdk::auth::VerifiedClient;
/// let client = VerifiedClient::new(uuid::Uuid::nil());
/// assert!(client.client_id().is_nil());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifiedClient(Uuid);

impl VerifiedClient {
    /// Marks `client_id` as verified (for [`HmacAuthMethod`] implementations).
    pub fn new(client_id: Uuid) -> Self {
        Self(client_id)
    }

    /// The authenticated client id.
    pub fn client_id(&self) -> Uuid {
        self.0
    }
}

/// Verifies a signed request, like the Python SDK's `HMACAuthMethod` protocol.
///
/// ```
/// use destiny_sdk::auth::{signature_headers, HmacAuth, HmacAuthMethod, SignedRequest, TimestampPolicy};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let id = uuid::Uuid::new_v4();
/// let mut headers = http::HeaderMap::new();
/// headers.extend(signature_headers("s3cret", b"{}", &id, 1733380000.0));
/// let request = SignedRequest {
///     headers: &headers,
///     body: b"{}",
///     now: 1733380001.0,
///     policy: TimestampPolicy::default(),
/// };
/// let client = HmacAuth::new("s3cret").authenticate(request).await?;
/// assert_eq!(client.client_id(), id);
/// # Ok::<(), destiny_sdk::auth::AuthError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait HmacAuthMethod: Send + Sync + 'static {
    /// Authenticates `request`.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] saying which check failed (rendered as the response).
    fn authenticate(
        &self,
        request: SignedRequest<'_>,
    ) -> impl Future<Output = Result<VerifiedClient, AuthError>> + Send;
}

impl<A: HmacAuthMethod> HmacAuthMethod for Arc<A> {
    fn authenticate(
        &self,
        request: SignedRequest<'_>,
    ) -> impl Future<Output = Result<VerifiedClient, AuthError>> + Send {
        A::authenticate(self, request)
    }
}

/// Compares the presented signature with the expected one as `hmac.compare_digest` does:
/// constant time over the bytes; a different length fails.
fn check_signature(
    key: &SigningKey,
    parsed: &HmacAuthorizationHeaders,
    body: &[u8],
) -> Result<VerifiedClient, AuthError> {
    let expected = key.sign(body, &parsed.client_id, parsed.timestamp);
    if bool::from(parsed.signature.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(VerifiedClient(parsed.client_id))
    } else {
        Err(AuthError::invalid_signature())
    }
}

/// One shared secret for every client, like the Python SDK's `HMACAuth`.
///
/// ```
/// use destiny_sdk::auth::HmacAuth;
/// let auth = HmacAuth::new("s3cret");
/// assert_eq!(format!("{auth:?}"), "HmacAuth { key: *** }");
/// ```
#[derive(Clone)]
pub struct HmacAuth {
    /// The HMAC keyed once with the secret.
    key: SigningKey,
}

impl HmacAuth {
    /// Verifies with `secret` (its UTF-8 bytes are the HMAC key).
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self {
            key: SigningKey::from_secret(&secret.into()),
        }
    }

    /// Checks the signature of already parsed headers against `body`.
    ///
    /// # Errors
    ///
    /// [`AuthError::invalid_signature`] when it does not match.
    pub fn verify_parsed(
        &self,
        parsed: &HmacAuthorizationHeaders,
        body: &[u8],
    ) -> Result<VerifiedClient, AuthError> {
        check_signature(&self.key, parsed, body)
    }

    /// Parses the headers of `request` and checks its signature, synchronously.
    ///
    /// # Errors
    ///
    /// The first failing check.
    pub fn verify(&self, request: &SignedRequest<'_>) -> Result<VerifiedClient, AuthError> {
        self.verify_parsed(&request.authorization()?, request.body)
    }
}

impl fmt::Debug for HmacAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacAuth { key: *** }")
    }
}

impl HmacAuthMethod for HmacAuth {
    async fn authenticate(&self, request: SignedRequest<'_>) -> Result<VerifiedClient, AuthError> {
        self.verify(&request)
    }
}

/// Finds the secret of a client (the repository implements it over its database).
///
/// Return `Ok(None)` for an unknown client (401 `robot client <id> does not exist.`) and
/// an `Err` of your choice when the backend fails, typically
/// [`AuthError::unavailable`] (503).
pub trait SecretLookup: Send + Sync + 'static {
    /// The secret of `client_id`, if the client exists.
    ///
    /// # Errors
    ///
    /// Whatever [`AuthError`] the backend failure should become.
    fn secret_for(
        &self,
        client_id: Uuid,
    ) -> impl Future<Output = Result<Option<Secret>, AuthError>> + Send;
}

/// A secret per client, looked up after the header checks and before the signature check.
///
/// ```
/// use destiny_sdk::auth::{MultiClientHmacAuth, StaticSecrets};
/// let secrets = StaticSecrets::new();
/// let id = uuid::Uuid::new_v4();
/// secrets.insert(id, "first");
/// let auth = MultiClientHmacAuth::new(secrets.clone());
/// // Cycling a secret at runtime: the verifier sees the new one at once.
/// secrets.insert(id, "second");
/// assert!(format!("{auth:?}").contains("***"));
/// ```
#[derive(Debug, Clone)]
pub struct MultiClientHmacAuth<L> {
    /// Where secrets come from.
    lookup: L,
}

impl<L: SecretLookup> MultiClientHmacAuth<L> {
    /// Verifies each client with the secret `lookup` returns for it.
    pub fn new(lookup: L) -> Self {
        Self { lookup }
    }

    /// The lookup, e.g. to update a [`StaticSecrets`].
    pub fn lookup(&self) -> &L {
        &self.lookup
    }
}

impl<L: SecretLookup> HmacAuthMethod for MultiClientHmacAuth<L> {
    async fn authenticate(&self, request: SignedRequest<'_>) -> Result<VerifiedClient, AuthError> {
        let parsed = request.authorization()?;
        let secret = self
            .lookup
            .secret_for(parsed.client_id)
            .await?
            .ok_or_else(|| AuthError::unknown_client(&parsed.client_id))?;
        check_signature(&SigningKey::from_secret(&secret), &parsed, request.body)
    }
}

/// An in-memory [`SecretLookup`]; clones share the map, so a secret can be added,
/// cycled or revoked while a server uses it.
///
/// ```
/// use destiny_sdk::auth::StaticSecrets;
/// let id = uuid::Uuid::new_v4();
/// let secrets = StaticSecrets::from_iter([(id, "a")]);
/// assert!(secrets.contains(&id));
/// assert!(secrets.remove(&id).is_some());
/// assert!(!secrets.contains(&id));
/// ```
#[derive(Clone, Default)]
pub struct StaticSecrets {
    /// Client id to secret; `RwLock` so updates don't block concurrent lookups for long.
    map: Arc<RwLock<HashMap<Uuid, Secret>>>,
}

impl StaticSecrets {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the secret of `client_id`, returning the previous one.
    pub fn insert(&self, client_id: Uuid, secret: impl Into<Secret>) -> Option<Secret> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(client_id, secret.into())
    }

    /// Forgets `client_id`, returning its secret.
    pub fn remove(&self, client_id: &Uuid) -> Option<Secret> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(client_id)
    }

    /// Whether `client_id` has a secret.
    pub fn contains(&self, client_id: &Uuid) -> bool {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.contains_key(client_id)
    }

    /// The secret of `client_id`.
    pub fn get(&self, client_id: &Uuid) -> Option<Secret> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(client_id).cloned()
    }
}

impl<S: Into<Secret>> FromIterator<(Uuid, S)> for StaticSecrets {
    fn from_iter<I: IntoIterator<Item = (Uuid, S)>>(iter: I) -> Self {
        let map = iter.into_iter().map(|(id, s)| (id, s.into())).collect();
        Self {
            map: Arc::new(RwLock::new(map)),
        }
    }
}

impl fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_map().entries(map.iter()).finish()
    }
}

impl SecretLookup for StaticSecrets {
    async fn secret_for(&self, client_id: Uuid) -> Result<Option<Secret>, AuthError> {
        Ok(self.get(&client_id))
    }
}

/// Accepts every request without checking anything, like the Python SDK's
/// `BypassHMACAuth`. For local development and tests only: NOT for production.
///
/// The client id is taken from `X-Client-Id` when it parses as a UUID, else it is nil.
///
/// ```
/// use destiny_sdk::auth::{BypassHmacAuth, HmacAuthMethod, SignedRequest, TimestampPolicy};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let headers = http::HeaderMap::new();
/// let request = SignedRequest { headers: &headers, body: b"", now: 0.0, policy: TimestampPolicy::default() };
/// let client = BypassHmacAuth::new().authenticate(request).await?;
/// assert!(client.client_id().is_nil());
/// # Ok::<(), destiny_sdk::auth::AuthError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BypassHmacAuth {}

impl BypassHmacAuth {
    /// Builds the bypass, logging a warning that requests are not authenticated.
    pub fn new() -> Self {
        tracing::warn!(
            "BypassHmacAuth in use: requests are NOT authenticated (not for production)"
        );
        Self {}
    }
}

impl Default for BypassHmacAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl HmacAuthMethod for BypassHmacAuth {
    async fn authenticate(&self, request: SignedRequest<'_>) -> Result<VerifiedClient, AuthError> {
        let client_id = request
            .headers
            .get(X_CLIENT_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|text| Uuid::parse_str(text).ok())
            .unwrap_or_else(Uuid::nil);
        Ok(VerifiedClient(client_id))
    }
}
