//! References: a research paper's identity (`id`, identifiers) and its enhancements.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::datetime::DateTime;
use super::enhancements::{Authorship, BibliographicMetadata, Enhancement, EnhancementContent};
use super::identifiers::ExternalIdentifier;
use super::{ids, lax};

/// Who may see a reference or an enhancement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone.
    #[default]
    Public,
    /// Authenticated users.
    Restricted,
    /// No one, but data-mining processes may use it.
    Hidden,
}

impl Visibility {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Restricted => "restricted",
            Self::Hidden => "hidden",
        }
    }
}

/// A reference: one line of a batch's reference file.
///
/// ```
/// use destiny_sdk::models::{from_json_str, Reference, Visibility};
/// let r: Reference = from_json_str(r#"{"id": "3a533776-c9ad-4aac-a089-d654d509490c"}"#).unwrap();
/// assert_eq!(r.visibility, Visibility::Public);
/// assert!(r.identifiers.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Who may see it (default `public`).
    #[serde(default)]
    pub visibility: Visibility,
    /// The reference id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
    /// External identifiers.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub identifiers: Option<Vec<ExternalIdentifier>>,
    /// Enhancements, when the repository sends them with the reference.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub enhancements: Option<Vec<Enhancement>>,
}

/// What robots read from a reference most often, so each robot does not write its own
/// search through identifiers and enhancements.
///
/// "Newest" means the latest `created_at` (set by today's repository); enhancements
/// without one (older repositories) count in list order, later being newer.
///
/// ```
/// use destiny_sdk::models::{from_json_str, Reference};
/// let r: Reference = from_json_str(r#"{
///   "id": "3a533776-c9ad-4aac-a089-d654d509490c",
///   "identifiers": [{"identifier_type": "doi", "identifier": "https://doi.org/10.1234/ABC"},
///                   {"identifier_type": "pm_id", "identifier": 42},
///                   {"identifier_type": "open_alex", "identifier": "W123"}],
///   "enhancements": [
///     {"reference_id": "3a533776-c9ad-4aac-a089-d654d509490c", "source": "a",
///      "visibility": "public", "created_at": "2026-01-01T00:00:00Z",
///      "content": {"enhancement_type": "bibliographic", "title": "New title",
///                  "publication_date": "2024-05-01",
///                  "authorship": [{"display_name": "Ada Lovelace", "position": "first"}]}},
///     {"reference_id": "3a533776-c9ad-4aac-a089-d654d509490c", "source": "b",
///      "visibility": "public", "created_at": "2025-01-01T00:00:00Z",
///      "content": {"enhancement_type": "bibliographic", "title": "Old title"}},
///     {"reference_id": "3a533776-c9ad-4aac-a089-d654d509490c", "source": "c",
///      "visibility": "public",
///      "content": {"enhancement_type": "abstract", "process": "other", "abstract": "We study."}}
///   ]}"#).unwrap();
/// assert_eq!(r.doi(), Some("10.1234/abc"));
/// assert_eq!(r.pubmed_id(), Some(42));
/// assert_eq!(r.openalex_id(), Some("W123"));
/// assert_eq!(r.title(), Some("New title"));
/// assert_eq!(r.abstract_text(), Some("We study."));
/// assert_eq!(r.publication_year(), Some(2024));
/// let authors: Vec<&str> = r.authors().map(|a| a.display_name.as_str()).collect();
/// assert_eq!(authors, ["Ada Lovelace"]);
/// assert_eq!(r.newest("bibliographic").unwrap().source, "a");
/// assert!(r.newest("location").is_none());
/// ```
impl Reference {
    /// The identifiers (none when absent).
    pub fn identifiers(&self) -> &[ExternalIdentifier] {
        self.identifiers.as_deref().unwrap_or_default()
    }

    /// The enhancements (none when absent).
    pub fn enhancements(&self) -> &[Enhancement] {
        self.enhancements.as_deref().unwrap_or_default()
    }

    /// The first DOI (canonical: lowercase, without `https://doi.org/` or `doi:`).
    pub fn doi(&self) -> Option<&str> {
        self.identifiers().iter().find_map(|i| match i {
            ExternalIdentifier::Doi(doi) => Some(doi.as_str()),
            _ => None,
        })
    }

    /// The first OpenAlex work id (`W…`).
    pub fn openalex_id(&self) -> Option<&str> {
        self.identifiers().iter().find_map(|i| match i {
            ExternalIdentifier::OpenAlex(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// The first PubMed id.
    pub fn pubmed_id(&self) -> Option<i64> {
        self.identifiers().iter().find_map(|i| match i {
            ExternalIdentifier::PmId(id) => Some(*id),
            _ => None,
        })
    }

    /// Enhancements of one `enhancement_type` (such as `"abstract"`), newest first.
    pub fn of_type(&self, enhancement_type: &str) -> Vec<&Enhancement> {
        let mut found: Vec<(usize, &Enhancement)> = self
            .enhancements()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.content.enhancement_type() == enhancement_type)
            .collect();
        // Newest first: by created_at (absent sorts oldest), then by position; each
        // timestamp parsed once.
        found.sort_by_cached_key(|(i, e)| {
            std::cmp::Reverse((e.created_at.as_ref().and_then(DateTime::timestamp), *i))
        });
        found.into_iter().map(|(_, e)| e).collect()
    }

    /// The newest enhancement of one `enhancement_type`.
    pub fn newest(&self, enhancement_type: &str) -> Option<&Enhancement> {
        self.of_type(enhancement_type).into_iter().next()
    }

    fn bibliographic(&self) -> impl Iterator<Item = &BibliographicMetadata> {
        self.of_type("bibliographic")
            .into_iter()
            .filter_map(|e| match &e.content {
                EnhancementContent::Bibliographic(b) => Some(b),
                _ => None,
            })
    }

    /// The title of the newest bibliographic enhancement that has one.
    pub fn title(&self) -> Option<&str> {
        self.bibliographic().find_map(|b| b.title.as_deref())
    }

    /// The text of the newest abstract.
    pub fn abstract_text(&self) -> Option<&str> {
        self.of_type("abstract")
            .into_iter()
            .find_map(|e| match &e.content {
                EnhancementContent::Abstract(a) => Some(a.abstract_.as_str()),
                _ => None,
            })
    }

    /// The authors of the newest bibliographic enhancement that lists any.
    pub fn authors(&self) -> impl Iterator<Item = &Authorship> {
        self.bibliographic()
            .find_map(|b| b.authorship.as_deref().filter(|a| !a.is_empty()))
            .unwrap_or_default()
            .iter()
    }

    /// The publication year of the newest bibliographic enhancement that has one (its
    /// `publication_year`, else the year of its `publication_date`).
    pub fn publication_year(&self) -> Option<i64> {
        self.bibliographic().find_map(|b| {
            b.publication_year
                .or_else(|| b.publication_date.map(|d| i64::from(d.year())))
        })
    }
}
