//! [`Store`]: the blob store the server, the import and the reference-file writer use,
//! whichever backend `--blob-store` chose: a local directory ([`BlobStore`]) or a cloud
//! object store ([`ObjectBlobs`]).

use std::path::Path;

use tokio::io::AsyncRead;

use super::key::BlobKey;
use super::object::{ObjectBlobs, ObjectWriter};
use super::store::{BlobError, BlobStore, BlobWriter};

/// A blob store of either kind. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    /// A local directory (`file://`), served by this server's `/blobs` routes.
    File(BlobStore),
    /// Azure Blob Storage or S3, reached by robots directly.
    Object(ObjectBlobs),
}

impl From<BlobStore> for Store {
    fn from(store: BlobStore) -> Self {
        Self::File(store)
    }
}

impl From<ObjectBlobs> for Store {
    fn from(store: ObjectBlobs) -> Self {
        Self::Object(store)
    }
}

/// A blob being read.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

impl Store {
    /// The local directory store, if this is one.
    pub fn file(&self) -> Option<&BlobStore> {
        match self {
            Self::File(store) => Some(store),
            Self::Object(_) => None,
        }
    }

    /// The root directory of a `file://` store.
    pub fn root(&self) -> Option<&Path> {
        self.file().map(BlobStore::root)
    }

    /// Starts writing `key`; nothing is visible until [`StoreWriter::commit`].
    ///
    /// # Errors
    /// [`BlobError::StorageFull`] or [`BlobError::Io`].
    pub async fn create(&self, key: &BlobKey) -> Result<StoreWriter, BlobError> {
        Ok(match self {
            Self::File(store) => StoreWriter::File(store.create(key).await?),
            Self::Object(store) => StoreWriter::Object(store.create(key)),
        })
    }

    /// Opens `key` for reading, streaming.
    ///
    /// # Errors
    /// [`BlobError::NotFound`] when there is no such blob.
    pub async fn open(&self, key: &BlobKey) -> Result<BlobReader, BlobError> {
        let reader: BlobReader = match self {
            Self::File(store) => Box::new(store.open(key).await?),
            Self::Object(store) => Box::new(store.open(key).await?),
        };
        Ok(reader)
    }

    /// The size of `key`, in bytes.
    ///
    /// # Errors
    /// [`BlobError::NotFound`] when there is no such blob.
    pub async fn len(&self, key: &BlobKey) -> Result<u64, BlobError> {
        match self {
            Self::File(store) => store.len(key).await,
            Self::Object(store) => store.len(key).await,
        }
    }

    /// Whether `key` exists.
    ///
    /// # Errors
    /// [`BlobError::Io`] when the store cannot say.
    pub async fn exists(&self, key: &BlobKey) -> Result<bool, BlobError> {
        match self.len(key).await {
            Ok(_) => Ok(true),
            Err(BlobError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Checks the store answers: a `file://` root is a directory, an object store answers
    /// a lookup of a key (that it holds the key or not does not matter).
    ///
    /// # Errors
    /// [`BlobError::Io`] when it does not.
    pub async fn check(&self) -> Result<(), BlobError> {
        match self {
            Self::File(store) => {
                let meta = tokio::fs::metadata(store.root())
                    .await
                    .map_err(BlobError::from_io)?;
                if meta.is_dir() {
                    Ok(())
                } else {
                    Err(BlobError::Io(std::io::Error::other(format!(
                        "{} is not a directory",
                        store.root().display()
                    ))))
                }
            }
            Self::Object(_) => {
                let probe = BlobKey::new("healthcheck/probe")?;
                self.exists(&probe).await.map(|_| ())
            }
        }
    }

    /// Deletes `key`; `Ok(false)` if it did not exist.
    ///
    /// # Errors
    /// [`BlobError::Io`] when it exists but cannot be removed.
    pub async fn delete(&self, key: &BlobKey) -> Result<bool, BlobError> {
        match self {
            Self::File(store) => store.delete(key).await,
            Self::Object(store) => store.delete(key).await,
        }
    }
}

/// A blob being written to a [`Store`].
#[derive(Debug)]
pub enum StoreWriter {
    /// Into a temporary file, renamed into place on commit.
    File(BlobWriter),
    /// Into an object store, buffered and uploaded in parts.
    Object(ObjectWriter),
}

impl StoreWriter {
    /// Appends `bytes`.
    ///
    /// # Errors
    /// As [`BlobWriter::write`] and [`ObjectWriter::write`].
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        match self {
            Self::File(w) => w.write(bytes).await,
            Self::Object(w) => w.write(bytes).await,
        }
    }

    /// Makes the blob visible; answers its size.
    ///
    /// # Errors
    /// As [`BlobWriter::commit`] and [`ObjectWriter::commit`].
    pub async fn commit(self) -> Result<u64, BlobError> {
        match self {
            Self::File(w) => w.commit().await,
            Self::Object(w) => w.commit().await,
        }
    }

    /// Gives the blob up; nothing of it stays. Dropping the writer does the same (an
    /// object store's upload is then aborted in the background).
    ///
    /// # Errors
    /// As [`ObjectWriter::abort`].
    pub async fn abort(self) -> Result<(), BlobError> {
        match self {
            Self::File(w) => {
                drop(w);
                Ok(())
            }
            Self::Object(w) => w.abort().await,
        }
    }
}
