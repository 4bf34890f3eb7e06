//! [`HmacAuthorizationHeaders`]: the three signing headers, parsed and checked in the
//! order and with the detail texts of the Python SDK (spec §1).

use std::time::Duration;

use http::{header, HeaderMap};
use uuid::{Uuid, Variant};

use super::error::AuthError;
use super::pyfloat;
use super::signature::{X_CLIENT_ID, X_REQUEST_TIMESTAMP};

/// How far the request timestamp may lie from the verifier's clock.
///
/// ```
/// use std::time::Duration;
/// use destiny_sdk::auth::TimestampPolicy;
/// let policy = TimestampPolicy::default();
/// assert_eq!(policy.max_age, Duration::from_secs(300));
/// assert_eq!(policy.max_future, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampPolicy {
    /// Oldest accepted timestamp: `now - timestamp > max_age` is rejected as expired
    /// (Python: five minutes).
    pub max_age: Duration,
    /// Newest accepted timestamp: `timestamp - now > max_future` is rejected.
    /// DEVIATION: Python has no such check (a request stamped ahead could be replayed).
    pub max_future: Duration,
}

impl Default for TimestampPolicy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_future: Duration::from_secs(300),
        }
    }
}

/// The HMAC headers of a request: `Authorization: Signature <hex>`, `X-Client-Id: <uuid>`
/// and `X-Request-Timestamp: <float>`.
///
/// ```
/// use destiny_sdk::auth::{signature_headers, HmacAuthorizationHeaders, TimestampPolicy};
/// let id = uuid::Uuid::new_v4();
/// let mut map = http::HeaderMap::new();
/// map.extend(signature_headers("secret", b"{}", &id, 1733380000.5));
/// let parsed = HmacAuthorizationHeaders::from_headers(&map, 1733380010.0, &TimestampPolicy::default())?;
/// assert_eq!((parsed.client_id, parsed.timestamp), (id, 1733380000.5));
/// # Ok::<(), destiny_sdk::auth::AuthError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HmacAuthorizationHeaders {
    /// The text after `Signature ` in `Authorization` (not checked here; compared later).
    pub signature: String,
    /// The client id from `X-Client-Id` (version 4 or 7).
    pub client_id: Uuid,
    /// `float(X-Request-Timestamp)`; the signature covers `repr()` of this value.
    pub timestamp: f64,
}

/// Starlette decodes header bytes as Latin-1; do the same so no byte sequence can fail.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// A header's bytes, with Python's `if not value` rule: absent or empty is missing.
fn present<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a [u8]> {
    headers
        .get(name)
        .map(|v| v.as_bytes())
        .filter(|b| !b.is_empty())
}

impl HmacAuthorizationHeaders {
    /// Parses and checks the headers at time `now` (seconds since the epoch).
    ///
    /// Checks run in the Python SDK's order, each failure a 401 with its exact detail:
    /// `Authorization` present, scheme (text before the first space) is `Signature`,
    /// `X-Client-Id` present, a UUID, `X-Request-Timestamp` present, then
    /// `now - timestamp <= max_age`. Additional checks (DEVIATIONS, where Python answers
    /// 500 or accepts) run where Python would fail or pass them:
    ///
    /// - a timestamp that is not a number ([`AuthError::invalid_timestamp`]) or is
    ///   `nan`/`inf` ([`AuthError::non_finite_timestamp`]), before the age check;
    /// - a timestamp more than `max_future` ahead ([`AuthError::future_timestamp`]), after
    ///   the age check;
    /// - a client id that is not an RFC 4122 UUID of version 4 or 7
    ///   ([`AuthError::unsupported_client_id_version`]), last (where Python's pydantic
    ///   validation would raise).
    ///
    /// Header bytes are read as Latin-1 as Starlette does, so no value can panic: a
    /// non-ASCII client id is an invalid format, a non-ASCII timestamp is not a number and
    /// a non-ASCII signature simply does not match.
    ///
    /// # Errors
    ///
    /// The [`AuthError`] of the first failing check.
    pub fn from_headers(
        headers: &HeaderMap,
        now: f64,
        policy: &TimestampPolicy,
    ) -> Result<Self, AuthError> {
        let authorization = present(headers, &header::AUTHORIZATION)
            .ok_or_else(AuthError::missing_authorization)?;
        // `str.partition(" ")`: no space means the whole value is the scheme.
        let (scheme, signature) = match authorization.iter().position(|&b| b == b' ') {
            Some(at) => (&authorization[..at], &authorization[at + 1..]),
            None => (authorization, &b""[..]),
        };
        if scheme != b"Signature" {
            return Err(AuthError::unsupported_scheme());
        }

        let client_id = present(headers, &X_CLIENT_ID).ok_or_else(AuthError::missing_client_id)?;
        let client_id = std::str::from_utf8(client_id)
            .ok()
            .and_then(|text| Uuid::parse_str(text).ok())
            .ok_or_else(AuthError::invalid_client_id)?;

        let timestamp =
            present(headers, &X_REQUEST_TIMESTAMP).ok_or_else(AuthError::missing_timestamp)?;
        let timestamp =
            pyfloat::parse(&latin1(timestamp)).map_err(|_| AuthError::invalid_timestamp())?;
        if !timestamp.is_finite() {
            return Err(AuthError::non_finite_timestamp());
        }
        if now - timestamp > policy.max_age.as_secs_f64() {
            return Err(AuthError::expired_timestamp());
        }
        if timestamp - now > policy.max_future.as_secs_f64() {
            return Err(AuthError::future_timestamp());
        }

        if client_id.get_variant() != Variant::RFC4122
            || !matches!(client_id.get_version_num(), 4 | 7)
        {
            return Err(AuthError::unsupported_client_id_version());
        }

        Ok(Self {
            signature: latin1(signature),
            client_id,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::error::AuthErrorKind;
    use http::HeaderValue;

    const NOW: f64 = 1_733_380_000.0;
    const V4: &str = "3a533776-c9ad-4aac-a089-d654d509490c";

    fn map(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            let name = header::HeaderName::from_bytes(name.as_bytes());
            let value = HeaderValue::from_bytes(value);
            if let (Ok(name), Ok(value)) = (name, value) {
                headers.append(name, value);
            }
        }
        headers
    }

    type Pairs<'a> = [(&'a str, &'a [u8])];
    type Row<'a> = (Vec<(&'a str, &'a [u8])>, &'a str);

    fn check(pairs: &Pairs<'_>) -> Result<HmacAuthorizationHeaders, AuthError> {
        HmacAuthorizationHeaders::from_headers(&map(pairs), NOW, &TimestampPolicy::default())
    }

    fn detail(pairs: &Pairs<'_>) -> String {
        match check(pairs) {
            Ok(parsed) => format!("accepted {parsed:?}"),
            Err(err) => {
                assert_eq!(err.status().as_u16(), 401, "{err}");
                err.detail().to_owned()
            }
        }
    }

    #[test]
    fn spec_table_in_order() {
        let auth: (&str, &[u8]) = ("authorization", b"Signature abc");
        let id: (&str, &[u8]) = ("x-client-id", V4.as_bytes());
        let ts: (&str, &[u8]) = ("x-request-timestamp", b"1733380000");
        let with_id = |value: &'static [u8]| vec![auth, ("x-client-id", value), ts];
        let with_ts = |value: &'static [u8]| vec![auth, id, ("x-request-timestamp", value)];
        let (no_auth, unsupported) = (
            "Authorization header missing.",
            "Authorization type not supported.",
        );
        let (no_id, bad_id) = (
            "X-Client-Id header missing",
            "Invalid format for client id, expected UUIDv4 or UUIDv7.",
        );
        let (no_ts, bad_ts) = (
            "X-Request-Timestamp header missing",
            "Invalid format for request timestamp, expected a number.",
        );
        let not_finite = "Invalid request timestamp, expected a finite number.";
        let rows: Vec<Row<'_>> = vec![
            (vec![], no_auth),
            (vec![("authorization", b"")], no_auth),
            (vec![("authorization", b"Bearer abc"), id, ts], unsupported),
            (vec![("authorization", b"signature abc")], unsupported),
            (vec![("authorization", b"Signature\tabc")], unsupported),
            (vec![auth], no_id),
            (with_id(b""), no_id),
            (vec![auth, ("x-client-id", b"nope")], bad_id),
            (
                vec![
                    auth,
                    ("x-client-id", b"3a533776-c9ad-4aac-a089-d654d50949\xe9\xe9"),
                ],
                bad_id,
            ),
            (vec![auth, id], no_ts),
            (with_ts(b""), no_ts),
            (with_ts(b"1733379699.9"), "Token is expired."),
            (with_ts(b"soon"), bad_ts),
            (with_ts(b"17333\xff80000"), bad_ts),
            (with_ts(b"nan"), not_finite),
            (with_ts(b"-inf"), not_finite),
            (
                with_ts(b"1733380300.1"),
                "Request timestamp is too far in the future.",
            ),
            (with_id(b"3a533776-c9ad-1aac-a089-d654d509490c"), bad_id),
            (with_id(b"3a533776-c9ad-4aac-0089-d654d509490c"), bad_id),
            // Python's order: a version problem does not hide a missing timestamp.
            (
                vec![
                    auth,
                    ("x-client-id", b"3a533776-c9ad-1aac-a089-d654d509490c"),
                ],
                no_ts,
            ),
        ];
        for (pairs, want) in rows {
            assert_eq!(detail(&pairs), want, "{pairs:?}");
        }
    }

    #[test]
    fn accepts_python_forms() {
        let parsed = check(&[
            ("authorization", b"Signature abc def"),
            ("x-client-id", b"{3A533776-C9AD-4AAC-A089-D654D509490C}"),
            ("x-request-timestamp", b"\xa01.73338e9"),
        ]);
        let parsed = parsed.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.signature, "abc def");
        assert_eq!(parsed.client_id.to_string(), V4);
        assert_eq!(parsed.timestamp, NOW);

        // No space: the whole value is the scheme and the signature is empty.
        let parsed = check(&[
            ("authorization", b"Signature"),
            ("x-client-id", b"0190b3f6-0000-7000-8000-000000000000"),
            ("x-request-timestamp", b"1733380300"),
        ]);
        assert_eq!(parsed.map(|p| p.signature).ok().as_deref(), Some(""));
    }

    #[test]
    fn window_edges_are_inclusive_and_configurable() {
        let at = |ts: &str, policy: TimestampPolicy| {
            let headers = map(&[
                ("authorization", b"Signature x"),
                ("x-client-id", V4.as_bytes()),
                ("x-request-timestamp", ts.as_bytes()),
            ]);
            HmacAuthorizationHeaders::from_headers(&headers, NOW, &policy).map_err(|e| e.kind())
        };
        let default = TimestampPolicy::default();
        assert!(at("1733379700", default).is_ok());
        assert!(at("1733380300", default).is_ok());
        let tight = TimestampPolicy {
            max_age: Duration::from_secs(10),
            max_future: Duration::from_secs(1),
        };
        assert_eq!(
            at("1733379989", tight).err(),
            Some(AuthErrorKind::ExpiredTimestamp)
        );
        assert_eq!(
            at("1733380002", tight).err(),
            Some(AuthErrorKind::FutureTimestamp)
        );
        assert!(at("1733380001", tight).is_ok());
    }

    #[test]
    fn signature_text_keeps_latin1_bytes() {
        let parsed = check(&[
            ("authorization", b"Signature \xe9"),
            ("x-client-id", V4.as_bytes()),
            ("x-request-timestamp", b"1733380000"),
        ]);
        assert_eq!(parsed.map(|p| p.signature).ok().as_deref(), Some("\u{e9}"));
    }
}
