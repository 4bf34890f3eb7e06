//! [`ObjectBlobs`]: blobs in Azure Blob Storage or S3, through the `object_store` crate.
//!
//! Robots never talk to this server about files on these stores: they get URLs on the
//! storage service itself, as from the real repository. On Azure these are service SAS
//! URLs signed with the account key (`object_store`'s [`Signer`] makes them: `sp=r` for
//! reading, `sp=w` for writing, each for one blob), so Azure itself checks the permission
//! and `x-ms-blob-type`. On S3 they are presigned GET and PUT URLs.
//!
//! Credentials and endpoints come from the environment, as `object_store` reads it:
//! `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_USE_EMULATOR`,
//! `AZURITE_BLOB_STORAGE_URL`; `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`.
//!
//! Files stream both ways: reads are the service's response body, writes go through
//! [`object_store::buffered::BufWriter`], one request for a small file and a block
//! (multipart) upload past [`PART_SIZE`]. A writer dropped before its commit (an error
//! on the way, a cancelled request) aborts its multipart upload, so S3 does not keep the
//! parts; Azure has no abort and drops uncommitted blocks itself after a week.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use http::Method;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::key::BlobKey;
use super::location::BlobLocation;
use super::signing::Permission;
use super::store::BlobError;

/// Bytes buffered before a write turns into a block (multipart) upload, and the size of
/// each part then (S3 wants at least 5 MiB per part).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Blobs in a cloud object store, under an optional prefix. Cheap to clone.
#[derive(Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    signer: Arc<dyn Signer>,
    prefix: String,
    location: BlobLocation,
}

impl fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The stores' own Debug would show their configuration, credentials included.
        f.debug_struct("ObjectBlobs")
            .field("location", &self.location.to_string())
            .finish_non_exhaustive()
    }
}

impl ObjectBlobs {
    /// Connects to the store `location` names (`az://` or `s3://`) with the credentials
    /// of the environment. Nothing is sent yet: a wrong credential shows on first use.
    ///
    /// # Errors
    /// [`BlobError::Io`] when the environment does not configure the store (no account,
    /// no region...), or for `file://`.
    pub fn from_env(location: &BlobLocation) -> Result<Self, BlobError> {
        /// One store, seen as a store and as a signer.
        type Both = (Arc<dyn ObjectStore>, Arc<dyn Signer>);
        fn both<S: ObjectStore + Signer>(
            store: Result<S, object_store::Error>,
        ) -> Result<Both, BlobError> {
            let store = Arc::new(store.map_err(remote)?);
            Ok((store.clone(), store))
        }
        let ((store, signer), prefix) = match location {
            BlobLocation::Azure { container, prefix } => (
                both(
                    MicrosoftAzureBuilder::from_env()
                        .with_container_name(container)
                        .build(),
                )?,
                prefix,
            ),
            BlobLocation::S3 { bucket, prefix } => (
                both(
                    AmazonS3Builder::from_env()
                        .with_bucket_name(bucket)
                        .build(),
                )?,
                prefix,
            ),
            BlobLocation::File(_) => {
                return Err(BlobError::Io(io::Error::other(
                    "file:// is not an object store",
                )))
            }
        };
        Ok(Self {
            store,
            signer,
            prefix: prefix.clone(),
            location: location.clone(),
        })
    }

    /// Where the blobs are.
    pub fn location(&self) -> &BlobLocation {
        &self.location
    }

    /// The object path of `key`: under the prefix.
    fn path(&self, key: &BlobKey) -> Path {
        if self.prefix.is_empty() {
            Path::from(key.as_str())
        } else {
            Path::from(format!("{}/{}", self.prefix, key.as_str()))
        }
    }

    /// Starts writing `key`; nothing is visible until [`ObjectWriter::commit`].
    pub fn create(&self, key: &BlobKey) -> ObjectWriter {
        ObjectWriter {
            inner: Some(BufWriter::with_capacity(
                self.store.clone(),
                self.path(key),
                PART_SIZE,
            )),
            written: 0,
        }
    }

    /// The blob `key` as a stream of bytes.
    ///
    /// # Errors
    /// [`BlobError::NotFound`] when there is no such blob; [`BlobError::Io`] otherwise.
    pub async fn open(&self, key: &BlobKey) -> Result<impl AsyncRead + Send + Unpin, BlobError> {
        let got = self
            .store
            .get(&self.path(key))
            .await
            .map_err(|e| not_found_or(e, key))?;
        let stream = got.into_stream().map_err(io::Error::other);
        Ok(tokio_util::io::StreamReader::new(stream))
    }

    /// The size of `key`, in bytes.
    ///
    /// # Errors
    /// [`BlobError::NotFound`] when there is no such blob.
    pub async fn len(&self, key: &BlobKey) -> Result<u64, BlobError> {
        let meta = self
            .store
            .head(&self.path(key))
            .await
            .map_err(|e| not_found_or(e, key))?;
        Ok(meta.size)
    }

    /// Deletes `key`; `Ok(false)` if it did not exist.
    ///
    /// # Errors
    /// [`BlobError::Io`] when the service fails.
    pub async fn delete(&self, key: &BlobKey) -> Result<bool, BlobError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(remote(e)),
        }
    }

    /// A URL on the storage service granting `permission` on `key` for `ttl`.
    ///
    /// # Errors
    /// [`BlobError::Io`] when the credentials cannot sign (no account key on Azure).
    pub async fn signed_url(
        &self,
        key: &BlobKey,
        permission: Permission,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let method = match permission {
            Permission::Read => Method::GET,
            Permission::Write => Method::PUT,
        };
        let url = self
            .signer
            .signed_url(method, &self.path(key), ttl)
            .await
            .map_err(remote)?;
        Ok(url.into())
    }
}

/// A blob being written to an object store. Dropped before [`commit`](Self::commit), it
/// aborts the upload (in a task of its own: `Drop` cannot await).
#[derive(Debug)]
pub struct ObjectWriter {
    /// `None` once committed.
    inner: Option<BufWriter>,
    written: u64,
}

impl ObjectWriter {
    /// Appends `bytes` (uploading a part whenever [`PART_SIZE`] is buffered).
    ///
    /// # Errors
    /// [`BlobError::Io`] when the service fails.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        let inner = self.inner.as_mut().ok_or_else(closed)?;
        inner.write_all(bytes).await.map_err(BlobError::from_io)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Completes the upload; the blob becomes visible. Answers its size.
    ///
    /// # Errors
    /// [`BlobError::Io`] when the service fails; nothing is stored then.
    pub async fn commit(mut self) -> Result<u64, BlobError> {
        // Taken first: once shutting down, the writer cannot be aborted any more (on a
        // failed part, object_store aborts the upload itself).
        let mut inner = self.inner.take().ok_or_else(closed)?;
        inner.shutdown().await.map_err(BlobError::from_io)?;
        Ok(self.written)
    }

    /// Gives the upload up: the parts uploaded so far are discarded (on S3 through
    /// `AbortMultipartUpload`). What dropping the writer does, awaited.
    ///
    /// # Errors
    /// [`BlobError::Io`] when the service refuses the abort.
    pub async fn abort(mut self) -> Result<(), BlobError> {
        match self.inner.take() {
            Some(inner) => abort(inner).await,
            None => Ok(()),
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = abort(inner).await {
                tracing::warn!(error = %e, "could not abort an unfinished upload");
            }
        });
    }
}

/// Aborts `inner`'s upload (nothing to do while it is still one buffer).
async fn abort(mut inner: BufWriter) -> Result<(), BlobError> {
    inner.abort().await.map_err(remote)
}

fn closed() -> BlobError {
    BlobError::Io(io::Error::other("blob writer already closed"))
}

/// A failure of the service (or its configuration): one that may pass, as an I/O error.
fn remote(e: object_store::Error) -> BlobError {
    BlobError::Io(io::Error::other(e))
}

fn not_found_or(e: object_store::Error, key: &BlobKey) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(key.clone()),
        e => remote(e),
    }
}
