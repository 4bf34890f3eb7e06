//! pydantic's timedelta-from-text parser (pydantic-core uses the `speedate` crate),
//! reproduced rule for rule so that a server that follows pydantic accepts exactly the
//! texts the real repository accepts for its `lease` query parameter.
//!
//! The forms, after an optional `+` or `-` sign:
//! - ISO 8601 `P[nY][nM][nW][nD][T[nH][nM][nS]]`: `Y` = 365 days, `M` = 30 days (before
//!   `T`) or 60 s (after), `W` = 7 days; units may repeat and add up; only the last
//!   quantity may have a fraction (`.` or `,`); upper case only.
//! - `[H...]H:MM[:SS[.f...]]` (hours unbounded, fraction truncated to microseconds).
//! - `N d`, `Nd`, `N day(s)` optionally followed by `,`/space and a time as above.
//!
//! Quirks kept on purpose (they are what the real server does): `PT1H1H` is two hours,
//! `10:00` is ten hours, `P1DT` is one day and `PT0.0000001S` is zero.

/// A parsed duration in pydantic's representation: sign, days, seconds of the day and
/// microseconds of the second (after normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) positive: bool,
    pub(crate) day: u32,
    pub(crate) second: u32,
    pub(crate) microsecond: u32,
}

/// Why pydantic rejects a text; the messages are pydantic's own (after "Input should be a
/// valid timedelta, ").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    TooShort,
    ExtraCharacters,
    InvalidCharTimeSep,
    InvalidCharHour,
    InvalidCharMinute,
    InvalidCharSecond,
    OutOfRangeHour,
    OutOfRangeMinute,
    OutOfRangeSecond,
    SecondFractionMissing,
    DurationInvalidNumber,
    DurationTRepeated,
    DurationInvalidFraction,
    DurationInvalidTimeUnit,
    DurationInvalidDateUnit,
    DurationInvalidDays,
    DurationValueTooLarge,
    DurationHourValueTooLarge,
    DurationDaysTooLarge,
}

impl Reason {
    /// pydantic's wording of the problem.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::TooShort => "input is too short",
            Self::ExtraCharacters => "unexpected extra characters at the end of the input",
            Self::InvalidCharTimeSep => "invalid time separator, expected `:`",
            Self::InvalidCharHour => "invalid character in hour",
            Self::InvalidCharMinute => "invalid character in minute",
            Self::InvalidCharSecond => "invalid character in second",
            Self::OutOfRangeHour => "hour value is outside expected range of 0-23",
            Self::OutOfRangeMinute => "minute value is outside expected range of 0-59",
            Self::OutOfRangeSecond => "second value is outside expected range of 0-59",
            Self::SecondFractionMissing => "second fraction digits missing after `.`",
            Self::DurationInvalidNumber => "invalid digit in duration",
            Self::DurationTRepeated => "`t` character repeated in duration",
            Self::DurationInvalidFraction => "quantity fraction invalid in duration",
            Self::DurationInvalidTimeUnit => "quantity invalid in time part of duration",
            Self::DurationInvalidDateUnit => "quantity invalid in date part of duration",
            Self::DurationInvalidDays => "\"day\" identifier in duration not correctly formatted",
            Self::DurationValueTooLarge => "a numeric value in the duration is too large",
            Self::DurationHourValueTooLarge => "durations may not exceed 999,999,999 hours",
            Self::DurationDaysTooLarge => "durations may not exceed 999,999,999 days",
        }
    }
}

fn add(a: u32, b: u32) -> Result<u32, Reason> {
    a.checked_add(b).ok_or(Reason::DurationValueTooLarge)
}

fn mul(a: u32, b: u32) -> Result<u32, Reason> {
    a.checked_mul(b).ok_or(Reason::DurationValueTooLarge)
}

/// The whole part of `amount` (`as` saturates, as speedate's casts do) and the rest.
fn split(amount: f64) -> (u32, f64) {
    let whole = amount.trunc();
    (whole as u32, amount - whole)
}

/// A fraction of a second in whole microseconds, rounded.
fn micros(fraction: f64) -> u32 {
    (fraction * 1_000_000.0).round() as u32
}

/// The units of the time part of an ISO 8601 duration, in seconds.
const TIME_UNITS: [(u8, u32); 3] = [(b'H', 3600), (b'M', 60), (b'S', 1)];
/// The units of its date part, in days (speedate's month and year).
const DATE_UNITS: [(u8, u32); 4] = [(b'Y', 365), (b'M', 30), (b'W', 7), (b'D', 1)];

/// The multiplier of the unit letter `letter` among `units`, or `unknown`.
fn unit(letter: Option<&u8>, units: &[(u8, u32)], unknown: Reason) -> Result<u32, Reason> {
    units
        .iter()
        .find(|(l, _)| Some(l) == letter)
        .map(|&(_, mult)| mult)
        .ok_or(unknown)
}

/// Parses `text` as pydantic parses a `timedelta` from a string.
pub(crate) fn parse(text: &str) -> Result<Parsed, Reason> {
    let bytes = text.as_bytes();
    let (positive, bytes) = match bytes {
        [b'-', rest @ ..] => (false, rest),
        [b'+', rest @ ..] => (true, rest),
        rest => (true, rest),
    };
    let mut d = match bytes {
        [] => return Err(Reason::TooShort),
        [b'P', iso @ ..] => parse_iso(iso)?,
        _ if bytes.iter().any(|&b| b == b'd' || b == b'D') || bytes.len() < 5 => {
            parse_days_time(bytes)?
        }
        _ => parse_time(bytes)?,
    };
    d.positive = positive;
    normalize(&mut d)?;
    Ok(d)
}

fn normalize(d: &mut Parsed) -> Result<(), Reason> {
    if d.microsecond >= 1_000_000 {
        d.second = add(d.second, d.microsecond / 1_000_000)?;
        d.microsecond %= 1_000_000;
    }
    if d.second >= 86_400 {
        d.day = add(d.day, d.second / 86_400)?;
        d.second %= 86_400;
    }
    if d.day > 999_999_999 {
        Err(Reason::DurationDaysTooLarge)
    } else {
        Ok(())
    }
}

/// The part of an ISO 8601 duration after `P`.
fn parse_iso(bytes: &[u8]) -> Result<Parsed, Reason> {
    let mut got_t = false;
    let mut last_had_fraction = false;
    let mut position = 0usize;
    let (mut day, mut second, mut microsecond) = (0u32, 0u32, 0u32);
    while let Some(c) = bytes.get(position).copied() {
        if c == b'T' {
            if got_t {
                return Err(Reason::DurationTRepeated);
            }
            got_t = true;
        } else {
            let (value, fraction, offset) = parse_number_frac(&bytes[position..])?;
            if last_had_fraction {
                return Err(Reason::DurationInvalidFraction);
            }
            last_had_fraction = fraction.is_some();
            position += offset;
            let unit_letter = bytes.get(position);
            if got_t {
                let mult = unit(unit_letter, &TIME_UNITS, Reason::DurationInvalidTimeUnit)?;
                second = add(second, mul(mult, value)?)?;
                if let Some(fraction) = fraction {
                    let (seconds, rest) = split(fraction * f64::from(mult));
                    second = add(second, seconds)?;
                    microsecond = add(microsecond, micros(rest))?;
                }
            } else {
                let mult = unit(unit_letter, &DATE_UNITS, Reason::DurationInvalidDateUnit)?;
                day = add(day, mul(value, mult)?)?;
                if let Some(fraction) = fraction {
                    let (days, rest) = split(fraction * f64::from(mult));
                    day = add(day, days)?;
                    let (seconds, rest) = split(rest * 86_400.0);
                    second = add(second, seconds)?;
                    microsecond = microsecond.wrapping_add(micros(rest));
                }
            }
        }
        position += 1;
    }
    // At least one field: `P` and `PT` alone are too short.
    if position < 2 {
        return Err(Reason::TooShort);
    }
    Ok(Parsed {
        positive: true,
        day,
        second,
        microsecond,
    })
}

/// `N d[ay[s]][,][ ][time]`.
fn parse_days_time(bytes: &[u8]) -> Result<Parsed, Reason> {
    if bytes.is_empty() {
        return Err(Reason::TooShort);
    }
    let (day, position) = parse_number(bytes)?;
    let Some([b' ', b'd' | b'D', rest @ ..] | [b'd' | b'D', rest @ ..]) = bytes.get(position..)
    else {
        return Err(Reason::DurationInvalidDays);
    };
    let rest = match rest {
        [b'a', b'y', b's', r @ ..]
        | [b'a', b'y', r @ ..]
        | [b'A', b'Y', b'S', r @ ..]
        | [b'A', b'Y', r @ ..] => r,
        [b'a' | b'A', ..] => return Err(Reason::DurationInvalidDays),
        r => r,
    };
    let rest = match rest {
        [b',', b' ', r @ ..] | [b',', r @ ..] | [b' ', r @ ..] => r,
        r => r,
    };
    if rest.is_empty() {
        return Ok(Parsed {
            positive: true,
            day,
            second: 0,
            microsecond: 0,
        });
    }
    let t = parse_time(rest)?;
    if t.day > 0 {
        // `1d 24:00:00` is not allowed.
        return Err(Reason::DurationHourValueTooLarge);
    }
    Ok(Parsed {
        positive: true,
        day,
        second: t.second,
        microsecond: t.microsecond,
    })
}

/// `[H...]H:MM[:SS[.f...]]`.
fn parse_time(bytes: &[u8]) -> Result<Parsed, Reason> {
    if bytes.len() < 5 {
        return Err(Reason::TooShort);
    }
    const HOUR_LIMIT: u64 = 24 * 100_000_000;
    let Some(colon) = bytes.iter().position(|&b| b == b':') else {
        return Err(Reason::InvalidCharHour);
    };
    let (hour_part, mut rest) = (&bytes[..colon], &bytes[colon + 1..]);
    if hour_part.len() > 10 {
        return Err(Reason::DurationHourValueTooLarge);
    }
    let mut hour: u64 = 0;
    for &b in hour_part {
        let h = b.wrapping_sub(b'0');
        if h > 9 {
            return Err(Reason::InvalidCharHour);
        }
        hour = hour * 10 + u64::from(h);
    }
    if hour > HOUR_LIMIT {
        return Err(Reason::DurationHourValueTooLarge);
    }
    // pydantic rewrites the text as `00:<rest>` (at most 15 bytes, so extra fraction
    // digits are truncated) and parses it as a time of day.
    const MAX: usize = "00:00:00.000000".len();
    if 3 + rest.len() > MAX {
        rest = &rest[..MAX - 3];
    }
    let mut buf = Vec::with_capacity(3 + rest.len());
    buf.extend_from_slice(b"00:");
    buf.extend_from_slice(rest);
    let (seconds_of_time, microsecond, used) = parse_time_of_day(&buf)?;
    if buf.len() > used {
        return Err(Reason::ExtraCharacters);
    }
    // hour <= 2.4e9 fits u32 after division; the remainder is < 24.
    let day = u32::try_from(hour / 24).map_err(|_| Reason::DurationHourValueTooLarge)?;
    let hour_of_day = (hour % 24) as u32;
    Ok(Parsed {
        positive: true,
        day,
        second: seconds_of_time + hour_of_day * 3600,
        microsecond,
    })
}

/// speedate's `PureTime::parse` at offset 0: `HH:MM[:SS[.f]]` -> (seconds, microseconds,
/// bytes used).
fn parse_time_of_day(bytes: &[u8]) -> Result<(u32, u32, usize), Reason> {
    if bytes.len() < 5 {
        return Err(Reason::TooShort);
    }
    let digit = |i: usize, err: Reason| -> Result<u32, Reason> {
        match bytes.get(i) {
            Some(c) if c.is_ascii_digit() => Ok(u32::from(c - b'0')),
            _ => Err(err),
        }
    };
    let hour = digit(0, Reason::InvalidCharHour)? * 10 + digit(1, Reason::InvalidCharHour)?;
    if bytes[2] != b':' {
        return Err(Reason::InvalidCharTimeSep);
    }
    let minute = digit(3, Reason::InvalidCharMinute)? * 10 + digit(4, Reason::InvalidCharMinute)?;
    if hour > 23 {
        return Err(Reason::OutOfRangeHour);
    }
    if minute > 59 {
        return Err(Reason::OutOfRangeMinute);
    }
    let mut length = 5;
    let (mut second, mut microsecond) = (0, 0);
    if bytes.get(5) == Some(&b':') {
        second = digit(6, Reason::InvalidCharSecond)? * 10 + digit(7, Reason::InvalidCharSecond)?;
        if second > 59 {
            return Err(Reason::OutOfRangeSecond);
        }
        length = 8;
        if matches!(bytes.get(8), Some(b'.' | b',')) {
            length = 9;
            let mut i = 0usize;
            while let Some(c) = bytes.get(length + i).filter(|c| c.is_ascii_digit()) {
                if i < 6 {
                    microsecond = microsecond * 10 + u32::from(c - b'0');
                }
                i += 1;
            }
            if i == 0 {
                return Err(Reason::SecondFractionMissing);
            }
            if i < 6 {
                microsecond *= 10u32.pow(6 - i as u32);
            }
            length += i;
        }
    }
    Ok((hour * 3600 + minute * 60 + second, microsecond, length))
}

/// Digits at the start of `bytes` (the first must be a digit).
fn parse_number(bytes: &[u8]) -> Result<(u32, usize), Reason> {
    let mut value = match bytes.first() {
        Some(c) if c.is_ascii_digit() => u32::from(c - b'0'),
        _ => return Err(Reason::DurationInvalidNumber),
    };
    let mut position = 1;
    while let Some(c) = bytes.get(position).filter(|c| c.is_ascii_digit()) {
        value = add(mul(value, 10)?, u32::from(c - b'0'))?;
        position += 1;
    }
    Ok((value, position))
}

/// Digits with an optional `.`/`,` fraction, computed in `f64` exactly as speedate does.
fn parse_number_frac(bytes: &[u8]) -> Result<(u32, Option<f64>, usize), Reason> {
    let (value, mut position) = parse_number(bytes)?;
    if !matches!(bytes.get(position), Some(b'.' | b',')) {
        return Ok((value, None, position));
    }
    let mut decimal = 0f64;
    let mut denominator = 1f64;
    loop {
        position += 1;
        match bytes.get(position) {
            Some(c) if c.is_ascii_digit() => {
                decimal = decimal * 10.0 + f64::from(c - b'0');
                denominator *= 10.0;
            }
            _ => return Ok((value, Some(decimal / denominator), position)),
        }
    }
}
