//! [`LeaseDuration`]: how long a poll or a renewal leases a batch's work for.
//!
//! The repository reads its `lease` query parameter as pydantic reads a `timedelta` from
//! text, so two parsers exist:
//!
//! - [`LeaseDuration::parse_pydantic`] accepts exactly what pydantic accepts (ISO 8601
//!   `PT10M`, `PT0.5S`, `P1DT2H`, `P1W` = 7 days, `P1M` = 30 days, `P1Y` = 365 days;
//!   `HH:MM[:SS[.f]]`; `1 day, 00:10:00`; `1d`) and rejects the rest (`600`, `10m`,
//!   `PT10m`); a server that follows the real repository uses it.
//! - [`FromStr`] accepts the same plus friendly forms (`30s`, `10m`, `2h`, `1d`, `1h30m`,
//!   `500ms`); command lines and environment variables use it.
//!
//! Both reject zero and negative durations. [`Display`](fmt::Display) writes canonical ISO
//! 8601 (`PT10M`, `PT1H30M`, `PT0.5S`, `P1DT2H`), which pydantic reads back to the same
//! value; serde uses that text.

mod friendly;
mod pydantic;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

const MICROS_PER_SEC: u128 = 1_000_000;
const MICROS_PER_DAY: u128 = 86_400 * MICROS_PER_SEC;
/// pydantic's limit: at most 999,999,999 days (and a part of a day).
const MAX_MICROS: u128 = 1_000_000_000 * MICROS_PER_DAY - 1;

/// What a `FromStr` error suggests.
const EXPECTED_ANY: &str = "ISO 8601 such as PT10M or a value such as 30s";
/// What a `parse_pydantic` error suggests.
const EXPECTED_PYDANTIC: &str = "ISO 8601 such as PT10M, HH:MM:SS or \"1 day, 00:10:00\"";

/// A positive duration with microsecond precision, at most 999,999,999 days (pydantic's
/// `timedelta` limit).
///
/// ```
/// use destiny_sdk::duration::LeaseDuration;
/// let lease: LeaseDuration = "1h30m".parse().unwrap();
/// assert_eq!(lease.to_string(), "PT1H30M");
/// assert_eq!(lease, LeaseDuration::parse_pydantic("PT90M").unwrap());
/// assert!(LeaseDuration::parse_pydantic("90m").is_err());
/// assert_eq!(lease.as_std().as_secs(), 5400);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseDuration(Duration);

impl LeaseDuration {
    /// The repository's default lease, ten minutes (`PT10M`).
    pub const DEFAULT: LeaseDuration = LeaseDuration(Duration::from_secs(600));

    /// A lease of whole seconds.
    ///
    /// # Errors
    /// [`DurationError::NotPositive`] for zero, [`DurationError::Invalid`] beyond
    /// 999,999,999 days.
    ///
    /// ```
    /// use destiny_sdk::duration::LeaseDuration;
    /// assert_eq!(LeaseDuration::from_secs(90).unwrap().to_string(), "PT1M30S");
    /// assert!(LeaseDuration::from_secs(0).is_err());
    /// ```
    pub fn from_secs(secs: u64) -> Result<Self, DurationError> {
        Self::try_from(Duration::from_secs(secs))
    }

    /// Parses `text` exactly as pydantic parses a `timedelta` from a string (the real
    /// repository's `lease` parameter), then requires it to be positive.
    ///
    /// # Errors
    /// [`DurationError::Invalid`] where pydantic answers 422 (with pydantic's reason),
    /// [`DurationError::NotPositive`] for zero or negative durations.
    ///
    /// ```
    /// use destiny_sdk::duration::LeaseDuration;
    /// assert_eq!(LeaseDuration::parse_pydantic("P1W").unwrap().as_std().as_secs(), 7 * 86_400);
    /// assert_eq!(LeaseDuration::parse_pydantic("1 day, 00:10:00").unwrap().to_string(), "P1DT10M");
    /// let err = LeaseDuration::parse_pydantic("PT10m").unwrap_err();
    /// assert_eq!(err.reason(), "quantity invalid in time part of duration");
    /// ```
    pub fn parse_pydantic(text: &str) -> Result<Self, DurationError> {
        match pydantic::parse(text) {
            Ok(parsed) => Self::from_pydantic(text, parsed),
            Err(reason) => Err(DurationError::invalid(
                text,
                reason.message().to_owned(),
                EXPECTED_PYDANTIC,
            )),
        }
    }

    fn from_pydantic(text: &str, parsed: pydantic::Parsed) -> Result<Self, DurationError> {
        let micros = u128::from(parsed.day) * MICROS_PER_DAY
            + u128::from(parsed.second) * MICROS_PER_SEC
            + u128::from(parsed.microsecond);
        if !parsed.positive || micros == 0 {
            return Err(DurationError::not_positive(text));
        }
        Self::from_micros(text, micros)
    }

    fn from_micros(text: &str, micros: u128) -> Result<Self, DurationError> {
        if micros == 0 {
            return Err(DurationError::not_positive(text));
        }
        if micros > MAX_MICROS {
            return Err(DurationError::invalid(
                text,
                "durations may not exceed 999,999,999 days".to_owned(),
                EXPECTED_ANY,
            ));
        }
        // Both parts fit: secs < 2^47, the remainder < 10^6.
        let secs = (micros / MICROS_PER_SEC) as u64;
        let sub_micros = (micros % MICROS_PER_SEC) as u32;
        Ok(Self(Duration::new(secs, sub_micros * 1_000)))
    }

    /// The duration as a [`std::time::Duration`] (whole microseconds).
    pub fn as_std(&self) -> Duration {
        self.0
    }

    /// The duration in microseconds.
    pub fn as_micros(&self) -> u128 {
        self.0.as_micros()
    }

    /// The duration as a [`jiff::SignedDuration`], for timestamp arithmetic.
    pub fn to_signed_duration(&self) -> jiff::SignedDuration {
        // At most 8.64e13 seconds: fits an i64.
        jiff::SignedDuration::new(self.0.as_secs() as i64, self.0.subsec_nanos() as i32)
    }
}

impl Default for LeaseDuration {
    /// [`LeaseDuration::DEFAULT`], ten minutes.
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<Duration> for LeaseDuration {
    type Error = DurationError;

    /// Truncates to whole microseconds.
    ///
    /// # Errors
    /// [`DurationError::NotPositive`] when nothing is left, [`DurationError::Invalid`]
    /// beyond 999,999,999 days.
    fn try_from(value: Duration) -> Result<Self, Self::Error> {
        Self::from_micros(&format!("{value:?}"), value.as_micros())
    }
}

impl From<LeaseDuration> for Duration {
    fn from(value: LeaseDuration) -> Self {
        value.0
    }
}

impl FromStr for LeaseDuration {
    type Err = DurationError;

    /// Every form pydantic accepts, plus `30s`, `10m`, `2h`, `1d`, `1w`, `1h30m`, `1.5h`,
    /// `500ms`, `250us`.
    ///
    /// # Errors
    /// [`DurationError::Invalid`] naming the problem, [`DurationError::NotPositive`] for
    /// zero or negative durations.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let pydantic_reason = match pydantic::parse(text) {
            Ok(parsed) => return Self::from_pydantic(text, parsed),
            Err(reason) => reason,
        };
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        match friendly::parse(unsigned.trim_end()) {
            Ok(micros) if negative && micros > 0 => Err(DurationError::not_positive(text)),
            Ok(micros) => Self::from_micros(text, micros),
            Err(friendly_reason) => {
                // Report the reason of the form the text looks like.
                let iso_like = unsigned.starts_with('P') || unsigned.contains(':');
                let reason = if iso_like {
                    pydantic_reason.message().to_owned()
                } else {
                    friendly_reason
                };
                Err(DurationError::invalid(text, reason, EXPECTED_ANY))
            }
        }
    }
}

impl fmt::Display for LeaseDuration {
    /// Canonical ISO 8601: days, then hours, minutes and seconds with up to six fraction
    /// digits (`P1DT2H`, `PT1H30M`, `PT0.5S`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.as_micros();
        let days = micros / MICROS_PER_DAY;
        let rem = micros % MICROS_PER_DAY;
        let secs_of_day = rem / MICROS_PER_SEC;
        let sub = rem % MICROS_PER_SEC;
        let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
        f.write_str("P")?;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if rem > 0 {
            f.write_str("T")?;
            if h > 0 {
                write!(f, "{h}H")?;
            }
            if m > 0 {
                write!(f, "{m}M")?;
            }
            if s > 0 || sub > 0 {
                write!(f, "{s}")?;
                if sub > 0 {
                    let digits = format!("{sub:06}");
                    write!(f, ".{}", digits.trim_end_matches('0'))?;
                }
                f.write_str("S")?;
            }
        }
        Ok(())
    }
}

impl Serialize for LeaseDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LeaseDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A text that is not a valid lease duration.
///
/// ```
/// use destiny_sdk::duration::{DurationError, LeaseDuration};
/// let err = "10x".parse::<LeaseDuration>().unwrap_err();
/// assert!(err.to_string().starts_with(r#"invalid duration "10x": "#), "{err}");
/// assert!(matches!("PT0S".parse::<LeaseDuration>(), Err(DurationError::NotPositive { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is in no accepted form.
    #[error("invalid duration {input:?}: {reason}; expected {expected}")]
    Invalid {
        /// The offending text (cut to 64 characters).
        input: String,
        /// What is wrong (pydantic's wording for pydantic-style texts).
        reason: String,
        /// Examples of what would be accepted.
        expected: &'static str,
    },
    /// The duration is zero or negative: a lease must last some time.
    #[error("invalid duration {input:?}: a lease must be longer than zero")]
    NotPositive {
        /// The offending text (cut to 64 characters).
        input: String,
    },
}

impl DurationError {
    fn invalid(input: &str, reason: String, expected: &'static str) -> Self {
        Self::Invalid {
            input: shorten(input),
            reason,
            expected,
        }
    }

    fn not_positive(input: &str) -> Self {
        Self::NotPositive {
            input: shorten(input),
        }
    }

    /// What is wrong, without the input and the suggestion: for [`Invalid`](Self::Invalid)
    /// from [`LeaseDuration::parse_pydantic`] it is pydantic's wording (the text after
    /// `Input should be a valid timedelta, `).
    pub fn reason(&self) -> &str {
        match self {
            Self::Invalid { reason, .. } => reason,
            Self::NotPositive { .. } => "a lease must be longer than zero",
        }
    }
}

fn shorten(input: &str) -> String {
    match input.char_indices().nth(64) {
        Some((idx, _)) => format!("{}...", &input[..idx]),
        None => input.to_owned(),
    }
}
