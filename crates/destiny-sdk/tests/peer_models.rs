//! The Rust models against the REAL Python `destiny_sdk` 0.7.4 models
//! (`crates/destiny-testkit/python/peer_models.py`): what one side writes, the other reads, for every model
//! and every content type, annotation type and identifier type.
//!
//! - Fixture lines (`../shared/fixtures/references.jsonl`, written by SDK 0.7.4) parsed
//!   and re-written by Rust are accepted by Python, and Python's `to_jsonl()` of them is
//!   the Rust JSONL line byte for byte (and the fixture line itself).
//! - Samples built by Python parse in Rust and are re-written as the same JSON value
//!   (`model_dump(mode="json")`) and, for file models, the same JSONL bytes
//!   (`to_jsonl()`); Python accepts what Rust wrote and reads it back to the same dump.
//! - Documents Python rejects are rejected by Rust; documents Python accepts in lax mode
//!   are accepted by Rust and normalised to the same dump.
//!
//! Each test starts Python once (twice for the samples) and reports every mismatch at the
//! end, not only the first.

mod common;

use common::{fixture, run_jobs, run_script};
use destiny_sdk::jsonl;
use destiny_sdk::models::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// What Rust makes of a JSON text: the parsed model written back.
#[derive(Debug)]
struct Written {
    /// `serde_json::to_value` of the model (the `model_dump(mode="json")` counterpart).
    value: Value,
    /// `serde_json::to_string` (what a request body would carry).
    text: String,
    /// The JSONL line (the `to_jsonl()` counterpart), without the trailing `\n`.
    line: String,
}

type Codec = fn(&str) -> Result<Written, ModelError>;

fn write_back<T: DeserializeOwned + Serialize>(text: &str) -> Result<Written, ModelError> {
    let model: T = from_json_str(text)?;
    Ok(Written {
        value: serde_json::to_value(&model).expect("a model serialises to a JSON value"),
        text: serde_json::to_string(&model).expect("a model serialises to JSON text"),
        line: jsonl::to_line(&model).expect("a model serialises to a JSONL line"),
    })
}

/// The Rust model for a Python model name.
fn codec(model: &str) -> Codec {
    match model {
        "Reference" => write_back::<Reference>,
        "Enhancement" => write_back::<Enhancement>,
        "EnhancementContent" => write_back::<EnhancementContent>,
        "ExternalIdentifier" => write_back::<ExternalIdentifier>,
        "Identifier" => write_back::<Identifier>,
        "Annotation" => write_back::<Annotation>,
        "Location" => write_back::<Location>,
        "Authorship" => write_back::<Authorship>,
        "RobotError" => write_back::<RobotError>,
        "LinkedRobotError" => write_back::<LinkedRobotError>,
        "RobotResult" => write_back::<RobotResult>,
        "RobotEnhancementBatchResult" => write_back::<RobotEnhancementBatchResult>,
        "RobotEnhancementBatch" => write_back::<RobotEnhancementBatch>,
        "RobotEnhancementBatchRead" => write_back::<RobotEnhancementBatchRead>,
        "RobotRequest" => write_back::<RobotRequest>,
        "EnhancementRequestRead" => write_back::<EnhancementRequestRead>,
        "EnhancementRequestIn" => write_back::<EnhancementRequestIn>,
        "RobotResultValidationEntry" => write_back::<RobotResultValidationEntry>,
        "EnhancementResultEntry" => write_back::<EnhancementResultEntry>,
        "RobotIn" => write_back::<RobotIn>,
        "Robot" => write_back::<Robot>,
        "ProvisionedRobot" => write_back::<ProvisionedRobot>,
        other => panic!("no Rust model mapped for the Python model {other:?}"),
    }
}

/// `rust` without the `null` fields SDK 0.7.4 does not have (`supersedes`, `created_at`,
/// `pagination`...): where `rust` has a key whose value is `null` and the 0.7.4 `dump`
/// lacks it. (JSONL lines leave out `null` fields, so they are compared whole.)
fn as_074(rust: &Value, dump: &Value) -> Value {
    match (rust, dump) {
        (Value::Object(r), Value::Object(d)) => Value::Object(
            r.iter()
                .filter(|(k, v)| !v.is_null() || d.contains_key(*k))
                .map(|(k, v)| (k.clone(), as_074(v, d.get(k).unwrap_or(&Value::Null))))
                .collect(),
        ),
        (Value::Array(r), Value::Array(d)) => Value::Array(
            r.iter()
                .enumerate()
                .map(|(i, v)| as_074(v, d.get(i).unwrap_or(&Value::Null)))
                .collect(),
        ),
        _ => rust.clone(),
    }
}

/// Where two texts first differ, with some context, for byte-exact comparisons.
fn first_difference(left: &str, right: &str) -> String {
    let at = left
        .bytes()
        .zip(right.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| left.len().min(right.len()));
    let window = |s: &str| {
        let mut start = at.saturating_sub(60);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 60).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s[start..end].to_owned()
    };
    format!(
        "first difference at byte {at} (lengths {} vs {}):\n  rust:   …{}…\n  python: …{}…",
        left.len(),
        right.len(),
        window(left),
        window(right)
    )
}

/// Panics with every collected failure.
fn report(what: &str, checked: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} of {checked} checks failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn peer_fixture_references_written_by_rust_are_python_jsonl() {
    let path = fixture("references.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "{} has no lines", path.display());

    let mut failures = Vec::new();
    let mut written = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match write_back::<Reference>(line) {
            Ok(w) => written.push((i, w)),
            Err(e) => failures.push(format!("line {}: Rust cannot parse it: {e}", i + 1)),
        }
    }
    // Python reads Rust's lines as the repository reads a file (`from_jsonl`), and the
    // fixture lines themselves, to pin what its `to_jsonl()` makes of them.
    let mut jobs: Vec<Value> = written
        .iter()
        .map(|(_, w)| json!({"model": "Reference", "text": w.line}))
        .collect();
    jobs.extend(
        written
            .iter()
            .map(|(i, _)| json!({"model": "Reference", "text": lines[*i]})),
    );
    let answers = run_jobs("peer_models.py", &["validate"], &jobs);
    let (of_rust, of_fixture) = answers.split_at(written.len());

    for (((i, w), py), py_fixture) in written.iter().zip(of_rust).zip(of_fixture) {
        let n = i + 1;
        if py["ok"] != json!(true) {
            failures.push(format!(
                "line {n}: Python rejects Rust's line: {}",
                py["error"]
            ));
            continue;
        }
        let py_line = py["jsonl"].as_str().expect("Reference has to_jsonl");
        if w.line != py_line {
            failures.push(format!(
                "line {n}: Rust's JSONL line != Python's to_jsonl() of it; {}",
                first_difference(&w.line, py_line)
            ));
        }
        if w.line != lines[*i] {
            failures.push(format!(
                "line {n}: Rust's JSONL line != the fixture line (written by SDK 0.7.4); {}",
                first_difference(&w.line, lines[*i])
            ));
        }
        if py_fixture["ok"] != json!(true)
            || py_fixture["dump"] != as_074(&w.value, &py_fixture["dump"])
        {
            failures.push(format!(
                "line {n}: Rust's JSON value != Python's model_dump of the fixture line \
                 (python ok: {})",
                py_fixture["ok"]
            ));
        }
    }
    report("fixture references", lines.len(), &failures);
}

#[test]
fn peer_python_samples_of_every_model_round_trip_through_rust() {
    let samples = run_script("peer_models.py", &["samples"], &[]);
    assert!(samples.len() > 50, "too few samples: {}", samples.len());
    let mut failures = Vec::new();
    let mut seen_models = std::collections::BTreeSet::new();
    let mut seen_kinds = std::collections::BTreeSet::new();
    let mut rust_texts = Vec::new();
    for s in &samples {
        let model = s["model"].as_str().expect("sample model");
        let label = format!("{model} {}", s["label"]);
        seen_models.insert(model.to_owned());
        collect_kinds(&s["dump"], &mut seen_kinds);
        let dump_text = s["dump"].to_string();
        let w = match codec(model)(&dump_text) {
            Ok(w) => w,
            Err(e) => {
                failures.push(format!(
                    "{label}: Rust cannot parse Python's dump: {e}\n  {dump_text}"
                ));
                continue;
            }
        };
        if as_074(&w.value, &s["dump"]) != s["dump"] {
            failures.push(format!(
                "{label}: Rust's JSON value != Python's model_dump(mode=\"json\"); {}",
                first_difference(&w.value.to_string(), &s["dump"].to_string())
            ));
        }
        if let Some(py_line) = s["jsonl"].as_str() {
            if w.line != py_line {
                failures.push(format!(
                    "{label}: Rust's JSONL line != Python's to_jsonl(); {}",
                    first_difference(&w.line, py_line)
                ));
            }
        }
        rust_texts.push((label, model.to_owned(), s["dump"].clone(), w));
    }

    // Every model, content type, annotation type and identifier type is covered.
    for model in [
        "Reference",
        "Enhancement",
        "EnhancementContent",
        "ExternalIdentifier",
        "RobotError",
        "LinkedRobotError",
        "RobotResult",
        "RobotEnhancementBatchResult",
        "RobotEnhancementBatch",
        "RobotEnhancementBatchRead",
        "EnhancementRequestRead",
        "EnhancementRequestIn",
        "RobotResultValidationEntry",
        "RobotIn",
        "Robot",
        "ProvisionedRobot",
        "RobotRequest",
        "EnhancementResultEntry",
    ] {
        assert!(seen_models.contains(model), "no Python sample of {model}");
    }
    for kind in [
        "enhancement_type=bibliographic",
        "enhancement_type=abstract",
        "enhancement_type=annotation",
        "enhancement_type=location",
        "enhancement_type=reference_association",
        "enhancement_type=raw",
        "annotation_type=boolean",
        "annotation_type=score",
        "identifier_type=doi",
        "identifier_type=eric",
        "identifier_type=pm_id",
        "identifier_type=pro_quest",
        "identifier_type=open_alex",
        "identifier_type=other",
    ] {
        assert!(seen_kinds.contains(kind), "no Python sample with {kind}");
    }

    // Python reads what Rust wrote (as a request body / file line would be read) and
    // sees the same thing it started from.
    let mut jobs = Vec::new();
    for (_, model, _, w) in &rust_texts {
        jobs.push(json!({"model": model, "text": w.text}));
        jobs.push(json!({"model": model, "text": w.line}));
    }
    let answers = run_jobs("peer_models.py", &["validate"], &jobs);
    for ((label, _, dump, w), pair) in rust_texts.iter().zip(answers.chunks(2)) {
        // A JSONL line reads back with U+0085, U+2028 and U+2029 turned into newlines,
        // exactly as a line of Python's `to_jsonl()` does.
        let line_dump = separators_as_newlines(dump);
        for (form, text, py, expected) in [
            ("JSON", &w.text, &pair[0], dump),
            ("JSONL line", &w.line, &pair[1], &line_dump),
        ] {
            if py["ok"] != json!(true) {
                failures.push(format!(
                    "{label}: Python rejects Rust's {form}: {}\n  {text}",
                    py["error"]
                ));
            } else if &py["dump"] != expected {
                failures.push(format!(
                    "{label}: Python reads Rust's {form} as something else (read vs expected); {}",
                    first_difference(&py["dump"].to_string(), &expected.to_string())
                ));
            }
        }
    }
    report("Python samples", samples.len(), &failures);
}

#[test]
fn peer_floats_written_by_rust_are_python_jsonl() {
    let seed = common::SplitMix64::seed_from_clock();
    let mut rng = common::SplitMix64::new(seed);
    let mut floats = vec![
        0.0,
        -0.0,
        1.0,
        0.1 + 0.2,
        1e-4,
        1e-5,
        1e-7,
        2.5e-5,
        1e15,
        1e16,
        1e21,
        1e22,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        123_456_789_012_345_680.0,
        -1.5e300,
        0.95,
    ];
    while floats.len() < 400 {
        let x = f64::from_bits(rng.next_u64());
        if x.is_finite() {
            floats.push(x);
        }
    }
    // Each float as an annotation score (a model field) and inside `data` (free JSON).
    let lines: Vec<String> = floats
        .iter()
        .map(|x| {
            let doc = enhancement_with(json!({"enhancement_type": "annotation", "annotations": [
                {"annotation_type": "score", "scheme": "s", "label": "l", "score": x, "data": {"x": x, "xs": [x]}}
            ]}));
            write_back::<Enhancement>(&doc.to_string())
                .unwrap_or_else(|e| panic!("Rust cannot parse a score of {x:e}: {e}"))
                .line
        })
        .collect();
    let jobs: Vec<Value> = lines
        .iter()
        .map(|line| json!({"model": "Enhancement", "text": line}))
        .collect();
    let answers = run_jobs("peer_models.py", &["validate"], &jobs);
    let mut failures = Vec::new();
    for ((x, line), py) in floats.iter().zip(&lines).zip(&answers) {
        match py["jsonl"].as_str() {
            Some(py_line) if py_line == line => {}
            Some(py_line) => failures.push(format!("{x:e}: {}", first_difference(line, py_line))),
            None => failures.push(format!(
                "{x:e}: Python rejects Rust's line: {}",
                py["error"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} floats written differently:\n{}",
        failures.len(),
        floats.len(),
        failures.join("\n")
    );
}

/// `value` with U+0085, U+2028 and U+2029 replaced by `\n` in every string (what the
/// JSONL writers of both SDKs do to the text).
fn separators_as_newlines(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(['\u{85}', '\u{2028}', '\u{2029}'], "\n")),
        Value::Array(items) => Value::Array(items.iter().map(separators_as_newlines).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), separators_as_newlines(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Collects `field=value` for the type tags found anywhere in a JSON value.
fn collect_kinds(value: &Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let (
                    "enhancement_type" | "annotation_type" | "identifier_type",
                    Value::String(s),
                ) = (k.as_str(), v)
                {
                    out.insert(format!("{k}={s}"));
                }
                collect_kinds(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_kinds(v, out)),
        _ => {}
    }
}

const REF: &str = "3a533776-c9ad-4aac-a089-d654d509490c";

fn enhancement_with(content: Value) -> Value {
    json!({"reference_id": REF, "source": "s", "visibility": "public", "content": content})
}

fn reference_with(identifier: Value) -> Value {
    json!({"id": REF, "identifiers": [identifier]})
}

fn doi(identifier: Value) -> Value {
    json!({"identifier_type": "doi", "identifier": identifier})
}

/// Documents the Python SDK rejects: (label, model, document).
#[rustfmt::skip] // One row a line.
fn rejected() -> Vec<(&'static str, &'static str, Value)> {
    let ann =
        |a: Value| enhancement_with(json!({"enhancement_type": "annotation", "annotations": [a]}));
    let loc =
        |l: Value| enhancement_with(json!({"enhancement_type": "location", "locations": [l]}));
    let raw = |date: Value, data: Value| {
        enhancement_with(
            json!({"enhancement_type": "raw", "source_export_date": date, "description": "d", "data": data}),
        )
    };
    vec![
        ("bad DOI", "ExternalIdentifier", doi(json!("not-a-doi"))),
        ("DOI registrant too short", "Reference", reference_with(doi(json!("10.123/abc")))),
        ("DOI with a space", "ExternalIdentifier", doi(json!("10.1000/a b"))),
        ("DOI not a string", "ExternalIdentifier", doi(json!(10.1000))),
        ("open_alex without W", "ExternalIdentifier", json!({"identifier_type": "open_alex", "identifier": "A123"})),
        ("open_alex lowercase w", "ExternalIdentifier", json!({"identifier_type": "open_alex", "identifier": "w123"})),
        ("open_alex trailing letters", "Reference", reference_with(json!({"identifier_type": "open_alex", "identifier": "W123x"}))),
        ("pm_id not an int", "ExternalIdentifier", json!({"identifier_type": "pm_id", "identifier": "abc"})),
        ("pm_id fractional", "ExternalIdentifier", json!({"identifier_type": "pm_id", "identifier": 1.5})),
        ("eric bad prefix", "ExternalIdentifier", json!({"identifier_type": "eric", "identifier": "XX123"})),
        ("pro_quest no digits at end", "ExternalIdentifier", json!({"identifier_type": "pro_quest", "identifier": "abc"})),
        ("other without its name", "ExternalIdentifier", json!({"identifier_type": "other", "identifier": "x"})),
        ("identifier without type", "ExternalIdentifier", json!({"identifier": "W123"})),
        ("annotation scheme with /", "Enhancement", ann(json!({"annotation_type": "boolean", "scheme": "a/b", "label": "l", "value": true}))),
        ("annotation scheme empty", "Enhancement", ann(json!({"annotation_type": "score", "scheme": "", "label": "l", "score": 1}))),
        ("empty annotations list", "Enhancement", enhancement_with(json!({"enhancement_type": "annotation", "annotations": []}))),
        ("boolean annotation without value", "Enhancement", ann(json!({"annotation_type": "boolean", "scheme": "s", "label": "l"}))),
        ("boolean annotation value not a bool", "Enhancement", ann(json!({"annotation_type": "boolean", "scheme": "s", "label": "l", "value": "maybe"}))),
        ("score annotation score not a number", "Enhancement", ann(json!({"annotation_type": "score", "scheme": "s", "label": "l", "score": "high"}))),
        ("annotation without type", "Enhancement", ann(json!({"scheme": "s", "label": "l", "score": 1}))),
        ("annotation data not an object", "Enhancement", ann(json!({"annotation_type": "score", "scheme": "s", "label": "l", "score": 1, "data": [1]}))),
        ("empty locations", "Enhancement", enhancement_with(json!({"enhancement_type": "location", "locations": []}))),
        ("location bad version", "Enhancement", loc(json!({"version": "draft"}))),
        ("location URL not http", "Enhancement", loc(json!({"landing_page_url": "ftp://example.org/x"}))),
        ("location URL not a URL", "Enhancement", loc(json!({"pdf_url": "not a url"}))),
        ("location is_oa not a bool", "Enhancement", loc(json!({"is_oa": "sometimes"}))),
        ("empty associated_reference_ids", "Enhancement", enhancement_with(json!({"enhancement_type": "reference_association", "associated_reference_ids": [], "association_type": "cites"}))),
        ("bad association_type", "Enhancement", enhancement_with(json!({"enhancement_type": "reference_association", "associated_reference_ids": [REF], "association_type": "likes"}))),
        ("associated id neither UUID4 nor identifier", "Enhancement", enhancement_with(json!({"enhancement_type": "reference_association", "associated_reference_ids": ["W123"], "association_type": "cites"}))),
        ("abstract bad process", "Enhancement", enhancement_with(json!({"enhancement_type": "abstract", "process": "manual", "abstract": "x"}))),
        ("abstract missing text", "Enhancement", enhancement_with(json!({"enhancement_type": "abstract", "process": "other"}))),
        ("authorship bad position", "Enhancement", enhancement_with(json!({"enhancement_type": "bibliographic", "authorship": [{"display_name": "A", "position": "second"}]}))),
        ("bibliographic bad date", "Enhancement", enhancement_with(json!({"enhancement_type": "bibliographic", "publication_date": "2024-13-01"}))),
        ("bibliographic count not an int", "Enhancement", enhancement_with(json!({"enhancement_type": "bibliographic", "cited_by_count": "many"}))),
        ("raw with empty data", "Enhancement", raw(json!("2024-01-02T03:04:05Z"), json!({}))),
        ("raw with bad date", "Enhancement", raw(json!("yesterday"), json!({"a": 1}))),
        ("raw without data", "Enhancement", enhancement_with(json!({"enhancement_type": "raw", "source_export_date": "2024-01-02T03:04:05Z", "description": "d"}))),
        ("content without type", "Enhancement", enhancement_with(json!({"process": "other", "abstract": "x"}))),
        ("UUID v1 reference id", "Reference", json!({"id": "c232ab00-9414-11ec-b3c8-9f6bdeced846"})),
        ("UUID not a UUID", "Reference", json!({"id": "3a533776-c9ad-4aac-a089"})),
        ("UUID v1 in derived_from", "Enhancement", json!({"reference_id": REF, "source": "s", "visibility": "public", "derived_from": ["c232ab00-9414-11ec-b3c8-9f6bdeced846"], "content": {"enhancement_type": "abstract", "process": "other", "abstract": "x"}})),
        ("bad reference visibility", "Reference", json!({"id": REF, "visibility": "private"})),
        ("bad enhancement visibility", "Enhancement", json!({"reference_id": REF, "source": "s", "visibility": "PUBLIC", "content": {"enhancement_type": "abstract", "process": "other", "abstract": "x"}})),
        ("reference missing id", "Reference", json!({"visibility": "public"})),
        ("enhancement missing source", "Enhancement", json!({"reference_id": REF, "visibility": "public", "content": {"enhancement_type": "abstract", "process": "other", "abstract": "x"}})),
        ("enhancement missing content", "Enhancement", json!({"reference_id": REF, "source": "s", "visibility": "public"})),
        ("reference not an object", "Reference", json!([REF])),
        ("identifiers not a list", "Reference", json!({"id": REF, "identifiers": doi(json!("10.1000/x"))})),
        ("robot result missing request_id", "RobotResult", json!({"error": null})),
        ("batch result error without message", "RobotEnhancementBatchResult", json!({"request_id": REF, "error": {}})),
        ("batch result error as a string", "RobotEnhancementBatchResult", json!({"request_id": REF, "error": "boom"})),
        ("linked error missing message", "LinkedRobotError", json!({"reference_id": REF})),
        ("linked error UUID v1", "LinkedRobotError", json!({"message": "m", "reference_id": "c232ab00-9414-11ec-b3c8-9f6bdeced846"})),
        ("result entry neither", "EnhancementResultEntry", json!({"reference_id": REF})),
        ("batch storage URL not a URL", "RobotEnhancementBatch", json!({"id": REF, "reference_storage_url": "nope", "result_storage_url": "https://x.org/"})),
        ("batch missing result URL", "RobotEnhancementBatch", json!({"id": REF, "reference_storage_url": "https://x.org/"})),
        ("batch read missing robot_id", "RobotEnhancementBatchRead", json!({"id": REF})),
        ("request read bad status", "EnhancementRequestRead", json!({"robot_id": REF, "reference_ids": [], "id": REF, "request_status": "done"})),
        ("request in bad reference id", "EnhancementRequestIn", json!({"robot_id": REF, "reference_ids": ["x"]})),
        ("validation entry UUID v1", "RobotResultValidationEntry", json!({"reference_id": "c232ab00-9414-11ec-b3c8-9f6bdeced846"})),
        ("robot in extra field (forbid)", "RobotIn", json!({"name": "n", "description": "d", "owner": "o", "extra": 1})),
        ("robot missing owner", "Robot", json!({"name": "n", "description": "d", "id": REF})),
        ("provisioned robot missing secret", "ProvisionedRobot", json!({"name": "n", "description": "d", "owner": "o", "id": REF})),
    ]
}

/// How Rust must write a document Python accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Writes {
    /// As Python dumps it (same JSON value).
    AsPython,
    /// Verbatim, where Python normalises the text (URLs, datetimes): Python must read
    /// Rust's text back to the dump it makes of the original.
    SameMeaning,
}

/// Documents the Python SDK accepts only thanks to lax parsing or normalisation:
/// Rust must accept them too.
#[rustfmt::skip] // One row a line.
fn accepted() -> Vec<(&'static str, &'static str, Value, Writes)> {
    use Writes::*;
    vec![
        ("DOI https://doi.org/ prefix stripped", "ExternalIdentifier", doi(json!("https://doi.org/10.1000/xyz")), AsPython),
        ("DOI dx.doi.org prefix stripped", "ExternalIdentifier", doi(json!("http://dx.doi.org/10.1000/xyz")), AsPython),
        ("DOI doi: prefix stripped", "ExternalIdentifier", doi(json!("doi:10.1000/xyz")), AsPython),
        ("open_alex URL stripped", "ExternalIdentifier", json!({"identifier_type": "open_alex", "identifier": "https://openalex.org/W123"}), AsPython),
        ("open_alex works URL stripped", "ExternalIdentifier", json!({"identifier_type": "open_alex", "identifier": "https://openalex.org/works/W123"}), AsPython),
        ("eric URL stripped", "ExternalIdentifier", json!({"identifier_type": "eric", "identifier": "https://eric.ed.gov/?id=EJ123"}), AsPython),
        ("pro_quest URL stripped", "ExternalIdentifier", json!({"identifier_type": "pro_quest", "identifier": "https://www.proquest.com/docview/123"}), AsPython),
        ("pm_id as a string", "ExternalIdentifier", json!({"identifier_type": "pm_id", "identifier": "123"}), AsPython),
        ("pm_id as a whole float", "ExternalIdentifier", json!({"identifier_type": "pm_id", "identifier": 123.0}), AsPython),
        ("reference without visibility", "Reference", json!({"id": REF}), AsPython),
        ("reference with unknown fields", "Reference", json!({"id": REF, "created_at": "2025-01-01", "extra": [1]}), AsPython),
        ("uppercase UUID", "Reference", json!({"id": REF.to_uppercase()}), AsPython),
        ("is_oa as a string", "Enhancement", enhancement_with(json!({"enhancement_type": "location", "locations": [{"is_oa": "yes"}]})), AsPython),
        ("score as an int", "Enhancement", enhancement_with(json!({"enhancement_type": "annotation", "annotations": [{"annotation_type": "score", "scheme": "s", "label": "l", "score": 1}]})), AsPython),
        ("bibliographic year as a string", "Enhancement", enhancement_with(json!({"enhancement_type": "bibliographic", "publication_year": "1999"})), AsPython),
        ("batch with extra_fields null", "RobotEnhancementBatch", json!({"id": REF, "reference_storage_url": "https://x.org/a", "result_storage_url": "https://x.org/b", "extra_fields": null}), AsPython),
        ("URL host case and empty path", "Enhancement", enhancement_with(json!({"enhancement_type": "location", "locations": [{"landing_page_url": "https://Example.org"}]})), SameMeaning),
        ("raw date with +00:00", "Enhancement", enhancement_with(json!({"enhancement_type": "raw", "source_export_date": "2024-01-02T03:04:05+00:00", "description": "d", "data": 1})), SameMeaning),
        ("raw date as a date only", "Enhancement", enhancement_with(json!({"enhancement_type": "raw", "source_export_date": "2024-01-02", "description": "d", "data": 1})), SameMeaning),
    ]
}

/// Deliberate deviations (spec §5: lenient reading for newer repositories): Python 0.7.4
/// rejects these, Rust accepts them.
#[rustfmt::skip] // One row a line.
fn deviations() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("UUID v7 id", "Reference", json!({"id": "0190b3f6-0000-7000-8000-000000000000"})),
        ("unknown enhancement type", "Enhancement", enhancement_with(json!({"enhancement_type": "graph_data", "data": {}}))),
        ("url identifier (SDK 0.17.6)", "Reference", reference_with(json!({"identifier_type": "url", "identifier": "https://x.org/"}))),
        // SDK 0.17.6's DOI rule: any non-space suffix, prefixes in any case.
        ("DOI with non-ASCII letters", "ExternalIdentifier", doi(json!("10.1000/édition"))),
        ("DOI with a dollar sign", "ExternalIdentifier", doi(json!("10.18730/9wq$d"))),
        ("DOI with an upper-case DOI: prefix", "ExternalIdentifier", doi(json!("DOI:10.1234/x"))),
    ]
}

#[test]
fn peer_python_and_rust_agree_on_invalid_and_lax_documents() {
    let rejected = rejected();
    let accepted = accepted();
    let deviations = deviations();
    let rust_of = |model: &str, doc: &Value| codec(model)(&doc.to_string());

    // One Python run: every document, then Rust's text of each accepted one.
    let mut jobs: Vec<Value> = Vec::new();
    let documents = rejected
        .iter()
        .map(|(_, m, d)| (m, d))
        .chain(accepted.iter().map(|(_, m, d, _)| (m, d)))
        .chain(deviations.iter().map(|(_, m, d)| (m, d)));
    for (model, doc) in documents {
        jobs.push(json!({"model": model, "json": doc}));
    }
    let rust_accepted: Vec<_> = accepted.iter().map(|(_, m, d, _)| rust_of(m, d)).collect();
    for ((_, model, _, _), rust) in accepted.iter().zip(&rust_accepted) {
        let text = rust
            .as_ref()
            .map(|w| w.text.clone())
            .unwrap_or_else(|_| "null".into());
        jobs.push(json!({"model": model, "text": text}));
    }
    let answers = run_jobs("peer_models.py", &["validate"], &jobs);
    for a in &answers {
        assert!(
            a["bad_job"].is_null(),
            "peer_models.py could not run a job: {a}"
        );
    }
    let (py_rejected, rest) = answers.split_at(rejected.len());
    let (py_accepted, rest) = rest.split_at(accepted.len());
    let (py_deviations, py_of_rust) = rest.split_at(deviations.len());

    let mut failures = Vec::new();
    for ((label, model, doc), py) in rejected.iter().zip(py_rejected) {
        match (py["ok"].as_bool(), rust_of(model, doc)) {
            (Some(false), Err(_)) => {}
            (Some(false), Ok(w)) => failures.push(format!(
                "{label} ({model}): Python rejects it, Rust accepts it as {}\n  python: {}\n  doc: {doc}",
                w.value,
                py["error"].as_str().unwrap_or_default()
            )),
            (_, rust) => failures.push(format!(
                "{label} ({model}): the table is wrong, Python accepts it (dump {}); Rust: {rust:?}",
                py["dump"]
            )),
        }
    }
    let accepted_rows = accepted
        .iter()
        .zip(&rust_accepted)
        .zip(py_accepted.iter().zip(py_of_rust));
    for (((label, model, doc, writes), rust), (py, py_rust)) in accepted_rows {
        if py["ok"] != json!(true) {
            failures.push(format!(
                "{label} ({model}): the table is wrong, Python rejects it: {}",
                py["error"]
            ));
            continue;
        }
        let w = match rust {
            Ok(w) => w,
            Err(e) => {
                failures.push(format!(
                    "{label} ({model}): Python accepts it, Rust rejects it: {e}\n  doc: {doc}"
                ));
                continue;
            }
        };
        if *writes == Writes::AsPython && as_074(&w.value, &py["dump"]) != py["dump"] {
            failures.push(format!(
                "{label} ({model}): both accept it, but Rust writes it differently\n  rust:   {}\n  python: {}",
                w.value, py["dump"]
            ));
        }
        if py_rust["ok"] != json!(true) || py_rust["dump"] != py["dump"] {
            failures.push(format!(
                "{label} ({model}): Python reads Rust's text as something else\n  rust text: {}\n  python: {py_rust}\n  original dump: {}",
                w.text, py["dump"]
            ));
        }
    }
    for ((label, model, doc), py) in deviations.iter().zip(py_deviations) {
        if py["ok"] != json!(false) {
            failures.push(format!(
                "{label}: Python 0.7.4 was expected to reject it: {py}"
            ));
        }
        if let Err(e) = rust_of(model, doc) {
            failures.push(format!(
                "{label} ({model}): Rust must accept it (spec §5): {e}"
            ));
        }
    }
    report("invalid/lax documents", jobs.len(), &failures);
}
