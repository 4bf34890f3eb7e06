//! Model validation errors that name the JSON path of the problem.

use serde::de::DeserializeOwned;

use super::strict::Strict;
use std::fmt;

/// Prefix of a nested error message that carries its own path (see [`nested_tracked`]).
const NESTED: &str = "\u{1}at ";

/// A JSON document that does not match a model: where, and what is wrong.
///
/// ```
/// use destiny_sdk::models::{from_json_str, Reference};
/// let err = from_json_str::<Reference>(r#"{"id": "not-a-uuid"}"#).unwrap_err();
/// assert_eq!(err.path(), "id");
/// assert!(err.to_string().starts_with("id: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    path: String,
    message: String,
}

impl ModelError {
    /// Builds an error at `path` (`.`-separated fields, `[i]` for list items; empty for
    /// the document itself).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The JSON path of the offending value, such as `enhancements[0].content.annotations`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with the value.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn from_path_error(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let outer = path_text(err.path());
        let inner = err.into_inner();
        let mut message = inner.to_string();
        // serde_json appends " at line L column C"; the path says more, keep the line info
        // only for syntax errors where there is no path.
        // (Errors raised while reading a `serde_json::Value` carry no position: line 0.)
        if inner.line() != 0
            && !matches!(
                inner.classify(),
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof
            )
        {
            if let Some(idx) = message.rfind(" at line ") {
                message.truncate(idx);
            }
        }
        let (path, message) = split_nested(outer, message);
        Self { path, message }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ModelError {}

fn path_text(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => {
                out.push_str(&format!("[{index}]"));
            }
            serde_path_to_error::Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    if out == "." {
        out.clear();
    }
    out
}

/// Joins the path a nested deserialisation recorded in its message (see [`nested_tracked`]) onto
/// the outer path.
fn split_nested(mut path: String, message: String) -> (String, String) {
    let mut message = message;
    while let Some(rest) = message.strip_prefix(NESTED) {
        let Some((inner, msg)) = rest.split_once('\u{1}') else {
            break;
        };
        if !inner.is_empty() {
            if !path.is_empty() && !inner.starts_with('[') {
                path.push('.');
            }
            path.push_str(inner);
        }
        message = msg.to_owned();
    }
    (path, message)
}

/// Deserialises the buffered value of the map entry `key` with `seed` from inside
/// another `Deserialize` impl, keeping the inner path (`key` and below) for the outer
/// [`ModelError`].
pub(crate) fn nested_seed<'de, S, E>(
    key: &str,
    value: serde_json::Value,
    seed: S,
) -> Result<S::Value, E>
where
    S: serde::de::DeserializeSeed<'de>,
    E: serde::de::Error,
{
    let mut track = serde_path_to_error::Track::new();
    seed.deserialize(serde_path_to_error::Deserializer::new(
        Strict(value),
        &mut track,
    ))
    .map_err(|err| {
        let e = ModelError::from_path_error(serde_path_to_error::Error::new(track.path(), err));
        let sep = if e.path.is_empty() || e.path.starts_with('[') {
            ""
        } else {
            "."
        };
        E::custom(format!("{NESTED}{key}{sep}{}\u{1}{}", e.path, e.message))
    })
}

/// Deserialises `T` with path tracking from inside another `Deserialize` impl, and turns
/// a failure into an error whose message carries the inner path (see [`split_nested`]).
pub(crate) fn nested_tracked<'de, T, D, E>(de: D) -> Result<T, E>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de, Error = serde_json::Error>,
    E: serde::de::Error,
{
    serde_path_to_error::deserialize(de).map_err(|err| {
        let e = ModelError::from_path_error(err);
        E::custom(format!("{NESTED}{}\u{1}{}", e.path, e.message))
    })
}

/// Parses a JSON text into a model.
///
/// The text is parsed without path tracking first; only a document that fails is parsed
/// again with it, to name the path of the problem.
///
/// # Errors
/// A [`ModelError`] naming the path of the first invalid value.
pub fn from_json_str<T: DeserializeOwned>(text: &str) -> Result<T, ModelError> {
    let mut de = serde_json::Deserializer::from_str(text);
    match T::deserialize(Strict(&mut de)) {
        Ok(value) => end(de).map(|()| value),
        Err(_) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = serde_path_to_error::deserialize(Strict(&mut de))
                .map_err(ModelError::from_path_error)?;
            end(de).map(|()| value)
        }
    }
}

fn end(mut de: serde_json::Deserializer<serde_json::de::StrRead<'_>>) -> Result<(), ModelError> {
    de.end()
        .map_err(|e| ModelError::new("", format!("trailing characters after the JSON value: {e}")))
}

/// Parses JSON bytes into a model.
///
/// # Errors
/// A [`ModelError`] naming the path of the first invalid value (or saying the bytes are
/// not UTF-8).
pub fn from_json_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ModelError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ModelError::new("", format!("body is not valid UTF-8: {e}")))?;
    from_json_str(text)
}

/// Converts a JSON value into a model.
///
/// # Errors
/// A [`ModelError`] naming the path of the first invalid value.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(Strict(value)).map_err(ModelError::from_path_error)
}
