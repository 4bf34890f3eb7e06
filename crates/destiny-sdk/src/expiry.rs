//! The lease expiry a renewal answers with: Python `isoformat()` text.

use crate::models::ModelError;

/// Parses the body of a lease renewal: the new expiry as raw text in Python
/// `isoformat()` (`2025-12-05T04:26:55.123456+00:00`), also accepted JSON-quoted and with
/// a `Z` suffix. Surrounding whitespace is ignored.
///
/// # Errors
/// A [`ModelError`] when the body is not a timestamp with a UTC offset.
///
/// ```
/// use destiny_sdk::client::parse_lease_expiry;
/// let a = parse_lease_expiry(b"2025-12-05T04:26:55.123456+00:00").unwrap();
/// let b = parse_lease_expiry(br#""2025-12-05T04:26:55.123456Z""#).unwrap();
/// assert_eq!(a, b);
/// assert!(parse_lease_expiry(b"tomorrow").is_err());
/// ```
pub fn parse_lease_expiry(body: &[u8]) -> Result<jiff::Timestamp, ModelError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ModelError::new("", format!("body is not valid UTF-8: {e}")))?
        .trim();
    let unquoted;
    let text = if text.starts_with('"') {
        unquoted = serde_json::from_str::<String>(text)
            .map_err(|e| ModelError::new("", format!("invalid JSON string: {e}")))?;
        unquoted.as_str()
    } else {
        text
    };
    text.parse::<jiff::Timestamp>().map_err(|e| {
        ModelError::new(
            "",
            format!("expected an ISO 8601 timestamp with an offset, got {text:?}: {e}"),
        )
    })
}

/// Formats a timestamp as Python's `datetime.isoformat()` of a UTC datetime does:
/// `2025-12-05T04:26:55.123456+00:00`, the fraction (microseconds, truncated) omitted when
/// zero.
///
/// ```
/// use destiny_sdk::client::python_isoformat;
/// let t: jiff::Timestamp = "2025-12-05T04:26:55.123456789Z".parse().unwrap();
/// assert_eq!(python_isoformat(&t), "2025-12-05T04:26:55.123456+00:00");
/// let t: jiff::Timestamp = "2025-12-05T04:26:55Z".parse().unwrap();
/// assert_eq!(python_isoformat(&t), "2025-12-05T04:26:55+00:00");
/// ```
pub fn python_isoformat(ts: &jiff::Timestamp) -> String {
    let seconds = ts.strftime("%Y-%m-%dT%H:%M:%S");
    let micros = ts.subsec_microsecond();
    if micros == 0 {
        format!("{seconds}+00:00")
    } else {
        format!("{seconds}.{micros:06}+00:00")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let want: jiff::Timestamp = "2025-12-05T04:26:55.123456Z".parse().unwrap();
        for body in [
            "2025-12-05T04:26:55.123456+00:00",
            "2025-12-05T04:26:55.123456Z",
            "\"2025-12-05T04:26:55.123456+00:00\"",
            " 2025-12-05T04:26:55.123456+00:00\n",
            "2025-12-05T05:26:55.123456+01:00",
        ] {
            assert_eq!(parse_lease_expiry(body.as_bytes()), Ok(want), "{body}");
        }
        for body in ["", "2025-12-05T04:26:55", "\"unterminated", "null", "\u{0}"] {
            assert!(parse_lease_expiry(body.as_bytes()).is_err(), "{body:?}");
        }
        assert!(parse_lease_expiry(&[0xff]).is_err());
    }

    #[test]
    fn isoformat_round_trips() {
        for text in [
            "2025-12-05T04:26:55.123456+00:00",
            "2025-12-05T04:26:55+00:00",
            "2025-01-01T00:00:00.000001+00:00",
        ] {
            let t = parse_lease_expiry(text.as_bytes()).unwrap();
            assert_eq!(python_isoformat(&t), text);
        }
    }
}
