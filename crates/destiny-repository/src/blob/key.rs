//! [`BlobKey`]: a validated relative path inside the blob root.
//!
//! Keys are checked once, at the edge (the URL path, or the code that names a new file),
//! so the store can join them to its root without ever leaving it.

use std::fmt;
use std::path::{Path, PathBuf};

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// The most `/`-separated segments a key may have.
pub const MAX_KEY_DEPTH: usize = 16;
/// The longest segment accepted, in bytes (most file systems stop at 255).
pub const MAX_SEGMENT_LEN: usize = 200;

/// The name of a blob: a relative path such as `batches/<uuid>/references.jsonl`.
///
/// Every `/`-separated segment is made of `[A-Za-z0-9._-]`, is not empty and does not
/// start with `.` (which also rules out `.` and `..`, and keeps the store's own files,
/// such as the signing key and temporary files, unreachable). A key never starts with
/// `/`, has at most [`MAX_KEY_DEPTH`] segments and [`MAX_KEY_LEN`] bytes.
///
/// ```
/// use destiny_repository::blob::BlobKey;
/// let key = BlobKey::new("batches/0b1c/references.jsonl").unwrap();
/// assert_eq!(key.as_str(), "batches/0b1c/references.jsonl");
/// assert!(BlobKey::new("../etc/passwd").is_err());
/// assert!(BlobKey::new("/etc/passwd").is_err());
/// assert!(BlobKey::new(".signing-key").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

/// Why a string is not a [`BlobKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobKeyError {
    /// The key is empty.
    #[error("blob key is empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes.
    #[error("blob key is longer than {MAX_KEY_LEN} bytes")]
    TooLong,
    /// The key has more than [`MAX_KEY_DEPTH`] segments.
    #[error("blob key has more than {MAX_KEY_DEPTH} segments")]
    TooDeep,
    /// The key starts with `/`.
    #[error("blob key must be a relative path, not start with '/'")]
    Absolute,
    /// Two `/` in a row, or a trailing `/`.
    #[error("blob key has an empty segment")]
    EmptySegment,
    /// A `.` or `..` segment: path traversal.
    #[error("blob key may not contain '.' or '..' segments")]
    Traversal,
    /// A segment starts with `.` (hidden files are the store's own).
    #[error("blob key segment {0:?} may not start with '.'")]
    Hidden(String),
    /// A segment is longer than [`MAX_SEGMENT_LEN`] bytes.
    #[error("blob key segment is longer than {MAX_SEGMENT_LEN} bytes")]
    SegmentTooLong,
    /// A character outside `[A-Za-z0-9._-]`.
    #[error("blob key may only contain A-Z, a-z, 0-9, '.', '_', '-' and '/', found {0:?}")]
    InvalidChar(char),
}

impl BlobKey {
    /// Validates `key`.
    ///
    /// # Errors
    ///
    /// A [`BlobKeyError`] naming the first rule `key` breaks.
    pub fn new(key: impl Into<String>) -> Result<Self, BlobKeyError> {
        let key = key.into();
        validate(&key)?;
        Ok(Self(key))
    }

    /// The key as written in URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file this key names under `root`.
    ///
    /// ```
    /// use destiny_repository::blob::BlobKey;
    /// let key = BlobKey::new("a/b.jsonl").unwrap();
    /// assert_eq!(key.to_path("/srv/blobs"), std::path::Path::new("/srv/blobs/a/b.jsonl"));
    /// ```
    pub fn to_path(&self, root: impl AsRef<Path>) -> PathBuf {
        let mut path = root.as_ref().to_path_buf();
        path.extend(self.0.split('/'));
        path
    }

    /// The last segment: the file name.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

fn validate(key: &str) -> Result<(), BlobKeyError> {
    if key.is_empty() {
        return Err(BlobKeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(BlobKeyError::TooLong);
    }
    if key.starts_with('/') {
        return Err(BlobKeyError::Absolute);
    }
    let mut depth = 0;
    for segment in key.split('/') {
        depth += 1;
        if depth > MAX_KEY_DEPTH {
            return Err(BlobKeyError::TooDeep);
        }
        validate_segment(segment)?;
    }
    Ok(())
}

fn validate_segment(segment: &str) -> Result<(), BlobKeyError> {
    if segment.is_empty() {
        return Err(BlobKeyError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(BlobKeyError::Traversal);
    }
    if let Some(bad) = segment
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(BlobKeyError::InvalidChar(bad));
    }
    if segment.starts_with('.') {
        return Err(BlobKeyError::Hidden(segment.to_owned()));
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(BlobKeyError::SegmentTooLong);
    }
    Ok(())
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BlobKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for BlobKey {
    type Err = BlobKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "references.jsonl",
            "batches/6f1c5c7e-2a7e-4c55-9f5b-6a0d8f1b2c3d/references.jsonl",
            "a_b-c.d/e",
            "a..b",
        ] {
            assert_eq!(BlobKey::new(key).map(|k| k.0), Ok(key.to_owned()));
        }
    }

    #[test]
    fn rejects_traversal_and_odd_keys() {
        let cases = [
            ("", BlobKeyError::Empty),
            ("/etc/passwd", BlobKeyError::Absolute),
            ("../x", BlobKeyError::Traversal),
            ("a/../../b", BlobKeyError::Traversal),
            ("a/./b", BlobKeyError::Traversal),
            ("a//b", BlobKeyError::EmptySegment),
            ("a/", BlobKeyError::EmptySegment),
            ("a\\..\\b", BlobKeyError::InvalidChar('\\')),
            ("%2e%2e/x", BlobKeyError::InvalidChar('%')),
            ("a\0b", BlobKeyError::InvalidChar('\0')),
            ("caf\u{e9}", BlobKeyError::InvalidChar('\u{e9}')),
            (".signing-key", BlobKeyError::Hidden(".signing-key".into())),
            ("a/.hidden", BlobKeyError::Hidden(".hidden".into())),
        ];
        for (key, expected) in cases {
            assert_eq!(BlobKey::new(key), Err(expected), "{key:?}");
        }
    }

    #[test]
    fn rejects_long_and_deep_keys() {
        assert_eq!(
            BlobKey::new("a/".repeat(MAX_KEY_DEPTH) + "b"),
            Err(BlobKeyError::TooDeep)
        );
        assert!(BlobKey::new("a/".repeat(MAX_KEY_DEPTH - 1) + "b").is_ok());
        assert_eq!(
            BlobKey::new("x".repeat(MAX_SEGMENT_LEN + 1)),
            Err(BlobKeyError::SegmentTooLong)
        );
        let long = vec!["y".repeat(MAX_SEGMENT_LEN); 6].join("/");
        assert_eq!(BlobKey::new(long), Err(BlobKeyError::TooLong));
    }

    #[test]
    fn paths_stay_under_the_root() {
        let key = BlobKey::new("a/b/c.jsonl").unwrap();
        let path = key.to_path("/root");
        assert!(path.starts_with("/root"));
        assert_eq!(path, Path::new("/root/a/b/c.jsonl"));
        assert_eq!(key.file_name(), "c.jsonl");
    }
}
