//! Python's `repr(float)` and `float(str)`, exactly.
//!
//! The HMAC message signs the timestamp as the text Python's `repr()` gives the float
//! parsed from the `X-Request-Timestamp` header, so both directions must match CPython
//! byte for byte:
//!
//! - [`repr`] / [`Repr`]: the shortest digits that round-trip (the `ryu` crate computes
//!   them), laid out as CPython does: fixed notation with at least one digit after the
//!   point when `1e-4 <= |x| < 1e16` (`1733380000.0`, `0.0001`), otherwise exponent form
//!   with a sign and at least two exponent digits (`1e+16`, `1.5e-05`); `nan`, `inf`,
//!   `-inf`, `-0.0`.
//! - [`parse`]: `float(text)`: surrounding whitespace (Python's set), `_` between digits,
//!   optional sign, `nan` / `inf` / `infinity` in any case; no hex, nothing else.
//!
//! ```
//! use destiny_sdk::auth::pyfloat;
//! assert_eq!(pyfloat::repr(1733380000.0), "1733380000.0");
//! assert_eq!(pyfloat::repr(1e16), "1e+16");
//! assert_eq!(pyfloat::parse(" 1_733_380_000 ")?, 1733380000.0);
//! # Ok::<(), pyfloat::PyFloatError>(())
//! ```

use std::fmt;

/// Longest Python float repr is 24 bytes (`-2.2250738585072014e-308`); room to spare.
const CAP: usize = 32;

/// Python's `repr(x)` of a float, as an owned string.
///
/// ```
/// use destiny_sdk::auth::pyfloat::repr;
/// assert_eq!(repr(0.1 + 0.2), "0.30000000000000004");
/// assert_eq!(repr(1e-5), "1e-05");
/// assert_eq!(repr(f64::NAN), "nan");
/// ```
pub fn repr(x: f64) -> String {
    Repr::new(x).as_str().to_owned()
}

/// Python's `repr(x)` of a float, formatted into an inline buffer (no heap allocation).
///
/// ```
/// use destiny_sdk::auth::pyfloat::Repr;
/// let r = Repr::new(123456789012345678.0);
/// assert_eq!(r.as_str(), "1.2345678901234568e+17");
/// assert_eq!(r.to_string(), "1.2345678901234568e+17");
/// ```
#[derive(Clone, Copy)]
pub struct Repr {
    /// The ASCII text; only `buf[..len]` is meaningful.
    buf: [u8; CAP],
    /// Number of bytes written.
    len: usize,
}

impl Repr {
    /// Formats `x` as Python's `repr(float)` does.
    pub fn new(x: f64) -> Self {
        let mut out = Self {
            buf: [0; CAP],
            len: 0,
        };
        if x.is_nan() {
            out.push_str("nan");
            return out;
        }
        if x.is_sign_negative() {
            out.push(b'-');
        }
        if x.is_infinite() {
            out.push_str("inf");
            return out;
        }
        // Ryu finds the shortest digits that round-trip and, on an exact tie between two
        // candidates, keeps the even one: CPython's `repr` (dtoa mode 0) makes the same
        // choices. Only the layout differs (ryu prints `1e16`, `0.00001`), so the digits
        // and the decimal point are read back from its text and laid out as CPython does.
        let mut ryu = ryu::Buffer::new();
        let text = ryu.format_finite(x.abs());
        // Ryu's fixed notation (`1733380000.0`, `0.5`, `0.0001`) is CPython's, except
        // from 1e-5 down to 1e-4 where ryu still writes `0.0000…` and CPython switches to
        // exponent form: most timestamps are copied as they are.
        if !text.contains('e') && !text.starts_with("0.0000") {
            out.push_str(text);
            return out;
        }
        let (digits, decpt) = Digits::read(text);
        let digits = digits.as_bytes();
        if digits.is_empty() {
            out.push_str("0.0");
        } else if decpt <= -4 || decpt > 16 {
            out.push(digits[0]);
            if digits.len() > 1 {
                out.push(b'.');
                out.push_bytes(&digits[1..]);
            }
            let exp = decpt - 1;
            out.push(b'e');
            out.push(if exp < 0 { b'-' } else { b'+' });
            let mag = exp.unsigned_abs();
            if mag >= 100 {
                out.push(digit(mag / 100));
            }
            out.push(digit(mag / 10 % 10));
            out.push(digit(mag % 10));
        } else if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..decpt.unsigned_abs() {
                out.push(b'0');
            }
            out.push_bytes(digits);
        } else {
            let point = decpt.unsigned_abs() as usize;
            if point < digits.len() {
                out.push_bytes(&digits[..point]);
                out.push(b'.');
                out.push_bytes(&digits[point..]);
            } else {
                out.push_bytes(digits);
                for _ in digits.len()..point {
                    out.push(b'0');
                }
                out.push_str(".0");
            }
        }
        out
    }

    /// The text, e.g. `1733380000.0`.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever pushed, so this never fails.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("nan")
    }

    fn push(&mut self, b: u8) {
        if self.len < CAP {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    fn push_str(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The ASCII digit of `d` (below ten).
fn digit(d: u32) -> u8 {
    // `d % 10` is below ten, so the sum is an ASCII digit.
    b'0' + (d % 10) as u8
}

/// Significant digits and CPython's `decpt` (value = `0.DIGITS * 10^decpt`) read back
/// from ryu's text of a finite, non-negative float.
struct Digits {
    /// The significant digits, without leading or trailing zeros.
    bytes: [u8; CAP],
    /// Number of digits; 0 for zero.
    len: usize,
}

impl Digits {
    /// Reads `123.45`, `0.00012`, `1e16`, `1.5e-7` or `100.0`.
    fn read(text: &str) -> (Self, i32) {
        let (mantissa, exp) = match text.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let mut out = Self {
            bytes: [0; CAP],
            len: 0,
        };
        let mut decpt = exp;
        let mut before_point = true;
        for &b in mantissa.as_bytes() {
            if b == b'.' {
                before_point = false;
            } else if out.len == 0 && b == b'0' {
                // A leading zero: after the point it moves the first digit right.
                if !before_point {
                    decpt -= 1;
                }
            } else {
                if before_point {
                    decpt += 1;
                }
                if out.len < CAP {
                    out.bytes[out.len] = b;
                    out.len += 1;
                }
            }
        }
        while out.len > 0 && out.bytes[out.len - 1] == b'0' {
            out.len -= 1;
        }
        (out, decpt)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The text given to [`parse`] is not a float by Python's `float(str)` rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not convert string to float: {text:?}")]
pub struct PyFloatError {
    /// The rejected text (truncated to 64 characters), for the message.
    text: String,
}

impl PyFloatError {
    fn new(text: &str) -> Self {
        Self {
            text: text.chars().take(64).collect(),
        }
    }
}

/// Python's whitespace as `float()` strips it: ASCII `" \t\n\r\x0b\x0c"` and the
/// non-ASCII `str.isspace()` characters (CPython maps those to a space before stripping;
/// ASCII `\x1c`..`\x1f` are NOT stripped by `float()`).
fn is_py_float_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// Python's `float(text)` for a `str`.
///
/// Accepts surrounding whitespace, an optional sign, decimal digits with an optional point
/// and exponent (`5.`, `.5`, `1.73338e9`), underscores between two digits (`1_000.5`), and
/// `nan` / `inf` / `infinity` in any case. Rounding is correct (as CPython's).
///
/// Known difference: CPython also accepts non-ASCII decimal digits (e.g. Arabic-Indic
/// `١٢٣`); they are rejected here. HTTP header values never carry them.
///
/// # Errors
///
/// [`PyFloatError`] for an empty, blank or otherwise invalid text (`0x10`, `1e`, `1__0`).
///
/// ```
/// use destiny_sdk::auth::pyfloat::parse;
/// assert_eq!(parse("1.73338e9")?, 1733380000.0);
/// assert!(parse("-Infinity")?.is_infinite());
/// assert!(parse("0x10").is_err());
/// # Ok::<(), destiny_sdk::auth::pyfloat::PyFloatError>(())
/// ```
pub fn parse(text: &str) -> Result<f64, PyFloatError> {
    let trimmed = text.trim_matches(is_py_float_space);
    if trimmed.is_empty() || !trimmed.is_ascii() {
        return Err(PyFloatError::new(text));
    }
    let bytes = trimmed.as_bytes();
    let parsed = if bytes.contains(&b'_') {
        let mut clean = String::with_capacity(bytes.len());
        let mut prev: Option<u8> = None;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'_' {
                let next = bytes.get(i + 1).copied();
                let between_digits = prev.is_some_and(|p| p.is_ascii_digit())
                    && next.is_some_and(|n| n.is_ascii_digit());
                if !between_digits {
                    return Err(PyFloatError::new(text));
                }
            } else {
                clean.push(char::from(b));
            }
            prev = Some(b);
        }
        clean.parse::<f64>()
    } else {
        trimmed.parse::<f64>()
    };
    // Rust's grammar (sign, `inf`/`infinity`/`nan` in any case, `Digit+ [. Digit*]` or
    // `. Digit+`, optional exponent with digits) is CPython's once whitespace and
    // underscores are handled.
    parsed.map_err(|_| PyFloatError::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expectations checked against CPython 3.12 `repr(float)`. The tie rows are written
    /// with their exact binary values on purpose, hence the lint allowance.
    #[allow(clippy::excessive_precision)]
    const REPR_TABLE: &[(f64, &str)] = &[
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (-1.5, "-1.5"),
        (1e16, "1e+16"),
        (-1e16, "-1e+16"),
        (9999999999999998.0, "9999999999999998.0"),
        (1e15, "1000000000000000.0"),
        (1e-5, "1e-05"),
        (1.5e-5, "1.5e-05"),
        (0.0001, "0.0001"),
        (0.00012345, "0.00012345"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1733380000.0, "1733380000.0"),
        (1733380000.1234567, "1733380000.1234567"),
        (1764547200.5, "1764547200.5"),
        (1764547200.000001, "1764547200.000001"),
        (12345453.32423, "12345453.32423"),
        (0.30000000000000004, "0.30000000000000004"),
        (0.1, "0.1"),
        (1e22, "1e+22"),
        (1e100, "1e+100"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (-2.2250738585072014e-308, "-2.2250738585072014e-308"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        (-f64::NAN, "nan"),
        (100.0, "100.0"),
        (0.5, "0.5"),
        (123.456, "123.456"),
        (1e-4, "0.0001"),
        (9.999999999999999e-5, "9.999999999999999e-05"),
        // Exact ties between two shortest candidates: CPython rounds half to even,
        // Rust's `{:e}` rounds up.
        (19574559559558.5625_f64, "19574559559558.562"),
        (-1458068972858305.25_f64, "-1458068972858305.2"),
        (257170908355533.125_f64, "257170908355533.12"),
        (2.5, "2.5"),
    ];

    #[test]
    fn repr_matches_python_table() {
        for &(x, want) in REPR_TABLE {
            assert_eq!(repr(x), want, "repr({x:?})");
        }
        assert_eq!(repr(0.1 + 0.2), "0.30000000000000004");
    }

    /// SplitMix64: a tiny deterministic PRNG for property-style tests.
    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn repr_round_trips_over_random_bit_patterns() {
        let mut state = 0x5eed_u64;
        for i in 0..200_000 {
            let bits = splitmix(&mut state);
            // Mix arbitrary bit patterns with timestamp-like values.
            let x = if i % 2 == 0 {
                f64::from_bits(bits)
            } else {
                (bits % 4_000_000_000_000_000) as f64 / 1_000_000.0
            };
            let text = repr(x);
            let back = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            if x.is_nan() {
                assert!(back.is_nan(), "{text}");
            } else {
                assert_eq!(back.to_bits(), x.to_bits(), "{x:?} -> {text}");
            }
            // Layout rules hold: fixed form has a point and no exponent, exponent form
            // has a signed exponent of at least two digits.
            let abs = x.abs();
            if x.is_finite() && (abs == 0.0 || (1e-4..1e16).contains(&abs)) {
                assert!(text.contains('.') && !text.contains('e'), "{text}");
            } else if x.is_finite() {
                let (_, exp) = text.split_once('e').unwrap_or_else(|| panic!("{text}"));
                assert!(exp.starts_with(['+', '-']) && exp.len() >= 3, "{text}");
            }
        }
    }

    #[test]
    fn parse_follows_python_float() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("1733380000", 1733380000.0),
            ("1.73338e9", 1733380000.0),
            ("  1.5\t\n", 1.5),
            ("\u{a0}1.5\u{85}", 1.5),
            ("\u{3000}2\u{2000}", 2.0),
            ("1_0", 10.0),
            ("1_0e1_0", 1e11),
            ("1_000.000_1", 1000.0001),
            ("5.", 5.0),
            (".5", 0.5),
            ("+.5", 0.5),
            ("5.e3", 5000.0),
            ("-0", -0.0),
            ("1E5", 1e5),
            ("00012", 12.0),
            ("1e400", f64::INFINITY),
            ("-1e400", f64::NEG_INFINITY),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("+iNf", f64::INFINITY),
            ("1733380000.1234567891", 1733380000.1234567),
        ];
        for &(text, want) in ok {
            let got = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(got.to_bits(), want.to_bits(), "{text:?}");
        }
        for text in ["nan", "-NaN", " NAN "] {
            assert!(parse(text).is_ok_and(f64::is_nan), "{text:?}");
        }
        let bad = [
            "",
            " ",
            "abc",
            "1__0",
            "_1",
            "1_",
            "1_.5",
            "1._5",
            "1e_5",
            "1_e5",
            "0x10",
            "1e",
            "e5",
            ".",
            "-",
            "+-1",
            "1 2",
            "infinit",
            "nan(1)",
            "\x1c1\x1f",
            "1.5f",
            "١٢٣",
            "1,5",
            "in_f",
        ];
        for text in bad {
            assert!(parse(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn parse_error_names_the_text() {
        let err = parse("zzz").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("could not convert string to float: \"zzz\"")
        );
    }
}
