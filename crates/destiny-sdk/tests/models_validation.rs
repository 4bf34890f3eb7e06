//! Every constraint of the Python SDK 0.7.4 models is enforced, and the error names the
//! JSON path of the offending value.

use destiny_sdk::jsonl;
use destiny_sdk::models::*;

const R: &str = "3a533776-c9ad-4aac-a089-d654d509490c";

fn reference(identifiers: &str, content: &str) -> String {
    format!(
        r#"{{"id":"{R}","identifiers":{identifiers},"enhancements":[{{"reference_id":"{R}","source":"s","visibility":"public","content":{content}}}]}}"#
    )
}

const ABSTRACT: &str = r#"{"enhancement_type":"abstract","process":"other","abstract":"x"}"#;
const DOI: &str = r#"[{"identifier":"10.1234/x","identifier_type":"doi"}]"#;

#[test]
fn invalid_documents_name_their_path() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            reference(
                r#"[{"identifier":"10.1/x","identifier_type":"doi"}]"#,
                ABSTRACT,
            ),
            "identifiers[0].identifier",
            "DOI",
        ),
        (
            reference(
                r#"[{"identifier":"X1","identifier_type":"open_alex"}]"#,
                ABSTRACT,
            ),
            "identifiers[0].identifier",
            "OpenAlex",
        ),
        (
            reference(
                r#"[{"identifier":"abc","identifier_type":"pm_id"}]"#,
                ABSTRACT,
            ),
            "identifiers[0].identifier",
            "integer",
        ),
        (
            reference(r#"[{"identifier":"1","identifier_type":7}]"#, ABSTRACT),
            "identifiers[0]",
            "identifier_type",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"annotation","annotations":[{"annotation_type":"boolean","scheme":"a/b","label":"l","value":true}]}"#,
            ),
            "enhancements[0].content.annotations[0].scheme",
            "'^[^/]+$'",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"annotation","annotations":[{"annotation_type":"boolean","scheme":"","label":"l","value":true}]}"#,
            ),
            "enhancements[0].content.annotations[0].scheme",
            "non-empty",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"annotation","annotations":[{"annotation_type":"tag","scheme":"a","label":"l"}]}"#,
            ),
            "enhancements[0].content.annotations[0]",
            "'boolean', 'score'",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"annotation","annotations":[{"annotation_type":"score","scheme":"a","label":"l"}]}"#,
            ),
            "enhancements[0].content.annotations[0]",
            "missing field `score`",
        ),
        (
            reference(DOI, r#"{"enhancement_type":"annotation","annotations":[]}"#),
            "enhancements[0].content.annotations",
            "at least 1 item",
        ),
        (
            reference(DOI, r#"{"enhancement_type":"location","locations":[]}"#),
            "enhancements[0].content.locations",
            "at least 1 item",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"location","locations":[{"landing_page_url":"ftp://x.org/"}]}"#,
            ),
            "enhancements[0].content.locations[0].landing_page_url",
            "scheme",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"location","locations":[{"version":"draft"}]}"#,
            ),
            "enhancements[0].content.locations[0].version",
            "unknown variant",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"bibliographic","publication_date":"2025-13-01"}"#,
            ),
            "enhancements[0].content.publication_date",
            "",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"bibliographic","authorship":[{"display_name":"A","position":"second"}]}"#,
            ),
            "enhancements[0].content.authorship[0].position",
            "unknown variant",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"reference_association","associated_reference_ids":[],"association_type":"cites"}"#,
            ),
            "enhancements[0].content.associated_reference_ids",
            "at least 1 item",
        ),
        (
            reference(
                DOI,
                r#"{"enhancement_type":"reference_association","associated_reference_ids":["c232ab00-9414-11ec-b3c8-9f6bdeced846"],"association_type":"cites"}"#,
            ),
            "enhancements[0].content.associated_reference_ids[0]",
            "version 4 or 7",
        ),
        (
            format!(r#"{{"id":"{R}","visibility":"secret"}}"#),
            "visibility",
            "unknown variant",
        ),
        (
            r#"{"id":"c232ab00-9414-11ec-b3c8-9f6bdeced846"}"#.to_owned(),
            "id",
            "version 4 or 7 expected, got version 1",
        ),
        (
            r#"{"visibility":"public"}"#.to_owned(),
            "",
            "missing field `id`",
        ),
        (format!(r#"{{"id":"{R}"}} x"#), "", "trailing characters"),
        (format!(r#"{{"id":"{R}""#), "", "EOF"),
    ];
    for (json, path, needle) in cases {
        let err = from_json_str::<Reference>(&json).expect_err(&json);
        assert_eq!(err.path(), path, "{json}\n=> {err}");
        assert!(
            err.message().contains(needle),
            "{json}\n=> {err} (wanted {needle:?})"
        );
    }
}

#[test]
fn robot_models_serialise_like_model_dump() {
    let result = RobotEnhancementBatchResult {
        request_id: R.parse().unwrap(),
        error: None,
    };
    assert_eq!(
        serde_json::to_string(&result).unwrap(),
        format!(r#"{{"request_id":"{R}","error":null}}"#)
    );
    let failed = RobotResult {
        request_id: R.parse().unwrap(),
        error: Some(RobotError {
            message: "boom".into(),
        }),
    };
    assert_eq!(
        serde_json::to_string(&failed).unwrap(),
        format!(r#"{{"request_id":"{R}","error":{{"message":"boom"}}}}"#)
    );
    let batch: RobotEnhancementBatch = from_json_str(&format!(
        r#"{{"id":"{R}","reference_storage_url":"http://127.0.0.1:1/r?sig=1","result_storage_url":"http://127.0.0.1:1/w"}}"#
    ))
    .unwrap();
    assert_eq!(
        serde_json::to_string(&batch).unwrap(),
        format!(
            r#"{{"id":"{R}","reference_storage_url":"http://127.0.0.1:1/r?sig=1","result_storage_url":"http://127.0.0.1:1/w","extra_fields":null}}"#
        )
    );
    let robot: ProvisionedRobot = from_json_str(&format!(
        r#"{{"name":"n","description":"d","owner":"o","id":"{R}","client_secret":"s3cr3t"}}"#
    ))
    .unwrap();
    assert!(!format!("{robot:?}").contains("s3cr3t"));
    let extra = from_json_str::<RobotIn>(r#"{"name":"n","description":"d","owner":"o","x":1}"#)
        .unwrap_err();
    assert!(extra.message().contains("unknown field `x`"), "{extra}");
}

#[test]
fn result_entries_and_validation_lines() {
    let enh = format!(
        r#"{{"reference_id":"{R}","source":"Toy Robot","visibility":"public","robot_version":"0.1.0","content":{{"enhancement_type":"annotation","annotations":[{{"scheme":"meta:toy","label":"toy","annotation_type":"score","score":0.5,"data":{{"toy":"Woody"}}}}]}}}}"#
    );
    let entry: EnhancementResultEntry = jsonl::parse_line(&enh).unwrap();
    assert_eq!(entry.reference_id().to_string(), R);
    assert_eq!(jsonl::to_line(&entry).unwrap(), enh);
    let err_line = format!(r#"{{"message":"no abstract","reference_id":"{R}"}}"#);
    let entry: EnhancementResultEntry = jsonl::parse_line(&err_line).unwrap();
    assert!(matches!(entry, EnhancementResultEntry::Error(_)));
    assert_eq!(jsonl::to_line(&entry).unwrap(), err_line);
    let bad = jsonl::parse_line::<EnhancementResultEntry>(r#"{"message":"m"}"#).unwrap_err();
    assert!(bad.message().contains("reference_id"), "{bad}");
    let ok = RobotResultValidationEntry {
        reference_id: Some(R.parse().unwrap()),
        error: None,
    };
    assert_eq!(
        jsonl::to_line(&ok).unwrap(),
        format!(r#"{{"reference_id":"{R}"}}"#)
    );
}
