//! The friendly duration forms accepted on the command line and in environment
//! variables, read by `jiff`'s friendly format (`jiff::fmt::friendly`): `30s`, `10m`,
//! `2h`, `1d`, `1w`, `1h30m`, `1h 30m`, `1.5h`, `500ms`, `250us` / `250µs`, and jiff's
//! longer spellings (`1 hour 30 minutes`).
//!
//! Units go from the largest to the smallest, each at most once; only the last may have
//! a fraction. Days are 24 hours and weeks 7 days. Anything finer than a microsecond is
//! truncated.

use jiff::fmt::friendly::SpanParser;
use jiff::SpanRelativeTo;

/// The parser (it holds no state).
static PARSER: SpanParser = SpanParser::new();

/// Parses a friendly duration into microseconds (not yet checked for zero or range; a
/// negative one, `10m ago`, is 0).
pub(crate) fn parse(text: &str) -> Result<u128, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty text".to_owned());
    }
    let span = PARSER.parse_span(text).map_err(|e| {
        let reason = e.to_string();
        // The caller already says the duration is invalid.
        reason
            .strip_prefix("failed to parse input in the \"friendly\" duration format: ")
            .map_or(reason.clone(), str::to_owned)
    })?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| e.to_string())?;
    Ok(u128::try_from(duration.as_micros()).unwrap_or(0))
}
