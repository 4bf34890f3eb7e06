//! `HttpUrl`: an absolute `http`/`https` URL, as pydantic's `HttpUrl` requires.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// An absolute `http://` or `https://` URL with a host, kept as the text it was given.
///
/// ```
/// use destiny_sdk::models::HttpUrl;
/// let url: HttpUrl = "https://example.org/a?b=c".parse().unwrap();
/// assert_eq!(url.as_str(), "https://example.org/a?b=c");
/// assert!("ftp://example.org/".parse::<HttpUrl>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        let rest = if lower.starts_with("https://") {
            &s[8..]
        } else if lower.starts_with("http://") {
            &s[7..]
        } else {
            return Err(format!("URL scheme should be 'http' or 'https': {s:?}"));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(format!("URL has no host: {s:?}"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "URL contains whitespace or control characters: {s:?}"
            ));
        }
        if s.len() > 2083 {
            return Err("URL should have at most 2083 characters".to_owned());
        }
        Ok(Self(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(de)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for HttpUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
