//! A batch's files: the reference file streamed line by line, the result file uploaded
//! from its spool. Signed URLs that the storage refuses (403: expired) are fetched again
//! through `GET` batch; transient failures are retried with capped backoff; a download
//! that breaks off mid-file resumes where it stopped.

use std::pin::Pin;
use std::sync::Mutex;

use bytes::Bytes;
use destiny_sdk::client::{ByteStream, ClientError};
use destiny_sdk::models::{HttpUrl, RobotEnhancementBatch};
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use super::Shared;
use crate::lines::{lines, LineError, MAX_LINE};
use crate::spool::{SinkError, Spool};

/// The signed URLs of a batch, refreshed when they expire.
pub(super) struct BatchUrls {
    /// The batch id.
    pub(super) id: Uuid,
    /// The batch as last fetched.
    current: Mutex<RobotEnhancementBatch>,
}

impl BatchUrls {
    pub(super) fn new(batch: RobotEnhancementBatch) -> Self {
        Self {
            id: batch.id,
            current: Mutex::new(batch),
        }
    }

    fn get(&self, pick: impl Fn(&RobotEnhancementBatch) -> &HttpUrl) -> HttpUrl {
        match self.current.lock() {
            Ok(batch) => pick(&batch).clone(),
            Err(poisoned) => pick(&poisoned.into_inner()).clone(),
        }
    }

    fn reference_url(&self) -> HttpUrl {
        self.get(|b| &b.reference_storage_url)
    }

    fn result_url(&self) -> HttpUrl {
        self.get(|b| &b.result_storage_url)
    }

    /// Fetches the batch again for fresh URLs.
    async fn refresh<R>(&self, shared: &Shared<R>) -> Result<(), ClientError> {
        let fresh = shared.client.get_robot_enhancement_batch(self.id).await?;
        shared.metrics.url_refreshed();
        tracing::info!("storage refused a signed URL (expired?); fetched fresh ones");
        match self.current.lock() {
            Ok(mut batch) => *batch = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }
}

/// A failure of a batch's storage transfers.
#[derive(Debug, thiserror::Error)]
pub(super) enum StorageError {
    /// Downloading or uploading failed beyond retries.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A line of the reference file is too long.
    #[error("reference file: line {line} is longer than {limit} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// The spool could not be read back.
    #[error(transparent)]
    Spool(#[from] SinkError),
}

/// Opens the reference file, refreshing the URL once on 403.
async fn open<R>(shared: &Shared<R>, urls: &BatchUrls) -> Result<ByteStream, ClientError> {
    match shared.client.download_stream(&urls.reference_url()).await {
        Err(e) if e.status() == Some(403) => {
            urls.refresh(shared).await?;
            shared.client.download_stream(&urls.reference_url()).await
        }
        other => other,
    }
}

/// Lines of a download.
type LineStream = Pin<Box<dyn Stream<Item = Result<Bytes, LineError<ClientError>>> + Send>>;

/// What [`reference_lines`] keeps between lines.
struct Download<'a, R> {
    /// The client, retry settings and metrics.
    shared: &'a Shared<R>,
    /// The batch's URLs (refreshed on 403).
    urls: &'a BatchUrls,
    /// The current download's lines (`None` before opening or after a break).
    lines: Option<LineStream>,
    /// Lines returned so far.
    delivered: u64,
    /// Lines of a resumed download still to skip (returned before the break).
    skip: u64,
    /// Downloads opened again after a break.
    resumes: u32,
    /// Finished or failed.
    done: bool,
}

/// The lines of a batch's reference file, streamed: one download, resumed (skipping the
/// lines already returned) when it breaks off with a transient error.
pub(super) fn reference_lines<'a, R: Send + Sync>(
    shared: &'a Shared<R>,
    urls: &'a BatchUrls,
) -> impl Stream<Item = Result<Bytes, StorageError>> + Send + 'a {
    let state = Download {
        shared,
        urls,
        lines: None,
        delivered: 0,
        skip: 0,
        resumes: 0,
        done: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        let item = st.next_line().await?;
        Some((item, st))
    })
}

impl<R> Download<'_, R> {
    async fn next_line(&mut self) -> Option<Result<Bytes, StorageError>> {
        while !self.done {
            let Some(current) = self.lines.as_mut() else {
                match open(self.shared, self.urls).await {
                    Ok(bytes) => self.lines = Some(Box::pin(lines(bytes, MAX_LINE))),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e.into()));
                    }
                }
                continue;
            };
            match current.next().await {
                None => self.done = true,
                Some(Ok(_)) if self.skip > 0 => self.skip -= 1,
                Some(Ok(line)) => {
                    self.delivered += 1;
                    return Some(Ok(line));
                }
                Some(Err(LineError::Source(e)))
                    if e.is_retryable() && self.resumes + 1 < self.shared.io_attempts =>
                {
                    self.resumes += 1;
                    let wait = self.shared.io_backoff.delay(self.resumes);
                    tracing::warn!(error = %e, after_lines = self.delivered, wait_ms = wait.as_millis() as u64,
                        "reference download broke off; resuming");
                    self.lines = None;
                    self.skip = self.delivered;
                    tokio::time::sleep(wait).await;
                }
                Some(Err(LineError::Source(e))) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
                Some(Err(LineError::TooLong { line, limit })) => {
                    self.done = true;
                    return Some(Err(StorageError::TooLong { line, limit }));
                }
            }
        }
        None
    }
}

/// Uploads the spooled result file: fresh URLs on 403 (twice at most), transient
/// failures retried with capped backoff (the spool is read again for each attempt).
pub(super) async fn upload<R>(
    shared: &Shared<R>,
    urls: &BatchUrls,
    spool: &Spool,
) -> Result<(), StorageError> {
    let mut attempt = 1;
    let mut refreshes = 0;
    loop {
        let body = spool.body().await?;
        let error = match shared
            .client
            .upload_stream(&urls.result_url(), body, spool.len())
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if error.status() == Some(403) && refreshes < 2 {
            refreshes += 1;
            urls.refresh(shared).await?;
        } else if error.is_retryable() && attempt < shared.io_attempts {
            let wait = shared.io_backoff.delay(attempt);
            attempt += 1;
            tracing::warn!(%error, attempt, wait_ms = wait.as_millis() as u64, "result upload failed; retrying");
            tokio::time::sleep(wait).await;
        } else {
            return Err(error.into());
        }
    }
}
