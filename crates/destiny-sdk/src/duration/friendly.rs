//! The friendly duration forms accepted on the command line and in environment
//! variables: `30s`, `10m`, `2h`, `1d`, `1w`, `1h30m`, `1h 30m`, `1.5h`, `500ms`, `250us`.
//!
//! Components are `<number>[.<fraction>]<unit>`, largest unit first, each unit at most
//! once, optionally separated by spaces. Units: `w` (7 days), `d`, `h`, `m`, `s`, `ms`,
//! `us` / `µs`. Anything finer than a microsecond is truncated.

/// Units, largest first, with their length in microseconds.
const UNITS: [(&str, u128); 8] = [
    ("w", 7 * 86_400_000_000),
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
    ("µs", 1),
];

/// Parses a friendly duration into microseconds (not yet checked for zero or range).
pub(crate) fn parse(text: &str) -> Result<u128, String> {
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return Err("empty text".to_owned());
    }
    let mut total: u128 = 0;
    // Index into UNITS of the last unit seen; the next must be smaller.
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if int_len == 0 {
            return Err(format!("expected a number at {:?}", snippet(rest)));
        }
        let (int_text, after_int) = rest.split_at(int_len);
        let (frac_text, after_num) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let n = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return Err("expected digits after the decimal point".to_owned());
                }
                after_dot.split_at(n)
            }
            None => ("", after_int),
        };
        let after_num = after_num.trim_start();
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| !c.is_alphabetic())
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, after_unit) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "number {} has no unit (use s, m, h, d, w, ms or us, e.g. {}s)",
                snippet(
                    rest.get(..int_len + frac_text.len() + usize::from(!frac_text.is_empty()))
                        .unwrap_or(rest)
                ),
                snippet(int_text)
            ));
        }
        let Some(rank) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {:?} (use s, m, h, d, w, ms or us)",
                snippet(unit)
            ));
        };
        // `us` and `µs` share a rank.
        let rank = rank.min(6);
        if last_rank.is_some_and(|last| rank <= last) {
            return Err("units must go from the largest to the smallest, each once".to_owned());
        }
        last_rank = Some(rank);
        let micros_per_unit = UNITS[rank].1;
        let whole: u128 = int_text
            .parse::<u128>()
            .ok()
            .and_then(|v| v.checked_mul(micros_per_unit))
            .ok_or_else(|| "value too large".to_owned())?;
        let fraction = fraction_micros(frac_text, micros_per_unit)?;
        total = total
            .checked_add(whole)
            .and_then(|t| t.checked_add(fraction))
            .ok_or_else(|| "value too large".to_owned())?;
        rest = after_unit.trim_start();
    }
    Ok(total)
}

/// `0.<digits>` of a unit in whole microseconds (truncated).
fn fraction_micros(digits: &str, micros_per_unit: u128) -> Result<u128, String> {
    // Digits beyond the 20th cannot change a whole-microsecond result of any unit here.
    let digits = &digits[..digits.len().min(20)];
    if digits.is_empty() {
        return Ok(0);
    }
    let numerator: u128 = digits.parse().map_err(|_| "value too large".to_owned())?;
    let denominator = 10u128.pow(digits.len() as u32);
    Ok(numerator * micros_per_unit / denominator)
}

/// At most 16 characters of `text`, for error messages.
fn snippet(text: &str) -> String {
    match text.char_indices().nth(16) {
        Some((idx, _)) => format!("{}...", &text[..idx]),
        None => text.to_owned(),
    }
}
