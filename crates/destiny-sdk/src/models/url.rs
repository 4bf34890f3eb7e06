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
/// assert!("http://a:99999/".parse::<HttpUrl>().is_err());
/// assert!("http://[::1]:8000/x".parse::<HttpUrl>().is_ok());
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
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        check_host_port(host_port).map_err(|why| format!("{why}: {s:?}"))?;
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

/// Checks `host[:port]` as pydantic's URL parser would: a bracketed IPv6 address or a
/// host name of letters (any script), digits, `-`, `_` and `.`; a port of at most 65535.
fn check_host_port(host_port: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or("URL has an unclosed IPv6 address")?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "URL has an invalid IPv6 address")?;
        match after {
            "" => return Ok(()),
            _ => (
                "",
                after
                    .strip_prefix(':')
                    .ok_or("URL has text after its IPv6 address")?,
            ),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (host_port, ""),
        }
    };
    if !port.is_empty()
        && (!port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u32>().map_or(true, |p| p > 65535))
    {
        return Err("URL has an invalid port");
    }
    if host_port.starts_with('[') {
        return Ok(());
    }
    if host.is_empty() {
        return Err("URL has no host");
    }
    let valid = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | '.')
            || (!c.is_ascii() && c.is_alphanumeric())
    };
    if !host.chars().all(valid) {
        return Err("URL has an invalid host");
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::HttpUrl;

    #[test]
    fn hosts_and_ports_as_pydantic_checks_them() {
        for ok in [
            "https://example.org",
            "http://127.0.0.1:8000/blobs/a?sp=r&se=1&sig=ab",
            "http://user:pw@example.org:443/",
            "http://[::1]/",
            "http://[2001:db8::1]:8080/p",
            "https://exämple.org/ü",
            "http://a_b.example/",
        ] {
            assert!(ok.parse::<HttpUrl>().is_ok(), "{ok}");
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
            "http:///x",
            "mailto:a@b.org",
        ] {
            assert!(bad.parse::<HttpUrl>().is_err(), "{bad}");
        }
    }
}
