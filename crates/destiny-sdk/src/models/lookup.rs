//! [`IdentifierLookup`]: one identifier as a reference lookup names it in a query string
//! (`GET /v1/references/?identifier=doi:10.1000/abc`), parsed and written as SDK 0.17.6's
//! `IdentifierLookup.parse` / `serialize` do, error texts included, since the repository
//! answers those texts.

use std::fmt;
use std::str::FromStr;

use super::identifiers::ExternalIdentifierType;
use super::ids;

/// A reference lookup: a DESTINY id (no type), or an external identifier's type and value
/// (and, for `other`, its name). The value is kept as written: a lookup compares it with
/// the stored identifiers as it is.
///
/// ```
/// use destiny_sdk::models::{ExternalIdentifierType, IdentifierLookup};
/// let l: IdentifierLookup = "other:isbn:978-1-234".parse().unwrap();
/// assert_eq!(l.identifier_type, Some(ExternalIdentifierType::Other));
/// assert_eq!(l.other_identifier_name.as_deref(), Some("isbn"));
/// assert_eq!(l.identifier, "978-1-234");
/// assert_eq!(l.to_string(), "other:isbn:978-1-234");
/// let err = "isbn:1".parse::<IdentifierLookup>().unwrap_err();
/// assert_eq!(err, "Invalid identifier lookup string: isbn:1. Unknown identifier type: isbn.");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifierLookup {
    /// The identifier's value (a UUID when `identifier_type` is `None`).
    pub identifier: String,
    /// The identifier's type; `None` for a DESTINY reference id.
    pub identifier_type: Option<ExternalIdentifierType>,
    /// The name of an `other` identifier.
    pub other_identifier_name: Option<String>,
}

/// The delimiter between a lookup's parts.
const DELIMITER: char = ':';

impl FromStr for IdentifierLookup {
    type Err = String;

    /// Parses `UUID`, `TYPE:VALUE` or `other:NAME:VALUE`. The type must be written exactly
    /// as the SDK's enum values are (lowercase); nothing is trimmed or normalised.
    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = |why: String| format!("Invalid identifier lookup string: {text}. {why}");
        let Some((kind, rest)) = text.split_once(DELIMITER) else {
            return match ids::parse(text) {
                Ok(_) => Ok(Self {
                    identifier: text.to_owned(),
                    identifier_type: None,
                    other_identifier_name: None,
                }),
                Err(_) => Err(invalid(
                    "Must be UUID if no identifier type is specified.".into(),
                )),
            };
        };
        let identifier_type = ExternalIdentifierType::ALL
            .into_iter()
            .find(|t| t.as_str() == kind)
            .ok_or_else(|| invalid(format!("Unknown identifier type: {kind}.")))?;
        if identifier_type == ExternalIdentifierType::Other {
            let (name, value) = rest.split_once(DELIMITER).ok_or_else(|| {
                invalid("Other identifier type must include other identifier name.".into())
            })?;
            return Ok(Self {
                identifier: value.to_owned(),
                identifier_type: Some(identifier_type),
                other_identifier_name: Some(name.to_owned()),
            });
        }
        Ok(Self {
            identifier: rest.to_owned(),
            identifier_type: Some(identifier_type),
            other_identifier_name: None,
        })
    }
}

impl fmt::Display for IdentifierLookup {
    /// The lookup string `parse` reads back (the SDK's `serialize`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.identifier_type, &self.other_identifier_name) {
            (None, _) => f.write_str(&self.identifier),
            (Some(ExternalIdentifierType::Other), name) => write!(
                f,
                "other:{}:{}",
                name.as_deref().unwrap_or("None"),
                self.identifier
            ),
            (Some(t), _) => write!(f, "{}:{}", t.as_str(), self.identifier),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a lookup parses to: type, `other` name, value; or the error text.
    type Parsed = Result<(Option<&'static str>, Option<&'static str>, &'static str), &'static str>;

    #[rustfmt::skip]
    const CASES: &[(&str, Parsed)] = &[
        ("02e376ee-8374-4a8c-997f-9a813bc5b8f8", Ok((None, None, "02e376ee-8374-4a8c-997f-9a813bc5b8f8"))),
        ("019b0000-0000-7000-8000-000000000000", Ok((None, None, "019b0000-0000-7000-8000-000000000000"))),
        ("02e376ee-8374-1a8c-997f-9a813bc5b8f8", Err("Invalid identifier lookup string: 02e376ee-8374-1a8c-997f-9a813bc5b8f8. Must be UUID if no identifier type is specified.")),
        ("W42", Err("Invalid identifier lookup string: W42. Must be UUID if no identifier type is specified.")),
        ("", Err("Invalid identifier lookup string: . Must be UUID if no identifier type is specified.")),
        ("doi:10.1000/abc", Ok((Some("doi"), None, "10.1000/abc"))),
        ("doi:", Ok((Some("doi"), None, ""))),
        ("url:https://a.org/x", Ok((Some("url"), None, "https://a.org/x"))),
        ("pm_id:123456", Ok((Some("pm_id"), None, "123456"))),
        ("open_alex:W98765", Ok((Some("open_alex"), None, "W98765"))),
        ("other:isbn:978:1", Ok((Some("other"), Some("isbn"), "978:1"))),
        ("other:isbn", Err("Invalid identifier lookup string: other:isbn. Other identifier type must include other identifier name.")),
        ("DOI:10.1000/abc", Err("Invalid identifier lookup string: DOI:10.1000/abc. Unknown identifier type: DOI.")),
        (" doi:10.1000/abc", Err("Invalid identifier lookup string:  doi:10.1000/abc. Unknown identifier type:  doi.")),
    ];

    #[test]
    fn lookups_parse_and_fail_as_the_sdk_parses_them() {
        for (text, want) in CASES {
            let got = text.parse::<IdentifierLookup>();
            match (want, &got) {
                (Ok((kind, name, value)), Ok(l)) => {
                    assert_eq!(l.identifier_type.map(|t| t.as_str()), *kind, "{text}");
                    assert_eq!(l.other_identifier_name.as_deref(), *name, "{text}");
                    assert_eq!(l.identifier, *value, "{text}");
                    assert_eq!(l.to_string(), *text, "written back");
                }
                (Err(msg), Err(e)) => assert_eq!(e, msg),
                _ => panic!("{text}: want {want:?}, got {got:?}"),
            }
        }
    }
}
