//! External identifiers against the REAL Python `destiny_sdk` 0.17.6 (today's peer,
//! `crates/destiny-testkit/python/peer_models.py` run by `.venv-0.17`), differentially: a seeded generator
//! writes identifier documents around today's shapes (DOI prefixes, cases and Unicode
//! suffixes, `url` forms, PubMed numbers, OpenAlex / ERIC / ProQuest forms, `other`, and
//! every field removed or retyped), and for each one Rust and Python must agree on
//! accepting or refusing it, and on what an accepted one becomes
//! (`model_dump(mode="json")` against the Rust model written back).
//!
//! `DESTINY_PEER_DOCUMENTS` sets the number of documents (default 12,000; a soak run
//! takes more), `DESTINY_PEER_SEED` the seed (default: a fixed one, so CI is
//! repeatable; every failure names the seed and the document) and `DESTINY_PEER_REPORT`
//! a file to write every disagreement to.

mod common;

use common::{env_number as setting, run_script_on, Peer, IDENTIFIER_TYPES_0176};
use destiny_sdk::models::{from_json_str, ExternalIdentifier};
use destiny_sdk::samples::Rng;
use serde_json::{json, Value};

/// Text pieces a suffix is made of: ASCII, 0.7.4's punctuation, what only 0.17.6
/// accepts, Unicode letters (composed and not), and whitespace of several kinds.
const SUFFIX_PIECES: &[&str] = &[
    "abc",
    "XYZ",
    "123",
    "journal.pone.0001",
    "-",
    ".",
    "_",
    ";",
    "(",
    ")",
    "/",
    ":",
    "%",
    "<",
    ">",
    "[",
    "]",
    "+",
    "&",
    "$",
    "#",
    "?",
    "=",
    "é",
    "ü",
    "ñ",
    "Σ",
    "ΑΣ",
    "e\u{301}",
    "ß",
    "İ",
    "ǅ",
    "文献",
    "\u{2010}",
    "\u{a0}",
    " ",
    "\t",
    "\u{200b}",
    "\u{85}",
    "\u{1f}",
    "\u{3000}",
    "%20",
    "é-dash",
];

const DOI_PREFIXES: &[&str] = &[
    "",
    "",
    "",
    "https://doi.org/",
    "http://dx.doi.org/",
    "HTTPS://DOI.ORG/",
    "Http://Dx.Doi.Org/",
    "doi.org/",
    "dx.doi.org/",
    "doi:",
    "DOI:",
    "doi: ",
    "Doi:\t",
    "https://doi:",
    "http://",
    "doi.org/dx.doi.org/",
    "www.doi.org/",
    "https://doi.org/doi:",
    " ",
    "\u{a0}",
    "httpſ://doı.org/",
];

const REGISTRANTS: &[&str] = &[
    "10.1234",
    "10.1000",
    "10.18730",
    "10.123456789",
    "10.123",
    "10.1234567890",
    "11.1234",
    "10.12a4",
    "10.",
    "10",
];

fn doi(rng: &mut Rng) -> Value {
    let mut s = String::from(*rng.pick(DOI_PREFIXES));
    s.push_str(rng.pick::<&str>(REGISTRANTS));
    if !rng.chance(3) {
        s.push('/');
    }
    for _ in 0..rng.below(5) {
        s.push_str(rng.pick::<&str>(SUFFIX_PIECES));
    }
    if rng.chance(10) {
        s.push_str(rng.pick::<&str>(&[" ", "\u{a0}", "\n", "\u{1c}"]));
    }
    json!(s)
}

const SCHEMES: &[&str] = &[
    "https://",
    "http://",
    "HTTP://",
    "Https://",
    "ftp://",
    "",
    "http:/",
    "http:",
    "mailto:",
    "https:///",
    "file://",
];
const HOSTS: &[&str] = &[
    "example.org",
    "Example.COM",
    "münchen.de",
    "xn--mnchen-3ya.de",
    "127.0.0.1",
    "[::1]",
    "[2001:DB8::1]",
    "a_b.org",
    "",
    "exa mple.org",
    "example.org:8080",
    "example.org:80",
    "example.org:99999",
    "user:pw@example.org",
    "theses.example.edu",
    "EXAMPLE.org.",
    "0x7f.1",
];
const PATHS: &[&str] = &[
    "",
    "/",
    "/a b",
    "/ü",
    "/a/../b",
    "/./c",
    "/%7e",
    "/%7E",
    "?q=1 2",
    "#frag",
    "/a?b#c",
    "/handle/1234/5678",
    "\\x",
    "/a\tb",
    "?",
    "#",
];

fn url(rng: &mut Rng) -> Value {
    let mut s = String::new();
    if rng.chance(10) {
        s.push_str(rng.pick::<&str>(&[" ", "\u{a0}", "\t"]));
    }
    s.push_str(rng.pick::<&str>(SCHEMES));
    s.push_str(rng.pick::<&str>(HOSTS));
    for _ in 0..rng.below(3) {
        s.push_str(rng.pick::<&str>(PATHS));
    }
    if rng.chance(10) {
        s.push_str(rng.pick::<&str>(&[" ", "\n"]));
    }
    json!(s)
}

fn pm_id(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(rng.below(40_000_000) + 1),
        3 => json!(format!("{}", rng.below(1_000_000))),
        4 => json!(" 7 "),
        5 => json!(1.0),
        6 => json!(1.5),
        7 => json!("abc"),
        8 => json!(true),
        9 => json!(i64::MAX),
        10 => json!("0"),
        _ => json!(null),
    }
}

/// OpenAlex ids: prefixes (none, URLs, partial forms) and ids (valid or not).
const OPEN_ALEX_PREFIXES: &[&str] = &[
    "",
    "",
    "https://openalex.org/",
    "http://openalex.org/works/",
    "openalex.org/",
    "https://explore.openalex.org/works/",
    "works/",
    " ",
    "OPENALEX.ORG/",
];
const OPEN_ALEX_IDS: &[&str] = &[
    "W2741809807",
    "W1",
    "w123",
    "W",
    "W12x",
    "A123",
    "W١٢",
    " W42",
];

/// ERIC ids: prefixes and ids.
const ERIC_PREFIXES: &[&str] = &[
    "",
    "",
    "https://eric.ed.gov/?id=",
    "http://files.eric.ed.gov/fulltext/",
    " ",
];
const ERIC_IDS: &[&str] = &[
    "EJ1234",
    "ED5",
    "E|9",
    "EX12",
    "ej12",
    "EJ",
    "xxED42",
    "EJ1234.pdf",
];

/// ProQuest ids: prefixes and ids.
const PRO_QUEST_PREFIXES: &[&str] = &[
    "",
    "",
    "https://www.proquest.com/docview/",
    "http://search.proquest.com/",
    " ",
];
const PRO_QUEST_IDS: &[&str] = &["123", "abc", "12a", "9", "", "٣"];

/// A picked prefix followed by a picked id (in that order from the stream).
fn prefixed(rng: &mut Rng, prefixes: &[&str], ids: &[&str]) -> Value {
    let prefix = *rng.pick(prefixes);
    let id = *rng.pick(ids);
    json!(format!("{prefix}{id}"))
}

/// The identifier types a document is given, DOIs and URLs more often than the rest.
const TYPES: &[&str] = &[
    "doi",
    "doi",
    "doi",
    "url",
    "url",
    "pm_id",
    "open_alex",
    "eric",
    "pro_quest",
    "other",
];

/// One identifier document, valid or not.
fn document(rng: &mut Rng) -> Value {
    let ty = *rng.pick(TYPES);
    let identifier = match ty {
        "doi" => doi(rng),
        "url" => url(rng),
        "pm_id" => pm_id(rng),
        "open_alex" => prefixed(rng, OPEN_ALEX_PREFIXES, OPEN_ALEX_IDS),
        "eric" => prefixed(rng, ERIC_PREFIXES, ERIC_IDS),
        "pro_quest" => prefixed(rng, PRO_QUEST_PREFIXES, PRO_QUEST_IDS),
        _ => json!(*rng.pick(&["isbn:123", "", "x y", "Ü"])),
    };
    let mut doc = json!({"identifier": identifier, "identifier_type": ty});
    if ty == "other" && !rng.chance(10) {
        doc["other_identifier_name"] = json!(*rng.pick(&["isbn", "", "Handle"]));
    }
    // Mutations of the shape: a field removed or retyped, another type's tag.
    match rng.below(40) {
        0 => {
            doc.as_object_mut().expect("object").remove("identifier");
        }
        1 => doc["identifier"] = json!(*rng.pick(&["null", "list", "number", "object"])),
        2 => doc["identifier"] = json!(42),
        3 => doc["identifier"] = json!([1]),
        4 => doc["identifier_type"] = json!(*rng.pick(&["DOI", "isbn", "", "Url"])),
        5 => doc["extra"] = json!("ignored"),
        _ => {}
    }
    doc
}

#[test]
fn rust_and_python_0_17_6_agree_on_every_generated_identifier() {
    let count = setting("DESTINY_PEER_DOCUMENTS", 12_000) as usize;
    let seed = setting("DESTINY_PEER_SEED", 0x0017_0006);
    let mut rng = Rng::new(seed);
    let documents: Vec<String> = (0..count).map(|_| document(&mut rng).to_string()).collect();
    let jobs: Vec<Value> = documents
        .iter()
        .map(|text| json!({"model": "ExternalIdentifier", "text": text}))
        .collect();
    let answers = run_script_on(Peer::Sdk0176, "peer_models.py", &["validate"], &jobs);
    assert_eq!(answers.len(), jobs.len(), "one answer per document");

    let mut accepted = 0usize;
    let mut opaque = 0usize;
    let mut failures = Vec::new();
    for (text, py) in documents.iter().zip(&answers) {
        assert!(
            py["bad_job"].is_null(),
            "peer_models.py could not run a job: {py}"
        );
        let rust = from_json_str::<ExternalIdentifier>(text)
            .map(|id| serde_json::to_value(&id).expect("an identifier serialises"));
        let doc: Value = serde_json::from_str(text).expect("a generated document");
        if !IDENTIFIER_TYPES_0176.contains(&doc["identifier_type"].as_str().unwrap_or_default()) {
            // Deliberate (README, compatibility): a type newer than the SDK is kept as
            // opaque JSON and written back unchanged, where Python refuses it.
            opaque += 1;
            match rust {
                Ok(value) if value == doc && py["ok"] == json!(false) => {}
                other => failures.push(format!(
                    "{text}\n  an unknown type must be kept as it is by Rust (got {other:?}) \
                     and refused by Python ({})",
                    py["ok"]
                )),
            }
            continue;
        }
        match (py["ok"].as_bool(), rust) {
            (Some(true), Ok(value)) => {
                accepted += 1;
                if value != py["dump"] {
                    failures.push(format!(
                        "{text}\n  both accept; rust writes {value}, python {}",
                        py["dump"]
                    ));
                }
            }
            (Some(false), Err(_)) => {}
            (Some(true), Err(e)) => failures.push(format!(
                "{text}\n  python accepts it as {}; rust refuses: {e}",
                py["dump"]
            )),
            (_, Ok(value)) => failures.push(format!(
                "{text}\n  python refuses it ({}); rust accepts it as {value}",
                py["error"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .nth(2)
                    .unwrap_or_default()
            )),
            (None, Err(_)) => failures.push(format!("{text}\n  python answered {py}")),
        }
    }
    if let Ok(path) = std::env::var("DESTINY_PEER_REPORT") {
        std::fs::write(&path, failures.join("\n")).expect("write the report");
    }
    eprintln!(
        "seed {seed:#x}: {count} identifier documents, {accepted} accepted by both, \
         {opaque} of unknown types kept opaque, {} disagreements",
        failures.len()
    );
    assert!(
        accepted > count / 5 && accepted < count * 4 / 5,
        "the generator should make valid and invalid documents alike: {accepted} of {count} accepted"
    );
    assert!(
        failures.is_empty(),
        "seed {seed:#x}: {} of {count} documents judged differently, e.g.:\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
