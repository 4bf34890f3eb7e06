//! `HttpUrl`: an absolute `http`/`https` URL, read and written as pydantic's `HttpUrl`.

use serde::Serialize;

/// An absolute `http://` or `https://` URL, normalised as pydantic's `HttpUrl` normalises
/// it: WHATWG URL parsing and serialisation by the `url` crate, which pydantic itself
/// uses (lowercase scheme and host, punycode, percent-encoding where the standard asks
/// for it, `/` for an empty path); at most 2083 characters.
///
/// ```
/// use destiny_sdk::models::HttpUrl;
/// let url: HttpUrl = "https://example.org/a?b=c".parse().unwrap();
/// assert_eq!(url.as_str(), "https://example.org/a?b=c");
/// assert_eq!("https://Exämple.ORG".parse::<HttpUrl>().unwrap().as_str(), "https://xn--exmple-cua.org/");
/// assert!("ftp://example.org/".parse::<HttpUrl>().is_err());
/// assert!("http://a:99999/".parse::<HttpUrl>().is_err());
/// assert!("http://[::1]:8000/x".parse::<HttpUrl>().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

/// pydantic's `HttpUrl` length limit.
const MAX_URL_CHARS: usize = 2083;

super::text::text_impls!(HttpUrl, "The URL text.", Debug Display Deserialize);

/// What pydantic's `HttpUrl` makes of `s`, as text.
pub(crate) fn normalise(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("Input should be a valid URL, input is empty".to_owned());
    }
    if s.chars().count() > MAX_URL_CHARS {
        return Err(format!(
            "URL should have at most {MAX_URL_CHARS} characters"
        ));
    }
    let url = url::Url::parse(s).map_err(|e| format!("Input should be a valid URL, {e}: {s:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("URL scheme should be 'http' or 'https': {s:?}"));
    }
    Ok(url.into())
}

impl std::str::FromStr for HttpUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        normalise(s).map(Self)
    }
}

impl AsRef<str> for HttpUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::HttpUrl;

    /// Each case as pydantic 2.14 (destiny-sdk 0.17.6's) reads it.
    #[test]
    fn reads_as_pydantic() {
        for (input, written) in [
            (
                "http://127.0.0.1:8000/blobs/a?sp=r&se=1&sig=ab",
                "http://127.0.0.1:8000/blobs/a?sp=r&se=1&sig=ab",
            ),
            ("http:///x", "http://x/"),
            ("http://a_b.example/", "http://a_b.example/"),
            ("https://exämple.org/ü", "https://xn--exmple-cua.org/%C3%BC"),
            (
                "http://user:pw@example.org:443/",
                "http://user:pw@example.org:443/",
            ),
            (" http://a.org", "http://a.org/"),
            ("http://a.org/ x", "http://a.org/%20x"),
        ] {
            let url: HttpUrl = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(url.as_str(), written, "{input}");
        }
        for bad in [
            "https://eopenalex:topic",
            "http://a:99999/",
            "http://[::1/",
            "http://[zz]/",
            "http://example\u{FFFD}org/p.pdf",
            "http://a%zz.org/",
            "http://exa<mple.org/",
            "http://:80/",
            "mailto:a@b.org",
            "",
        ] {
            assert!(bad.parse::<HttpUrl>().is_err(), "{bad}");
        }
    }
}
