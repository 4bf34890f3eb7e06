//! References: a research paper's identity (`id`, identifiers) and its enhancements.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::enhancements::Enhancement;
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
