//! Properties over raw fuzzer input, one public function per fuzz target.
//!
//! Each function takes arbitrary bytes, drives the real `destiny-sdk` code with them and
//! asserts what must hold (panicking otherwise, which the fuzzer records as a crash and a
//! test reports as a failure). Shared verbatim by the fuzz targets (`fuzz/fuzz_targets/`)
//! and by `crates/destiny-sdk/tests/fuzz_regressions.rs`.
//!
//! - [`hmac_headers`]: header parsing, the verifiers and the axum layer agree with
//!   `create_signature`.
//! - [`pyfloat`]: Python `repr(float)` layout and round trip; `float(str)` against an
//!   independent implementation of Python's grammar.
//! - [`duration`]: both lease parsers, positivity, canonical ISO 8601 round trip.
//! - [`reference_jsonl`]: `JsonlReader<Reference>` against `parse_line`, and
//!   `to_line` / `parse_line` round trips.
//! - [`result_file`]: a result file checked line by line by the SDK's `ResultFileCheck`,
//!   which the repository's import uses,
//!   with the round trips of every accepted entry and of the validation file.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use destiny_sdk::auth::pyfloat::{self, Repr};
use destiny_sdk::auth::{
    create_signature, signature_headers, AuthError, AuthErrorKind, HmacAuth, HmacAuthLayer,
    HmacAuthMethod, HmacAuthorizationHeaders, MultiClientHmacAuth, SignedRequest, StaticSecrets,
    TimestampPolicy, VerifiedClient, X_CLIENT_ID, X_REQUEST_TIMESTAMP,
};
use destiny_sdk::duration::{DurationError, LeaseDuration};
use destiny_sdk::jsonl::{self, JsonlError, JsonlReader, JsonlWriter};
use destiny_sdk::models::{
    ids, Enhancement, EnhancementContent, EnhancementResultEntry, ExternalIdentifier, Identifier,
    Reference, RobotResultValidationEntry,
};
use destiny_sdk::result_file::{Outcome, ResultFileCheck, MAX_RESULT_DEPTH};
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::{Layer, Service};
use uuid::Uuid;

/// A fuzz target: the property over one input.
pub type Property = fn(&[u8]);

/// Every target by name (the fuzz target binaries and the corpus directories use the
/// same names).
pub const TARGETS: &[(&str, Property)] = &[
    ("hmac_headers", hmac_headers),
    ("pyfloat", pyfloat),
    ("duration", duration),
    ("reference_jsonl", reference_jsonl),
    ("result_file", result_file),
];

// ---------------------------------------------------------------------------------------
// hmac_headers
// ---------------------------------------------------------------------------------------

/// The verifiers' secret.
pub const SECRET: &str = "fuzz-secret";
/// The verifier's clock unless the input pins it next to its own timestamp.
pub const NOW: f64 = 1_733_380_000.0;

/// Input layout: `flags, limit, offset_lo, offset_hi`, then `Authorization`, `X-Client-Id`,
/// `X-Request-Timestamp` and the body separated by `\n` (a byte no header value can hold).
///
/// Flags: bits 0-2 send each header; bit 3 replaces the `Authorization` value with the
/// correct signature of the other fields; bit 4 sets the clock to the input's timestamp
/// plus `offset` seconds (else [`NOW`] plus `offset`); bit 5 appends a second, different
/// value to every header sent; bit 6 sends `Content-Length: offset`; bit 7 uses a
/// zero-width timestamp window. `limit * 16` is the layer's body limit.
///
/// Properties: parsing never panics; an accepted parse has a finite timestamp inside the
/// window, a v4/v7 client id and exactly the header texts; a rejection is a 401 with a
/// detail; repeated headers count by their first value; [`HmacAuth`] accepts exactly when
/// the parse succeeds and its signature equals `create_signature` of the parsed values;
/// [`MultiClientHmacAuth`] and [`HmacAuthLayer`] give the same verdict (the layer: 413
/// exactly when the body or `Content-Length` is over the limit, else the verifier's
/// status and `{"detail"}`, and the inner service sees the same body and client); and
/// `signature_headers` of any accepted values verifies.
pub fn hmac_headers(data: &[u8]) {
    let Some((&[flags, limit, lo, hi], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let offset = i16::from_le_bytes([lo, hi]);
    let body_limit = usize::from(limit) * 16;
    let mut fields = rest.splitn(4, |&b| b == b'\n');
    let mut auth_field = fields.next().unwrap_or_default().to_vec();
    let id_field = fields.next().unwrap_or_default();
    let ts_field = fields.next().unwrap_or_default();
    let body = fields.next().unwrap_or_default();

    // What the fields would parse to, independently of the code under test.
    let id_guess = std::str::from_utf8(id_field)
        .ok()
        .and_then(|t| Uuid::parse_str(t).ok());
    let ts_guess = pyfloat::parse(&latin1(ts_field))
        .ok()
        .filter(|t| t.is_finite());
    let sign_correctly = flags & 0x08 != 0;
    if sign_correctly {
        if let (Some(id), Some(ts)) = (id_guess, ts_guess) {
            auth_field = format!("Signature {}", create_signature(SECRET, body, &id, ts)).into();
        }
    }
    let now = match ts_guess {
        Some(ts) if flags & 0x10 != 0 => ts + f64::from(offset),
        _ => NOW + f64::from(offset),
    };
    let policy = if flags & 0x80 != 0 {
        TimestampPolicy {
            max_age: Duration::ZERO,
            max_future: Duration::ZERO,
        }
    } else {
        TimestampPolicy::default()
    };

    let sent = [
        (flags & 0x01 != 0, header::AUTHORIZATION, &auth_field[..]),
        (flags & 0x02 != 0, X_CLIENT_ID, id_field),
        (flags & 0x04 != 0, X_REQUEST_TIMESTAMP, ts_field),
    ];
    let mut headers = HeaderMap::new();
    for (on, name, value) in &sent {
        if let (true, Ok(value)) = (on, HeaderValue::from_bytes(value)) {
            headers.append(name.clone(), value);
        }
    }
    if flags & 0x40 != 0 {
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(offset.unsigned_abs()),
        );
    }

    let parsed = HmacAuthorizationHeaders::from_headers(&headers, now, &policy);
    let again = HmacAuthorizationHeaders::from_headers(&headers, now, &policy);
    assert_eq!(
        outcome(&parsed),
        outcome(&again),
        "parsing is deterministic"
    );
    match &parsed {
        Ok(p) => check_accepted_headers(p, &headers, now, &policy),
        Err(e) => {
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{e}");
            assert!(!e.detail().is_empty(), "{e:?}");
        }
    }

    if flags & 0x20 != 0 {
        // A second value of each header must not change anything: the first one counts.
        let mut doubled = headers.clone();
        doubled.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Signature 0"),
        );
        doubled.append(X_CLIENT_ID, HeaderValue::from_static(OTHER_ID));
        doubled.append(X_REQUEST_TIMESTAMP, HeaderValue::from_static("0"));
        let with_doubles = HmacAuthorizationHeaders::from_headers(&doubled, now, &policy);
        if headers.len() == 3 + usize::from(headers.contains_key(header::CONTENT_LENGTH)) {
            assert_eq!(
                outcome(&with_doubles),
                outcome(&parsed),
                "first value counts"
            );
        }
    }

    let request = SignedRequest {
        headers: &headers,
        body,
        now,
        policy,
    };
    let verdict = HmacAuth::new(SECRET).verify(&request);
    let should_accept = parsed
        .as_ref()
        .is_ok_and(|p| p.signature == create_signature(SECRET, body, &p.client_id, p.timestamp));
    assert_eq!(
        verdict.is_ok(),
        should_accept,
        "HmacAuth accepts exactly the signature create_signature gives: {verdict:?} for {parsed:?}"
    );
    match (&verdict, &parsed) {
        (Ok(client), Ok(p)) => assert_eq!(client.client_id(), p.client_id),
        (Err(e), Ok(_)) => assert_eq!(e.kind(), AuthErrorKind::InvalidSignature),
        (Err(e), Err(first)) => assert_eq!(error_key(e), error_key(first)),
        (Ok(_), Err(_)) => unreachable!("checked above"),
    }
    if sign_correctly && id_guess.is_some() && ts_guess.is_some() && parsed.is_ok() {
        assert!(verdict.is_ok(), "a correctly signed request is accepted");
    }
    if verdict.is_ok() {
        let wrong = HmacAuth::new("another-secret").verify(&request);
        assert!(wrong.is_err(), "another secret must not verify");
    }

    // The same verdict through the trait, a per-client secret, and an unknown client.
    let via_trait = block_on(HmacAuth::new(SECRET).authenticate(request));
    assert_eq!(verdict_key(&via_trait), verdict_key(&verdict));
    let secrets: StaticSecrets = id_guess.map(|id| (id, SECRET)).into_iter().collect();
    let multi = block_on(MultiClientHmacAuth::new(secrets).authenticate(request));
    assert_eq!(
        verdict_key(&multi),
        verdict_key(&verdict),
        "per-client secret"
    );
    let nobody = block_on(MultiClientHmacAuth::new(StaticSecrets::new()).authenticate(request));
    match (&nobody, &parsed) {
        (Err(e), Ok(_)) => assert_eq!(e.kind(), AuthErrorKind::UnknownClient),
        (Err(e), Err(first)) => assert_eq!(error_key(e), error_key(first)),
        (Ok(_), _) => panic!("an unknown client was accepted"),
    }

    check_layer(&headers, body, now, policy, body_limit, &verdict);

    if let Ok(p) = &parsed {
        check_signing_round_trip(p, body);
    }
}

/// A v4 id different from any the fuzzer is likely to send.
const OTHER_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Starlette reads header bytes as Latin-1.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// A comparable view of an [`AuthError`].
fn error_key(e: &AuthError) -> (AuthErrorKind, u16, String) {
    (e.kind(), e.status().as_u16(), e.detail().to_owned())
}

/// A comparable view of a header parse.
fn outcome(
    r: &Result<HmacAuthorizationHeaders, AuthError>,
) -> Result<HmacAuthorizationHeaders, (AuthErrorKind, u16, String)> {
    r.as_ref().map_err(error_key).cloned()
}

/// A comparable view of a verdict.
fn verdict_key(
    r: &Result<VerifiedClient, AuthError>,
) -> Result<Uuid, (AuthErrorKind, u16, String)> {
    r.as_ref().map(VerifiedClient::client_id).map_err(error_key)
}

fn check_accepted_headers(
    p: &HmacAuthorizationHeaders,
    headers: &HeaderMap,
    now: f64,
    policy: &TimestampPolicy,
) {
    assert!(p.timestamp.is_finite(), "{p:?}");
    assert!(
        now - p.timestamp <= policy.max_age.as_secs_f64(),
        "{p:?} at {now}"
    );
    assert!(
        p.timestamp - now <= policy.max_future.as_secs_f64(),
        "{p:?} at {now}"
    );
    assert!(ids::is_accepted(&p.client_id), "{p:?}");
    assert!(matches!(p.client_id.get_version_num(), 4 | 7), "{p:?}");
    let bytes = |name: &HeaderName| headers.get(name).map(HeaderValue::as_bytes);
    let auth = bytes(&header::AUTHORIZATION).unwrap_or_default();
    let signature = match auth.strip_prefix(b"Signature") {
        Some([]) => "".to_owned(),
        Some([b' ', rest @ ..]) => latin1(rest),
        _ => panic!("accepted a scheme other than `Signature`: {auth:?}"),
    };
    assert_eq!(p.signature, signature);
    let id_text = std::str::from_utf8(bytes(&X_CLIENT_ID).unwrap_or_default());
    assert_eq!(
        id_text.ok().and_then(|t| Uuid::parse_str(t).ok()),
        Some(p.client_id)
    );
    let ts_text = latin1(bytes(&X_REQUEST_TIMESTAMP).unwrap_or_default());
    assert_eq!(
        pyfloat::parse(&ts_text).map(f64::to_bits),
        Ok(p.timestamp.to_bits())
    );
}

/// What `signature_headers` sends for accepted values parses back to them and verifies.
fn check_signing_round_trip(p: &HmacAuthorizationHeaders, body: &[u8]) {
    let mut signed = HeaderMap::new();
    signed.extend(signature_headers(SECRET, body, &p.client_id, p.timestamp));
    let policy = TimestampPolicy::default();
    let back = HmacAuthorizationHeaders::from_headers(&signed, p.timestamp, &policy);
    let back = back.unwrap_or_else(|e| panic!("signature_headers for {p:?} rejected: {e}"));
    assert_eq!(back.client_id, p.client_id);
    assert_eq!(back.timestamp.to_bits(), p.timestamp.to_bits());
    let request = SignedRequest {
        headers: &signed,
        body,
        now: p.timestamp,
        policy,
    };
    let verdict = HmacAuth::new(SECRET).verify(&request);
    assert_eq!(verdict.map(|c| c.client_id()).ok(), Some(p.client_id));
}

/// The layer answers as the verifier does, 413 past the body limit.
fn check_layer(
    headers: &HeaderMap,
    body: &[u8],
    now: f64,
    policy: TimestampPolicy,
    body_limit: usize,
    verdict: &Result<VerifiedClient, AuthError>,
) {
    let layer = HmacAuthLayer::new(HmacAuth::new(SECRET))
        .with_body_limit(body_limit)
        .with_clock(move || now)
        .with_policy(policy);
    let inner = tower::service_fn(|request: Request<Body>| async move {
        let client = request.extensions().get::<VerifiedClient>().copied();
        let seen = request.into_body().collect().await.map(|b| b.to_bytes());
        let mut response = Response::new(Body::from(seen.unwrap_or_default()));
        if let Some(client) = client {
            let id = HeaderValue::from_str(&client.client_id().to_string());
            if let Ok(id) = id {
                response.headers_mut().insert("x-verified-client", id);
            }
        }
        Ok::<_, Infallible>(response)
    });
    let mut service = layer.layer(inner);
    let mut request = Request::new(Body::from(Bytes::copy_from_slice(body)));
    *request.headers_mut() = headers.clone();
    let response = match block_on(service.call(request)) {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let verified = response.headers().get("x-verified-client").cloned();
    let answer = block_on(response.into_body().collect()).map(|b| b.to_bytes());
    let answer = answer.unwrap_or_else(|e| panic!("response body: {e}"));

    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = body.len() > body_limit || declared.is_some_and(|d| d > body_limit as u64);
    if too_large {
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer, detail_json(&AuthError::body_too_large(body_limit)));
        return;
    }
    match verdict {
        Ok(client) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(&answer[..], body, "the inner service sees the signed body");
            let want = client.client_id().to_string();
            assert_eq!(
                verified.as_ref().and_then(|v| v.to_str().ok()),
                Some(&*want)
            );
        }
        Err(e) => {
            assert_eq!(status, e.status());
            assert_eq!(answer, detail_json(e));
            assert!(verified.is_none());
        }
    }
}

fn detail_json(e: &AuthError) -> Bytes {
    let json = serde_json::json!({ "detail": e.detail() });
    Bytes::from(json.to_string())
}

/// Polls a future that is ready without waiting (everything here is in memory).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
    panic!("an in-memory future did not complete")
}

// ---------------------------------------------------------------------------------------
// pyfloat
// ---------------------------------------------------------------------------------------

/// Input: the first 8 bytes (little endian) are an `f64` whose `repr` is checked; the
/// whole input (lossy UTF-8) is a text for `parse`.
///
/// Properties: `parse(repr(x))` is `x` bit for bit (NaN aside); `repr` follows CPython's
/// layout (fixed notation with a point for `1e-4 <= |x| < 1e16` and zero, else a signed
/// exponent of at least two digits; no superfluous zeros) with the shortest digits
/// (Rust's, except a half-even tie one lower); `parse` accepts exactly the texts of
/// Python's `float()` grammar (as implemented independently here, ASCII digits) with the
/// value of the cleaned text; accepted values re-print and re-parse to themselves.
pub fn pyfloat(data: &[u8]) {
    if let Some(bytes) = data.first_chunk::<8>() {
        check_repr(f64::from_bits(u64::from_le_bytes(*bytes)));
    }
    check_parse(&String::from_utf8_lossy(data));
}

/// CPython's `repr(float)` rules for `x`.
pub fn check_repr(x: f64) {
    let text = pyfloat::repr(x);
    assert_eq!(Repr::new(x).as_str(), text);
    assert_eq!(Repr::new(x).to_string(), text);
    assert!(text.is_ascii() && text.len() <= 24, "{text:?}");
    if x.is_nan() {
        assert_eq!(text, "nan");
        return;
    }
    let back = pyfloat::parse(&text).unwrap_or_else(|e| panic!("repr({x:e}) = {text:?}: {e}"));
    assert_eq!(back.to_bits(), x.to_bits(), "{x:e} -> {text:?} -> {back:e}");
    assert_eq!(text.starts_with('-'), x.is_sign_negative(), "{text:?}");
    let body = text.strip_prefix('-').unwrap_or(&text);
    if x.is_infinite() {
        assert_eq!(body, "inf");
        return;
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let abs = x.abs();
    let significant = if abs == 0.0 || (1e-4..1e16).contains(&abs) {
        let (int, frac) = body
            .split_once('.')
            .unwrap_or_else(|| panic!("fixed notation without a point: {text:?}"));
        assert!(all_digits(int) && all_digits(frac), "{text:?}");
        assert!(
            int == "0" || !int.starts_with('0'),
            "leading zero: {text:?}"
        );
        assert!(
            frac == "0" || !frac.ends_with('0'),
            "trailing zero: {text:?}"
        );
        let joined = format!("{int}{frac}");
        joined.trim_matches('0').to_owned()
    } else {
        let (mantissa, exp) = body
            .split_once('e')
            .unwrap_or_else(|| panic!("exponent form without `e`: {text:?}"));
        let digits = exp.strip_prefix(['+', '-']).unwrap_or("");
        assert!(all_digits(digits) && digits.len() >= 2, "{text:?}");
        assert!(digits.len() == 2 || !digits.starts_with('0'), "{text:?}");
        let rust = format!("{abs:e}");
        let rust_exp = rust.split_once('e').map_or("", |(_, e)| e);
        let exp_value: i32 = exp.parse().unwrap_or(i32::MIN);
        assert_eq!(Ok(exp_value), rust_exp.parse::<i32>(), "{text:?} vs {rust}");
        let (lead, rest) = mantissa.split_at(1);
        assert!(all_digits(lead) && lead != "0", "{text:?}");
        if !rest.is_empty() {
            let frac = rest.strip_prefix('.').unwrap_or("");
            assert!(all_digits(frac) && !frac.ends_with('0'), "{text:?}");
        }
        mantissa.replace('.', "")
    };
    if abs == 0.0 {
        assert_eq!(body, "0.0");
        return;
    }
    // The same shortest digits as Rust's `{:e}`, except that CPython rounds an exact tie
    // half to even where Rust rounds up: then only the last digit is one lower (and even).
    let rust = format!("{abs:e}");
    let rust_digits: String = rust
        .split('e')
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if significant != rust_digits {
        let (py, ru) = (significant.as_bytes(), rust_digits.as_bytes());
        assert_eq!(py.len(), ru.len(), "{text:?} vs {rust}");
        let n = py.len();
        assert_eq!(py[..n - 1], ru[..n - 1], "{text:?} vs {rust}");
        assert_eq!(py[n - 1] + 1, ru[n - 1], "{text:?} vs {rust}");
        assert_eq!(py[n - 1] % 2, 0, "{text:?} vs {rust}");
    }
}

/// `pyfloat::parse` against [`python_float_text`].
pub fn check_parse(text: &str) {
    let got = pyfloat::parse(text);
    let oracle = python_float_text(text);
    assert_eq!(
        got.is_ok(),
        oracle.is_some(),
        "{text:?}: parse gives {got:?}, Python's grammar says {oracle:?}"
    );
    let (Ok(value), Some(clean)) = (got, oracle) else {
        if let Err(e) = pyfloat::parse(text) {
            assert!(e
                .to_string()
                .starts_with("could not convert string to float: "));
        }
        return;
    };
    let want: f64 = clean
        .parse()
        .unwrap_or_else(|e| panic!("{clean:?} (from {text:?}): {e}"));
    if want.is_nan() {
        assert!(value.is_nan(), "{text:?}");
    } else {
        assert_eq!(value.to_bits(), want.to_bits(), "{text:?}");
    }
    check_repr(value);
}

/// Python's `float(str)` grammar, written from the language reference independently of
/// `pyfloat::parse`: the cleaned text (no whitespace, no `_`) when `text` is a float,
/// else `None`. Non-ASCII whitespace counts as a space (CPython maps it), then ASCII
/// whitespace is stripped; digits are ASCII only (the documented deviation).
pub fn python_float_text(text: &str) -> Option<String> {
    // `str.isspace()` outside ASCII (Python 3.12).
    const UNICODE_SPACE: &[char] = &[
        '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}',
        '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}', '\u{200a}', '\u{2028}',
        '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
    ];
    let mapped: String = text
        .chars()
        .map(|c| if UNICODE_SPACE.contains(&c) { ' ' } else { c })
        .collect();
    let t = mapped.trim_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if !t.is_ascii() {
        return None;
    }
    let (sign, unsigned) = match t.as_bytes().first() {
        Some(b'+' | b'-') => t.split_at(1),
        _ => ("", t),
    };
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return Some(format!("{sign}{lower}"));
    }
    let b = unsigned.as_bytes();
    let mut out = String::from(sign);
    let mut i = 0;
    // digitpart ::= digit (["_"] digit)*
    let digitpart = |i: &mut usize, out: &mut String| -> bool {
        if !b.get(*i).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while let Some(&c) = b.get(*i) {
            if c.is_ascii_digit() {
                out.push(char::from(c));
                *i += 1;
            } else if c == b'_' && b.get(*i + 1).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            } else {
                break;
            }
        }
        true
    };
    // number ::= [digitpart] "." digitpart | digitpart ["."]
    let int = digitpart(&mut i, &mut out);
    if b.get(i) == Some(&b'.') {
        out.push('.');
        i += 1;
        let frac = digitpart(&mut i, &mut out);
        if !int && !frac {
            return None;
        }
    } else if !int {
        return None;
    }
    // exponent ::= ("e" | "E") [sign] digitpart
    if matches!(b.get(i), Some(b'e' | b'E')) {
        out.push('e');
        i += 1;
        if let Some(&s @ (b'+' | b'-')) = b.get(i) {
            out.push(char::from(s));
            i += 1;
        }
        if !digitpart(&mut i, &mut out) {
            return None;
        }
    }
    (i == b.len()).then_some(out)
}

// ---------------------------------------------------------------------------------------
// duration
// ---------------------------------------------------------------------------------------

/// pydantic's largest `timedelta`: 999,999,999 days and a part of a day, in microseconds.
const MAX_LEASE_MICROS: u128 = 1_000_000_000 * 86_400 * 1_000_000 - 1;

/// Input: a text (lossy UTF-8).
///
/// Properties: neither parser panics; errors carry a reason and a shortened input;
/// `FromStr` accepts every text `parse_pydantic` accepts, with the same value; a text
/// starting with `-` is never accepted; every accepted value is positive, whole
/// microseconds, within pydantic's range, and its `Display` is canonical ISO 8601 that
/// both parsers (and serde) read back to the same value.
pub fn duration(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pydantic = LeaseDuration::parse_pydantic(&text);
    let any = text.parse::<LeaseDuration>();
    for result in [&pydantic, &any] {
        if let Err(e) = result {
            check_duration_error(e);
        }
    }
    if let Ok(d) = &pydantic {
        assert_eq!(any.as_ref().ok(), Some(d), "{text:?}: FromStr disagrees");
    }
    if text.starts_with('-') {
        assert!(pydantic.is_err() && any.is_err(), "{text:?} is negative");
    }
    if let Ok(d) = any {
        check_lease(d);
    }
    // serde reads the same as FromStr.
    let json = serde_json::Value::String(text.clone().into_owned());
    let via_serde = serde_json::from_value::<LeaseDuration>(json);
    assert_eq!(
        via_serde.ok(),
        any.ok(),
        "{text:?}: serde disagrees with FromStr"
    );
}

fn check_duration_error(e: &DurationError) {
    assert!(!e.reason().is_empty(), "{e:?}");
    let input = match e {
        DurationError::Invalid { input, .. } | DurationError::NotPositive { input } => input,
        _ => return,
    };
    assert!(input.chars().count() <= 64 + 3, "{e:?}");
    let _ = e.to_string();
}

/// An accepted lease: range, canonical text and round trips.
pub fn check_lease(d: LeaseDuration) {
    let micros = d.as_micros();
    assert!(micros > 0 && micros <= MAX_LEASE_MICROS, "{d:?}");
    assert_eq!(d.as_std().subsec_nanos() % 1_000, 0, "{d:?}");
    let text = d.to_string();
    assert!(is_canonical_iso(&text), "{d:?} displays as {text:?}");
    assert_eq!(LeaseDuration::parse_pydantic(&text), Ok(d), "{text:?}");
    assert_eq!(text.parse::<LeaseDuration>(), Ok(d), "{text:?}");
    let json = serde_json::to_string(&d).unwrap_or_default();
    assert_eq!(json, format!("\"{text}\""));
    assert_eq!(serde_json::from_str::<LeaseDuration>(&json).ok(), Some(d));
    assert_eq!(LeaseDuration::try_from(d.as_std()), Ok(d));
    let signed = d.to_signed_duration();
    assert_eq!(
        u64::try_from(signed.as_secs()).ok(),
        Some(d.as_std().as_secs())
    );
    assert_eq!(
        u32::try_from(signed.subsec_nanos()).ok(),
        Some(d.as_std().subsec_nanos())
    );
    if micros.is_multiple_of(1_000_000) {
        assert_eq!(LeaseDuration::from_secs(d.as_std().as_secs()), Ok(d));
    }
}

/// `P[nD][T[nH][nM][n[.f]S]]`: no zero or out-of-range component, `T` only before a
/// time part, at most six fraction digits without trailing zeros, something present.
fn is_canonical_iso(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if !date.is_empty() && date.strip_suffix('D').and_then(number).is_none() {
        return false;
    }
    let Some(mut time) = time else {
        return !date.is_empty();
    };
    if time.is_empty() {
        return false;
    }
    for (unit, limit) in [('H', 24), ('M', 60)] {
        if let Some((n, after)) = time.split_once(unit) {
            if number(n).is_none_or(|v| v >= limit) {
                return false;
            }
            time = after;
        }
    }
    if time.is_empty() {
        return true;
    }
    let Some(seconds) = time.strip_suffix('S') else {
        return false;
    };
    match seconds.split_once('.') {
        None => number(seconds).is_some_and(|v| v < 60),
        Some((whole, frac)) => {
            let whole_ok = whole == "0" || number(whole).is_some_and(|v| v < 60);
            whole_ok
                && (1..=6).contains(&frac.len())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !frac.ends_with('0')
        }
    }
}

// ---------------------------------------------------------------------------------------
// reference_jsonl
// ---------------------------------------------------------------------------------------

/// Input: a reference file.
///
/// Properties: `JsonlReader<Reference>` never panics and yields, for each non-blank
/// line up to the first one that is not UTF-8, exactly what `parse_line` gives for it
/// (errors naming that line), then stops; every accepted reference writes (with
/// `to_line` and `JsonlWriter`) as one line free of raw line breaks and separators that
/// is accepted again, re-writes identically and, unless the value held U+0085, U+2028 or
/// U+2029 (written as `\n` on purpose), parses back to an equal value.
pub fn reference_jsonl(data: &[u8]) {
    let items: Vec<Result<Reference, JsonlError>> = JsonlReader::new(data).collect();
    let mut expected = Vec::new();
    for (index, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let Ok(text) = std::str::from_utf8(line) else {
            expected.push(Err(index + 1));
            break;
        };
        if !text.trim().is_empty() {
            expected.push(jsonl::parse_line::<Reference>(text).map_err(|_| index + 1));
        }
    }
    assert_eq!(items.len(), expected.len(), "one item per non-blank line");
    for (item, want) in items.iter().zip(&expected) {
        match (item, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(JsonlError::Invalid { line, .. }), Err(want_line)) => {
                assert_eq!(line, want_line);
            }
            (got, want) => panic!("reader gave {got:?}, parse_line {want:?}"),
        }
    }
    let accepted: Vec<&Reference> = items.iter().filter_map(|r| r.as_ref().ok()).collect();
    for reference in &accepted {
        check_round_trip(*reference, reference_ids_are_fixpoints(reference));
    }
    // A file written with JsonlWriter reads back to the same references.
    let mut writer = JsonlWriter::new(Vec::new());
    for reference in &accepted {
        writer
            .write(*reference)
            .unwrap_or_else(|e| panic!("{reference:?}: {e}"));
    }
    assert_eq!(writer.lines(), accepted.len());
    let file = writer.into_inner();
    assert_eq!(file.iter().filter(|&&b| b == b'\n').count(), accepted.len());
    let reread: Vec<Reference> = JsonlReader::new(&file[..])
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("re-reading written references: {e}"));
    assert_eq!(reread.len(), accepted.len());
    for (again, original) in reread.iter().zip(&accepted) {
        if reference_ids_are_fixpoints(original) {
            let line = jsonl::to_line(again).unwrap_or_default();
            assert_eq!(
                Ok(line),
                jsonl::to_line(*original).map_err(|e| e.to_string())
            );
        }
    }
}

/// Line breaks JSON leaves raw in strings; `to_line` writes each as the escape `\n`, as
/// the Python SDK's `to_jsonl()` does (so they read back as `\n`).
const SEPARATORS: [char; 3] = ['\u{85}', '\u{2028}', '\u{2029}'];

/// `to_line` of an accepted value: one line without raw line breaks that is accepted
/// again; when `stable` (see [`identifier_is_fixpoint`]), writing it again gives the same
/// line, and when the value holds no U+0085/U+2028/U+2029 either, it reads back equal.
fn check_round_trip<T>(value: &T, stable: bool)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let line = jsonl::to_line(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
    assert!(
        !line.contains(['\n', '\r']) && !line.contains(SEPARATORS),
        "raw line break in {line:?}"
    );
    let back: T = jsonl::parse_line(&line)
        .unwrap_or_else(|e| panic!("written line {line:?} is rejected: {e}"));
    if stable {
        let again = jsonl::to_line(&back).unwrap_or_else(|e| panic!("{back:?}: {e}"));
        assert_eq!(again, line, "writing what was read changes the line");
        let plain = serde_json::to_string(value).unwrap_or_default();
        if !plain.contains(SEPARATORS) {
            assert_eq!(&back, value, "{line}");
        }
    }
    let mut buf = Vec::new();
    jsonl::append_line(&mut buf, value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
    assert_eq!(buf, format!("{line}\n").into_bytes());
}

/// Whether re-reading `id`'s own text gives `id` again.
///
/// KNOWN ISSUE (reported, same in the Python SDK 0.7.4): ERIC and ProQuest identifiers
/// strip their URL prefixes once, then trim, and the pattern is only searched at the end
/// of the text, so ` http://EJ1` is stored as `http://EJ1` and reads back as `EJ1`. For
/// such identifiers only "the written line is accepted again" is checked, not equality.
/// DOI and OpenAlex identifiers must always be fixpoints.
pub fn identifier_is_fixpoint(id: &ExternalIdentifier) -> bool {
    match id {
        ExternalIdentifier::Eric(v) => v.as_str().parse().ok().as_ref() == Some(v),
        ExternalIdentifier::ProQuest(v) => v.as_str().parse().ok().as_ref() == Some(v),
        _ => true,
    }
}

fn enhancement_ids_are_fixpoints(e: &Enhancement) -> bool {
    match &e.content {
        EnhancementContent::ReferenceAssociation(a) => {
            a.associated_reference_ids.iter().all(|id| match id {
                Identifier::External(x) => identifier_is_fixpoint(x),
                Identifier::Id(_) => true,
            })
        }
        _ => true,
    }
}

fn reference_ids_are_fixpoints(r: &Reference) -> bool {
    r.identifiers.iter().flatten().all(identifier_is_fixpoint)
        && r.enhancements
            .iter()
            .flatten()
            .all(enhancement_ids_are_fixpoints)
}

// ---------------------------------------------------------------------------------------
// result_file
// ---------------------------------------------------------------------------------------

/// The references of the fuzzed batch (the seed corpus uses them).
pub const BATCH_REFS: [&str; 3] = [
    "3a533776-c9ad-4aac-a089-d654d509490c",
    "0190b3f6-1c2d-7e3f-8a4b-5c6d7e8f9a0b",
    "9f6c0a4e-2b1d-4c3e-b5a6-7d8e9f0a1b2c",
];

/// Input: a result file for a batch of [`BATCH_REFS`].
///
/// The file is read as `destiny_repository::import::import_batch` reads it (split after
/// each `\n`, as bytes: `ResultFileCheck::check_bytes`, the checker the repository
/// imports with).
///
/// Properties: a line that is not UTF-8 is refused as such (never decoded lossily), and
/// one nested deeper than `MAX_RESULT_DEPTH` as too deep;
/// `parse_line::<EnhancementResultEntry>` never panics; every accepted entry
/// has a v4/v7 reference id and round-trips through `to_line` / `parse_line` as the same
/// variant and value; blank lines get no validation line and every other line exactly one
/// (unparsable ones with no reference id and `Entry N could not be parsed`); every
/// reference of the batch ends with exactly one outcome, `Enhance` only for an accepted
/// line of its own, and that enhancement, placed in a reference-file line, stays within
/// the reader's depth and reads back to the same bytes (exact numbers included); the
/// validation file written with `append_line` reads back line for line.
pub fn result_file(data: &[u8]) {
    let batch: Vec<Uuid> = BATCH_REFS
        .iter()
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect();
    assert_eq!(batch.len(), BATCH_REFS.len());
    let mut check = ResultFileCheck::new(batch.iter().copied());
    let mut validation = Vec::new();
    let mut entries = 0usize;
    for raw in data.split_inclusive(|&b| b == b'\n') {
        // As the import reads a line: bytes, never decoded lossily.
        let line = check.check_bytes(raw);
        // Blank as `str::trim` sees it (so a vertical tab is blank); a line that is not
        // UTF-8 never is.
        let blank = std::str::from_utf8(raw).is_ok_and(|t| t.trim().is_empty());
        assert_eq!(line.is_none(), blank, "{raw:?}");
        let Some(line) = line else { continue };
        entries += 1;
        assert_eq!(check.entries(), entries);
        let prefix = format!("Entry {entries} could not be parsed: ");
        let refused_as = |why: &str| {
            assert_eq!(line.reference_id, None, "{line:?}");
            assert!(
                line.error
                    .as_deref()
                    .unwrap_or("")
                    .starts_with(&format!("{prefix}{why}")),
                "{line:?}"
            );
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            refused_as("the line is not valid UTF-8");
            validation.push(line);
            continue;
        };
        if jsonl::nesting_depth(text) > MAX_RESULT_DEPTH {
            refused_as("it nests");
            validation.push(line);
            continue;
        }
        match jsonl::parse_line::<EnhancementResultEntry>(text) {
            Ok(entry) => {
                check_entry(&entry);
                if let Some(id) = line.reference_id {
                    assert_eq!(id, entry.reference_id());
                }
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused_as("");
            }
        }
        validation.push(line);
    }
    let accepted: Vec<Uuid> = validation
        .iter()
        .filter(|v| v.error.is_none())
        .filter_map(|v| v.reference_id)
        .collect();
    let checked = check.finish();
    validation.extend(checked.missing);
    // Every reference of the batch: one outcome, in batch order, and at least one line.
    assert_eq!(
        checked
            .outcomes
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        batch
    );
    for (id, outcome) in &checked.outcomes {
        let lines = validation
            .iter()
            .filter(|v| v.reference_id == Some(*id))
            .count();
        assert!(lines >= 1, "{id} has no validation line");
        match outcome {
            Outcome::Enhance(e) => {
                assert!(
                    accepted.contains(id),
                    "{id} enhanced without an accepted line"
                );
                assert_eq!(e.reference_id, *id);
                assert!(e.id.is_none());
                // What is kept stays readable: in the next reference file, two levels
                // deeper, it parses back to itself.
                let reference = Reference {
                    visibility: Default::default(),
                    id: *id,
                    identifiers: None,
                    enhancements: Some(vec![(**e).clone()]),
                };
                let file_line = jsonl::to_line(&reference).expect("a reference serialises");
                assert!(
                    jsonl::nesting_depth(&file_line) <= jsonl::MAX_DEPTH,
                    "{file_line}"
                );
                let back: Reference = jsonl::parse_line(&file_line).unwrap_or_else(|err| {
                    panic!("unreadable reference file line ({err}): {file_line}")
                });
                assert_eq!(
                    jsonl::to_line(&back).ok().as_deref(),
                    Some(file_line.as_str())
                );
                assert!(!matches!(
                    e.content,
                    EnhancementContent::Raw(_) | EnhancementContent::Unknown(_)
                ));
            }
            Outcome::Fail => assert!(!accepted.contains(id), "{id} accepted but failed"),
        }
    }
    // The validation file round-trips.
    let mut file = Vec::new();
    for line in &validation {
        check_round_trip(line, true);
        jsonl::append_line(&mut file, line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
    let reread: Vec<RobotResultValidationEntry> = JsonlReader::new(&file[..])
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("re-reading the validation file: {e}"));
    // Messages may quote U+0085/U+2028/U+2029 from the input: written as `\n` on purpose.
    let as_written = |v: &RobotResultValidationEntry| RobotResultValidationEntry {
        reference_id: v.reference_id,
        error: v.error.as_deref().map(|e| e.replace(SEPARATORS, "\n")),
    };
    assert_eq!(
        reread,
        validation.iter().map(as_written).collect::<Vec<_>>()
    );
}

/// An accepted result line: accepted id, same variant and value after a round trip.
fn check_entry(entry: &EnhancementResultEntry) {
    assert!(ids::is_accepted(&entry.reference_id()), "{entry:?}");
    let stable = match entry {
        EnhancementResultEntry::Enhancement(e) => {
            if let Some(id) = e.id {
                assert!(ids::is_accepted(&id));
            }
            assert!(e.derived_from.iter().flatten().all(ids::is_accepted));
            enhancement_ids_are_fixpoints(e)
        }
        EnhancementResultEntry::Error(_) => true,
    };
    check_round_trip(entry, stable);
    let line = jsonl::to_line(entry).unwrap_or_default();
    let back = jsonl::parse_line::<EnhancementResultEntry>(&line);
    assert_eq!(
        matches!(back, Ok(EnhancementResultEntry::Error(_))),
        matches!(entry, EnhancementResultEntry::Error(_)),
        "the variant changed: {line}"
    );
}
