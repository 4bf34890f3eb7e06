//! [`BlobLocation`]: where `destiny serve --blob-store URL` keeps its files.
//!
//! `file://DIR` (or a bare directory, as `--blob-dir` takes it), `az://CONTAINER[/PREFIX]`
//! (Azure Blob Storage) or `s3://BUCKET[/PREFIX]` (S3 or a service speaking its API).
//! Credentials and endpoints never appear here: they come from the variables the
//! `object_store` crate reads (see [`super::object`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where blobs live.
///
/// ```
/// use destiny_repository::config::BlobLocation;
/// let az: BlobLocation = "az://results/destiny".parse().unwrap();
/// assert_eq!(az, BlobLocation::Azure { container: "results".into(), prefix: "destiny".into() });
/// let dir: BlobLocation = "file://blobs".parse().unwrap();
/// assert_eq!(dir, BlobLocation::File("blobs".into()));
/// assert!("gs://bucket".parse::<BlobLocation>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// Files in a local directory, served by this server behind its own signed URLs.
    File(PathBuf),
    /// An Azure Blob Storage container; robots get service SAS URLs on the blob service.
    Azure {
        /// The container.
        container: String,
        /// A folder inside it (no leading or trailing `/`), or empty.
        prefix: String,
    },
    /// An S3 bucket; robots get presigned URLs.
    S3 {
        /// The bucket.
        bucket: String,
        /// A folder inside it (no leading or trailing `/`), or empty.
        prefix: String,
    },
}

/// A `--blob-store` value that names no known store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobLocationError {
    /// A scheme other than `file`, `az` or `s3`.
    #[error("unknown blob store scheme {0:?}: use file://DIR, az://CONTAINER[/PREFIX] or s3://BUCKET[/PREFIX]")]
    UnknownScheme(String),
    /// `az://` or `s3://` without a container or bucket, or `file://` without a directory.
    #[error("{0} needs a name after the scheme")]
    MissingName(String),
}

impl FromStr for BlobLocation {
    type Err = BlobLocationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = s.split_once("://") else {
            // A bare directory, as `--blob-dir` has always taken it.
            return if s.is_empty() {
                Err(BlobLocationError::MissingName("file://".into()))
            } else {
                Ok(Self::File(PathBuf::from(s)))
            };
        };
        let (name, prefix) = match rest.split_once('/') {
            Some((name, prefix)) => (name, prefix.trim_matches('/')),
            None => (rest, ""),
        };
        match scheme {
            "file" if rest.is_empty() => Err(BlobLocationError::MissingName(s.into())),
            "file" => Ok(Self::File(PathBuf::from(rest))),
            "az" | "s3" if name.is_empty() => Err(BlobLocationError::MissingName(s.into())),
            "az" => Ok(Self::Azure {
                container: name.into(),
                prefix: prefix.into(),
            }),
            "s3" => Ok(Self::S3 {
                bucket: name.into(),
                prefix: prefix.into(),
            }),
            other => Err(BlobLocationError::UnknownScheme(other.into())),
        }
    }
}

impl fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, name, prefix) = match self {
            Self::File(dir) => return write!(f, "file://{}", dir.display()),
            Self::Azure { container, prefix } => ("az", container, prefix),
            Self::S3 { bucket, prefix } => ("s3", bucket, prefix),
        };
        if prefix.is_empty() {
            write!(f, "{scheme}://{name}")
        } else {
            write!(f, "{scheme}://{name}/{prefix}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme_and_round_trips() {
        for text in ["az://c", "az://c/a/b", "s3://b", "s3://b/p", "file:///tmp/x"] {
            let parsed: BlobLocation = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(
            "s3://b/p/".parse::<BlobLocation>().unwrap(),
            BlobLocation::S3 {
                bucket: "b".into(),
                prefix: "p".into()
            }
        );
        assert_eq!(
            "dir".parse::<BlobLocation>().unwrap(),
            BlobLocation::File("dir".into())
        );
        assert!(matches!(
            "az://".parse::<BlobLocation>(),
            Err(BlobLocationError::MissingName(_))
        ));
        assert!(matches!(
            "ftp://x".parse::<BlobLocation>(),
            Err(BlobLocationError::UnknownScheme(_))
        ));
    }
}
