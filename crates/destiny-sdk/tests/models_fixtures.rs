//! The real references in `../shared/fixtures` (written by the Python SDK 0.7.4 and
//! 0.17.6) parse, and re-serialise exactly. The fixtures are read from the shared folder
//! beside the checkout and never copied into the project: these tests fail, saying so,
//! when it is absent.

use destiny_sdk::jsonl;
use destiny_sdk::models::{DateTime, EnhancementContent, ExternalIdentifier, Reference};

use destiny_testkit::fixture_text as fixture;

#[test]
fn sdk_0_7_4_references_round_trip_byte_for_byte() {
    let text = fixture("references.jsonl");
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let reference: Reference =
            jsonl::parse_line(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        let written = jsonl::to_line(&reference).unwrap();
        let a: serde_json::Value = serde_json::from_str(line).unwrap();
        let b: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(a, b, "line {} changed value", i + 1);
        assert_eq!(written, line, "line {} changed bytes", i + 1);
        n += 1;
    }
    assert_eq!(n, 10, "expected the 10 fixture references");
}

#[test]
fn sdk_0_17_references_parse_and_keep_newer_shapes() {
    let text = fixture("references-sdk-0.17.jsonl");
    let refs: Vec<Reference> = text
        .lines()
        .enumerate()
        .map(|(i, l)| jsonl::parse_line(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
        .collect();
    assert_eq!(refs.len(), 11);
    let last = refs.last().unwrap();
    assert_eq!(last.id.get_version_num(), 7);
    let ids = last.identifiers.as_ref().unwrap();
    match &ids[1] {
        ExternalIdentifier::Url(url) => assert_eq!(url.as_str(), "https://example.org/paper"),
        other => panic!("a url identifier, got {other:?}"),
    }
    assert_eq!(ids[1].identifier_type(), "url");
    let enh = last.enhancements.as_ref().unwrap();
    assert_eq!(enh[0].content.enhancement_type(), "linked_data");
    match &enh[0].content {
        EnhancementContent::LinkedData(ld) => {
            assert_eq!(
                ld.vocabulary_uri.as_str(),
                "https://vocab.example.org/esea/"
            );
            assert_eq!(ld.data["label"], "Outcome");
        }
        other => panic!("linked_data content, got {other:?}"),
    }
    assert_eq!(
        enh[0].created_at.as_ref().map(DateTime::as_str),
        Some("2026-05-01T12:00:00Z")
    );
    // Today's shapes are kept whole: the line is written back byte for byte.
    assert_eq!(jsonl::to_line(last).unwrap(), text.lines().last().unwrap());
}
