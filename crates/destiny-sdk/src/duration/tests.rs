//! The duration parsers checked against a table of pydantic's answers (recorded with
//! pydantic 2.14.4 / pydantic-core 2.50.5, and re-checked live against the Python peer by
//! `table_matches_live_pydantic`), friendly forms, `Display` and round trips.

use super::*;

/// `(input, pydantic's answer)`: the signed total in microseconds, or the reason of its
/// `time_delta_parsing` error (after "Input should be a valid timedelta, ").
#[rustfmt::skip] // One case a line, as a table reads best.
const PYDANTIC_TABLE: &[(&str, Result<i128, &str>)] = &[
    ("PT10M", Ok(600000000)),
    ("PT0.5S", Ok(500000)),
    ("P1DT2H", Ok(93600000000)),
    ("P1W", Ok(604800000000)),
    ("P1M", Ok(2592000000000)),
    ("P1Y", Ok(31536000000000)),
    ("P1D", Ok(86400000000)),
    ("PT1H30M", Ok(5400000000)),
    ("PT90M", Ok(5400000000)),
    ("PT36H", Ok(129600000000)),
    ("PT100M", Ok(6000000000)),
    ("PT10M30S", Ok(630000000)),
    ("P1Y2M3DT4H5M6S", Ok(36993906000000)),
    ("P1Y2M3W", Ok(38534400000000)),
    ("P2W", Ok(1209600000000)),
    ("P1W2D", Ok(777600000000)),
    ("P1DT", Ok(86400000000)),
    ("P1DT1H1M1.5S", Ok(90061500000)),
    ("PT1,5S", Ok(1500000)),
    ("P1.5D", Ok(129600000000)),
    ("PT1.5H", Ok(5400000000)),
    ("P0.5W", Ok(302400000000)),
    ("P1.5M", Ok(3888000000000)),
    ("P1.5Y", Ok(47304000000000)),
    ("P1.123W", Ok(679190400000)),
    ("PT0.000001S", Ok(1)),
    ("PT0.0000001S", Ok(0)),
    ("PT1H1H", Ok(7200000000)),
    ("P1D1D", Ok(172800000000)),
    ("+PT10M", Ok(600000000)),
    ("-PT10M", Ok(-600000000)),
    ("PT0S", Ok(0)),
    ("P0D", Ok(0)),
    ("-P1D", Ok(-86400000000)),
    ("PT59.999999S", Ok(59999999)),
    ("P999999999D", Ok(86399999913600000000)),
    ("P1000000000D", Err("durations may not exceed 999,999,999 days")),
    ("PT4294967295S", Ok(4294967295000000)),
    ("PT4294967296S", Err("a numeric value in the duration is too large")),
    ("P4294967295D", Err("durations may not exceed 999,999,999 days")),
    ("P0.5DT1H", Err("quantity fraction invalid in duration")),
    ("PT1.5H30M", Err("quantity fraction invalid in duration")),
    ("P1DT1H1D", Err("quantity invalid in time part of duration")),
    ("PT", Err("input is too short")),
    ("P", Err("input is too short")),
    ("PTT", Err("`t` character repeated in duration")),
    ("P1DTT1H", Err("`t` character repeated in duration")),
    ("P1", Err("quantity invalid in date part of duration")),
    ("P1H", Err("quantity invalid in date part of duration")),
    ("PT1D", Err("quantity invalid in time part of duration")),
    ("PT1W", Err("quantity invalid in time part of duration")),
    ("PT1Y", Err("quantity invalid in time part of duration")),
    ("p1d", Err("invalid digit in duration")),
    ("pt10m", Err("invalid character in hour")),
    ("PT10m", Err("quantity invalid in time part of duration")),
    ("P1d", Err("quantity invalid in date part of duration")),
    ("P.5D", Err("invalid digit in duration")),
    ("P1..5D", Err("quantity invalid in date part of duration")),
    ("PT-1M", Err("invalid digit in duration")),
    ("P-1D", Err("invalid digit in duration")),
    ("PT1E3S", Err("quantity invalid in time part of duration")),
    (" PT10M", Err("invalid character in hour")),
    ("PT10M ", Err("invalid digit in duration")),
    ("PT10M\n", Err("invalid digit in duration")),
    ("00:10:00", Ok(600000000)),
    ("10:00", Ok(36000000000)),
    ("00:10", Ok(600000000)),
    ("00:00:00.5", Ok(500000)),
    ("1:00:00", Ok(3600000000)),
    ("25:00:00", Ok(90000000000)),
    ("00:60:00", Err("minute value is outside expected range of 0-59")),
    ("00:00:60", Err("second value is outside expected range of 0-59")),
    ("24:00", Ok(86400000000)),
    ("23:59:59.999999", Ok(86399999999)),
    ("10:00:00.123456789", Ok(36000123456)),
    ("00:00:00.1234567xyz", Ok(123456)),
    ("01:02:03.5", Ok(3723500000)),
    ("01:02:03,25", Ok(3723250000)),
    ("1:2:3", Err("invalid character in minute")),
    ("00:10:00.", Err("second fraction digits missing after `.`")),
    ("00:10:0", Err("invalid character in second")),
    ("-00:10:00", Ok(-600000000)),
    ("+00:10:00", Ok(600000000)),
    ("00:00:00", Ok(0)),
    ("00:00", Ok(0)),
    (":10:00", Ok(600000000)),
    ("100:00:00", Ok(360000000000)),
    ("2400000000:00", Ok(8640000000000000000)),
    ("2400000001:00", Err("durations may not exceed 999,999,999 hours")),
    ("99999999999:00", Err("durations may not exceed 999,999,999 hours")),
    ("00:10:00Z", Err("unexpected extra characters at the end of the input")),
    ("00-10-00", Err("invalid character in hour")),
    ("000:10:00", Ok(600000000)),
    ("1d", Ok(86400000000)),
    ("2d", Ok(172800000000)),
    ("1D", Ok(86400000000)),
    ("-1d", Ok(-86400000000)),
    ("0d", Ok(0)),
    ("1 day", Ok(86400000000)),
    ("1 days", Ok(86400000000)),
    ("2 DAYS", Ok(172800000000)),
    ("1day", Ok(86400000000)),
    ("1 d", Ok(86400000000)),
    ("1 Day", Ok(86400000000)),
    ("1 dAY", Ok(86400000000)),
    ("1 dAYS", Ok(86400000000)),
    ("1 days, 00:10:00", Ok(87000000000)),
    ("1 day, 00:10:00", Ok(87000000000)),
    ("2 days, 00:10:00", Ok(173400000000)),
    ("1 day 00:10:00", Ok(87000000000)),
    ("1 day,00:10:00", Ok(87000000000)),
    ("1d00:10:00", Ok(87000000000)),
    ("1 day, 10:00", Ok(122400000000)),
    ("1 day, 24:00:00", Err("durations may not exceed 999,999,999 hours")),
    ("1 day, 23:59:59", Ok(172799000000)),
    ("1 day, -00:10:00", Err("invalid character in hour")),
    ("-1 day, 00:10:00", Ok(-87000000000)),
    ("1 day,  00:10:00", Err("invalid character in hour")),
    ("1 dayz", Err("input is too short")),
    ("1 week", Err("invalid character in hour")),
    ("1 dA", Err("\"day\" identifier in duration not correctly formatted")),
    ("1 daysx", Err("input is too short")),
    ("d", Err("invalid digit in duration")),
    ("1 1d", Err("\"day\" identifier in duration not correctly formatted")),
    ("600", Err("\"day\" identifier in duration not correctly formatted")),
    ("100", Err("\"day\" identifier in duration not correctly formatted")),
    ("10.5", Err("\"day\" identifier in duration not correctly formatted")),
    ("100000", Err("invalid character in hour")),
    ("10m", Err("\"day\" identifier in duration not correctly formatted")),
    ("1h", Err("\"day\" identifier in duration not correctly formatted")),
    ("30s", Err("\"day\" identifier in duration not correctly formatted")),
    ("1h30m", Err("invalid character in hour")),
    ("500ms", Err("invalid character in hour")),
    ("1d2h", Err("input is too short")),
    ("1d 2h", Err("input is too short")),
    ("10x", Err("\"day\" identifier in duration not correctly formatted")),
    ("", Err("input is too short")),
    ("+", Err("input is too short")),
    ("-", Err("input is too short")),
    ("0", Err("\"day\" identifier in duration not correctly formatted")),
    ("PT10M10", Err("quantity invalid in time part of duration")),
    ("1.5d", Err("\"day\" identifier in duration not correctly formatted")),
    ("1,5d", Err("\"day\" identifier in duration not correctly formatted")),
    ("PTS", Err("invalid digit in duration")),
    ("P1WT", Ok(604800000000)),
    ("P1YT0S", Ok(31536000000000)),
    ("P0.1S", Err("quantity invalid in date part of duration")),
    ("PT0.1D", Err("quantity invalid in time part of duration")),
];

fn signed_micros(p: pydantic::Parsed) -> i128 {
    let m = i128::from(p.day) * 86_400_000_000
        + i128::from(p.second) * 1_000_000
        + i128::from(p.microsecond);
    if p.positive {
        m
    } else {
        -m
    }
}

#[test]
fn pydantic_port_matches_the_table() {
    for (input, expected) in PYDANTIC_TABLE {
        let got = pydantic::parse(input)
            .map(signed_micros)
            .map_err(|r| r.message());
        assert_eq!(&got, expected, "input {input:?}");
    }
}

#[test]
fn parse_pydantic_accepts_the_positive_part_of_pydantics_set() {
    for (input, expected) in PYDANTIC_TABLE {
        let got = LeaseDuration::parse_pydantic(input);
        match expected {
            Ok(m) if *m > 0 => {
                let lease = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                assert_eq!(lease.as_micros() as i128, *m, "input {input:?}");
            }
            Ok(_) => assert!(
                matches!(got, Err(DurationError::NotPositive { .. })),
                "{input:?}: {got:?}"
            ),
            Err(reason) => match got {
                Err(e @ DurationError::Invalid { .. }) => {
                    assert_eq!(e.reason(), *reason, "input {input:?}");
                    assert!(
                        e.to_string().contains("expected ISO 8601 such as PT10M"),
                        "{e}"
                    );
                }
                other => panic!("{input:?}: expected Invalid, got {other:?}"),
            },
        }
    }
}

#[test]
fn from_str_accepts_pydantic_forms_and_friendly_forms() {
    // Everything parse_pydantic accepts, FromStr accepts with the same value.
    for (input, expected) in PYDANTIC_TABLE {
        if let Ok(m) = expected.as_ref().copied().map(|m| m.max(0)) {
            let got = input.parse::<LeaseDuration>();
            if m > 0 {
                assert_eq!(got.map(|l| l.as_micros() as i128), Ok(m), "input {input:?}");
            } else {
                assert!(
                    matches!(got, Err(DurationError::NotPositive { .. })),
                    "{input:?}"
                );
            }
        }
    }
    let friendly: &[(&str, u128)] = &[
        ("30s", 30_000_000),
        ("10m", 600_000_000),
        ("2h", 7_200_000_000),
        ("1d", 86_400_000_000),
        ("1w", 604_800_000_000),
        ("1h30m", 5_400_000_000),
        ("1h 30m", 5_400_000_000),
        ("1d2h", 93_600_000_000),
        ("1.5h", 5_400_000_000),
        ("500ms", 500_000),
        ("1s500ms", 1_500_000),
        ("250us", 250),
        ("250µs", 250),
        ("1.0000009s", 1_000_000),
        ("30 s", 30_000_000),
        ("+10m", 600_000_000),
        ("600s", 600_000_000),
        ("10m ", 600_000_000),
    ];
    for (input, micros) in friendly {
        let got = input.parse::<LeaseDuration>();
        assert_eq!(got.map(|l| l.as_micros()), Ok(*micros), "input {input:?}");
    }
    let rejected: &[(&str, &str)] = &[
        ("10x", "expected to find unit designator suffix"),
        ("600", "expected to find unit designator suffix"),
        ("10", "expected to find unit designator suffix"),
        ("", "empty text"),
        ("m", "no integer was found"),
        ("10m1h", "units must be written from largest to smallest"),
        ("1m1m", "they can't be repeated"),
        ("1.h", "did not find any digits after decimal"),
        ("PT10m", "quantity invalid in time part of duration"),
        ("00:61", "minute value is outside expected range of 0-59"),
        ("1000000000d", "not in the required range"),
        (
            "99999999999999999999999999999999999999999w",
            "number too big",
        ),
    ];
    for (input, reason) in rejected {
        match input.parse::<LeaseDuration>() {
            Err(e @ DurationError::Invalid { .. }) => {
                assert!(e.reason().contains(reason), "{input:?}: {e}");
                assert!(
                    e.to_string()
                        .ends_with("expected ISO 8601 such as PT10M or a value such as 30s"),
                    "{e}"
                );
            }
            other => panic!("{input:?}: expected Invalid, got {other:?}"),
        }
    }
    for input in ["0s", "-10m", "-PT10M", "0ms", "0.0000001s", "PT0S", "-1d"] {
        assert!(
            matches!(
                input.parse::<LeaseDuration>(),
                Err(DurationError::NotPositive { .. })
            ),
            "{input:?}"
        );
    }
}

#[test]
fn error_messages_name_the_input_and_the_problem() {
    let err = "10x".parse::<LeaseDuration>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid duration \"10x\": expected to find unit designator suffix (e.g., `years` or \
         `secs`) after parsing integer; expected ISO 8601 such as PT10M or a value such as 30s"
    );
    let err = LeaseDuration::parse_pydantic("10m").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid duration \"10m\": \"day\" identifier in duration not correctly formatted; \
         expected ISO 8601 such as PT10M, HH:MM:SS or \"1 day, 00:10:00\""
    );
    let err = LeaseDuration::parse_pydantic("PT0S").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid duration \"PT0S\": a lease must be longer than zero"
    );
    let long = "x".repeat(500);
    let err = long.parse::<LeaseDuration>().unwrap_err();
    // The input is quoted shortened, not whole.
    assert!(
        err.to_string().len() < 300 && !err.to_string().contains(&long),
        "{err}"
    );
}

#[test]
fn display_is_canonical_iso_8601() {
    let cases: &[(u128, &str)] = &[
        (600_000_000, "PT10M"),
        (5_400_000_000, "PT1H30M"),
        (500_000, "PT0.5S"),
        (93_600_000_000, "P1DT2H"),
        (86_400_000_000, "P1D"),
        (604_800_000_000, "P7D"),
        (1, "PT0.000001S"),
        (90_061_500_000, "P1DT1H1M1.5S"),
        (3_723_250_000, "PT1H2M3.25S"),
        (59_999_999, "PT59.999999S"),
        (86_399_999_999, "PT23H59M59.999999S"),
        (86_400_000_001, "P1DT0.000001S"),
        (MAX_MICROS, "P999999999DT23H59M59.999999S"),
    ];
    for (micros, text) in cases {
        let lease = LeaseDuration::from_micros("", *micros).unwrap();
        assert_eq!(lease.to_string(), *text);
        assert_eq!(LeaseDuration::parse_pydantic(text), Ok(lease), "{text}");
    }
}

/// Deterministic pseudo-random values (no clock, no extra crates).
fn sample_micros() -> Vec<u128> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = vec![
        1,
        999_999,
        1_000_000,
        59_999_999,
        MAX_MICROS,
        MAX_MICROS - 1,
    ];
    for i in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Spread over magnitudes: microseconds to centuries.
        let scale = 10u128.pow((i % 17) as u32 + 1);
        out.push(u128::from(state) % scale + 1);
    }
    out
}

#[test]
fn display_round_trips_through_both_parsers() {
    for micros in sample_micros() {
        let lease = LeaseDuration::from_micros("", micros).unwrap();
        let text = lease.to_string();
        assert_eq!(
            LeaseDuration::parse_pydantic(&text),
            Ok(lease),
            "{micros} -> {text}"
        );
        assert_eq!(
            text.parse::<LeaseDuration>(),
            Ok(lease),
            "{micros} -> {text}"
        );
    }
}

#[test]
fn serde_uses_the_iso_text() {
    let lease: LeaseDuration = "1h30m".parse().unwrap();
    assert_eq!(serde_json::to_string(&lease).unwrap(), "\"PT1H30M\"");
    let back: LeaseDuration = serde_json::from_str("\"90m\"").unwrap();
    assert_eq!(back, lease);
    let err = serde_json::from_str::<LeaseDuration>("\"nope\"").unwrap_err();
    assert!(
        err.to_string().contains("invalid duration \"nope\""),
        "{err}"
    );
    assert!(serde_json::from_str::<LeaseDuration>("600").is_err());
}

#[test]
fn conversions() {
    use std::time::Duration;
    assert_eq!(LeaseDuration::default().to_string(), "PT10M");
    let lease = LeaseDuration::try_from(Duration::from_nanos(1_500_999)).unwrap();
    assert_eq!(lease.as_micros(), 1_500);
    assert!(LeaseDuration::try_from(Duration::from_nanos(999)).is_err());
    assert_eq!(Duration::from(lease), Duration::from_micros(1_500));
    assert_eq!(
        LeaseDuration::from_secs(5400).unwrap().to_signed_duration(),
        jiff::SignedDuration::from_secs(5400)
    );
    assert!(matches!(
        LeaseDuration::from_secs(0),
        Err(DurationError::NotPositive { .. })
    ));
    assert!(LeaseDuration::from_secs(u64::MAX).is_err());
}

/// The Python peer (pydantic) that `scripts/test` installs.
fn peer_python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("DESTINY_PYTHON") {
        return p.into();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = root.join(".venv/bin/python");
    assert!(
        p.exists(),
        "no Python peer: run scripts/test to set up the Python peer (or set DESTINY_PYTHON)"
    );
    p
}

#[test]
fn table_matches_live_pydantic() {
    use std::io::Write;
    let script = r#"
import json, sys
from datetime import timedelta
from pydantic import TypeAdapter, ValidationError
ta = TypeAdapter(timedelta)
out = []
for s in json.load(sys.stdin):
    try:
        v = ta.validate_python(s)
        out.append({"ok": str((v.days * 86400 + v.seconds) * 1000000 + v.microseconds)})
    except ValidationError as e:
        out.append({"err": e.errors()[0]["msg"].removeprefix("Input should be a valid timedelta, ")})
print(json.dumps(out))
"#;
    let mut inputs: Vec<String> = PYDANTIC_TABLE
        .iter()
        .map(|(s, _)| (*s).to_owned())
        .collect();
    let samples = sample_micros();
    let displayed: Vec<String> = samples
        .iter()
        .map(|m| LeaseDuration::from_micros("", *m).unwrap().to_string())
        .collect();
    inputs.extend(displayed.iter().cloned());
    let mut child = std::process::Command::new(peer_python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the Python peer");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&inputs).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python failed");
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answers.len(), inputs.len());
    for ((input, expected), answer) in PYDANTIC_TABLE.iter().zip(&answers) {
        let live = match (answer.get("ok"), answer.get("err")) {
            (Some(ok), _) => Ok(ok.as_str().and_then(|s| s.parse::<i128>().ok()).unwrap()),
            (_, Some(err)) => Err(err.as_str().unwrap()),
            _ => panic!("bad answer {answer}"),
        };
        assert_eq!(
            live, *expected,
            "pydantic disagrees with the table on {input:?}"
        );
    }
    // pydantic reads every Display text back to the same number of microseconds.
    for ((micros, text), answer) in samples
        .iter()
        .zip(&displayed)
        .zip(&answers[PYDANTIC_TABLE.len()..])
    {
        let ok = answer
            .get("ok")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<u128>().ok());
        assert_eq!(ok, Some(*micros), "pydantic read {text:?} as {answer}");
    }
}
