//! The HTTP face of the blob store: `GET`, `HEAD` and `PUT /blobs/{*key}`.
//!
//! Every request must carry a URL signed by [`UrlSigner`](super::UrlSigner) for its key
//! and method. Bodies stream both ways; errors are `{"detail": "..."}`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use tokio::fs::File;
use tokio::io::AsyncReadExt;

use super::key::{BlobKey, BlobKeyError};
use super::signing::{BlobAuthError, Permission, SignedQuery};
use super::store::{BlobError, BlobStore};
use super::BlobState;

/// The header Azure requires on a blob PUT, and its only value a robot uses.
const BLOB_TYPE_HEADER: &str = "x-ms-blob-type";
const BLOCK_BLOB: &str = "BlockBlob";
/// The content type of every blob: they are all JSONL files.
const JSONL: &str = "application/jsonl";
/// Read size when streaming a blob out.
const READ_CHUNK: usize = 64 * 1024;

/// The blob routes, to be merged at the root of the server (signed URLs name
/// `/blobs/{key}`).
///
/// ```
/// use std::sync::Arc;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use destiny_repository::blob::{router, BlobConfig, BlobState, BlobStore, UrlSigner};
/// let dir = tempfile::tempdir().unwrap();
/// let store = BlobStore::open_root(dir.path()).await.unwrap();
/// let state = BlobState::new(store, UrlSigner::random().unwrap(), BlobConfig::default(),
///     Arc::new(destiny_repository::clock::SystemClock));
/// let app: axum::Router = router(state);
/// # let _ = app;
/// # }
/// ```
pub fn router(state: BlobState) -> Router {
    Router::new()
        .route("/blobs/{*key}", get(get_blob).put(put_blob))
        .with_state(state)
}

/// Why a blob request failed; [`status`](Self::status) decides the HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobRouteError {
    /// 400: the path is not a valid blob key (traversal, odd characters).
    #[error("Invalid blob key: {0}.")]
    InvalidKey(BlobKeyError),
    /// 400: the path could not be decoded.
    #[error("Invalid blob path.")]
    BadPath,
    /// 403: the URL's signature, expiry or permission is wrong.
    #[error("{0}")]
    Auth(#[from] BlobAuthError),
    /// 400: PUT without `x-ms-blob-type: BlockBlob` (Azure refuses it too).
    #[error("x-ms-blob-type header must be BlockBlob.")]
    BlobType,
    /// 408: the upload sent nothing for the idle timeout; nothing was stored.
    #[error("Upload stalled: no data received for {} s.", .0.as_secs())]
    Stalled(Duration),
    /// 400: the upload broke off (client disconnected, bad framing); nothing was stored.
    #[error("Upload was interrupted: {0}.")]
    Interrupted(String),
    /// 404, 413, 503 (a full store, as on every route) or 500, by the kind of [`BlobError`].
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl BlobRouteError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidKey(_) | Self::BadPath | Self::BlobType | Self::Interrupted(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Auth(_) => StatusCode::FORBIDDEN,
            Self::Stalled(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Blob(BlobError::InvalidKey(_)) => StatusCode::BAD_REQUEST,
            Self::Blob(BlobError::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::Blob(BlobError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Blob(BlobError::StorageFull(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Blob(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `detail` sent to the client; internal failures are logged, not sent.
    fn detail(&self) -> String {
        match self {
            Self::Blob(BlobError::TooLarge { limit }) => {
                format!("Blob is larger than the limit of {limit} bytes.")
            }
            Self::Blob(BlobError::StorageFull(_)) => {
                "Blob storage is full; nothing was stored. Try again later.".to_owned()
            }
            Self::Blob(BlobError::Io(_)) => "Blob storage failed.".to_owned(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for BlobRouteError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "blob request failed");
        } else {
            tracing::debug!(error = %self, %status, "blob request refused");
        }
        crate::error::json_response(status, serde_json::json!({ "detail": self.detail() }))
    }
}

/// Validates the path and the signature for `needed`.
fn authorize(
    state: &BlobState,
    path: Result<Path<String>, PathRejection>,
    uri: &Uri,
    needed: Permission,
) -> Result<BlobKey, BlobRouteError> {
    let Path(raw) = path.map_err(|_| BlobRouteError::BadPath)?;
    let key = BlobKey::new(raw).map_err(BlobRouteError::InvalidKey)?;
    let Query(query) =
        Query::<SignedQuery>::try_from_uri(uri).map_err(|_| BlobAuthError::MalformedQuery)?;
    state
        .signer()
        .authorize(&key, &query, needed, state.now())?;
    Ok(key)
}

/// The `file://` store these routes serve; on an object store robots use the
/// service's own URLs, and nothing is here.
fn file_store<'a>(state: &'a BlobState, key: &BlobKey) -> Result<&'a BlobStore, BlobError> {
    state
        .store()
        .file()
        .ok_or_else(|| BlobError::NotFound(key.clone()))
}

/// `GET /blobs/{*key}` (and `HEAD`): streams the blob.
async fn get_blob(
    State(state): State<BlobState>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, BlobRouteError> {
    let key = authorize(&state, path, &uri, Permission::Read)?;
    let file = file_store(&state, &key)?.open(&key).await?;
    let len = file.metadata().await.map_err(BlobError::from_io)?.len();
    let headers = [
        (header::CONTENT_TYPE, JSONL.to_owned()),
        (header::CONTENT_LENGTH, len.to_string()),
    ];
    Ok((headers, Body::from_stream(read_chunks(file))).into_response())
}

/// The file as a stream of chunks, ending after the first error.
fn read_chunks(
    file: File,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = bytes::BytesMut::with_capacity(READ_CHUNK);
        match file.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(buf.freeze()), Some(file))),
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// `PUT /blobs/{*key}`: streams the body into the store, replacing any blob there.
async fn put_blob(
    State(state): State<BlobState>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, BlobRouteError> {
    let key = authorize(&state, path, &uri, Permission::Write)?;
    if headers.get(BLOB_TYPE_HEADER).map(|v| v.as_bytes()) != Some(BLOCK_BLOB.as_bytes()) {
        return Err(BlobRouteError::BlobType);
    }
    let limit = state.config().max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(BlobError::TooLarge { limit }.into());
    }
    // From here on, any early return drops the writer, which removes the temporary file.
    let mut writer = file_store(&state, &key)?
        .create(&key)
        .await?
        .with_limit(limit);
    let idle = state.config().body_idle_timeout;
    let mut stream = body.into_data_stream();
    loop {
        let chunk = tokio::time::timeout(idle, stream.next())
            .await
            .map_err(|_| BlobRouteError::Stalled(idle))?;
        match chunk {
            None => break,
            Some(Ok(bytes)) => writer.write(&bytes).await?,
            Some(Err(e)) => return Err(BlobRouteError::Interrupted(e.to_string())),
        }
    }
    let size = writer.commit().await?;
    tracing::debug!(%key, size, "blob stored");
    Ok(StatusCode::CREATED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_details() {
        let key = BlobKey::new("k").unwrap();
        let cases: [(BlobRouteError, u16, &str); 7] = [
            (
                BlobError::NotFound(key).into(),
                404,
                "Blob k does not exist.",
            ),
            (
                BlobRouteError::BlobType,
                400,
                "x-ms-blob-type header must be BlockBlob.",
            ),
            (BlobAuthError::Expired.into(), 403, "URL has expired."),
            (
                BlobError::TooLarge { limit: 5 }.into(),
                413,
                "Blob is larger than the limit of 5 bytes.",
            ),
            (
                BlobError::from_io(std::io::Error::from(std::io::ErrorKind::StorageFull)).into(),
                503,
                "Blob storage is full; nothing was stored. Try again later.",
            ),
            (
                BlobError::from_io(std::io::Error::other("secret path")).into(),
                500,
                "Blob storage failed.",
            ),
            (
                BlobRouteError::Stalled(Duration::from_secs(60)),
                408,
                "Upload stalled: no data received for 60 s.",
            ),
        ];
        for (error, status, detail) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.detail(), detail);
        }
    }
}
