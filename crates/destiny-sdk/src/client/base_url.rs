//! The Python SDK's base URL rule: strip one trailing `/`, then one trailing `/v1`,
//! then append `/v1`.

use super::ClientError;

/// Normalises `base_url` to the API root (ending in `/v1`, no trailing slash) and checks
/// that it is an absolute `http(s)` URL with a host and no query or fragment.
///
/// `http://h`, `http://h/`, `http://h/v1` and `http://h/v1/` all give `http://h/v1`;
/// `http://h/api/v1` stays as it is.
pub(crate) fn normalize(base_url: &str) -> Result<String, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidBaseUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or a fragment"));
    }
    let trimmed = base_url.strip_suffix('/').unwrap_or(base_url);
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let normalized = format!("{trimmed}/v1");
    reqwest::Url::parse(&normalized).map_err(|e| invalid(&e.to_string()))?;
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        for (given, want) in [
            ("http://h", "http://h/v1"),
            ("http://h/", "http://h/v1"),
            ("http://h/v1", "http://h/v1"),
            ("http://h/v1/", "http://h/v1"),
            ("http://h/api/v1", "http://h/api/v1"),
            ("http://h/api/v1/", "http://h/api/v1"),
            ("http://h/api", "http://h/api/v1"),
            ("https://h:8443/v1", "https://h:8443/v1"),
            // One slash and one /v1 are stripped, as in Python.
            ("http://h/v1/v1", "http://h/v1/v1"),
            ("http://h//", "http://h//v1"),
        ] {
            assert_eq!(normalize(given).ok().as_deref(), Some(want), "{given}");
        }
        for bad in [
            "",
            "h",
            "ftp://h/",
            "http://",
            "http://h/?a=b",
            "http://h/#x",
            "not a url",
        ] {
            assert!(
                matches!(normalize(bad), Err(ClientError::InvalidBaseUrl { .. })),
                "{bad}"
            );
        }
    }
}
