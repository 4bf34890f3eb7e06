//! [`DateTime`]: a date and time as pydantic reads and writes `datetime.datetime` fields
//! (`Enhancement.created_at`, a raw enhancement's `source_export_date`, a full text's
//! `retrieved_at`).
//!
//! pydantic parses and formats datetimes with the `speedate` crate, so this module uses
//! the same crate, with the settings pydantic passes it, rather than re-writing its rules:
//! what Python accepts is accepted here, and what Python writes is written here, byte for
//! byte.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
// speedate's error texts are strum messages.
use strum::EnumMessage;

/// A datetime as pydantic's `datetime` fields read and write it.
///
/// Read from an RFC 3339-like text (`T`, `t`, `_` or a space between date and time;
/// seconds and fractions optional; digits past the sixth of a fraction cut off; an
/// offset `Z`, `±HH:MM` or `±HHMM`, or none), a date alone (midnight, no offset), or
/// a Unix timestamp as a JSON number or numeric text (seconds; milliseconds when its
/// size is over 2×10¹⁰; UTC). Written as pydantic writes it: `YYYY-MM-DDTHH:MM:SS`,
/// then `.ffffff` when there are microseconds, then `Z` for UTC or `±HH:MM`, or nothing
/// for a naive datetime.
///
/// ```
/// use destiny_sdk::models::DateTime;
/// let at: DateTime = "2025-01-01 12:00:00.5+00:00".parse().unwrap();
/// assert_eq!(at.as_str(), "2025-01-01T12:00:00.500000Z");
/// assert_eq!(at.timestamp().unwrap().as_millisecond(), 1_735_732_800_500);
/// let naive: DateTime = "2025-01-01".parse().unwrap();
/// assert_eq!(naive.as_str(), "2025-01-01T00:00:00");
/// assert!(naive.timestamp().is_none());
/// assert!("2025-02-30T00:00:00".parse::<DateTime>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DateTime(String);

/// The settings pydantic hands `speedate`: digits past microseconds are truncated, and a
/// Unix timestamp is UTC.
fn config() -> speedate::DateTimeConfig {
    speedate::DateTimeConfig {
        timestamp_unit: speedate::TimestampUnit::Infer,
        time_config: speedate::TimeConfig {
            microseconds_precision_overflow_behavior:
                speedate::MicrosecondsPrecisionOverflowBehavior::Truncate,
            unix_timestamp_offset: Some(0),
        },
    }
}

fn invalid(why: impl fmt::Display) -> String {
    format!("input should be a valid datetime, {why}")
}

super::text::text_impls!(DateTime, "The text pydantic writes for it.", Debug Display);

impl DateTime {
    /// The instant, when the datetime has an offset (a naive one has none).
    pub fn timestamp(&self) -> Option<jiff::Timestamp> {
        // jiff refuses a timestamp without an offset.
        self.0.parse().ok()
    }

    /// From a Unix timestamp in seconds (a JSON integer), as pydantic reads one.
    ///
    /// # Errors
    /// Outside the years 1600 to 9999.
    pub fn from_unix_seconds(seconds: i64) -> Result<Self, String> {
        speedate::DateTime::from_timestamp_with_config(seconds, 0, &config())
            .map(Self::from_speedate)
            .map_err(|e| invalid(e.get_documentation().unwrap_or_default()))
    }

    fn from_unix_float(seconds: f64) -> Result<Self, String> {
        if seconds.is_nan() {
            return Err(invalid("NaN values not permitted"));
        }
        speedate::DateTime::from_float_with_config(seconds, &config())
            .map(Self::from_speedate)
            .map_err(|e| invalid(e.get_documentation().unwrap_or_default()))
    }

    fn from_speedate(at: speedate::DateTime) -> Self {
        Self(at.to_string())
    }
}

impl std::str::FromStr for DateTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        // pydantic tries a datetime first, then a date alone (midnight, no offset).
        match speedate::DateTime::parse_bytes_with_config(s.as_bytes(), &config()) {
            Ok(at) => Ok(Self::from_speedate(at)),
            Err(e) => match speedate::Date::parse_bytes(s.as_bytes()) {
                Ok(date) if s.len() == 10 => Ok(Self(format!("{date}T00:00:00"))),
                _ => Err(invalid(format_args!(
                    "{}: {s:?}",
                    e.get_documentation().unwrap_or_default()
                ))),
            },
        }
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(DateTimeVisitor)
    }
}

struct DateTimeVisitor;

impl<'de> Visitor<'de> for DateTimeVisitor {
    type Value = DateTime;

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<DateTime, A::Error> {
        super::lax::visit_number_map(self, map)
    }

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a valid datetime")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DateTime, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DateTime, E> {
        DateTime::from_unix_seconds(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DateTime, E> {
        let v = i64::try_from(v).map_err(|_| E::custom(invalid("the number is too large")))?;
        self.visit_i64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DateTime, E> {
        DateTime::from_unix_float(v).map_err(E::custom)
    }
}

/// `deserialize_with` for pydantic's optional `date` fields: whatever [`DateTime`] reads,
/// provided its time is midnight exactly (`2025-01-01`, `2025-01-01T00:00:00Z`, `86400`).
pub(crate) fn opt_date<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<jiff::civil::Date>, D::Error> {
    let Some(at) = Option::<DateTime>::deserialize(de)? else {
        return Ok(None);
    };
    let text = at.as_str();
    let midnight = text
        .get(10..)
        .and_then(|t| t.strip_prefix("T00:00:00"))
        .is_some_and(|rest| !rest.starts_with('.'));
    if !midnight {
        return Err(de::Error::custom(format!(
            "datetimes provided to dates should have zero time - e.g. be exact dates, got {text}"
        )));
    }
    text[..10].parse().map(Some).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::DateTime;

    fn read(json: &str) -> Result<String, String> {
        serde_json::from_str::<DateTime>(json)
            .map(|d| d.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_and_writes_as_pydantic() {
        for (json, written) in [
            (r#""2025-01-01""#, "2025-01-01T00:00:00"),
            (r#""2025-01-01t00:00:00z""#, "2025-01-01T00:00:00Z"),
            (r#""2025-01-01 00:00:00+00:00""#, "2025-01-01T00:00:00Z"),
            (r#""2025-01-01_00:00""#, "2025-01-01T00:00:00"),
            (
                r#""2025-01-01T00:00:00.1234567Z""#,
                "2025-01-01T00:00:00.123456Z",
            ),
            (r#""2025-01-01T00:00:00,5Z""#, "2025-01-01T00:00:00.500000Z"),
            (
                r#""2025-01-01T00:00:00.123456-0130""#,
                "2025-01-01T00:00:00.123456-01:30",
            ),
            ("1700000000", "2023-11-14T22:13:20Z"),
            ("1700000000.5", "2023-11-14T22:13:20.500000Z"),
            ("21000000000.0", "1970-09-01T01:20:00Z"),
            (r#""1700000000""#, "2023-11-14T22:13:20Z"),
        ] {
            assert_eq!(read(json).as_deref(), Ok(written), "{json}");
        }
        for bad in [
            r#""2025-01-01T00:00:00+02""#,
            r#""2025-01-01T24:00:00""#,
            r#""2025-02-30T00:00:00""#,
            r#"" 2025-01-01T00:00:00""#,
            r#""20250101T000000""#,
            r#""1e10""#,
            "1e20",
            "true",
            "null",
        ] {
            assert!(read(bad).is_err(), "{bad} should be refused");
        }
    }
}
