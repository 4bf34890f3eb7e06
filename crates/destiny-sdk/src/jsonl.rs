//! JSONL files with the Python SDK's rules.
//!
//! Writing ([`to_line`], [`JsonlWriter`]) follows `to_jsonl()` of the Python SDK: compact
//! JSON, `None` model fields omitted (free-form objects keep their nulls), and each raw
//! U+0085, U+2028 and U+2029 replaced by the two characters `\n`, because some line
//! splitters break on them; every line ends in `\n`. Reading ([`parse_line`],
//! [`JsonlReader`]) reports the 1-based line number with the model error.
//!
//! ```
//! use destiny_sdk::jsonl::{JsonlReader, JsonlWriter};
//! use destiny_sdk::models::Reference;
//! let input = "{\"id\":\"3a533776-c9ad-4aac-a089-d654d509490c\"}\n\n";
//! let refs: Vec<Reference> = JsonlReader::new(input.as_bytes())
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! let mut out = JsonlWriter::new(Vec::new());
//! out.write(&refs[0]).unwrap();
//! assert_eq!(
//!     String::from_utf8(out.into_inner()).unwrap(),
//!     "{\"visibility\":\"public\",\"id\":\"3a533776-c9ad-4aac-a089-d654d509490c\"}\n"
//! );
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{self, BufRead, Write};

use crate::models::{from_json_str, ModelError};

/// A problem with a JSONL file: which line, and what.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonlError {
    /// A line is not a valid model.
    #[error("line {line}: {error}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        error: ModelError,
    },
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A value could not be serialised (a map with non-string keys, say).
    #[error("cannot serialise a JSONL line: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Serialises one value as a JSONL line, without the trailing `\n`.
///
/// # Errors
/// [`JsonlError::Serialize`] if serde_json cannot serialise the value.
pub fn to_line<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonlError> {
    let mut buf = Vec::with_capacity(256);
    append_line(&mut buf, value)?;
    buf.pop();
    // serde_json only writes valid UTF-8.
    String::from_utf8(buf)
        .map_err(|e| JsonlError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// Appends one value as a JSONL line, `\n` included, to `buf`.
///
/// # Errors
/// [`JsonlError::Serialize`] if serde_json cannot serialise the value.
pub fn append_line<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), JsonlError> {
    let start = buf.len();
    crate::models::lax::exclude_none(|| serde_json::to_writer(&mut *buf, value))?;
    end_line(buf, start);
    Ok(())
}

/// Serialises one value as a piece of a JSONL line: compact JSON with `None` model fields
/// omitted, but the line separators kept as they are. A server that stores pieces and
/// joins them into lines later (see [`end_line`]) keeps the text itself unchanged.
///
/// # Errors
/// [`JsonlError::Serialize`] if serde_json cannot serialise the value.
pub fn to_piece<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonlError> {
    Ok(crate::models::lax::exclude_none(|| {
        serde_json::to_string(value)
    })?)
}

/// Ends the line written to `buf` from `start` on (pieces from [`to_piece`], joined): its
/// U+0085, U+2028 and U+2029 are replaced by `\n`, as [`append_line`] does, and `\n` is
/// appended.
pub fn end_line(buf: &mut Vec<u8>, start: usize) {
    escape_line_separators(buf, start);
    buf.push(b'\n');
}

/// Replaces U+0085 (`C2 85`), U+2028 (`E2 80 A8`) and U+2029 (`E2 80 A9`) from `start`
/// on by `\n`. They can only occur inside JSON strings, where `\n` is a valid escape.
fn escape_line_separators(buf: &mut Vec<u8>, start: usize) {
    let Some((first, _)) = next_separator(&buf[start..]) else {
        return;
    };
    let tail = buf.split_off(start + first);
    let mut rest = &tail[..];
    while let Some((at, len)) = next_separator(rest) {
        buf.extend_from_slice(&rest[..at]);
        buf.extend_from_slice(b"\\n");
        rest = &rest[at + len..];
    }
    buf.extend_from_slice(rest);
}

/// Where the next U+0085, U+2028 or U+2029 starts in `bytes`, and its length in bytes.
fn next_separator(bytes: &[u8]) -> Option<(usize, usize)> {
    memchr::memchr2_iter(0xC2, 0xE2, bytes).find_map(|i| match bytes[i..] {
        [0xC2, 0x85, ..] => Some((i, 2)),
        [0xE2, 0x80, 0xA8 | 0xA9, ..] => Some((i, 3)),
        _ => None,
    })
}

/// The deepest nesting of arrays and objects this crate's reader (serde_json) accepts in a
/// line; a line nested deeper is refused.
pub const MAX_DEPTH: usize = 127;

/// How deeply arrays and objects nest in a JSON text (`{"a": [1]}` is 2), found by a scan
/// of its bytes (strings skipped), without parsing it; for text that is not JSON the
/// figure is meaningless but finite.
///
/// ```
/// use destiny_sdk::jsonl::nesting_depth;
/// assert_eq!(nesting_depth(r#"{"a": [1, {"b": "[[["}]}"#), 3);
/// assert_eq!(nesting_depth("7"), 0);
/// ```
pub fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses one JSONL line (a trailing `\n` or `\r\n` is ignored).
///
/// # Errors
/// The [`ModelError`] of the line.
pub fn parse_line<T: DeserializeOwned>(line: &str) -> Result<T, ModelError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    from_json_str(line)
}

/// Writes values as JSONL lines.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    lines: usize,
}

impl<W: Write> JsonlWriter<W> {
    /// Wraps a writer (buffer it yourself if it is a file or socket).
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(1024),
            lines: 0,
        }
    }

    /// Writes one value as a line.
    ///
    /// # Errors
    /// Serialisation or I/O failure.
    pub fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonlError> {
        self.buf.clear();
        append_line(&mut self.buf, value)?;
        self.inner.write_all(&self.buf)?;
        self.lines += 1;
        Ok(())
    }

    /// How many lines were written.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Flushes and returns the writer.
    ///
    /// # Errors
    /// I/O failure on flush.
    pub fn finish(mut self) -> Result<W, JsonlError> {
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// Returns the writer without flushing.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Reads values from JSONL lines, skipping blank lines; items carry the 1-based line
/// number in their errors. After an I/O error the iterator ends.
#[derive(Debug)]
pub struct JsonlReader<R, T> {
    inner: R,
    line_no: usize,
    buf: String,
    done: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<R: BufRead, T: DeserializeOwned> JsonlReader<R, T> {
    /// Wraps a buffered reader.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            line_no: 0,
            buf: String::new(),
            done: false,
            _t: std::marker::PhantomData,
        }
    }

    /// The number of the last line read (1-based; 0 before the first).
    pub fn line_number(&self) -> usize {
        self.line_no
    }
}

impl<R: BufRead, T: DeserializeOwned> Iterator for JsonlReader<R, T> {
    type Item = Result<T, JsonlError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.inner.read_line(&mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line_no += 1;
                    if self.buf.trim().is_empty() {
                        continue;
                    }
                    return Some(parse_line(&self.buf).map_err(|error| JsonlError::Invalid {
                        line: self.line_no,
                        error,
                    }));
                }
                Err(e) => {
                    self.done = true;
                    let e = if e.kind() == io::ErrorKind::InvalidData {
                        JsonlError::Invalid {
                            line: self.line_no + 1,
                            error: ModelError::new("", "line is not valid UTF-8"),
                        }
                    } else {
                        JsonlError::Io(e)
                    };
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{LinkedRobotError, RobotResultValidationEntry};

    #[test]
    fn line_separators_become_escaped_newlines() {
        let e = LinkedRobotError {
            message: "a\u{2028}b\u{85}c\u{2029}d\né — \u{80}\u{2027}\u{202a}\u{2028}".to_owned(),
            reference_id: uuid::Uuid::nil(),
        };
        let line = to_line(&e).unwrap();
        // Only the three separators change; their neighbours in UTF-8 (U+0080, U+2014,
        // U+2027, U+202A) stay as they are.
        assert_eq!(
            line,
            "{\"message\":\"a\\nb\\nc\\nd\\né — \u{80}\u{2027}\u{202a}\\n\",\
             \"reference_id\":\"00000000-0000-0000-0000-000000000000\"}"
        );
    }

    #[test]
    fn none_fields_are_omitted_in_jsonl_only() {
        let v = RobotResultValidationEntry {
            reference_id: None,
            error: Some("Entry 1 could not be parsed: x".into()),
        };
        assert_eq!(
            to_line(&v).unwrap(),
            r#"{"error":"Entry 1 could not be parsed: x"}"#
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"reference_id":null,"error":"Entry 1 could not be parsed: x"}"#
        );
    }

    #[test]
    fn reader_names_the_line() {
        let text = "{\"message\":\"m\",\"reference_id\":\"3a533776-c9ad-4aac-a089-d654d509490c\"}\n\n{\"message\":1}\n";
        let got: Vec<_> = JsonlReader::<_, LinkedRobotError>::new(text.as_bytes()).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        let err = got[1].as_ref().unwrap_err().to_string();
        assert!(err.starts_with("line 3: message: "), "{err}");
    }

    #[test]
    fn reader_reports_invalid_utf8_with_its_line() {
        let text: &[u8] = b"\n\xff\xfe\n";
        let got: Vec<_> = JsonlReader::<_, LinkedRobotError>::new(text).collect();
        let err = got[0].as_ref().unwrap_err().to_string();
        assert_eq!(err, "line 2: line is not valid UTF-8");
    }
}
