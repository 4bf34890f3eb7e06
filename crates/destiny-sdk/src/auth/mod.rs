//! HMAC request signing and verification (spec §1), compatible with the Python SDK's
//! `destiny_sdk.auth`.
//!
//! # Layout
//!
//! - [`pyfloat`]: Python's `repr(float)` and `float(str)`; the signed timestamp text is
//!   `repr(float(header))`, so `1733380000` is signed as `1733380000.0`.
//! - [`create_signature`], [`signature_headers`], [`SigningKey`]: the client side. The
//!   message `body + b":" + client_id bytes + b":" + repr(timestamp)` is fed to
//!   HMAC-SHA256 in parts (no copy of the body); the result is lowercase hex.
//! - [`HmacAuthorizationHeaders`] and [`TimestampPolicy`]: the server-side header checks,
//!   in the Python order with its exact `detail` texts.
//! - [`AuthError`]: a failure as status + `{"detail": ...}` (FastAPI's `HTTPException`).
//! - [`HmacAuthMethod`]: the pluggable verifier, with [`HmacAuth`] (one secret),
//!   [`MultiClientHmacAuth`] over a [`SecretLookup`] such as [`StaticSecrets`] (a secret
//!   per robot, cyclable at runtime) and [`BypassHmacAuth`] (accepts all; development only).
//! - [`HmacAuthLayer`]: tower/axum middleware that buffers the body up to a limit,
//!   authenticates and passes a [`VerifiedClient`] to handlers (also an extractor).
//! - [`Clock`]: the injectable time source (tests pin it instead of sleeping).
//!
//! # Deviations from the Python SDK
//!
//! Where Python answers 500 or accepts, this module answers 401 with a clear detail:
//! a timestamp that is not a number ([`AuthError::invalid_timestamp`]) or is `nan`/`inf`
//! ([`AuthError::non_finite_timestamp`]); a timestamp more than
//! [`TimestampPolicy::max_future`] ahead ([`AuthError::future_timestamp`]); a client id
//! that is not a UUID of version 4 or 7 ([`AuthError::unsupported_client_id_version`];
//! newer repositories issue UUIDv7 ids). Bodies over the layer's limit get 413.
//!
//! ```
//! use destiny_sdk::auth::{create_signature, pyfloat};
//! let id = uuid::Uuid::parse_str("3a533776-c9ad-4aac-a089-d654d509490c")?;
//! let ts = pyfloat::parse("1733380000")?;
//! assert_eq!(pyfloat::repr(ts), "1733380000.0");
//! assert_eq!(
//!     create_signature("secret-secret", b"", &id, ts),
//!     "3a5f23286f1bd0177cc72b65a9ca60686a45b9e6b0b3847c541ab007aeb6bc23",
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clock;
mod error;
#[cfg(feature = "client")]
pub(crate) use error::TOKEN_EXPIRED;
mod headers;
#[cfg(feature = "server")]
mod layer;
mod method;
pub mod pyfloat;
mod signature;

pub use clock::{system_now, Clock, SharedClock, SystemClock};
pub use error::{AuthError, AuthErrorKind};
pub use headers::{HmacAuthorizationHeaders, TimestampPolicy};
#[cfg(feature = "server")]
pub use layer::{HmacAuthLayer, HmacAuthService, DEFAULT_BODY_LIMIT};
pub use method::{
    BypassHmacAuth, HmacAuth, HmacAuthMethod, MultiClientHmacAuth, SecretLookup, SignedRequest,
    StaticSecrets, VerifiedClient,
};
pub use signature::{
    create_signature, signature_headers, HexSignature, SigningKey, X_CLIENT_ID, X_REQUEST_TIMESTAMP,
};
