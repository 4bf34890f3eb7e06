//! External identifiers of a reference (DOI, ERIC, PubMed, ProQuest, OpenAlex, URL,
//! other), tagged by `identifier_type`, with the Python SDK's clean-up and patterns
//! (SDK 0.17.6's where it changed them).

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use uuid::Uuid;

use super::tagged;
use super::{ids, lax};

/// Defines a validated string newtype: `FromStr` cleans and checks (or parses, for a
/// type whose canonical form comes out of parsing), serde goes through it.
macro_rules! identifier_newtype {
    ($(#[$doc:meta])* $name:ident, $clean:path, $check:path) => {
        identifier_newtype!($(#[$doc])* $name, parse = |s: &str| {
            let cleaned: Cow<'_, str> = $clean(s).into();
            $check(&cleaned).map(|()| cleaned.into_owned())
        });
    };
    ($(#[$doc:meta])* $name:ident, parse = $parse:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        super::text::text_impls!(
            $name,
            "The identifier text, after clean-up.",
            Debug Display Deserialize
        );

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                let parse: fn(&str) -> Result<String, String> = $parse;
                parse(s).map(Self)
            }
        }
    };
}

/// Python's `str.isspace()` (also `\s` in its `re`): Unicode whitespace plus the
/// separators U+001C to U+001F, which Python counts as whitespace and Rust does not.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `\d` as pydantic's patterns read it: any Unicode decimal digit (general category Nd),
/// not only ASCII. pydantic matches patterns with the `regex` crate; the same crate
/// decides here, asked only for non-ASCII characters.
fn is_pattern_digit(c: char) -> bool {
    static UNICODE_DIGIT: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^\d$").expect("a valid pattern"));
    c.is_ascii_digit() || (!c.is_ascii() && UNICODE_DIGIT.is_match(c.encode_utf8(&mut [0; 4])))
}

/// Python's `str.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// Removes `prefix` (ASCII, lowercase) from the start of `s`, ignoring case as Python's
/// `re.IGNORECASE` does for these letters (`ſ` matches `s`; `ı` and `İ` match `i`).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let mut chars = s.chars();
    for p in prefix.chars() {
        let c = chars.next()?;
        let same = c.to_ascii_lowercase() == p
            || (p == 's' && c == '\u{17f}')
            || (p == 'i' && matches!(c, '\u{130}' | '\u{131}'));
        if !same {
            return None;
        }
    }
    Some(chars.as_str())
}

/// `^(?:https?://)?(?:dx\.)?doi\.org/`, case-insensitive, removed once.
fn strip_doi_url(s: &str) -> &str {
    for scheme in ["https://", "http://", ""] {
        let Some(rest) = strip_prefix_ignore_case(s, scheme) else {
            continue;
        };
        let rest = strip_prefix_ignore_case(rest, "dx.").unwrap_or(rest);
        if let Some(doi) = strip_prefix_ignore_case(rest, "doi.org/") {
            return doi;
        }
    }
    s
}

/// Removes each prefix in turn (once each, in order), then trims whitespace, as the
/// Python SDK's `removeprefix(...).strip()` chains do.
fn strip_prefixes<'a>(mut s: &'a str, prefixes: &[&str]) -> &'a str {
    for p in prefixes {
        s = s.strip_prefix(p).unwrap_or(s);
    }
    s
}

/// SDK 0.17.6's `canonicalize_doi`: Unicode NFC; no-break space to space and U+2010 to
/// `-`; strip; one case-insensitive `https?://(dx.)?doi.org/` prefix and then `doi:` with
/// the spaces after it removed; strip; lowercase (DOIs are stored lowercase).
fn clean_doi(s: &str) -> String {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    // Each step borrows when it changes nothing (most DOIs are canonical already), so
    // the usual cost is the one copy the identifier is kept in.
    // ASCII text is NFC and holds neither character the mapping replaces.
    let nfc: Cow<'_, str> = if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    };
    let mapped: Cow<'_, str> = if !nfc.is_ascii() && nfc.contains(['\u{a0}', '\u{2010}']) {
        Cow::Owned(nfc.replace('\u{a0}', " ").replace('\u{2010}', "-"))
    } else {
        nfc
    };
    let mut doi = strip_doi_url(py_strip(&mapped));
    if let Some(rest) = strip_prefix_ignore_case(doi, "doi:") {
        doi = rest.trim_start_matches(py_space);
    }
    let doi = py_strip(doi);
    let lowercase = if doi.is_ascii() {
        !doi.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        doi.chars().flat_map(char::to_lowercase).eq(doi.chars())
    };
    if lowercase {
        doi.to_owned()
    } else {
        doi.to_lowercase()
    }
}

fn clean_eric(s: &str) -> &str {
    let s = strip_prefixes(
        s,
        &[
            "http://",
            "https://",
            "eric.ed.gov/?id=",
            "files.eric.ed.gov/fulltext/",
        ],
    );
    py_strip(s.strip_suffix(".pdf").unwrap_or(s))
}

fn clean_pro_quest(s: &str) -> &str {
    py_strip(strip_prefixes(
        s,
        &[
            "http://",
            "https://",
            "search.proquest.com/",
            "www.proquest.com/",
            "docview/",
        ],
    ))
}

fn clean_open_alex(s: &str) -> &str {
    py_strip(strip_prefixes(
        s,
        &[
            "http://",
            "https://",
            "openalex.org/",
            "explore.openalex.org/",
            "works/",
        ],
    ))
}

/// `^10\.\d{4,9}/\S+$` (SDK 0.17.6; pydantic's regex engine reads `\S` as any character
/// that is not Unicode whitespace, which is Rust's `char::is_whitespace`, and `\d` as any
/// Unicode decimal digit).
fn check_doi(s: &str) -> Result<(), String> {
    let fail = || {
        Err(format!(
            "string should match the DOI pattern 10.NNNN/suffix, got {s:?}"
        ))
    };
    let Some(rest) = s.strip_prefix("10.") else {
        return fail();
    };
    let digits = rest.chars().take_while(|&c| is_pattern_digit(c)).count();
    if !(4..=9).contains(&digits) {
        return fail();
    }
    let digits_len: usize = rest.chars().take(digits).map(char::len_utf8).sum();
    let Some(suffix) = rest[digits_len..].strip_prefix('/') else {
        return fail();
    };
    if !suffix.is_empty() && !suffix.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        fail()
    }
}

/// `E[D|J][0-9]+$`, searched (not anchored at the start) as pydantic's patterns are.
fn check_eric(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let at = b.len() - digits;
    if digits > 0 && at >= 2 && b"D|J".contains(&b[at - 1]) && b[at - 2] == b'E' {
        Ok(())
    } else {
        Err(format!(
            "string should match the ERIC pattern ED or EJ followed by digits, got {s:?}"
        ))
    }
}

/// `[0-9]+$`, searched: the text ends in a digit.
fn check_pro_quest(s: &str) -> Result<(), String> {
    if s.as_bytes().last().is_some_and(u8::is_ascii_digit) {
        Ok(())
    } else {
        Err(format!(
            "string should match the ProQuest pattern [0-9]+$, got {s:?}"
        ))
    }
}

/// `^W\d+$`
fn check_open_alex(s: &str) -> Result<(), String> {
    match s.strip_prefix('W') {
        Some(d) if !d.is_empty() && d.chars().all(is_pattern_digit) => Ok(()),
        _ => Err(format!(
            "string should match the OpenAlex pattern ^W\\d+$, got {s:?}"
        )),
    }
}

identifier_newtype!(
    /// A DOI such as `10.1234/abc`, canonicalised as SDK 0.17.6 does: `https://doi.org/`
    /// and `doi:` prefixes removed (any case), Unicode NFC, lowercase; the suffix is any
    /// text without whitespace.
    ///
    /// ```
    /// use destiny_sdk::models::Doi;
    /// let doi: Doi = "https://doi.org/10.1234/ABC".parse().unwrap();
    /// assert_eq!(doi.as_str(), "10.1234/abc");
    /// assert_eq!("DOI: 10.18730/9WQ$D".parse::<Doi>().unwrap().as_str(), "10.18730/9wq$d");
    /// assert!("10.1000/édition".parse::<Doi>().is_ok());
    /// assert!("10.12/x".parse::<Doi>().is_err());
    /// assert!("10.1234/a b".parse::<Doi>().is_err());
    /// ```
    Doi, clean_doi, check_doi
);
identifier_newtype!(
    /// An ERIC number such as `EJ123456`.
    EricNumber, clean_eric, check_eric
);
identifier_newtype!(
    /// A ProQuest document id (digits; `https://www.proquest.com/docview/` removed).
    ProQuestId, clean_pro_quest, check_pro_quest
);
identifier_newtype!(
    /// An OpenAlex work id such as `W4411634280` (`https://openalex.org/` removed).
    OpenAlexId, clean_open_alex, check_open_alex
);

/// SDK 0.17.6's `canonicalize_url`: stripped, then what pydantic's `HttpUrl` makes of it.
fn parse_document_url(s: &str) -> Result<String, String> {
    super::url::normalise(py_strip(s))
}

identifier_newtype!(
    /// The web address of a document (`identifier_type: "url"`, SDK 0.17.6), canonicalised
    /// as far as pydantic's `HttpUrl` goes and no further: surrounding whitespace removed,
    /// then WHATWG URL parsing and serialisation (the `url` crate, which pydantic itself
    /// uses: lowercase scheme and host, punycode, percent-encoding, `/` for an empty path);
    /// `http` or `https` only; at most 2083 characters.
    ///
    /// ```
    /// use destiny_sdk::models::DocumentUrl;
    /// let url: DocumentUrl = " https://Example.COM/a b?x=1".parse().unwrap();
    /// assert_eq!(url.as_str(), "https://example.com/a%20b?x=1");
    /// assert_eq!("http://a.org".parse::<DocumentUrl>().unwrap().as_str(), "http://a.org/");
    /// assert!("ftp://a.org/x".parse::<DocumentUrl>().is_err());
    /// assert!("example.com/x".parse::<DocumentUrl>().is_err());
    /// ```
    DocumentUrl, parse = parse_document_url
);

/// The identifier kinds (`identifier_type`) of SDK 0.17.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalIdentifierType {
    /// Digital Object Identifier.
    Doi,
    /// Education Resources Information Center number.
    Eric,
    /// PubMed id.
    PmId,
    /// ProQuest id.
    ProQuest,
    /// OpenAlex work id.
    OpenAlex,
    /// The web address of the document (SDK 0.17.6).
    Url,
    /// Anything else, named by `other_identifier_name`.
    Other,
}

/// An identifier of a reference in an external system.
///
/// ```
/// use destiny_sdk::models::{from_json_str, ExternalIdentifier};
/// let id: ExternalIdentifier =
///     from_json_str(r#"{"identifier": "https://openalex.org/W42", "identifier_type": "open_alex"}"#)
///         .unwrap();
/// assert_eq!(serde_json::to_string(&id).unwrap(), r#"{"identifier":"W42","identifier_type":"open_alex"}"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ExternalIdentifier {
    /// `doi`
    Doi(Doi),
    /// `eric`
    Eric(EricNumber),
    /// `pm_id` (an integer).
    PmId(i64),
    /// `pro_quest`
    ProQuest(ProQuestId),
    /// `open_alex`
    OpenAlex(OpenAlexId),
    /// `url` (SDK 0.17.6)
    Url(DocumentUrl),
    /// `other`
    Other {
        /// The identifier.
        identifier: String,
        /// What kind of identifier it is.
        other_identifier_name: String,
    },
    /// A type newer than SDK 0.17.6, kept as the JSON object it came as.
    Unknown(Map<String, Value>),
}

impl ExternalIdentifierType {
    /// The `identifier_type` text (`doi`, `pm_id`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Doi => "doi",
            Self::Eric => "eric",
            Self::PmId => "pm_id",
            Self::ProQuest => "pro_quest",
            Self::OpenAlex => "open_alex",
            Self::Url => "url",
            Self::Other => "other",
        }
    }

    /// Every type, in the SDK's order.
    pub const ALL: [Self; 7] = [
        Self::Doi,
        Self::Eric,
        Self::PmId,
        Self::ProQuest,
        Self::OpenAlex,
        Self::Url,
        Self::Other,
    ];
}

impl ExternalIdentifier {
    /// The identifier's kind; `None` for a type newer than SDK 0.17.6.
    pub fn kind(&self) -> Option<ExternalIdentifierType> {
        Some(match self {
            Self::Doi(_) => ExternalIdentifierType::Doi,
            Self::Eric(_) => ExternalIdentifierType::Eric,
            Self::PmId(_) => ExternalIdentifierType::PmId,
            Self::ProQuest(_) => ExternalIdentifierType::ProQuest,
            Self::OpenAlex(_) => ExternalIdentifierType::OpenAlex,
            Self::Url(_) => ExternalIdentifierType::Url,
            Self::Other { .. } => ExternalIdentifierType::Other,
            Self::Unknown(_) => return None,
        })
    }

    /// The `identifier_type` text.
    pub fn identifier_type(&self) -> &str {
        match (self.kind(), self) {
            (Some(kind), _) => kind.as_str(),
            (None, Self::Unknown(map)) => map
                .get("identifier_type")
                .and_then(Value::as_str)
                .unwrap_or(""),
            (None, _) => "",
        }
    }
}

#[derive(Deserialize)]
struct Tagged<T> {
    identifier: T,
}

#[derive(Deserialize)]
struct TaggedInt {
    #[serde(deserialize_with = "positive_int")]
    identifier: i64,
}

/// pydantic's lax `PositiveInt` (a PubMed id since SDK 0.17.6).
fn positive_int<'de, D: Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    let n = lax::int(de)?;
    if n > 0 {
        Ok(n)
    } else {
        Err(serde::de::Error::custom("Input should be greater than 0"))
    }
}

#[derive(Deserialize)]
struct TaggedOther {
    identifier: String,
    other_identifier_name: String,
}

tagged::tagged_union!(ExternalIdentifier, "identifier_type", |tag, rest| Ok(
    match tag.as_str() {
        "doi" => Self::Doi(rest.variant::<Tagged<Doi>>()?.identifier),
        "eric" => Self::Eric(rest.variant::<Tagged<EricNumber>>()?.identifier),
        "pm_id" => Self::PmId(rest.variant::<TaggedInt>()?.identifier),
        "pro_quest" => Self::ProQuest(rest.variant::<Tagged<ProQuestId>>()?.identifier),
        "open_alex" => Self::OpenAlex(rest.variant::<Tagged<OpenAlexId>>()?.identifier),
        "url" => Self::Url(rest.variant::<Tagged<DocumentUrl>>()?.identifier),
        "other" => {
            let o: TaggedOther = rest.variant()?;
            Self::Other {
                identifier: o.identifier,
                other_identifier_name: o.other_identifier_name,
            }
        }
        _ => Self::Unknown(rest.into_object(tag)?),
    }
));

impl Serialize for ExternalIdentifier {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        fn pair<S: Serializer, T: Serialize>(ser: S, id: &T, tag: &str) -> Result<S::Ok, S::Error> {
            let mut s = ser.serialize_struct("ExternalIdentifier", 2)?;
            s.serialize_field("identifier", id)?;
            s.serialize_field("identifier_type", tag)?;
            s.end()
        }
        match self {
            Self::Doi(v) => pair(ser, v, "doi"),
            Self::Eric(v) => pair(ser, v, "eric"),
            Self::PmId(v) => pair(ser, v, "pm_id"),
            Self::ProQuest(v) => pair(ser, v, "pro_quest"),
            Self::OpenAlex(v) => pair(ser, v, "open_alex"),
            Self::Url(v) => pair(ser, v, "url"),
            Self::Other {
                identifier,
                other_identifier_name,
            } => {
                let mut s = ser.serialize_struct("ExternalIdentifier", 3)?;
                s.serialize_field("identifier", identifier)?;
                s.serialize_field("identifier_type", "other")?;
                s.serialize_field("other_identifier_name", other_identifier_name)?;
                s.end()
            }
            Self::Unknown(map) => map.serialize(ser),
        }
    }
}

/// An identifier of an associated reference: an external identifier or a repository
/// reference id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Identifier {
    /// An external identifier (a JSON object).
    External(ExternalIdentifier),
    /// A repository reference id (a JSON string).
    Id(Uuid),
}

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(IdentifierVisitor)
    }
}

/// A JSON string (a reference id) or object (an external identifier), read in one pass.
struct IdentifierVisitor;

impl IdentifierVisitor {
    fn other<E: serde::de::Error>(value: Value) -> E {
        E::custom(format!(
            "expected an identifier object or a UUID string, got {value}"
        ))
    }
}

impl<'de> serde::de::Visitor<'de> for IdentifierVisitor {
    type Value = Identifier;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an identifier object or a UUID string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Identifier, E> {
        ids::parse(text).map(Identifier::Id).map_err(E::custom)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Identifier, A::Error> {
        tagged::from_map(map).map(Identifier::External)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Identifier, A::Error> {
        let items = Vec::<Value>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Err(Self::other(Value::Array(items)))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Identifier, E> {
        Err(Self::other(Value::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Identifier, E> {
        Err(Self::other(Value::from(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Identifier, E> {
        Err(Self::other(Value::from(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Identifier, E> {
        Err(Self::other(Value::from(v)))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Identifier, E> {
        Err(Self::other(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::from_json_str;

    fn parse(json: &str) -> Result<ExternalIdentifier, String> {
        from_json_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn cleans_and_validates_like_the_python_sdk() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "doi",
                r#""https://doi.org/10.1234/abc""#,
                Some(r#""10.1234/abc""#),
            ),
            ("doi", r#""doi:10.1234/a(b)""#, Some(r#""10.1234/a(b)""#)),
            (
                "doi",
                r#""http://dx.doi.org/10.12345/x""#,
                Some(r#""10.12345/x""#),
            ),
            ("doi", r#"" 10.1234/abc ""#, Some(r#""10.1234/abc""#)),
            ("doi", r#""10.123/abc""#, None),
            ("doi", r#""10.1234/a b""#, None),
            ("doi", r#""10.1234/""#, None),
            // SDK 0.17.6: any non-space suffix, canonicalised and stored lowercase.
            ("doi", r#""10.1000/édition""#, Some(r#""10.1000/édition""#)),
            ("doi", r#""10.18730/9WQ$D""#, Some(r#""10.18730/9wq$d""#)),
            (
                "doi",
                r#""10.123456789/ünïcödé-dash""#,
                Some(r#""10.123456789/ünïcödé-dash""#),
            ),
            (
                "doi",
                r#""HTTPS://DX.DOI.ORG/10.1234/X""#,
                Some(r#""10.1234/x""#),
            ),
            ("doi", r#""DOI:  10.1234/x""#, Some(r#""10.1234/x""#)),
            (
                "doi",
                r#""  https://doi.org/10.1234/x#frag""#,
                Some(r#""10.1234/x#frag""#),
            ),
            (
                "doi",
                r#"" \u00a010.1234/x\u2010y ""#,
                Some(r#""10.1234/x-y""#),
            ),
            ("doi", r#""10.1234/e\u0301""#, Some(r#""10.1234/é""#)),
            ("doi", r#""10.1234/ΑΣ""#, Some(r#""10.1234/ας""#)),
            (
                "doi",
                r#""httpſ://doı.org/10.1234/x""#,
                Some(r#""10.1234/x""#),
            ),
            (
                "doi",
                r#""10.1234/a\u200bb""#,
                Some("\"10.1234/a\u{200b}b\""),
            ),
            ("doi", r#""10.1234/a\u00a0b""#, None),
            ("doi", r#""10.1234/a\u0085b""#, None),
            // 0.7.4 took these; 0.17.6 (and so this SDK) refuses them.
            ("doi", r#""http://10.1234/x""#, None),
            ("doi", r#""https://doi:10.1234/x""#, None),
            ("doi", r#""www.doi.org/10.1234/x""#, None),
            (
                "eric",
                r#""https://eric.ed.gov/?id=EJ1234""#,
                Some(r#""EJ1234""#),
            ),
            (
                "eric",
                r#""files.eric.ed.gov/fulltext/ED5.pdf""#,
                Some(r#""ED5""#),
            ),
            ("eric", r#""xxE|9""#, Some(r#""xxE|9""#)),
            ("eric", r#""EX12""#, None),
            // Python's strip() also removes U+001C..U+001F.
            ("eric", r#""\u001cEJ1""#, Some(r#""EJ1""#)),
            ("doi", r#""10.1234/x\u001f""#, Some(r#""10.1234/x""#)),
            (
                "pro_quest",
                r#""https://www.proquest.com/docview/123""#,
                Some(r#""123""#),
            ),
            ("pro_quest", r#""abc""#, None),
            (
                "open_alex",
                r#""https://openalex.org/works/W12""#,
                Some(r#""W12""#),
            ),
            ("open_alex", r#""W12x""#, None),
            ("pm_id", "123", Some("123")),
            ("pm_id", r#""123""#, Some("123")),
            ("pm_id", "12.5", None),
        ];
        for (ty, input, want) in cases {
            let json = format!(r#"{{"identifier": {input}, "identifier_type": "{ty}"}}"#);
            match (parse(&json), want) {
                (Ok(id), Some(w)) => {
                    let out = serde_json::to_string(&id).unwrap();
                    assert_eq!(
                        out,
                        format!(r#"{{"identifier":{w},"identifier_type":"{ty}"}}"#)
                    );
                }
                (Err(e), None) => assert!(e.starts_with("identifier: "), "{json}: {e}"),
                (got, want) => panic!("{json}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn other_and_unknown_types() {
        let other =
            r#"{"identifier":"x","identifier_type":"other","other_identifier_name":"isbn"}"#;
        assert_eq!(
            serde_json::to_string(&parse(other).unwrap()).unwrap(),
            other
        );
        let e = parse(r#"{"identifier":"x","identifier_type":"other"}"#).unwrap_err();
        assert!(e.contains("other_identifier_name"), "{e}");
        // A type newer than the SDK is kept whole, unknown fields included.
        let newer = r#"{"identifier":"978-3","identifier_type":"isbn","extra":1}"#;
        let id = parse(newer).unwrap();
        assert_eq!(id.identifier_type(), "isbn");
        assert_eq!(serde_json::to_string(&id).unwrap(), newer);
        // `url` is typed since SDK 0.17.6 (extra fields dropped, as pydantic drops them).
        let url =
            parse(r#"{"identifier":"https://E.org/p","identifier_type":"url","extra":1}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&url).unwrap(),
            r#"{"identifier":"https://e.org/p","identifier_type":"url"}"#
        );
        for (json, says) in [
            (
                r#"{"identifier":0,"identifier_type":"pm_id"}"#,
                "greater than 0",
            ),
            (r#"{"identifier":"x"}"#, "identifier_type"),
        ] {
            let e = parse(json).unwrap_err();
            assert!(e.contains(says), "{json}: {e}");
        }
    }

    #[test]
    fn identifier_union() {
        let v: Vec<Identifier> = from_json_str(
            r#"["3a533776-c9ad-4aac-a089-d654d509490c", {"identifier": "W1", "identifier_type": "open_alex"}]"#,
        )
        .unwrap();
        assert!(matches!(v[0], Identifier::Id(_)));
        assert!(matches!(
            v[1],
            Identifier::External(ExternalIdentifier::OpenAlex(_))
        ));
        let e = from_json_str::<Vec<Identifier>>(
            r#"[{"identifier": "Q1", "identifier_type": "open_alex"}]"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), "[0].identifier", "{e}");
    }
}
