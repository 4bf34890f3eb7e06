//! Downloads and uploads through the signed storage URLs of a batch. These URLs carry
//! their own authorisation (Azure SAS style), so these requests are not HMAC-signed, and
//! error messages never show their query.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{Method, StatusCode};

use super::error::detail_of;
use super::{ClientError, RobotClient};
use crate::models::HttpUrl;

/// The body of a download, chunk by chunk.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send>>;

impl RobotClient {
    /// Starts downloading a signed storage URL (such as a batch's
    /// `reference_storage_url`) and returns its body as a stream of chunks.
    ///
    /// Retries (per the [`RetryPolicy`](super::RetryPolicy)) on transport errors,
    /// timeouts and 5xx before the body starts; a failure while streaming is the
    /// stream's last item.
    ///
    /// # Errors
    /// [`ClientError::Api`] for a non-2xx status (detail: the body text),
    /// [`ClientError::Transport`] or [`ClientError::Timeout`].
    ///
    /// ```no_run
    /// # async fn f(client: destiny_sdk::client::RobotClient, batch: destiny_sdk::models::RobotEnhancementBatch)
    /// # -> Result<(), destiny_sdk::client::ClientError> {
    /// use futures_util::StreamExt;
    /// let mut body = client.download_stream(&batch.reference_storage_url).await?;
    /// while let Some(chunk) = body.next().await {
    ///     let chunk = chunk?;
    ///     // ...
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn download_stream(&self, url: &HttpUrl) -> Result<ByteStream, ClientError> {
        let path = path_of(url);
        let policy = self.inner.retry;
        let mut attempt = 1;
        loop {
            let (error, retryable) = match self.get_storage(url).send().await {
                Ok(response) if response.status().is_success() => {
                    let method_path = path.clone();
                    let stream = response.bytes_stream().map(move |chunk| {
                        chunk.map_err(|e| ClientError::from_reqwest(&Method::GET, &method_path, e))
                    });
                    return Ok(Box::pin(stream));
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.bytes().await.unwrap_or_default();
                    (
                        api_error(Method::GET, &path, status, &body),
                        status.is_server_error(),
                    )
                }
                Err(err) => (ClientError::from_reqwest(&Method::GET, &path, err), true),
            };
            if !retryable || attempt >= policy.max_attempts {
                return Err(error);
            }
            attempt += 1;
            let delay = policy.delay_before(attempt);
            tracing::warn!(%path, attempt, ?delay, %error, "retrying download");
            tokio::time::sleep(delay).await;
        }
    }

    /// Uploads a result file to a signed storage URL (a batch's `result_storage_url`):
    /// `PUT` with `x-ms-blob-type: BlockBlob` and `Content-Type: application/jsonl`.
    ///
    /// Not retried (the body may be a one-shot stream). Azure requires a known length: a
    /// body made from bytes has one; for a stream use [`upload_stream`](Self::upload_stream).
    ///
    /// # Errors
    /// [`ClientError::Api`] for a non-2xx status, [`ClientError::Transport`] or
    /// [`ClientError::Timeout`].
    pub async fn upload_file(
        &self,
        url: &HttpUrl,
        body: impl Into<reqwest::Body>,
    ) -> Result<(), ClientError> {
        self.put_storage(url, body.into(), None).await
    }

    /// Like [`upload_file`](Self::upload_file) for a streamed body of `content_length`
    /// bytes (sent as `Content-Length`, not chunked).
    ///
    /// # Errors
    /// As [`upload_file`](Self::upload_file).
    pub async fn upload_stream(
        &self,
        url: &HttpUrl,
        body: reqwest::Body,
        content_length: u64,
    ) -> Result<(), ClientError> {
        self.put_storage(url, body, Some(content_length)).await
    }

    async fn put_storage(
        &self,
        url: &HttpUrl,
        body: reqwest::Body,
        content_length: Option<u64>,
    ) -> Result<(), ClientError> {
        let path = path_of(url);
        let mut request = self
            .inner
            .http
            .put(url.as_str())
            .header("x-ms-blob-type", "BlockBlob")
            .header(http::header::CONTENT_TYPE, "application/jsonl");
        if let Some(timeout) = self.inner.storage_timeout {
            request = request.timeout(timeout);
        }
        if let Some(len) = content_length {
            request = request.header(http::header::CONTENT_LENGTH, len);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(&Method::PUT, &path, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(api_error(Method::PUT, &path, status, &body))
    }

    fn get_storage(&self, url: &HttpUrl) -> reqwest::RequestBuilder {
        let request = self.inner.http.get(url.as_str());
        match self.inner.storage_timeout {
            Some(timeout) => request.timeout(timeout),
            None => request,
        }
    }
}

fn api_error(method: Method, path: &str, status: StatusCode, body: &[u8]) -> ClientError {
    ClientError::Api {
        status,
        detail: detail_of(status, body),
        method,
        path: path.to_owned(),
    }
}

/// The URL without its query (which holds the signature) or fragment.
fn path_of(url: &HttpUrl) -> String {
    let text = url.as_str();
    let end = text.find(['?', '#']).unwrap_or(text.len());
    text[..end].to_owned()
}
