//! [`UrlSigner`]: expiring, permission-scoped blob URLs, signed with HMAC-SHA256.
//!
//! A URL reads `{base}/blobs/{key}?sp=r&se=1733380000&sig=<hex>`, the parameter names of an
//! Azure SAS URL: `sp` the permission (`r` read, `w` write), `se` the expiry in Unix seconds
//! and `sig` `HMAC-SHA256(server key, "{sp}\n{se}\n{key}")` in lowercase hex. The key is
//! signed, so a URL for one blob opens no other.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::key::BlobKey;

/// How long a signed URL lasts unless told otherwise: 3600 s, as the real repository's.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(3600);

/// The file under the blob root that keeps the signing key across restarts. Its name
/// starts with `.`, so no [`BlobKey`] can name it.
pub const SIGNING_KEY_FILE: &str = ".signing-key";

/// The length of the signing key, in bytes.
const KEY_LEN: usize = 32;

/// What a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// GET (and HEAD) the blob: `sp=r`.
    Read,
    /// PUT the blob: `sp=w`.
    Write,
}

impl Permission {
    /// The `sp` value.
    pub fn as_sp(self) -> &'static str {
        match self {
            Self::Read => "r",
            Self::Write => "w",
        }
    }

    fn from_sp(sp: &str) -> Option<Self> {
        match sp {
            "r" => Some(Self::Read),
            "w" => Some(Self::Write),
            _ => None,
        }
    }
}

/// The signature parameters of a request's query string, each optional so a missing one
/// is reported by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SignedQuery {
    /// The permission, `r` or `w`.
    pub sp: Option<String>,
    /// The expiry, Unix seconds.
    pub se: Option<String>,
    /// The hex HMAC.
    pub sig: Option<String>,
}

impl SignedQuery {
    /// Parses a raw query string (without `?`), percent-decoding values.
    ///
    /// ```
    /// use destiny_repository::blob::signing::SignedQuery;
    /// let q = SignedQuery::parse("sp=r&se=17&sig=ab").unwrap();
    /// assert_eq!(q.se.as_deref(), Some("17"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`BlobAuthError::MalformedQuery`] when it is not `application/x-www-form-urlencoded`.
    pub fn parse(query: &str) -> Result<Self, BlobAuthError> {
        let uri: http::Uri = format!("/?{query}")
            .parse()
            .map_err(|_| BlobAuthError::MalformedQuery)?;
        let axum::extract::Query(parsed) = axum::extract::Query::<Self>::try_from_uri(&uri)
            .map_err(|_| BlobAuthError::MalformedQuery)?;
        Ok(parsed)
    }
}

/// Why a signed URL is refused (HTTP 403). The message says which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobAuthError {
    /// A signature parameter is absent.
    #[error("URL is missing the '{0}' parameter; use the signed URL as given.")]
    Missing(&'static str),
    /// The query string could not be parsed.
    #[error("URL query string is malformed.")]
    MalformedQuery,
    /// `se` is not an integer.
    #[error("URL expiry 'se' is not a Unix timestamp.")]
    MalformedExpiry,
    /// The signature does not match the permission, expiry and path: altered, or signed
    /// for another blob or by another server.
    #[error("Signature is invalid.")]
    InvalidSignature,
    /// The URL expired; ask the repository for a new one.
    #[error("URL has expired.")]
    Expired,
    /// The URL is valid but grants another permission.
    #[error("URL does not grant {} permission.", match .0 { Permission::Read => "read", Permission::Write => "write" })]
    WrongPermission(Permission),
}

/// Why the signing key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// Reading or writing the key file failed.
    #[error("signing key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The key file does not hold exactly 32 bytes; delete it to make a new key (every
    /// URL signed with the old key stops working).
    #[error("signing key file {0} is not 32 bytes; delete it to generate a new key")]
    Corrupt(PathBuf),
}

/// Signs and verifies blob URLs with a secret server key.
///
/// ```
/// use std::time::Duration;
/// use destiny_repository::blob::{BlobKey, Permission, UrlSigner};
/// let signer = UrlSigner::new([7; 32]).with_public_base("http://127.0.0.1:8000");
/// let key = BlobKey::new("batches/b1/references.jsonl").unwrap();
/// let now = jiff::Timestamp::from_second(1_733_380_000).unwrap();
/// let url = signer.sign(&key, Permission::Read, Duration::from_secs(3600), now);
/// assert!(url.starts_with(
///     "http://127.0.0.1:8000/blobs/batches/b1/references.jsonl?sp=r&se=1733383600&sig="));
/// let query = url.split_once('?').unwrap().1;
/// assert_eq!(signer.verify_query(&key, query, now), Ok(Permission::Read));
/// ```
#[derive(Clone)]
pub struct UrlSigner {
    /// The HMAC key; never printed.
    key: [u8; KEY_LEN],
    /// Prefix of signed URLs (scheme, host, port), without a trailing `/`.
    public_base: String,
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlSigner")
            .field("key", &"***")
            .field("public_base", &self.public_base)
            .finish()
    }
}

impl UrlSigner {
    /// A signer with this key and an empty public base (URLs start with `/blobs/`).
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        Self {
            key,
            public_base: String::new(),
        }
    }

    /// A signer with a fresh random key (not persisted).
    ///
    /// # Errors
    /// When the OS random source fails.
    pub fn random() -> io::Result<Self> {
        Ok(Self::new(random_key()?))
    }

    /// Loads the key from `<blob_root>/.signing-key`, creating the directory and a new
    /// random key (file mode 0600) if there is none, so URLs survive restarts.
    ///
    /// # Errors
    ///
    /// [`SigningKeyError::Io`] when the file cannot be read or written,
    /// [`SigningKeyError::Corrupt`] when it does not hold 32 bytes.
    pub fn load_or_create(blob_root: impl AsRef<Path>) -> Result<Self, SigningKeyError> {
        let root = blob_root.as_ref();
        let path = root.join(SIGNING_KEY_FILE);
        let io_err = |source| SigningKeyError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(root).map_err(io_err)?;
        match read_key(&path) {
            Ok(key) => return Ok(Self::new(key)),
            Err(SigningKeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            }
            Err(e) => return Err(e),
        }
        // Write a complete key under a temporary name, then link it into place: the link
        // fails if another process won the race, and then both use the winner's key.
        let temp = root.join(format!(
            ".signing-key.{}.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        let key = random_key().map_err(io_err)?;
        let written = write_private(&temp, &key).and_then(|()| std::fs::hard_link(&temp, &path));
        let _ = std::fs::remove_file(&temp);
        match written {
            Ok(()) => Ok(Self::new(key)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Self::new(read_key(&path)?)),
            Err(e) => Err(io_err(e)),
        }
    }

    /// A signer whose key comes from configuration (`--url-signing-key`), so that every
    /// instance given the same text signs and accepts the same URLs. The key is the
    /// SHA-256 of the text: any text works, and a long random one is as strong as the
    /// hash.
    ///
    /// ```
    /// use destiny_repository::blob::UrlSigner;
    /// let a = UrlSigner::from_secret("shared by every instance");
    /// let b = UrlSigner::from_secret("shared by every instance");
    /// let key = destiny_repository::blob::BlobKey::new("k").unwrap();
    /// let now = jiff::Timestamp::from_second(1_733_380_000).unwrap();
    /// let url = a.sign_query(&key, destiny_repository::blob::Permission::Read, 1_733_383_600);
    /// assert!(b.verify_query(&key, &url, now).is_ok());
    /// assert!(UrlSigner::from_secret("another").verify_query(&key, &url, now).is_err());
    /// ```
    pub fn from_secret(secret: &str) -> Self {
        use sha2::Digest;
        Self::new(sha2::Sha256::digest(secret.as_bytes()).into())
    }

    /// Sets the prefix of signed URLs, e.g. `http://127.0.0.1:8000` (a trailing `/` is
    /// dropped). The blob router must be mounted at the root of that base.
    #[must_use]
    pub fn with_public_base(mut self, base: impl Into<String>) -> Self {
        self.public_base = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// The prefix of signed URLs.
    pub fn public_base(&self) -> &str {
        &self.public_base
    }

    /// A URL granting `permission` on `key` until `now + ttl`.
    pub fn sign(
        &self,
        key: &BlobKey,
        permission: Permission,
        ttl: Duration,
        now: Timestamp,
    ) -> String {
        let query = self.sign_query(key, permission, expiry(now, ttl));
        format!("{}/blobs/{key}?{query}", self.public_base)
    }

    /// The query string `sp=..&se=..&sig=..` granting `permission` on `key` until
    /// `expires_at` (Unix seconds).
    pub fn sign_query(&self, key: &BlobKey, permission: Permission, expires_at: i64) -> String {
        let sp = permission.as_sp();
        let se = expires_at.to_string();
        let sig = hex::encode(self.mac(sp, &se, key).finalize().into_bytes());
        format!("sp={sp}&se={se}&sig={sig}")
    }

    /// Checks a raw query string (without `?`); see [`verify`](Self::verify).
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), plus [`BlobAuthError::MalformedQuery`].
    pub fn verify_query(
        &self,
        key: &BlobKey,
        query: &str,
        now: Timestamp,
    ) -> Result<Permission, BlobAuthError> {
        self.verify(key, &SignedQuery::parse(query)?, now)
    }

    /// Checks that `query` signs `key` and has not expired at `now`; returns the permission
    /// it grants. Checks, in order: parameters present, expiry well formed, signature
    /// (constant-time), expiry.
    ///
    /// # Errors
    ///
    /// The first [`BlobAuthError`] found.
    pub fn verify(
        &self,
        key: &BlobKey,
        query: &SignedQuery,
        now: Timestamp,
    ) -> Result<Permission, BlobAuthError> {
        let sp = query.sp.as_deref().ok_or(BlobAuthError::Missing("sp"))?;
        let se = query.se.as_deref().ok_or(BlobAuthError::Missing("se"))?;
        let sig = query.sig.as_deref().ok_or(BlobAuthError::Missing("sig"))?;
        let expires_at: i64 = se.parse().map_err(|_| BlobAuthError::MalformedExpiry)?;
        let expected = hex::encode(self.mac(sp, se, key).finalize().into_bytes());
        if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
            return Err(BlobAuthError::InvalidSignature);
        }
        if now.as_second() > expires_at {
            return Err(BlobAuthError::Expired);
        }
        // Only this server signs, and it signs only `r` or `w`.
        Permission::from_sp(sp).ok_or(BlobAuthError::InvalidSignature)
    }

    /// Like [`verify`](Self::verify), and also requires `needed`.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), plus [`BlobAuthError::WrongPermission`].
    pub fn authorize(
        &self,
        key: &BlobKey,
        query: &SignedQuery,
        needed: Permission,
        now: Timestamp,
    ) -> Result<(), BlobAuthError> {
        match self.verify(key, query, now)? {
            granted if granted == needed => Ok(()),
            _ => Err(BlobAuthError::WrongPermission(needed)),
        }
    }

    fn mac(&self, sp: &str, se: &str, key: &BlobKey) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(format!("{sp}\n{se}\n{key}").as_bytes());
        mac
    }
}

/// `now + ttl` in Unix seconds, saturating.
fn expiry(now: Timestamp, ttl: Duration) -> i64 {
    now.as_second()
        .saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
}

fn random_key() -> io::Result<[u8; KEY_LEN]> {
    crate::random::bytes()
}

fn read_key(path: &Path) -> Result<[u8; KEY_LEN], SigningKeyError> {
    let mut bytes = Vec::with_capacity(KEY_LEN + 1);
    std::fs::File::open(path)
        .and_then(|f| f.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes))
        .map_err(|source| SigningKeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    bytes
        .try_into()
        .map_err(|_| SigningKeyError::Corrupt(path.to_path_buf()))
}

fn write_private(path: &Path, key: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(key)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn query(url: &str) -> &str {
        url.split_once('?').unwrap().1
    }

    const NOW: i64 = 1_733_380_000;

    #[test]
    fn signature_is_hmac_sha256_of_permission_expiry_and_key() {
        let signer = UrlSigner::new([1; 32]);
        let key = BlobKey::new("a/b.jsonl").unwrap();
        let q = signer.sign_query(&key, Permission::Write, 1_700_000_000);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[1; 32]).unwrap();
        mac.update(b"w\n1700000000\na/b.jsonl");
        let sig = hex::encode(mac.finalize().into_bytes());
        assert_eq!(sig.len(), 64);
        assert_eq!(q, format!("sp=w&se=1700000000&sig={sig}"));
    }

    #[test]
    fn valid_until_the_expiry_second() {
        let signer = UrlSigner::new([2; 32]);
        let key = BlobKey::new("k").unwrap();
        let url = signer.sign(&key, Permission::Read, DEFAULT_URL_TTL, at(NOW));
        assert!(url.starts_with(&format!("/blobs/k?sp=r&se={}&", NOW + 3600)));
        let q = query(&url);
        assert_eq!(
            signer.verify_query(&key, q, at(NOW + 3600)),
            Ok(Permission::Read)
        );
        assert_eq!(
            signer.verify_query(&key, q, at(NOW + 3601)),
            Err(BlobAuthError::Expired)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let signer = UrlSigner::new([3; 32]);
        let key = BlobKey::new("k").unwrap();
        let good = signer.sign_query(&key, Permission::Read, NOW + 10);
        let flip_last = {
            let mut s = good.clone();
            let last = s.pop().unwrap();
            s.push(if last == '0' { '1' } else { '0' });
            s
        };
        let cases = [
            (
                good.replace("sp=r", "sp=w"),
                BlobAuthError::InvalidSignature,
            ),
            (
                good.replace(&format!("se={}", NOW + 10), &format!("se={}", NOW + 99_999)),
                BlobAuthError::InvalidSignature,
            ),
            (flip_last, BlobAuthError::InvalidSignature),
            (good.replace("se=", "se=x"), BlobAuthError::MalformedExpiry),
            ("sp=r&se=1".to_owned(), BlobAuthError::Missing("sig")),
            (String::new(), BlobAuthError::Missing("sp")),
        ];
        for (q, expected) in cases {
            assert_eq!(signer.verify_query(&key, &q, at(NOW)), Err(expected), "{q}");
        }
        let other = BlobKey::new("other").unwrap();
        assert_eq!(
            signer.verify_query(&other, &good, at(NOW)),
            Err(BlobAuthError::InvalidSignature)
        );
        let stranger = UrlSigner::new([4; 32]);
        assert_eq!(
            stranger.verify_query(&key, &good, at(NOW)),
            Err(BlobAuthError::InvalidSignature)
        );
    }

    #[test]
    fn permissions_are_separate() {
        let signer = UrlSigner::new([5; 32]);
        let key = BlobKey::new("k").unwrap();
        let read = SignedQuery::parse(&signer.sign_query(&key, Permission::Read, NOW + 5)).unwrap();
        assert_eq!(
            signer.authorize(&key, &read, Permission::Read, at(NOW)),
            Ok(())
        );
        let err = signer
            .authorize(&key, &read, Permission::Write, at(NOW))
            .unwrap_err();
        assert_eq!(err, BlobAuthError::WrongPermission(Permission::Write));
        assert_eq!(err.to_string(), "URL does not grant write permission.");
    }

    #[test]
    fn key_file_persists_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let first = UrlSigner::load_or_create(&root).unwrap();
        let second = UrlSigner::load_or_create(&root).unwrap();
        assert_eq!(first.key, second.key);
        assert_ne!(first.key, [0; 32]);
        let path = root.join(SIGNING_KEY_FILE);
        assert_eq!(std::fs::read(&path).unwrap(), first.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the key file is left behind.
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            UrlSigner::load_or_create(&root),
            Err(SigningKeyError::Corrupt(_))
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let text = format!("{:?}", UrlSigner::new([0xab; 32]));
        assert!(text.contains("***") && !text.contains("171"), "{text}");
    }
}
