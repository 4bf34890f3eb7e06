//! Splitting a stream of byte chunks into lines, holding at most one line (plus one
//! chunk) in memory.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// The longest line accepted by default: 64 MiB (a reference is a few kilobytes).
pub(crate) const MAX_LINE: usize = 64 * 1024 * 1024;

/// A failure while splitting lines.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LineError<E> {
    /// The underlying stream failed.
    #[error("{0}")]
    Source(E),
    /// A line is longer than the limit.
    #[error("line {line} is longer than {limit} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        limit: usize,
    },
}

/// What [`lines`] keeps between items.
struct State<S> {
    /// The chunk stream.
    inner: S,
    /// The unread rest of the current chunk: lines wholly inside it are returned as
    /// slices of it, without a copy.
    chunk: Bytes,
    /// The start of a line that spans chunks (copied here until its `\n` arrives).
    partial: BytesMut,
    /// Lines returned so far.
    line_no: u64,
    /// The stream ended or failed.
    done: bool,
    /// The longest line accepted.
    max_line: usize,
}

/// The lines of `chunks`, without their `\n` (or `\r\n`); a last line without `\n` is
/// returned too. Blank lines are returned (as empty `Bytes`), so callers can count lines.
/// After an error the stream ends; a partial line before an error is not returned.
pub(crate) fn lines<S, E>(
    chunks: S,
    max_line: usize,
) -> impl Stream<Item = Result<Bytes, LineError<E>>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let state = State {
        inner: chunks,
        chunk: Bytes::new(),
        partial: BytesMut::new(),
        line_no: 0,
        done: false,
        max_line,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        let item = st.next_line().await?;
        Some((item, st))
    })
}

/// `line` without a trailing `\r`.
fn trim_cr(mut line: Bytes) -> Bytes {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    line
}

impl<S, E> State<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    async fn next_line(&mut self) -> Option<Result<Bytes, LineError<E>>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.chunk) {
                let mut line = self.chunk.split_to(pos + 1);
                line.truncate(pos);
                if !self.partial.is_empty() {
                    self.partial.extend_from_slice(&line);
                    line = self.partial.split().freeze();
                }
                let line = trim_cr(line);
                if line.len() > self.max_line {
                    return Some(Err(self.too_long()));
                }
                self.line_no += 1;
                return Some(Ok(line));
            }
            self.partial.extend_from_slice(&self.chunk);
            self.chunk.clear();
            if self.done {
                if self.partial.is_empty() {
                    return None;
                }
                self.line_no += 1;
                return Some(Ok(trim_cr(self.partial.split().freeze())));
            }
            if self.partial.len() > self.max_line {
                return Some(Err(self.too_long()));
            }
            match self.inner.next().await {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    self.done = true;
                    self.partial.clear();
                    return Some(Err(LineError::Source(e)));
                }
                None => self.done = true,
            }
        }
    }

    /// Ends the stream on a line over the limit.
    fn too_long(&mut self) -> LineError<E> {
        self.done = true;
        self.chunk.clear();
        self.partial.clear();
        LineError::TooLong {
            line: self.line_no + 1,
            limit: self.max_line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn split(chunks: &[&[u8]], max: usize) -> Vec<Result<String, String>> {
        let items: Vec<Result<Bytes, ()>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let stream = lines(futures_util::stream::iter(items), max);
        stream
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .map(|r| {
                r.map(|b| String::from_utf8(b.to_vec()).unwrap())
                    .map_err(|e| match e {
                        LineError::TooLong { line, .. } => format!("too long at {line}"),
                        LineError::Source(()) => "source".to_owned(),
                    })
            })
            .collect()
    }

    #[tokio::test]
    async fn splits_across_chunks() {
        let got = split(&[b"ab", b"c\nd", b"\r\n\nlast"], MAX_LINE).await;
        let want: Vec<Result<String, String>> = vec![
            Ok("abc".into()),
            Ok("d".into()),
            Ok(String::new()),
            Ok("last".into()),
        ];
        assert_eq!(got, want);
        assert_eq!(split(&[b"x\n"], MAX_LINE).await, vec![Ok("x".to_owned())]);
        assert!(split(&[], MAX_LINE).await.is_empty());
    }

    #[tokio::test]
    async fn long_lines_are_refused() {
        let got = split(&[b"ok\n", b"0123456789", b"0123456789"], 12).await;
        assert_eq!(
            got,
            vec![Ok("ok".to_owned()), Err("too long at 2".to_owned())]
        );
        // Within one chunk too; the limit counts the line without its `\r\n`.
        let got = split(&[b"0123\r\n01234\n"], 4).await;
        assert_eq!(
            got,
            vec![Ok("0123".to_owned()), Err("too long at 2".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_failure_ends_the_stream_without_the_partial_line() {
        let items: Vec<Result<Bytes, ()>> = vec![Ok(Bytes::from_static(b"a\npart")), Err(())];
        let stream = lines(futures_util::stream::iter(items), MAX_LINE);
        let got = stream.collect::<Vec<_>>().await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().ok().map(|b| &b[..]), Some(&b"a"[..]));
        assert!(matches!(got[1], Err(LineError::Source(()))));
    }
}
