//! One text policy for what the repository stores, the same on SQLite and PostgreSQL.
//!
//! How each field is stored decides what it may hold:
//!
//! - **Text columns** (a robot's name, description and owner; a request's `source`; a
//!   batch's or request's error message; an enhancement's `source` and `robot_version`)
//!   refuse the NUL character (U+0000). PostgreSQL cannot hold it in `text`, SQLite can,
//!   so keeping it on one backend would make the two disagree; it is refused on both
//!   (422 naming the field, or a refused line in a validation file), before anything is
//!   written.
//! - **JSON text** (an enhancement's content and `derived_from`, a reference's
//!   identifiers, a request's reference ids) keeps NUL exactly, on both backends: the JSON
//!   is stored as text and serde_json writes U+0000 as the six ASCII characters `\u0000`,
//!   which read back as the same character.
//! - **Indexed text columns** have a length limit well under PostgreSQL's B-tree limit
//!   (2,704 bytes per index entry): the only one a client writes is the robot name
//!   (`UNIQUE`), limited to [`MAX_ROBOT_NAME_CHARS`] characters (at most 1,024 bytes in
//!   UTF-8). Ids and fingerprints, the other indexed columns, are made by the server.
//!
//! These are storage constraints of this repository, not rules of the result-file format,
//! which is why they live here rather than in the SDK's `ResultFileCheck`.
//!
//! ```
//! use destiny_repository::text::{check_stored, TextProblem};
//! assert_eq!(check_stored("a\0b", None), Err(TextProblem::Nul));
//! assert_eq!(check_stored(&"n".repeat(300), Some(256)), Err(TextProblem::TooLong(256)));
//! assert_eq!(check_stored("fine", Some(256)), Ok(()));
//! ```

use crate::error::ApiError;

/// The longest robot name, in characters.
pub const MAX_ROBOT_NAME_CHARS: usize = 256;

/// Why a text cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// It holds U+0000.
    Nul,
    /// It is longer than this many characters.
    TooLong(usize),
}

impl std::fmt::Display for TextProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // pydantic's wording for `max_length`.
            Self::TooLong(max) => write!(f, "String should have at most {max} characters"),
            Self::Nul => f.write_str("String should not contain the NUL character (U+0000)"),
        }
    }
}

/// Whether `text` can be stored in a text column (with at most `max_chars` characters
/// when the column is indexed).
///
/// # Errors
/// The first [`TextProblem`] found.
pub fn check_stored(text: &str, max_chars: Option<usize>) -> Result<(), TextProblem> {
    if text.contains('\0') {
        return Err(TextProblem::Nul);
    }
    match max_chars {
        // Bytes bound characters from above: count only when the bytes exceed the limit.
        Some(max) if text.len() > max && text.chars().count() > max => {
            Err(TextProblem::TooLong(max))
        }
        _ => Ok(()),
    }
}

/// [`check_stored`] for a field of a JSON body: a 422 in FastAPI's shape whose `loc` is
/// `["body", ...loc]`.
///
/// ```
/// use destiny_repository::text::body_field;
/// let err = body_field(&["name"], "x\0", None).unwrap_err();
/// assert_eq!(err.status().as_u16(), 422);
/// assert!(err.to_string().contains("\"name\""), "{err}");
/// ```
///
/// # Errors
/// [`ApiError::Validation`] naming the field.
pub fn body_field(loc: &[&str], text: &str, max_chars: Option<usize>) -> Result<(), ApiError> {
    check_stored(text, max_chars).map_err(|problem| ApiError::Validation {
        loc: std::iter::once("body")
            .chain(loc.iter().copied())
            .map(str::to_owned)
            .collect(),
        msg: problem.to_string(),
        // The offending value is not echoed: it may be a megabyte long.
        input: serde_json::Value::Null,
    })
}

/// The text columns of an enhancement (`source`, `robot_version`), checked in that
/// order; answers the first field that cannot be stored and why. Content and
/// `derived_from` are JSON text and keep every character.
///
/// # Errors
/// `(field, problem)` of the first field refused.
pub fn check_enhancement(
    e: &destiny_sdk::models::Enhancement,
) -> Result<(), (&'static str, TextProblem)> {
    check_stored(&e.source, None).map_err(|p| ("source", p))?;
    if let Some(version) = &e.robot_version {
        check_stored(version, None).map_err(|p| ("robot_version", p))?;
    }
    Ok(())
}

/// A message the server wrote itself (an import's failure), made storable: a NUL it
/// quotes from elsewhere becomes U+FFFD. Only for diagnostics the server composes, never
/// for client data, which is refused instead ([`check_stored`]).
///
/// ```
/// assert_eq!(destiny_repository::text::storable_message("a\0b"), "a\u{fffd}b");
/// ```
pub fn storable_message(message: &str) -> std::borrow::Cow<'_, str> {
    if message.contains('\0') {
        message.replace('\0', "\u{fffd}").into()
    } else {
        message.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_anywhere_is_refused_and_length_counts_characters() {
        for text in ["\0", "a\0", "\0b", "a\0b"] {
            assert_eq!(check_stored(text, None), Err(TextProblem::Nul), "{text:?}");
        }
        // 256 four-byte characters are 1,024 bytes: allowed.
        let wide = "𝄞".repeat(MAX_ROBOT_NAME_CHARS);
        assert_eq!(check_stored(&wide, Some(MAX_ROBOT_NAME_CHARS)), Ok(()));
        let longer = format!("{wide}a");
        assert_eq!(
            check_stored(&longer, Some(MAX_ROBOT_NAME_CHARS)),
            Err(TextProblem::TooLong(MAX_ROBOT_NAME_CHARS))
        );
        assert_eq!(
            check_stored(&longer, None),
            Ok(()),
            "no limit unless indexed"
        );
        assert_eq!(
            TextProblem::TooLong(256).to_string(),
            "String should have at most 256 characters"
        );
    }
}
