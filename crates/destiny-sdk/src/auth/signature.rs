//! HMAC-SHA256 request signatures (spec §1), byte-compatible with the Python SDK's
//! `create_signature`.
//!
//! The message is `body + b":" + client_id.bytes + b":" + repr(timestamp)`; it is fed to
//! the HMAC in parts, so signing a large body never copies it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use http::{header, HeaderName, HeaderValue};

use super::pyfloat::Repr;
use crate::secret::Secret;

/// `X-Client-Id`: the robot's client id, hyphenated lowercase UUID.
pub const X_CLIENT_ID: HeaderName = HeaderName::from_static("x-client-id");

/// `X-Request-Timestamp`: Python's `repr()` of the signing time in seconds since the epoch.
pub const X_REQUEST_TIMESTAMP: HeaderName = HeaderName::from_static("x-request-timestamp");

/// The three headers of a signed request (spec §1):
/// `Authorization: Signature <hex>`, `X-Client-Id: <uuid>` (hyphenated lowercase) and
/// `X-Request-Timestamp: <repr(timestamp)>`.
///
/// ```
/// use destiny_sdk::auth::signature_headers;
/// let id = uuid::Uuid::parse_str("3a533776-c9ad-4aac-a089-d654d509490c")?;
/// let [auth, client, stamp] = signature_headers("secret-secret", b"", &id, 1733380000.0);
/// assert_eq!(auth.0, http::header::AUTHORIZATION);
/// assert_eq!(
///     auth.1,
///     "Signature 3a5f23286f1bd0177cc72b65a9ca60686a45b9e6b0b3847c541ab007aeb6bc23"
/// );
/// assert_eq!(client.1, "3a533776-c9ad-4aac-a089-d654d509490c");
/// assert_eq!((stamp.0.as_str(), stamp.1.to_str()?), ("x-request-timestamp", "1733380000.0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn signature_headers(
    secret: &str,
    body: &[u8],
    client_id: &Uuid,
    timestamp: f64,
) -> [(HeaderName, HeaderValue); 3] {
    SigningKey::new(secret).headers(body, client_id, timestamp)
}

/// A header value from text made of visible ASCII only (hex, UUID, float repr).
fn ascii_value(text: &str) -> HeaderValue {
    // The callers only pass visible ASCII, which `HeaderValue` always accepts; the
    // fallback keeps this free of panics.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

type HmacSha256 = Hmac<Sha256>;

/// Signs a request as the Python SDK's `create_signature(secret, body, client_id, timestamp)`.
///
/// Returns the lowercase hex HMAC-SHA256, keyed with the UTF-8 bytes of `secret` (not
/// hex-decoded), of `body + b":" + client_id (16 raw bytes) + b":" + repr(timestamp)`.
///
/// ```
/// use destiny_sdk::auth::create_signature;
/// let id = uuid::Uuid::parse_str("3a533776-c9ad-4aac-a089-d654d509490c")?;
/// assert_eq!(
///     create_signature("secret-secret", b"", &id, 1733380000.0),
///     "3a5f23286f1bd0177cc72b65a9ca60686a45b9e6b0b3847c541ab007aeb6bc23",
/// );
/// # Ok::<(), uuid::Error>(())
/// ```
pub fn create_signature(secret: &str, body: &[u8], client_id: &Uuid, timestamp: f64) -> String {
    SigningKey::new(secret)
        .sign(body, client_id, timestamp)
        .as_str()
        .to_owned()
}

/// An HMAC key ready to sign: the keyed state is computed once and cloned per message,
/// which saves two SHA-256 blocks per signature when one secret signs many requests.
///
/// `Debug` never shows the key.
///
/// ```
/// use destiny_sdk::auth::SigningKey;
/// let key = SigningKey::new("secret-secret");
/// let id = uuid::Uuid::nil();
/// let sig = key.sign(b"{}", &id, 1.5);
/// assert_eq!(sig.as_str().len(), 64);
/// assert_eq!(format!("{key:?}"), "SigningKey(***)");
/// ```
#[derive(Clone)]
pub struct SigningKey {
    /// The HMAC state after absorbing the key (inner and outer pads).
    keyed: HmacSha256,
}

impl SigningKey {
    /// Keys an HMAC-SHA256 with the UTF-8 bytes of `secret`.
    pub fn new(secret: &str) -> Self {
        Self {
            keyed: keyed_hmac(secret.as_bytes()),
        }
    }

    /// Keys an HMAC-SHA256 with a [`Secret`].
    pub fn from_secret(secret: &Secret) -> Self {
        Self::new(secret.expose())
    }

    /// Signs `body`, `client_id` and `timestamp` (see [`create_signature`]).
    pub fn sign(&self, body: &[u8], client_id: &Uuid, timestamp: f64) -> HexSignature {
        let stamp = Repr::new(timestamp);
        let mut mac = self.keyed.clone();
        mac.update(body);
        mac.update(b":");
        mac.update(client_id.as_bytes());
        mac.update(b":");
        mac.update(stamp.as_str().as_bytes());
        HexSignature::from_digest(&mac.finalize().into_bytes())
    }

    /// Signs and returns the three request headers (see [`signature_headers`]).
    pub fn headers(
        &self,
        body: &[u8],
        client_id: &Uuid,
        timestamp: f64,
    ) -> [(HeaderName, HeaderValue); 3] {
        let signature = self.sign(body, client_id, timestamp);
        let mut authorization = String::with_capacity(10 + 64);
        authorization.push_str("Signature ");
        authorization.push_str(signature.as_str());
        let mut id = Uuid::encode_buffer();
        let id = client_id.hyphenated().encode_lower(&mut id);
        [
            (header::AUTHORIZATION, ascii_value(&authorization)),
            (X_CLIENT_ID, ascii_value(id)),
            (
                X_REQUEST_TIMESTAMP,
                ascii_value(Repr::new(timestamp).as_str()),
            ),
        ]
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// HMAC accepts keys of any length (long keys are hashed), so keying cannot fail.
fn keyed_hmac(key: &[u8]) -> HmacSha256 {
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // `Hmac::new_from_slice` never returns an error; this arm is unreachable.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

/// A signature as 64 lowercase hex characters, held inline.
///
/// ```
/// use destiny_sdk::auth::SigningKey;
/// let sig = SigningKey::new("k").sign(b"", &uuid::Uuid::nil(), 0.0);
/// assert!(sig.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexSignature([u8; 64]);

impl HexSignature {
    fn from_digest(digest: &[u8]) -> Self {
        let mut out = [0u8; 64];
        // A SHA-256 digest is 32 bytes, exactly the 64 hex digits `out` holds, so the
        // length check inside cannot fail.
        let _ = hex::encode_to_slice(digest, &mut out);
        Self(out)
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The hex text as bytes, for constant-time comparison.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for HexSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for HexSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HexSignature({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_vector_with_integral_timestamp() {
        let id = Uuid::parse_str("3a533776-c9ad-4aac-a089-d654d509490c").ok();
        let id = id.unwrap_or_default();
        assert_eq!(
            create_signature("secret-secret", b"", &id, 1733380000.0),
            "3a5f23286f1bd0177cc72b65a9ca60686a45b9e6b0b3847c541ab007aeb6bc23"
        );
    }

    #[test]
    fn parts_equal_one_shot_hmac_of_the_whole_message() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let body = b"{\"a\": 1}";
        let mut msg = body.to_vec();
        msg.push(b':');
        msg.extend_from_slice(id.as_bytes());
        msg.extend_from_slice(b":1e+16");
        let mut mac = keyed_hmac(b"key");
        mac.update(&msg);
        let want = HexSignature::from_digest(&mac.finalize().into_bytes());
        assert_eq!(create_signature("key", body, &id, 1e16), want.as_str());
    }

    #[test]
    fn different_inputs_give_different_signatures() {
        let id = Uuid::nil();
        let base = create_signature("k", b"body", &id, 1.0);
        assert_ne!(base, create_signature("k2", b"body", &id, 1.0));
        assert_ne!(base, create_signature("k", b"bodY", &id, 1.0));
        assert_ne!(base, create_signature("k", b"body", &Uuid::max(), 1.0));
        assert_ne!(base, create_signature("k", b"body", &id, 1.5));
    }
}
