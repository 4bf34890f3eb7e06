//! The duration parsers checked against a table of pydantic's answers
//! (`pydantic_table.jsonl`, recorded with pydantic 2.14.4 / pydantic-core 2.50.5, and
//! re-checked live against the Python peer by `table_matches_live_pydantic`), friendly
//! forms, `Display` and round trips.

use super::*;

/// Pydantic's answer for each input of `pydantic_table.jsonl`: the signed total in
/// microseconds (`ok`), or the reason of its `time_delta_parsing` error (`err`, after
/// "Input should be a valid timedelta, ").
fn pydantic_table() -> Vec<(String, Result<i128, String>)> {
    let table: Vec<_> = include_str!("pydantic_table.jsonl")
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
            let input = row["input"].as_str().expect("an input").to_owned();
            let answer = match row.get("ok") {
                Some(ok) => Ok(ok.to_string().parse().expect("microseconds")),
                None => Err(row["err"].as_str().expect("a reason").to_owned()),
            };
            (input, answer)
        })
        .collect();
    assert!(!table.is_empty(), "pydantic_table.jsonl has rows");
    table
}

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
    for (input, expected) in pydantic_table() {
        let got = pydantic::parse(&input)
            .map(signed_micros)
            .map_err(|r| r.message());
        assert_eq!(
            got,
            expected.as_ref().copied().map_err(String::as_str),
            "input {input:?}"
        );
    }
}

#[test]
fn parse_pydantic_accepts_the_positive_part_of_pydantics_set() {
    for (input, expected) in &pydantic_table() {
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
    for (input, expected) in pydantic_table() {
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
    let table = pydantic_table();
    let mut inputs: Vec<String> = table.iter().map(|(s, _)| s.clone()).collect();
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
    for ((input, expected), answer) in table.iter().zip(&answers) {
        let live = match (answer.get("ok"), answer.get("err")) {
            (Some(ok), _) => Ok(ok.as_str().and_then(|s| s.parse::<i128>().ok()).unwrap()),
            (_, Some(err)) => Err(err.as_str().unwrap().to_owned()),
            _ => panic!("bad answer {answer}"),
        };
        assert_eq!(
            live, *expected,
            "pydantic disagrees with the table on {input:?}"
        );
    }
    // pydantic reads every Display text back to the same number of microseconds.
    for ((micros, text), answer) in samples.iter().zip(&displayed).zip(&answers[table.len()..]) {
        let ok = answer
            .get("ok")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<u128>().ok());
        assert_eq!(ok, Some(*micros), "pydantic read {text:?} as {answer}");
    }
}
