//! Writing result lines: [`JsonlSink`] writes JSONL with the Python SDK's rules through a
//! small buffer; [`Spool`] puts the result file of a batch in an anonymous temporary
//! file so memory stays bounded however large the batch, and streams it back out for
//! upload (as often as an upload must be retried).

use std::io::SeekFrom;

use serde::Serialize;
use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt};

/// Bytes buffered before a write to the underlying writer.
const FLUSH_AT: usize = 64 * 1024;

/// A failure writing result lines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The file (or output) could not be written.
    #[error("cannot write results: {0}")]
    Io(#[from] std::io::Error),
    /// A line could not be serialised.
    #[error("cannot serialise a result line: {0}")]
    Serialize(#[from] destiny_sdk::jsonl::JsonlError),
}

/// JSONL lines written to an async writer through a buffer.
#[derive(Debug)]
pub(crate) struct JsonlSink<W> {
    /// Where lines go.
    writer: W,
    /// Lines not yet written.
    buf: Vec<u8>,
    /// Bytes accepted so far (buffered included).
    bytes: u64,
    /// Lines accepted so far.
    lines: u64,
}

impl<W: AsyncWrite + Unpin> JsonlSink<W> {
    /// A sink writing to `writer`.
    pub(crate) fn new(writer: W) -> Self {
        Self {
            writer,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            bytes: 0,
            lines: 0,
        }
    }

    /// Adds one line.
    pub(crate) async fn write<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), SinkError> {
        let before = self.buf.len();
        destiny_sdk::jsonl::append_line(&mut self.buf, value)?;
        self.bytes += (self.buf.len() - before) as u64;
        self.lines += 1;
        if self.buf.len() >= FLUSH_AT {
            self.writer.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Lines written so far.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    /// Writes what is buffered, flushes, and returns the writer and the byte count.
    pub(crate) async fn finish(mut self) -> Result<(W, u64), SinkError> {
        self.writer.write_all(&self.buf).await?;
        self.writer.flush().await?;
        Ok((self.writer, self.bytes))
    }
}

/// A batch's result file on disk: written once, then read for each upload attempt. The
/// file has no name and disappears when dropped.
#[derive(Debug)]
pub(crate) struct Spool {
    /// The finished file.
    file: tokio::fs::File,
    /// Its length in bytes.
    len: u64,
    /// Its number of lines.
    lines: u64,
}

impl Spool {
    /// A sink into a new anonymous temporary file.
    pub(crate) fn create() -> Result<JsonlSink<tokio::fs::File>, SinkError> {
        let file = tempfile::tempfile()?;
        Ok(JsonlSink::new(tokio::fs::File::from_std(file)))
    }

    /// The spool of a finished sink.
    pub(crate) async fn finish(sink: JsonlSink<tokio::fs::File>) -> Result<Self, SinkError> {
        let lines = sink.lines();
        let (file, len) = sink.finish().await?;
        Ok(Self { file, len, lines })
    }

    /// The file's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The file's number of lines.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    /// The file from its start as an upload body.
    pub(crate) async fn body(&self) -> Result<reqwest::Body, SinkError> {
        let mut file = self.file.try_clone().await?;
        file.seek(SeekFrom::Start(0)).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, FLUSH_AT);
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use destiny_sdk::models::LinkedRobotError;

    #[tokio::test]
    async fn spools_lines_and_reads_them_back_twice() {
        let mut sink = Spool::create().unwrap();
        let mut want = String::new();
        for i in 0..5000u32 {
            let e = LinkedRobotError {
                message: format!("line {i}\u{2028}"),
                reference_id: uuid::Uuid::new_v4(),
            };
            want.push_str(&destiny_sdk::jsonl::to_line(&e).unwrap());
            want.push('\n');
            sink.write(&e).await.unwrap();
        }
        let spool = Spool::finish(sink).await.unwrap();
        assert_eq!(spool.len(), want.len() as u64);
        assert_eq!(spool.lines(), 5000);
        for _ in 0..2 {
            let body = spool.body().await.unwrap();
            let bytes = collect(body).await;
            assert_eq!(String::from_utf8(bytes).unwrap(), want);
        }
    }

    async fn collect(body: reqwest::Body) -> Vec<u8> {
        use http_body_util::BodyExt;
        body.collect().await.unwrap().to_bytes().to_vec()
    }
}
