//! `destiny references generate`: deterministic per seed, valid references, to stdout or
//! a file.

use std::process::Command;

fn generate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["references", "generate"])
        .args(args)
        .output()
        .expect("run destiny")
}

#[test]
fn same_seed_same_references_and_every_line_is_a_reference() {
    let a = generate(&["40", "--seed", "9"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let b = generate(&["40", "--seed", "9"]);
    assert_eq!(a.stdout, b.stdout);
    let c = generate(&["40", "--seed", "10"]);
    assert_ne!(a.stdout, c.stdout);
    let text = String::from_utf8(a.stdout).unwrap();
    assert_eq!(text.lines().count(), 40);
    for line in text.lines() {
        destiny_sdk::jsonl::parse_line::<destiny_sdk::models::Reference>(line).unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refs.jsonl");
    let out = generate(&["40", "--seed", "9", "--output", path.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // Today's shapes: read by the SDK, different from 2025's, refused by name when unknown.
    let today = generate(&["40", "--seed", "9", "--shapes", "today"]);
    assert!(today.status.success());
    let today = String::from_utf8(today.stdout).unwrap();
    assert_ne!(today, text);
    for line in today.lines() {
        destiny_sdk::jsonl::parse_line::<destiny_sdk::models::Reference>(line).unwrap();
    }
    let bad = generate(&["4", "--shapes", "2030"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid value '2030'"));

    let bad = generate(&["many"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid value 'many'"));
}

#[test]
fn shipped_samples_round_trip_byte_for_byte() {
    let text = include_str!("../samples/references.jsonl");
    assert_eq!(text.lines().count(), 6);
    for line in text.lines() {
        let r: destiny_sdk::models::Reference = destiny_sdk::jsonl::parse_line(line).unwrap();
        assert_eq!(destiny_sdk::jsonl::to_line(&r).unwrap(), line);
    }
}
