//! The deepest reference line the SDK's reader takes (`jsonl::MAX_DEPTH`, which is how
//! deep a reference file line gets when its enhancement came from a result line at
//! `result_file::MAX_RESULT_DEPTH`) is read by the REAL Python SDKs too, 0.7.4 and
//! 0.17.6 (`crates/destiny-testkit/python/peer_models.py`), and one level more is refused by Rust.

mod common;

use common::{python_of, Peer};
use destiny_sdk::jsonl::{self, MAX_DEPTH};
use destiny_sdk::models::Reference;
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

/// A reference line whose annotation `data` nests so that the line is `depth` deep.
fn reference_line(depth: usize) -> String {
    let id = "3a533776-c9ad-4aac-a089-d654d509490c";
    let flat = json!({"id": id, "enhancements": [{"reference_id": id, "source": "s",
        "visibility": "public", "content": {"enhancement_type": "annotation", "annotations": [
            {"annotation_type": "score", "scheme": "a", "label": "b", "score": 0.5,
             "data": {"x": null}}]}}]})
    .to_string();
    let levels = depth - jsonl::nesting_depth(&flat);
    let line = flat.replace(
        r#""x":null"#,
        &format!(r#""x":{}{}"#, "[".repeat(levels), "]".repeat(levels)),
    );
    assert_eq!(jsonl::nesting_depth(&line), depth);
    line
}

#[test]
fn the_deepest_line_rust_reads_is_read_by_both_python_sdks() {
    let deepest = reference_line(MAX_DEPTH);
    jsonl::parse_line::<Reference>(&deepest).expect("Rust reads MAX_DEPTH");
    let too_deep = reference_line(MAX_DEPTH + 1);
    let e = jsonl::parse_line::<Reference>(&too_deep).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
    // Python reads the line with the SDK's own `Reference.from_jsonl` and answers only
    // a verdict (its usual answer, the dump, would itself be too deep for serde_json).
    let read = "import sys\nfrom destiny_sdk.references import Reference\n\
                r = Reference.from_jsonl(sys.stdin.read())\nprint('read', r.id)";
    for peer in [Peer::Sdk074, Peer::Sdk0176] {
        let mut child = Command::new(python_of(peer))
            .args(["-c", read])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(deepest.as_bytes())
            .expect("line written");
        let out = child.wait_with_output().expect("python runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "read 3a533776-c9ad-4aac-a089-d654d509490c",
            "{peer:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
