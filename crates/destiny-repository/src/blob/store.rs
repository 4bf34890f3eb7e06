//! [`BlobStore`]: blobs as files under one root directory, written atomically.
//!
//! A [`BlobWriter`] streams into a hidden temporary file next to the target and renames
//! it into place on [`commit`](BlobWriter::commit), so a reader never sees half a file,
//! and a writer dropped early (client gone, body too large, disk full) leaves nothing.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::fs::{self, File};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use super::key::{BlobKey, BlobKeyError};

/// Buffer size of a [`BlobWriter`]: large enough for few system calls, small enough that
/// memory does not grow with the file.
const WRITE_BUFFER: usize = 64 * 1024;

/// What can go wrong storing or reading a blob.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The key is not a valid [`BlobKey`].
    #[error("invalid blob key: {0}")]
    InvalidKey(#[from] BlobKeyError),
    /// No blob has this key.
    #[error("Blob {0} does not exist.")]
    NotFound(BlobKey),
    /// The blob would be larger than the writer's limit; nothing was stored.
    #[error("blob is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file system is full (or a quota is exhausted); nothing was stored.
    /// Free space, then retry.
    #[error("blob storage is full: {0}")]
    StorageFull(#[source] io::Error),
    /// Any other I/O failure.
    #[error("blob storage I/O error: {0}")]
    Io(#[source] io::Error),
}

impl BlobError {
    /// Classifies an I/O error, telling a full disk apart from the rest.
    pub fn from_io(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::StorageFull(error),
            _ => Self::Io(error),
        }
    }
}

/// Blobs stored as files under a root directory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), destiny_repository::blob::BlobError> {
/// use destiny_repository::blob::{BlobKey, BlobStore};
/// let dir = tempfile::tempdir().unwrap();
/// let store = BlobStore::open_root(dir.path()).await?;
/// let key = BlobKey::new("batches/b1/references.jsonl")?;
/// let mut writer = store.create(&key).await?;
/// writer.write(b"{}\n").await?;
/// writer.commit().await?;
/// assert_eq!(store.len(&key).await?, 3);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BlobStore {
    /// Every blob path is this root joined with a validated key.
    root: PathBuf,
}

impl BlobStore {
    /// A store over `root`, creating the directory if it is missing.
    ///
    /// # Errors
    ///
    /// [`BlobError::Io`] when the directory cannot be created.
    pub async fn open_root(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        fs::create_dir_all(&root)
            .await
            .map_err(BlobError::from_io)?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a key names.
    pub fn path(&self, key: &BlobKey) -> PathBuf {
        key.to_path(&self.root)
    }

    /// Starts writing the blob `key`. Nothing is visible under `key` until
    /// [`BlobWriter::commit`]; an existing blob is replaced then.
    ///
    /// # Errors
    ///
    /// [`BlobError::StorageFull`] or [`BlobError::Io`] when the directory or the temporary
    /// file cannot be created.
    pub async fn create(&self, key: &BlobKey) -> Result<BlobWriter, BlobError> {
        let final_path = self.path(key);
        let dir = final_path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).await.map_err(BlobError::from_io)?;
        // Hidden (leading '.') so no key can ever name it.
        let stem = format!(".{}.{}", key.file_name(), uuid::Uuid::new_v4().simple());
        let temp_path = dir.join(format!("{stem}.tmp"));
        let new_path = dir.join(format!("{stem}.new"));
        let file = tokio::task::spawn_blocking(move || create_locked(&new_path, &temp_path))
            .await
            .map_err(|e| BlobError::Io(io::Error::other(e)))?
            .map_err(BlobError::from_io)?;
        let temp_path = dir.join(format!("{stem}.tmp"));
        let file = File::from_std(file);
        Ok(BlobWriter::from_parts(file, temp_path, final_path))
    }

    /// Opens the blob `key` for reading.
    ///
    /// # Errors
    ///
    /// [`BlobError::NotFound`] when there is no such blob (or the key names a directory).
    pub async fn open(&self, key: &BlobKey) -> Result<File, BlobError> {
        let file = File::open(self.path(key))
            .await
            .map_err(|e| not_found_or(e, key))?;
        let meta = file.metadata().await.map_err(BlobError::from_io)?;
        if !meta.is_file() {
            return Err(BlobError::NotFound(key.clone()));
        }
        Ok(file)
    }

    /// Whether the blob `key` exists.
    ///
    /// # Errors
    ///
    /// [`BlobError::Io`] when the file system cannot say.
    pub async fn exists(&self, key: &BlobKey) -> Result<bool, BlobError> {
        match self.len(key).await {
            Ok(_) => Ok(true),
            Err(BlobError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The size of the blob `key`, in bytes.
    ///
    /// # Errors
    ///
    /// [`BlobError::NotFound`] when there is no such blob.
    pub async fn len(&self, key: &BlobKey) -> Result<u64, BlobError> {
        let meta = fs::metadata(self.path(key))
            .await
            .map_err(|e| not_found_or(e, key))?;
        if !meta.is_file() {
            return Err(BlobError::NotFound(key.clone()));
        }
        Ok(meta.len())
    }

    /// Deletes the blob `key`; `Ok(false)` if it did not exist.
    ///
    /// # Errors
    ///
    /// [`BlobError::Io`] when the file exists but cannot be removed.
    pub async fn delete(&self, key: &BlobKey) -> Result<bool, BlobError> {
        match fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(BlobError::from_io(e)),
        }
    }

    /// Removes the temporary files of writes that never finished because their process
    /// died (a killed server leaves its open uploads and validation files behind) and
    /// that were last modified before `before`, so writers started since keep theirs.
    /// A file still locked by its writer (each holds a lock on its own) is kept whatever its
    /// age: several instances may share the directory, and each sweeps at start-up.
    /// Answers how many were removed. Walks the whole store, on a blocking thread.
    ///
    /// # Errors
    ///
    /// [`BlobError::Io`] when a directory cannot be read.
    pub async fn remove_stale_temporary_files(
        &self,
        before: std::time::SystemTime,
    ) -> Result<u64, BlobError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for path in temporary_files(&root).map_err(BlobError::from_io)? {
                let old = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < before);
                // Held while it is written, by whichever process writes it: another
                // instance's upload in progress is never removed.
                let Ok(held) = std::fs::File::open(&path) else {
                    continue;
                };
                let unheld = match held.try_lock() {
                    Ok(()) => true,
                    Err(std::fs::TryLockError::WouldBlock) => false,
                    // A file system without locks: age alone decides, as before.
                    Err(std::fs::TryLockError::Error(_)) => true,
                };
                if old && unheld {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(BlobError::from_io(e)),
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
    }
}

/// Creates a writer's temporary file, locked (an exclusive advisory lock, held until the
/// writer closes it, released by the system if its process dies): it is created as
/// `new_path`, locked, then renamed to `temp_path`, so no `.tmp` file is ever unlocked
/// while its writer lives, and a start-up sweep of any instance sharing the directory
/// ([`BlobStore::remove_stale_temporary_files`]) removes only those whose writer is gone.
fn create_locked(new_path: &Path, temp_path: &Path) -> io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(new_path)?;
    match file.try_lock() {
        // A file system without locks: the sweep goes by age alone there.
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(io::Error::other("a fresh temporary file is locked"));
        }
    }
    if let Err(e) = std::fs::rename(new_path, temp_path) {
        let _ = std::fs::remove_file(new_path);
        return Err(e);
    }
    Ok(file)
}

/// The temporary files of unfinished writes (hidden `.<name>.<id>.tmp` files, see
/// [`BlobStore::create`]) anywhere under `root`: what a killed writer leaves behind.
/// Blocking.
///
/// # Errors
/// A directory cannot be read.
pub fn temporary_files(root: &std::path::Path) -> io::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                dirs.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_file() && name.starts_with('.') && name.ends_with(".tmp") {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

fn is_not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

fn not_found_or(e: io::Error, key: &BlobKey) -> BlobError {
    if is_not_found(&e) {
        BlobError::NotFound(key.clone())
    } else {
        BlobError::from_io(e)
    }
}

/// A blob being written: buffered writes into a temporary file, renamed into place by
/// [`commit`](Self::commit). Dropping it without committing deletes the temporary file.
///
/// It is also an [`AsyncWrite`], so `tokio::io::copy` or a JSONL writer can feed it.
#[derive(Debug)]
pub struct BlobWriter {
    /// `None` once committed (the file is closed before the rename).
    file: Option<BufWriter<File>>,
    /// Where the bytes go until commit; removed on drop unless committed.
    temp_path: PathBuf,
    /// Where the blob appears on commit.
    final_path: PathBuf,
    /// Bytes accepted so far, checked against `limit` before they are buffered.
    written: u64,
    /// The largest blob this writer accepts.
    limit: Option<u64>,
}

impl BlobWriter {
    fn from_parts(file: File, temp_path: PathBuf, final_path: PathBuf) -> Self {
        Self {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            temp_path,
            final_path,
            written: 0,
            limit: None,
        }
    }

    /// Refuses blobs larger than `max_bytes` ([`BlobError::TooLarge`]).
    #[must_use]
    pub fn with_limit(mut self, max_bytes: u64) -> Self {
        self.limit = Some(max_bytes);
        self
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// [`BlobError::TooLarge`] past the limit (nothing of `bytes` is written),
    /// [`BlobError::StorageFull`] or [`BlobError::Io`]. After an error, drop the writer.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        self.reserve(bytes.len())?;
        let file = self.file.as_mut().ok_or_else(closed)?;
        file.write_all(bytes).await.map_err(BlobError::from_io)
    }

    fn reserve(&mut self, len: usize) -> Result<(), BlobError> {
        let total = self.written.saturating_add(len as u64);
        if let Some(limit) = self.limit {
            if total > limit {
                return Err(BlobError::TooLarge { limit });
            }
        }
        self.written = total;
        Ok(())
    }

    /// Flushes, syncs and renames the file into place; returns its size.
    ///
    /// # Errors
    ///
    /// [`BlobError::StorageFull`] or [`BlobError::Io`]; the temporary file is removed and
    /// any previous blob under the key is left as it was.
    pub async fn commit(mut self) -> Result<u64, BlobError> {
        let mut file = self.file.take().ok_or_else(closed)?;
        file.flush().await.map_err(BlobError::from_io)?;
        let file = file.into_inner();
        file.sync_all().await.map_err(BlobError::from_io)?;
        // Renamed while still open, so still locked: a sweep never sees it unlocked.
        fs::rename(&self.temp_path, &self.final_path)
            .await
            .map_err(BlobError::from_io)?;
        drop(file);
        // Renamed: nothing left for Drop to remove.
        self.temp_path = PathBuf::new();
        Ok(self.written)
    }
}

fn closed() -> BlobError {
    BlobError::Io(io::Error::other("blob writer already closed"))
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.temp_path.as_os_str().is_empty() {
            // A small synchronous unlink: Drop cannot await, and the path must be gone
            // before the response that reports the failure is sent.
            if let Err(e) = std::fs::remove_file(&self.temp_path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.temp_path.display(), error = %e,
                        "could not remove temporary blob file");
                }
            }
        }
    }
}

impl AsyncWrite for BlobWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let limit = self.limit;
        if let Some(limit) = limit {
            if self.written.saturating_add(buf.len() as u64) > limit {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    BlobError::TooLarge { limit },
                )));
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Poll::Ready(Err(io::Error::other("blob writer already closed")));
        };
        let poll = Pin::new(file).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.written += n as u64;
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.file.as_mut() {
            Some(file) => Pin::new(file).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Flushes only: the blob becomes visible on [`BlobWriter::commit`], not on shutdown.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_root(dir.path().join("blobs"))
            .await
            .unwrap();
        (dir, store)
    }

    /// Every entry under `dir`, recursively, relative to it.
    fn entries(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
                if path.is_dir() {
                    stack.push(path);
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn write_commit_read_delete() {
        let (_dir, store) = store().await;
        let key = BlobKey::new("batches/b1/references.jsonl").unwrap();
        assert!(!store.exists(&key).await.unwrap());
        let mut writer = store.create(&key).await.unwrap();
        writer.write(b"line 1\n").await.unwrap();
        writer.write(b"line 2\n").await.unwrap();
        // Not visible before commit.
        assert!(!store.exists(&key).await.unwrap());
        assert_eq!(writer.commit().await.unwrap(), 14);
        let mut text = String::new();
        store
            .open(&key)
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "line 1\nline 2\n");
        assert_eq!(store.len(&key).await.unwrap(), 14);
        assert_eq!(
            entries(store.root()),
            ["batches", "batches/b1", "batches/b1/references.jsonl"]
        );
        assert!(store.delete(&key).await.unwrap());
        assert!(!store.delete(&key).await.unwrap());
        assert!(matches!(
            store.open(&key).await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn stale_temporary_files_are_removed_and_fresh_ones_kept() {
        let (_dir, store) = store().await;
        let key = BlobKey::new("batches/b1/results.jsonl").unwrap();
        let mut blob = store.create(&key).await.unwrap();
        blob.write(b"done").await.unwrap();
        blob.commit().await.unwrap();
        // A write abandoned by a dead process, and a live one.
        let mut dead = store.create(&key).await.unwrap();
        dead.write(&[b'x'; 100_000]).await.unwrap();
        let dead_path = dead.temp_path.clone();
        // Its process died: the file is closed (its lock gone) and nothing cleaned up.
        drop(dead.file.take());
        std::mem::forget(dead);
        std::fs::write(store.root().join(".signing-key"), b"k").unwrap();
        let cutoff = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
        assert_eq!(store.remove_stale_temporary_files(cutoff).await.unwrap(), 1);
        assert!(!dead_path.exists());
        let live = store.create(&key).await.unwrap();
        let past = std::time::SystemTime::UNIX_EPOCH;
        assert_eq!(store.remove_stale_temporary_files(past).await.unwrap(), 0);
        assert!(live.temp_path.exists(), "written after the cutoff: kept");
        assert_eq!(
            entries(store.root()),
            [
                ".signing-key".to_owned(),
                "batches".to_owned(),
                "batches/b1".to_owned(),
                format!(
                    "batches/b1/{}",
                    live.temp_path.file_name().unwrap().to_string_lossy()
                ),
                "batches/b1/results.jsonl".to_owned(),
            ]
        );
    }

    #[tokio::test]
    async fn commit_replaces_an_existing_blob() {
        let (_dir, store) = store().await;
        let key = BlobKey::new("k").unwrap();
        for content in [&b"first"[..], b"second"] {
            let mut writer = store.create(&key).await.unwrap();
            writer.write(content).await.unwrap();
            writer.commit().await.unwrap();
        }
        assert_eq!(std::fs::read(store.path(&key)).unwrap(), b"second");
    }

    #[tokio::test]
    async fn dropping_a_writer_leaves_no_file() {
        let (_dir, store) = store().await;
        let key = BlobKey::new("a/b").unwrap();
        let mut writer = store.create(&key).await.unwrap();
        writer.write(&[b'x'; 200_000]).await.unwrap();
        assert_eq!(
            entries(store.root()).len(),
            2,
            "directory and temporary file"
        );
        drop(writer);
        assert_eq!(entries(store.root()), ["a"]);
    }

    #[tokio::test]
    async fn limit_refuses_the_chunk_that_crosses_it() {
        let (_dir, store) = store().await;
        let key = BlobKey::new("big").unwrap();
        let mut writer = store.create(&key).await.unwrap().with_limit(10);
        writer.write(b"0123456789").await.unwrap();
        assert!(matches!(
            writer.write(b"x").await,
            Err(BlobError::TooLarge { limit: 10 })
        ));
        drop(writer);
        assert!(entries(store.root()).is_empty());
    }

    #[tokio::test]
    async fn async_write_respects_the_limit() {
        let (_dir, store) = store().await;
        let key = BlobKey::new("copy").unwrap();
        let mut writer = store.create(&key).await.unwrap().with_limit(5);
        let err = writer.write_all(b"too long").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        let mut writer = store.create(&key).await.unwrap();
        tokio::io::copy(&mut &b"hello"[..], &mut writer)
            .await
            .unwrap();
        assert_eq!(writer.commit().await.unwrap(), 5);
        assert_eq!(std::fs::read(store.path(&key)).unwrap(), b"hello");
    }

    #[tokio::test]
    async fn directories_and_missing_parents_are_not_found() {
        let (_dir, store) = store().await;
        let file = BlobKey::new("f").unwrap();
        let mut writer = store.create(&BlobKey::new("d/x").unwrap()).await.unwrap();
        writer.write(b"1").await.unwrap();
        writer.commit().await.unwrap();
        let mut writer = store.create(&file).await.unwrap();
        writer.write(b"1").await.unwrap();
        writer.commit().await.unwrap();
        for key in ["d", "f/under-a-file", "nope/nope"] {
            let key = BlobKey::new(key).unwrap();
            assert!(
                matches!(store.open(&key).await, Err(BlobError::NotFound(_))),
                "{key}"
            );
            assert!(!store.exists(&key).await.unwrap(), "{key}");
        }
    }

    /// `/dev/full` fails every write with ENOSPC: a real disk-full error.
    #[tokio::test]
    async fn a_full_disk_is_storage_full_and_leaves_no_file() {
        let (dir, _store) = store().await;
        let Ok(full) = File::options().write(true).open("/dev/full").await else {
            eprintln!("no /dev/full on this system; skipped");
            return;
        };
        let temp = dir.path().join(".t.tmp");
        std::fs::write(&temp, b"").unwrap();
        let mut writer = BlobWriter::from_parts(full, temp.clone(), dir.path().join("t"));
        // Larger than the buffer, so the write reaches the device. tokio's `File` reports
        // a write's failure on the next operation, so the error may surface at commit,
        // which then drops the writer.
        let err = match writer.write(&vec![b'x'; 2 * WRITE_BUFFER]).await {
            Err(err) => {
                drop(writer);
                err
            }
            Ok(()) => writer.commit().await.unwrap_err(),
        };
        assert!(matches!(err, BlobError::StorageFull(_)), "{err:?}");
        assert!(err.to_string().starts_with("blob storage is full"), "{err}");
        assert!(!temp.exists());
        assert!(!dir.path().join("t").exists());
    }
}
