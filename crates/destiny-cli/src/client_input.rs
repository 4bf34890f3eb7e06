//! Inputs of `destiny client` read from files or stdin (`-`): reference ids for an
//! enhancement request, and an automation's percolator query. Every problem is a
//! [`CliError`] naming the file and, where there is one, the line.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::CliError;

/// The text of `path`, or of stdin for `-`.
///
/// # Errors
/// [`CliError::Io`] when it cannot be read (or is not UTF-8).
pub fn read_text(path: &Path) -> Result<String, CliError> {
    let io = |source| CliError::Io {
        what: format!("cannot read {}", shown(path)),
        source,
    };
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(io)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(io)
    }
}

/// How a path is named in messages (`stdin` for `-`).
fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reference ids: those given on the command line, then those of `file` (one per line;
/// blank lines and lines starting with `#` skipped). Each id must appear once, as the
/// repository requires.
///
/// # Errors
/// [`CliError::Io`] for an unreadable file; [`CliError::Rejected`] for a line that is not
/// a UUID, a repeated id, or no id at all.
pub fn reference_ids(given: Vec<Uuid>, file: Option<&Path>) -> Result<Vec<Uuid>, CliError> {
    let mut ids = given;
    if let Some(file) = file {
        let text = read_text(file)?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = Uuid::parse_str(line).map_err(|e| {
                CliError::Rejected(format!(
                    "{} line {}: {line:?} is not a reference id: {e}",
                    shown(file),
                    i + 1
                ))
            })?;
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(CliError::Rejected(
            "no reference ids: give --reference-id or --references-file".to_owned(),
        ));
    }
    if let Some(twice) = destiny_sdk::models::first_duplicate(&ids) {
        return Err(CliError::Rejected(format!(
            "reference id {twice} is given twice ({})",
            destiny_sdk::models::DUPLICATE_REFERENCE_IDS.trim_end_matches('.')
        )));
    }
    Ok(ids)
}

/// A percolator query: the JSON object in `file`.
///
/// # Errors
/// [`CliError::Io`] for an unreadable file; [`CliError::Rejected`] when it is not JSON or
/// not an object.
pub fn query(file: &Path) -> Result<Map<String, Value>, CliError> {
    let text = read_text(file)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        CliError::Rejected(format!(
            "the query in {} is not valid JSON: {e}",
            shown(file)
        ))
    })?;
    match value {
        Value::Object(query) => Ok(query),
        other => Err(CliError::Rejected(format!(
            "the query in {} must be a JSON object, not {}",
            shown(file),
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    const A: &str = "3a533776-c9ad-4aac-a089-d654d509490c";
    const B: &str = "019384a2-7c1e-7b3a-9f00-1a2b3c4d5e6f";

    #[test]
    fn ids_from_flags_and_a_file() {
        let f = file(&format!("# ids\n{B}\n\n  {}  \n", A.to_uppercase()));
        let a: Uuid = A.parse().unwrap();
        let ids = reference_ids(vec![], Some(f.path())).unwrap();
        assert_eq!(ids, [B.parse().unwrap(), a]);
        let err = reference_ids(vec![a], Some(f.path())).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{A} is given twice")),
            "{err}"
        );
        let bad = file(&format!("{A}\nnope\n"));
        let err = reference_ids(vec![], Some(bad.path())).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 2: \"nope\" is not a reference id"),
            "{err}"
        );
        let err = reference_ids(vec![], Some(file("\n# none\n").path())).unwrap_err();
        assert!(err.to_string().starts_with("no reference ids"), "{err}");
        let err = reference_ids(vec![], Some(Path::new("/nonexistent/ids"))).unwrap_err();
        assert!(matches!(err, CliError::Io { .. }), "{err:?}");
    }

    #[test]
    fn queries_must_be_json_objects() {
        let q = query(file(r#"{"term": {"a": 1}, "b": 2}"#).path()).unwrap();
        assert_eq!(q.keys().collect::<Vec<_>>(), ["term", "b"]);
        let err = query(file("[1]").path()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("must be a JSON object, not an array"),
            "{err}"
        );
        let err = query(file("{\"a\": ").path()).unwrap_err();
        assert!(err.to_string().contains("is not valid JSON: EOF"), "{err}");
        let err = query(Path::new("/nonexistent/query.json")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/query.json"),
            "{err}"
        );
    }
}
