//! The fuzz targets' properties in plain `cargo nextest`.
//!
//! `fuzz/src/props.rs` (the code every cargo-fuzz target runs) is included verbatim and
//! run over:
//! - the seed corpus `fuzz/corpus/<target>/`,
//! - the inputs the fuzzer found crashing, kept in `tests/fuzz_corpus/<target>/`,
//! - a few hundred deterministic mutations of each seed (so CI explores a little even
//!   without cargo-fuzz).
//!
//! Each named regression test below replays one input the fuzzer reported.

#[path = "../../../fuzz/src/props.rs"]
mod props;

use std::fs;
use std::path::{Path, PathBuf};

use destiny_sdk::models::{from_json_str, ExternalIdentifier};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files of `dir`, sorted by name (empty if the directory does not exist).
fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let path = e.path();
            let data = fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            (e.file_name().to_string_lossy().into_owned(), data)
        })
        .collect();
    files.sort();
    files
}

fn property(target: &str) -> props::Property {
    props::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no fuzz target {target}"))
}

/// Runs `target`'s property over its seeds, its saved crash inputs and mutations of both.
fn run_corpus(target: &str) {
    let check = property(target);
    let seeds = inputs(&workspace_root().join("fuzz/corpus").join(target));
    assert!(
        seeds.len() >= 3,
        "fuzz/corpus/{target} should hold seed inputs, found {}",
        seeds.len()
    );
    let crashes = inputs(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_corpus")
            .join(target),
    );
    let mut rng = 0x00f0_221e_u64 ^ target.len() as u64;
    for (name, data) in seeds.iter().chain(&crashes) {
        check(data);
        for round in 0..MUTATIONS {
            let mutated = mutate(data, &mut rng, round);
            let outcome = std::panic::catch_unwind(|| check(&mutated));
            if let Err(panic) = outcome {
                let file = std::env::temp_dir().join(format!("fuzz-{target}-{name}-{round}"));
                let _ = fs::write(&file, &mutated);
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Mutations per input.
const MUTATIONS: usize = 200;

/// SplitMix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A libFuzzer-style mutation: flip, replace, insert, delete or duplicate a few bytes.
fn mutate(data: &[u8], rng: &mut u64, round: usize) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\n\r \t_.,:-+0159eEPTHMSDdW\"{}[]\\\x00\x7f\x80\xc2\x85\xe2\xff";
    let mut out = data.to_vec();
    for _ in 0..1 + round % 4 {
        let at = |rng: &mut u64, len: usize| (next(rng) % (len as u64 + 1)) as usize;
        let byte = |rng: &mut u64| {
            if next(rng).is_multiple_of(2) {
                INTERESTING[(next(rng) % INTERESTING.len() as u64) as usize]
            } else {
                next(rng) as u8
            }
        };
        match next(rng) % 5 {
            0 if !out.is_empty() => {
                let i = at(rng, out.len() - 1);
                out[i] ^= 1 << (next(rng) % 8);
            }
            1 if !out.is_empty() => {
                let i = at(rng, out.len() - 1);
                out[i] = byte(rng);
            }
            2 => {
                let i = at(rng, out.len());
                let b = byte(rng);
                out.insert(i, b);
            }
            3 if !out.is_empty() => {
                let i = at(rng, out.len() - 1);
                let n = (next(rng) % 8) as usize;
                out.drain(i..(i + n).min(out.len()));
            }
            _ => {
                let lo = at(rng, out.len());
                let hi = (lo + (next(rng) % 16) as usize).min(out.len());
                let chunk = out[lo..hi].to_vec();
                let k = at(rng, out.len());
                out.splice(k..k, chunk);
            }
        }
    }
    out
}

#[test]
fn fuzz_corpus_hmac_headers() {
    run_corpus("hmac_headers");
}

#[test]
fn fuzz_corpus_pyfloat() {
    run_corpus("pyfloat");
}

#[test]
fn fuzz_corpus_duration() {
    run_corpus("duration");
}

#[test]
fn fuzz_corpus_reference_jsonl() {
    run_corpus("reference_jsonl");
}

#[test]
fn fuzz_corpus_result_file() {
    run_corpus("result_file");
}

/// The independent oracle of Python's `float()` grammar that `pyfloat` is checked against.
#[test]
fn fuzz_python_float_oracle_follows_the_grammar() {
    // Python rejects these; an implementation accepting them would fail `check_parse`.
    for text in ["1__0", "_1", "1e", "0x10", "\x1c1", "in_f"] {
        assert_eq!(props::python_float_text(text), None, "{text:?}");
    }
    assert_eq!(
        props::python_float_text("\u{a0}-1_0.5e+0_1\u{85}").as_deref(),
        Some("-10.5e+01")
    );
    assert_eq!(props::python_float_text(" 5. ").as_deref(), Some("5."));
    assert_eq!(props::python_float_text("-iNf").as_deref(), Some("-inf"));
    assert_eq!(props::python_float_text("."), None);
}

/// KNOWN ISSUE (reported to the lead; the Python SDK 0.7.4 does the same): ERIC and
/// ProQuest identifiers strip their URL prefixes once, and their patterns are searched
/// only at the end, so a value can change when its written form is read again. The fuzz
/// properties relax equality for exactly these identifiers
/// (`props::identifier_is_fixpoint`); when the models clean to a fixpoint, this test
/// fails and the relaxation should go.
#[test]
fn fuzz_known_issue_identifier_cleaning_is_not_idempotent() {
    let read = |json: &str| -> ExternalIdentifier {
        from_json_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    };
    let cases = [
        (
            r#"{"identifier": " http://EJ1", "identifier_type": "eric"}"#,
            "http://EJ1",
        ),
        (
            r#"{"identifier": "https://http://123", "identifier_type": "pro_quest"}"#,
            "http://123",
        ),
    ];
    for (json, stored) in cases {
        let first = read(json);
        let written = serde_json::to_string(&first).unwrap_or_default();
        assert!(written.contains(stored), "{written}");
        let second = read(&written);
        assert_ne!(first, second, "{json} now cleans to a fixpoint");
        assert!(!props::identifier_is_fixpoint(&first));
        assert!(props::identifier_is_fixpoint(&second));
    }
}
