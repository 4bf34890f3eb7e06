//! Enhancements: data attached to a reference, whose `content` is tagged by
//! `enhancement_type` (bibliographic, abstract, annotation, location,
//! reference_association, linked_data, full_text, raw, tombstone).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::datetime::DateTime;
use super::identifiers::Identifier;
use super::references::Visibility;
use super::tagged;
use super::{ids, lax};

/// An enhancement of a reference.
///
/// ```
/// use destiny_sdk::models::*;
/// let json = r#"{"reference_id": "3a533776-c9ad-4aac-a089-d654d509490c", "source": "demo",
///   "visibility": "public", "content": {"enhancement_type": "abstract",
///   "process": "other", "abstract": "Text."}}"#;
/// let e: Enhancement = from_json_str(json).unwrap();
/// assert!(matches!(e.content, EnhancementContent::Abstract(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enhancement {
    /// Set by the repository on stored enhancements.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "ids::opt_v4_or_v7")]
    pub id: Option<Uuid>,
    /// The reference this enhances.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub reference_id: Uuid,
    /// Provenance, such as the robot's name.
    pub source: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// Version of the robot that made it.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub robot_version: Option<String>,
    /// Enhancements this one was derived from.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "ids::opt_vec_v4_or_v7")]
    pub derived_from: Option<Vec<Uuid>>,
    /// The enhancement this one replaces (SDK 0.17): the newest of its chain, on the same
    /// reference. Only robots entitled to supersede may set it.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "ids::opt_v4_or_v7")]
    pub supersedes: Option<Uuid>,
    /// The data.
    pub content: EnhancementContent,
    /// When the repository stored it (SDK 0.17); ignored by the repository on the way in.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub created_at: Option<DateTime>,
}

/// The content of an enhancement, by `enhancement_type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "enhancement_type", rename_all = "snake_case")]
pub enum EnhancementContent {
    /// `bibliographic`
    Bibliographic(BibliographicMetadata),
    /// `abstract`
    Abstract(AbstractContent),
    /// `annotation`
    Annotation(AnnotationContent),
    /// `location`
    Location(LocationContent),
    /// `reference_association`
    ReferenceAssociation(ReferenceAssociation),
    /// `linked_data` (SDK 0.17).
    LinkedData(LinkedDataContent),
    /// `full_text` (SDK 0.17).
    FullText(FullTextContent),
    /// `raw` (robots may not return it unless entitled).
    Raw(RawContent),
    /// `tombstone` (SDK 0.17): withdraws the supersession chain it heads.
    Tombstone(TombstoneContent),
    /// A type newer than SDK 0.17.6, kept as the JSON object it came as,
    /// `enhancement_type` included.
    #[serde(untagged)]
    Unknown(Map<String, Value>),
}

impl EnhancementContent {
    /// The `enhancement_type` text.
    pub fn enhancement_type(&self) -> &str {
        match self {
            Self::Bibliographic(_) => "bibliographic",
            Self::Abstract(_) => "abstract",
            Self::Annotation(_) => "annotation",
            Self::Location(_) => "location",
            Self::ReferenceAssociation(_) => "reference_association",
            Self::LinkedData(_) => "linked_data",
            Self::FullText(_) => "full_text",
            Self::Raw(_) => "raw",
            Self::Tombstone(_) => "tombstone",
            Self::Unknown(map) => map
                .get("enhancement_type")
                .and_then(Value::as_str)
                .unwrap_or(""),
        }
    }
}

// Read in one pass: the map is read up to `enhancement_type` (which every writer puts
// first), then the rest of it goes straight into the variant.
tagged::tagged_union!(EnhancementContent, "enhancement_type", |tag, rest| Ok(
    match tag.as_str() {
        "bibliographic" => Self::Bibliographic(rest.variant()?),
        "abstract" => Self::Abstract(rest.variant()?),
        "annotation" => Self::Annotation(rest.variant()?),
        "location" => Self::Location(rest.variant()?),
        "reference_association" => Self::ReferenceAssociation(rest.variant()?),
        "linked_data" => Self::LinkedData(rest.variant()?),
        "full_text" => Self::FullText(rest.variant()?),
        "raw" => Self::Raw(rest.variant()?),
        "tombstone" => Self::Tombstone(rest.variant()?),
        _ => Self::Unknown(rest.into_object(tag)?),
    }
));

/// Position of an author in the author list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorPosition {
    /// First author.
    First,
    /// Any middle author.
    Middle,
    /// Last author.
    Last,
}

/// One author of a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorship {
    /// Display name, `FIRSTNAME <MIDDLENAME> LASTNAME`.
    pub display_name: String,
    /// ORCID of the author.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub orcid: Option<String>,
    /// Position in the author list.
    pub position: AuthorPosition,
}

/// Bibliographic metadata (`bibliographic`); every field is optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BibliographicMetadata {
    /// The authors.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub authorship: Option<Vec<Authorship>>,
    /// Number of citing works.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "lax::opt_int")]
    pub cited_by_count: Option<i64>,
    /// When the record was created.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "super::datetime::opt_date")]
    pub created_date: Option<jiff::civil::Date>,
    /// When the record was last updated.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "super::datetime::opt_date")]
    pub updated_date: Option<jiff::civil::Date>,
    /// Publication date of the version of record.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "super::datetime::opt_date")]
    pub publication_date: Option<jiff::civil::Date>,
    /// Publication year of the version of record.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "lax::opt_int")]
    pub publication_year: Option<i64>,
    /// Publisher of the version of record.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub publisher: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub title: Option<String>,
    /// Volume, issue and pages (SDK 0.17; boxed, as most references lack it).
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub pagination: Option<Box<Pagination>>,
    /// Where it was published (SDK 0.17; boxed, as most references lack it).
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub publication_venue: Option<Box<PublicationVenue>>,
}

/// Volume, issue and pages of a journal article, as text (OpenAlex's `biblio`: values
/// such as `Spring` or `A1` occur). Each is read as pydantic's validator does: a
/// no-break space becomes a space, the text is stripped, and an empty text is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pagination {
    /// Volume.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "pagination_text")]
    pub volume: Option<String>,
    /// Issue.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "pagination_text")]
    pub issue: Option<String>,
    /// First page.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "pagination_text")]
    pub first_page: Option<String>,
    /// Last page.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "pagination_text")]
    pub last_page: Option<String>,
}

fn pagination_text<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    Ok(text.and_then(|t| {
        let t = t.replace('\u{a0}', " ");
        let t = super::identifiers::py_strip(&t);
        (!t.is_empty()).then(|| t.to_owned())
    }))
}

/// Kind of publication venue (OpenAlex's source types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicationVenueType {
    /// A journal.
    Journal,
    /// A repository or preprint server.
    Repository,
    /// Conference proceedings.
    Conference,
    /// An ebook platform.
    EbookPlatform,
    /// A book series.
    BookSeries,
    /// Anything else.
    Other,
}

/// Where a reference was published (SDK 0.17); every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublicationVenue {
    /// Name of the journal, repository...
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub display_name: Option<String>,
    /// Kind of venue.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub venue_type: Option<PublicationVenueType>,
    /// ISSNs (print and electronic).
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub issn: Option<Vec<String>>,
    /// The linking ISSN.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub issn_l: Option<String>,
    /// The host organisation (publisher).
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub host_organization_name: Option<String>,
}

/// How an abstract was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbstractProcessType {
    /// Rebuilt from an inverted index (OpenAlex).
    Uninverted,
    /// From a closed API.
    ClosedApi,
    /// Anything else.
    Other,
}

/// The abstract of a reference (`abstract`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbstractContent {
    /// How it was obtained.
    pub process: AbstractProcessType,
    /// The text.
    #[serde(rename = "abstract")]
    pub abstract_: String,
}

/// Annotations of a reference (`annotation`): at least one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationContent {
    /// The annotations (never empty).
    #[serde(deserialize_with = "non_empty")]
    pub annotations: Vec<Annotation>,
}

/// An annotation scheme such as `openalex:topic`: non-empty, without `/`.
///
/// ```
/// use destiny_sdk::models::AnnotationScheme;
/// assert!("meta:toy".parse::<AnnotationScheme>().is_ok());
/// assert!("a/b".parse::<AnnotationScheme>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AnnotationScheme(String);

super::text::text_impls!(AnnotationScheme, "The scheme text.", Display Deserialize);

impl std::str::FromStr for AnnotationScheme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.contains('/') {
            Err(format!(
                "string should match pattern '^[^/]+$' (non-empty, no '/'), got {s:?}"
            ))
        } else {
            Ok(Self(s.to_owned()))
        }
    }
}

/// One annotation, by `annotation_type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Annotation {
    /// A label applied (or not) to the reference, with an optional confidence.
    Boolean(BooleanAnnotation),
    /// A score for a label.
    Score(ScoreAnnotation),
}

/// `boolean` annotation. Written as `scheme, label, annotation_type, value, score, data`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BooleanAnnotation {
    /// Annotation scheme such as `openalex:topic`.
    pub scheme: AnnotationScheme,
    /// The label.
    pub label: String,
    /// Whether the label applies.
    #[serde(deserialize_with = "lax::bool")]
    pub value: bool,
    /// Confidence.
    #[serde(default, deserialize_with = "lax::opt_float")]
    pub score: Option<f64>,
    /// Free-form details.
    #[serde(default, deserialize_with = "lax::free_object")]
    pub data: Map<String, Value>,
}

/// `score` annotation. Written as `scheme, label, annotation_type, score, data`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScoreAnnotation {
    /// Annotation scheme such as `meta:toy`.
    pub scheme: AnnotationScheme,
    /// The label.
    pub label: String,
    /// The score.
    #[serde(deserialize_with = "lax::float")]
    pub score: f64,
    /// Free-form details.
    #[serde(default, deserialize_with = "lax::free_object")]
    pub data: Map<String, Value>,
}

// The Python models declare `scheme` and `label` on a base class, so `annotation_type`
// comes third in their JSON: written by hand to keep byte-identical output.
impl Serialize for Annotation {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            Annotation::Boolean(a) => {
                let skip_score = lax::omit_none(&a.score);
                let mut s = ser.serialize_struct("BooleanAnnotation", 6)?;
                s.serialize_field("scheme", &a.scheme)?;
                s.serialize_field("label", &a.label)?;
                s.serialize_field("annotation_type", "boolean")?;
                s.serialize_field("value", &a.value)?;
                if skip_score {
                    s.skip_field("score")?;
                } else {
                    s.serialize_field("score", &a.score)?;
                }
                s.serialize_field("data", &a.data)?;
                s.end()
            }
            Annotation::Score(a) => {
                let mut s = ser.serialize_struct("ScoreAnnotation", 5)?;
                s.serialize_field("scheme", &a.scheme)?;
                s.serialize_field("label", &a.label)?;
                s.serialize_field("annotation_type", "score")?;
                s.serialize_field("score", &a.score)?;
                s.serialize_field("data", &a.data)?;
                s.end()
            }
        }
    }
}

tagged::tagged_union!(
    Annotation,
    "annotation_type",
    |tag, rest| match tag.as_str() {
        "boolean" => rest.variant().map(Self::Boolean),
        "score" => rest.variant().map(Self::Score),
        other => Err(serde::de::Error::custom(format!(
            "input tag {other:?} found using 'annotation_type' does not match any of the \
         expected tags: 'boolean', 'score'"
        ))),
    }
);

/// Version of a location's document, per the DRIVER guidelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriverVersion {
    /// The version of record.
    #[serde(rename = "publishedVersion")]
    Published,
    /// Accepted after peer review.
    #[serde(rename = "acceptedVersion")]
    Accepted,
    /// As submitted.
    #[serde(rename = "submittedVersion")]
    Submitted,
    /// Other.
    #[serde(rename = "other")]
    Other,
}

/// Where a reference can be found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Location {
    /// Whether an open-access version is there.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "lax::opt_bool")]
    pub is_oa: Option<bool>,
    /// Which version is there.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub version: Option<DriverVersion>,
    /// Landing page.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub landing_page_url: Option<super::HttpUrl>,
    /// PDF.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub pdf_url: Option<super::HttpUrl>,
    /// Licence, such as `cc-by`.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub license: Option<String>,
    /// Anything else.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "lax::opt_free_object")]
    pub extra: Option<Map<String, Value>>,
}

/// Locations of a reference (`location`): at least one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationContent {
    /// The locations (never empty).
    #[serde(deserialize_with = "non_empty")]
    pub locations: Vec<Location>,
}

/// Direction of an association: "this reference `<type>` the associated reference".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceAssociationType {
    /// This reference cites them.
    Cites,
    /// This reference is cited by them.
    IsCitedBy,
    /// This reference is similar to them.
    IsSimilarTo,
}

/// Associations to other references (`reference_association`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceAssociation {
    /// The associated references (never empty).
    #[serde(deserialize_with = "non_empty")]
    pub associated_reference_ids: Vec<Identifier>,
    /// How they are associated.
    pub association_type: ReferenceAssociationType,
}

/// Structured data as JSON-LD (`linked_data`, SDK 0.17), produced against a vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkedDataContent {
    /// The vocabulary the data was produced against.
    pub vocabulary_uri: super::HttpUrl,
    /// The JSON-LD document; its `@context` is an http(s) URL.
    pub data: Map<String, Value>,
}

impl<'de> Deserialize<'de> for LinkedDataContent {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        struct Raw {
            vocabulary_uri: super::HttpUrl,
            #[serde(deserialize_with = "lax::free_object")]
            data: Map<String, Value>,
        }
        let raw = Raw::deserialize(de)?;
        match raw.data.get("@context") {
            None => return Err(D::Error::custom("data must contain a '@context' key.")),
            Some(Value::String(context)) => {
                context
                    .parse::<super::HttpUrl>()
                    .map_err(|e| D::Error::custom(format!("data.@context: {e}")))?;
            }
            Some(_) => return Err(D::Error::custom("@context must be a string URI.")),
        }
        Ok(Self {
            vocabulary_uri: raw.vocabulary_uri,
            data: raw.data,
        })
    }
}

/// A link to the full text of a reference and what is known of the file (`full_text`,
/// SDK 0.17).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullTextContent {
    /// Where the file is.
    pub file_url: super::HttpUrl,
    /// Its size in bytes (always set on full texts from the repository).
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "lax::opt_int")]
    pub byte_size: Option<i64>,
    /// Its SHA-256 (always set on full texts from the repository).
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub sha256_checksum: Option<String>,
    /// Its media type (default `application/pdf`).
    #[serde(default = "pdf")]
    pub mime_type: String,
    /// Which version of the work it is.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub version: Option<DriverVersion>,
    /// Whether it is open access.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "lax::opt_bool")]
    pub is_oa: Option<bool>,
    /// Its licence, such as `cc-by`.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub license: Option<String>,
    /// Where it was obtained.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub source: Option<String>,
    /// The URL it was obtained from.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub source_url: Option<super::HttpUrl>,
    /// When it was retrieved.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub retrieved_at: Option<DateTime>,
}

fn pdf() -> String {
    "application/pdf".to_owned()
}

/// Withdraws the supersession chain it heads (`tombstone`, SDK 0.17).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TombstoneContent {
    /// Why the chain was withdrawn.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub reason: Option<String>,
}

/// Unstructured data (`raw`); robots may not return it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawContent {
    /// When the data was exported.
    pub source_export_date: DateTime,
    /// What the data is.
    pub description: String,
    /// Metadata to help structure it later.
    pub metadata: Map<String, Value>,
    /// The data: anything but an empty or false value.
    pub data: Value,
}

impl<'de> Deserialize<'de> for RawContent {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        struct Raw {
            source_export_date: DateTime,
            description: String,
            #[serde(default, deserialize_with = "lax::free_object")]
            metadata: Map<String, Value>,
            #[serde(deserialize_with = "lax::free_value")]
            data: Value,
        }
        let raw = Raw::deserialize(de)?;
        let empty = match &raw.data {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
        };
        if empty {
            return Err(D::Error::custom(
                "data must be populated on a raw enhancement.",
            ));
        }
        Ok(Self {
            source_export_date: raw.source_export_date,
            description: raw.description,
            metadata: raw.metadata,
            data: raw.data,
        })
    }
}

/// `deserialize_with` for lists pydantic declares with `min_length=1`.
fn non_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Vec<T>, D::Error> {
    let v = Vec::<T>::deserialize(de)?;
    if v.is_empty() {
        Err(serde::de::Error::custom(
            "list should have at least 1 item after validation, not 0",
        ))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::from_json_str;

    use crate::models::test_ids::V4 as REF;

    fn enhancement(content: &str) -> Result<Enhancement, crate::models::ModelError> {
        from_json_str(&format!(
            r#"{{"reference_id":"{REF}","source":"s","visibility":"public","content":{content}}}"#
        ))
    }

    #[test]
    fn errors_name_the_path_inside_content() {
        let e = enhancement(
            r#"{"enhancement_type":"annotation","annotations":[{"annotation_type":"score","scheme":"a/b","label":"l","score":1}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), "content.annotations[0].scheme", "{e}");
        let e = enhancement(r#"{"enhancement_type":"annotation","annotations":[]}"#).unwrap_err();
        assert_eq!(e.path(), "content.annotations", "{e}");
        assert!(e.message().contains("at least 1 item"), "{e}");
        let e = enhancement(r#"{"enhancement_type":"location","locations":[]}"#).unwrap_err();
        assert_eq!(e.path(), "content.locations", "{e}");
        let e = enhancement(r#"{"enhancement_type":"abstract","process":"guess","abstract":"x"}"#)
            .unwrap_err();
        assert_eq!(e.path(), "content.process", "{e}");
        let e = enhancement(r#"{"process":"other","abstract":"x"}"#).unwrap_err();
        assert_eq!(e.path(), "content", "{e}");
        assert!(e.message().contains("enhancement_type"), "{e}");
    }

    #[test]
    fn annotation_field_order_matches_python() {
        let json = r#"{"enhancement_type":"annotation","annotations":[{"scheme":"meta:toy","label":"toy","annotation_type":"boolean","value":true,"score":null,"data":{}},{"scheme":"meta:toy","label":"toy","annotation_type":"score","score":0.25,"data":{"toy":"x"}}]}"#;
        let content: EnhancementContent = from_json_str(json).unwrap();
        assert_eq!(serde_json::to_string(&content).unwrap(), json);
        let without_none = lax::exclude_none(|| serde_json::to_string(&content).unwrap());
        assert_eq!(without_none, json.replace(r#""score":null,"#, ""));
    }

    #[test]
    fn raw_data_must_be_populated() {
        for data in ["null", "false", "0", "\"\"", "[]", "{}"] {
            let e = enhancement(&format!(
                r#"{{"enhancement_type":"raw","source_export_date":"2025-01-01T00:00:00Z","description":"d","data":{data}}}"#
            ))
            .unwrap_err();
            assert!(
                e.message().contains("data must be populated"),
                "{data}: {e}"
            );
        }
        let ok = enhancement(
            r#"{"enhancement_type":"raw","source_export_date":"2025-01-01T00:00:00","description":"d","data":{"a":1}}"#,
        )
        .unwrap();
        assert!(matches!(ok.content, EnhancementContent::Raw(_)));
        let bad_date = enhancement(
            r#"{"enhancement_type":"raw","source_export_date":"yesterday","description":"d","data":1}"#,
        )
        .unwrap_err();
        assert!(
            bad_date.to_string().contains("valid datetime"),
            "{bad_date}"
        );
    }

    #[test]
    fn unknown_content_types_pass_through() {
        let json = r#"{"enhancement_type":"graph_data","vocabulary_uri":"https://v.example/","data":{"@id":"x"}}"#;
        let c: EnhancementContent = from_json_str(json).unwrap();
        assert_eq!(c.enhancement_type(), "graph_data");
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
    }

    #[test]
    fn linked_data_needs_a_context_url() {
        let ld = |data: &str| {
            enhancement(&format!(
                r#"{{"enhancement_type":"linked_data","vocabulary_uri":"https://v.example/","data":{data}}}"#
            ))
        };
        assert!(ld(r#"{"@context":"https://v.example/c.jsonld","@id":"x"}"#).is_ok());
        for (data, says) in [
            (r#"{"@id":"x"}"#, "'@context'"),
            (r#"{"@context":["https://v.example/"]}"#, "string URI"),
            (r#"{"@context":"urn:x"}"#, "scheme"),
        ] {
            let e = ld(data).unwrap_err();
            assert!(e.to_string().contains(says), "{data}: {e}");
            assert!(e.path().starts_with("content"), "{e}");
        }
    }

    #[test]
    fn full_text_defaults_and_pagination_cleaning() {
        let e = enhancement(
            r#"{"enhancement_type":"full_text","file_url":"https://f.example/a.pdf","byte_size":"12","retrieved_at":1700000000}"#,
        )
        .unwrap();
        let EnhancementContent::FullText(ft) = &e.content else {
            panic!("full_text, got {:?}", e.content)
        };
        assert_eq!(ft.mime_type, "application/pdf");
        assert_eq!(ft.byte_size, Some(12));
        assert_eq!(
            ft.retrieved_at.as_ref().map(DateTime::as_str),
            Some("2023-11-14T22:13:20Z")
        );
        let e = enhancement(
            r#"{"enhancement_type":"bibliographic","pagination":{"volume":"\u00a0 12 ","issue":"  ","first_page":"A1"},"publication_venue":{"venue_type":"book_series","issn":["1234-5678"]}}"#,
        )
        .unwrap();
        let EnhancementContent::Bibliographic(b) = &e.content else {
            panic!("bibliographic")
        };
        let p = b.pagination.as_ref().unwrap();
        assert_eq!(p.volume.as_deref(), Some("12"));
        assert_eq!(p.issue, None, "blank text is None");
        assert_eq!(p.first_page.as_deref(), Some("A1"));
        let v = b.publication_venue.as_ref().unwrap();
        assert_eq!(v.venue_type, Some(PublicationVenueType::BookSeries));
        let e = enhancement(r#"{"enhancement_type":"bibliographic","pagination":{"volume":12}}"#)
            .unwrap_err();
        assert_eq!(e.path(), "content.pagination.volume", "{e}");
    }
}
