//! Robot-side models: batches handed to robots, results they report, errors, enhancement
//! requests, robot registration (with entitlements) and robot automations.
//!
//! Search-based enhancement requests are in [`super::search`].

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::enhancements::Enhancement;
use super::ids;
use super::url::HttpUrl;

/// Something that went wrong for a whole batch or request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotError {
    /// What the robot encountered.
    pub message: String,
}

/// Something that went wrong for one reference: a line of a result file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedRobotError {
    /// What the robot encountered for this reference.
    pub message: String,
    /// The reference that could not be enhanced.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub reference_id: Uuid,
}

/// Defines structs with the same fields, serde attributes included (the Python SDK
/// declares each model on its own): each `pub struct Name;` gets the fields given
/// `with` after them.
macro_rules! structs_alike {
    ($($(#[$attr:meta])* pub struct $name:ident;)* with $fields:tt) => {
        $($(#[$attr])* pub struct $name $fields)*
    };
}

structs_alike! {
    /// The robot's report on a legacy enhancement request
    /// (`POST /v1/enhancement-requests/{id}/results/`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RobotResult;
    /// The robot's report on a batch (`POST /v1/robot-enhancement-batches/{id}/results/`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RobotEnhancementBatchResult;
    with {
        /// The request or batch this reports on (must equal the id in the path).
        #[serde(deserialize_with = "ids::v4_or_v7")]
        pub request_id: Uuid,
        /// Set when the whole request or batch failed; `null` means the result file is
        /// ready.
        #[serde(default, skip_serializing_if = "super::lax::omit_none")]
        pub error: Option<RobotError>,
    }
}

/// One line of the validation file the repository writes after importing a result file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RobotResultValidationEntry {
    /// The reference the line is about; absent when the entry could not be parsed.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    #[serde(deserialize_with = "ids::opt_v4_or_v7")]
    pub reference_id: Option<Uuid>,
    /// What went wrong; absent on success.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub error: Option<String>,
}

/// One line of a result file: an enhancement, or an error for one reference.
///
/// Untagged, as in the Python SDK: a line is tried as an [`Enhancement`] first, then as a
/// [`LinkedRobotError`]. When neither fits, the error is the one of the model the line
/// looks like (it has `content`: an enhancement; `message`: an error). It is read from
/// JSON text or a `serde_json::Value` (the line is captured as raw JSON first).
///
/// ```
/// use destiny_sdk::models::{from_json_str, EnhancementResultEntry};
/// let e: EnhancementResultEntry = from_json_str(
///     r#"{"message": "timeout", "reference_id": "3a533776-c9ad-4aac-a089-d654d509490c"}"#,
/// ).unwrap();
/// assert!(matches!(e, EnhancementResultEntry::Error(_)));
/// let err = from_json_str::<EnhancementResultEntry>(r#"{"source": "s", "content": {}}"#)
///     .unwrap_err();
/// assert_eq!(err.to_string(), "content: missing field `enhancement_type`");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EnhancementResultEntry {
    /// A new enhancement for a reference of the batch.
    Enhancement(Box<Enhancement>),
    /// The robot could not enhance this reference.
    Error(LinkedRobotError),
}

impl<'de> Deserialize<'de> for EnhancementResultEntry {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use super::tagged::{self, nested_str};
        use serde::de::Error;
        let raw = tagged::capture(de)?;
        let Some([has_content, has_message]) = tagged::has_keys(&raw, ["content", "message"])
        else {
            let value: serde_json::Value =
                serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
            return Err(D::Error::custom(format!(
                "expected an Enhancement or a LinkedRobotError object, got {value}"
            )));
        };
        if !has_content && has_message {
            return nested_str(&raw).map(Self::Error);
        }
        match nested_str::<Enhancement, D::Error>(&raw) {
            Ok(e) => Ok(Self::Enhancement(Box::new(e))),
            Err(enh_err) => match serde_json::from_str::<LinkedRobotError>(raw.get()) {
                Ok(e) => Ok(Self::Error(e)),
                Err(_) => Err(enh_err),
            },
        }
    }
}

impl EnhancementResultEntry {
    /// The reference this line is about.
    pub fn reference_id(&self) -> Uuid {
        match self {
            Self::Enhancement(e) => e.reference_id,
            Self::Error(e) => e.reference_id,
        }
    }
}

structs_alike! {
    /// A leased batch of work handed to a robot by a poll.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RobotEnhancementBatch;
    /// A legacy enhancement request pushed to a robot.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RobotRequest;
    with {
        /// The batch or enhancement request id.
        #[serde(deserialize_with = "ids::v4_or_v7")]
        pub id: Uuid,
        /// Signed URL of the JSONL file of [`Reference`](super::Reference)s to enhance.
        pub reference_storage_url: HttpUrl,
        /// Signed URL the JSONL result file is PUT to.
        pub result_storage_url: HttpUrl,
        /// Extra fields for the robot (unused by the repository so far).
        #[serde(default, skip_serializing_if = "super::lax::omit_none")]
        #[serde(deserialize_with = "super::lax::opt_free_object")]
        pub extra_fields: Option<serde_json::Map<String, serde_json::Value>>,
    }
}

/// The repository's view of a batch, returned when a result is submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotEnhancementBatchRead {
    /// The robot the batch belongs to.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// The source of the request(s) the batch came from.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub source: Option<String>,
    /// The batch id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
    /// Signed URL of the reference file.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub reference_data_url: Option<HttpUrl>,
    /// Signed URL of the result file.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub result_storage_url: Option<HttpUrl>,
    /// Signed URL of the validation file, once the import has written it.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub validation_result_url: Option<HttpUrl>,
    /// The batch-level error, if the robot reported one.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub error: Option<String>,
}

/// Status of an enhancement request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnhancementRequestStatus {
    /// Received by the repository, not yet picked up.
    Received,
    /// Accepted by the robot.
    Accepted,
    /// Being processed by the robot.
    Processing,
    /// Rejected by the robot.
    Rejected,
    /// Some enhancements failed.
    PartialFailed,
    /// All enhancements failed.
    Failed,
    /// Results received and being imported.
    Importing,
    /// Imported, being indexed.
    Indexing,
    /// Imported, indexing failed.
    IndexingFailed,
    /// All enhancements created.
    Completed,
}

impl EnhancementRequestStatus {
    /// The wire spelling, such as `partial_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Accepted => "accepted",
            Self::Processing => "processing",
            Self::Rejected => "rejected",
            Self::PartialFailed => "partial_failed",
            Self::Failed => "failed",
            Self::Importing => "importing",
            Self::Indexing => "indexing",
            Self::IndexingFailed => "indexing_failed",
            Self::Completed => "completed",
        }
    }
}

/// A request to enhance references with a robot (admin side, or a robot since SDK 0.17).
///
/// Reading refuses a `reference_ids` list that names a reference twice, as SDK 0.17.6
/// does (UUIDs are compared as values, so two spellings of one id are a duplicate):
///
/// ```
/// use destiny_sdk::models::{from_json_str, EnhancementRequestIn};
/// let id = "3a533776-c9ad-4aac-a089-d654d509490c";
/// let twice = format!(
///     r#"{{"robot_id": "{id}", "reference_ids": ["{id}", "{}"]}}"#,
///     id.to_uppercase()
/// );
/// let err = from_json_str::<EnhancementRequestIn>(&twice).unwrap_err();
/// assert_eq!(err.path(), "reference_ids");
/// assert_eq!(err.message(), "reference_ids must not contain duplicate ids.");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancementRequestIn {
    /// The robot to use.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// The references to enhance, each once.
    #[serde(deserialize_with = "distinct_reference_ids")]
    pub reference_ids: Vec<Uuid>,
    /// Where the request comes from.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub source: Option<String>,
}

/// The text SDK 0.17.6 refuses a repeated reference id with.
pub const DUPLICATE_REFERENCE_IDS: &str = "reference_ids must not contain duplicate ids.";

/// `deserialize_with` for [`EnhancementRequestIn::reference_ids`]: checked UUIDs, none
/// repeated.
fn distinct_reference_ids<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<Uuid>, D::Error> {
    let ids = ids::vec_v4_or_v7(de)?;
    match first_duplicate(&ids) {
        None => Ok(ids),
        Some(_) => Err(serde::de::Error::custom(DUPLICATE_REFERENCE_IDS)),
    }
}

/// The first id of `ids` that an earlier one repeats, if any.
///
/// ```
/// use destiny_sdk::models::first_duplicate;
/// let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
/// assert_eq!(first_duplicate(&[a, b, a]), Some(a));
/// assert_eq!(first_duplicate(&[a, b]), None);
/// ```
pub fn first_duplicate(ids: &[Uuid]) -> Option<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().find(|id| !seen.insert(**id)).copied()
}

/// The repository's view of an enhancement request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancementRequestRead {
    /// The robot used.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// The references to enhance.
    #[serde(deserialize_with = "ids::vec_v4_or_v7")]
    pub reference_ids: Vec<Uuid>,
    /// Where the request comes from.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub source: Option<String>,
    /// The request id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
    /// The status, projected from the request's pending enhancements.
    pub request_status: EnhancementRequestStatus,
    /// Signed URL of the reference file (legacy flow).
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub reference_data_url: Option<HttpUrl>,
    /// Signed URL of the result file (legacy flow).
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub result_storage_url: Option<HttpUrl>,
    /// Signed URL of the validation file.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub validation_result_url: Option<HttpUrl>,
    /// The request-level error.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub error: Option<String>,
}

/// A right a robot may be granted (SDK 0.17.6 `RobotEntitlement`).
///
/// Ordered as declared, which is the order a set of them is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RobotEntitlement {
    /// May read full texts to derive its enhancements (they are redacted otherwise).
    FullText,
    /// May return `raw` enhancements.
    RawEnhancementWriter,
    /// May supersede existing enhancements.
    EnhancementSupersessionWriter,
}

impl RobotEntitlement {
    /// The wire spelling, such as `full_text`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullText => "full_text",
            Self::RawEnhancementWriter => "raw_enhancement_writer",
            Self::EnhancementSupersessionWriter => "enhancement_supersession_writer",
        }
    }
}

/// Registration of a new robot (`extra="forbid"` in the Python SDK: unknown fields are
/// rejected).
///
/// `entitlements` is written only when it is not empty: SDK 0.7.4 refuses the field
/// (it forbids unknown fields), and SDK 0.17.6 reads a missing one as the empty set.
/// Python writes a set in its hashing order, which changes from run to run; the set is
/// written here in [`RobotEntitlement`]'s declared order.
///
/// ```
/// use destiny_sdk::models::{from_json_str, RobotEntitlement, RobotIn};
/// let mut robot: RobotIn =
///     from_json_str(r#"{"name": "n", "description": "d", "owner": "o", "entitlements": []}"#)
///         .unwrap();
/// assert_eq!(
///     serde_json::to_string(&robot).unwrap(),
///     r#"{"name":"n","description":"d","owner":"o"}"#
/// );
/// robot.entitlements.insert(RobotEntitlement::FullText);
/// assert_eq!(
///     serde_json::to_string(&robot).unwrap(),
///     r#"{"name":"n","description":"d","owner":"o","entitlements":["full_text"]}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotIn {
    /// Unique name.
    pub name: String,
    /// What the robot provides.
    pub description: String,
    /// Who runs it.
    pub owner: String,
    /// Rights granted to the robot (only a suitably privileged user may set them).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub entitlements: BTreeSet<RobotEntitlement>,
}

/// A registered robot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Robot {
    /// Unique name.
    pub name: String,
    /// What the robot provides.
    pub description: String,
    /// Who runs it.
    pub owner: String,
    /// Rights granted to the robot; written only when not empty (see [`RobotIn`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub entitlements: BTreeSet<RobotEntitlement>,
    /// The robot id, also its HMAC client id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
}

/// A robot with its client secret, returned only when registered or when the secret is
/// cycled.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedRobot {
    /// Unique name.
    pub name: String,
    /// What the robot provides.
    pub description: String,
    /// Who runs it.
    pub owner: String,
    /// Rights granted to the robot; written only when not empty (see [`RobotIn`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub entitlements: BTreeSet<RobotEntitlement>,
    /// The robot id, also its HMAC client id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
    /// The HMAC secret key (64 lowercase hex characters from the repository).
    pub client_secret: String,
}

impl std::fmt::Debug for ProvisionedRobot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionedRobot")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("owner", &self.owner)
            .field("entitlements", &self.entitlements)
            .field("id", &self.id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// A robot's standing query (SDK 0.17.6 `RobotAutomationIn`): whenever a reference or an
/// enhancement the repository receives matches `query`, it asks the robot to enhance
/// that reference (`POST /v1/enhancement-requests/automations/`).
///
/// `query` is an Elasticsearch percolator query over two documents, `reference` (the
/// whole reference) and `changeset` (what just changed); it is kept as the JSON given.
///
/// ```
/// use destiny_sdk::models::{from_json_str, RobotAutomationIn};
/// let text = r#"{"robot_id":"3a533776-c9ad-4aac-a089-d654d509490c","query":{"exists":{"field":"reference.identifiers"}}}"#;
/// let automation: RobotAutomationIn = from_json_str(text).unwrap();
/// assert_eq!(serde_json::to_string(&automation).unwrap(), text);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotAutomationIn {
    /// The robot asked to enhance matching references.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// The percolator query references and enhancements are matched against.
    #[serde(deserialize_with = "super::lax::free_object")]
    pub query: serde_json::Map<String, serde_json::Value>,
}

/// A registered robot automation (SDK 0.17.6 `RobotAutomation`): a
/// [`RobotAutomationIn`] with the id the repository gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotAutomation {
    /// The robot asked to enhance matching references.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// The percolator query references and enhancements are matched against.
    #[serde(deserialize_with = "super::lax::free_object")]
    pub query: serde_json::Map<String, serde_json::Value>,
    /// The automation id (for `PUT /v1/enhancement-requests/automations/{id}/`).
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::from_json_str;

    use crate::models::test_ids::{V4 as REF, V7 as ID};

    #[test]
    fn entitlements_are_written_in_python_field_order_only_when_granted() {
        // Python 0.17.6 writes `"entitlements":[]` between `owner` and `id`; the empty
        // set is left out here so that 0.7.4 (extra="forbid") still reads the JSON.
        let text = format!(
            r#"{{"name":"n","description":"d","owner":"o","entitlements":["enhancement_supersession_writer","full_text","full_text"],"id":"{ID}","client_secret":"s"}}"#
        );
        let robot: ProvisionedRobot = from_json_str(&text).unwrap();
        assert_eq!(
            robot
                .entitlements
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>(),
            ["full_text", "enhancement_supersession_writer"]
        );
        assert_eq!(
            serde_json::to_string(&robot).unwrap(),
            format!(
                r#"{{"name":"n","description":"d","owner":"o","entitlements":["full_text","enhancement_supersession_writer"],"id":"{ID}","client_secret":"s"}}"#
            )
        );
        assert!(format!("{robot:?}").contains("FullText"));
        let bare: Robot = from_json_str(&format!(
            r#"{{"name":"n","description":"d","owner":"o","id":"{ID}"}}"#
        ))
        .unwrap();
        assert!(bare.entitlements.is_empty());
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            format!(r#"{{"name":"n","description":"d","owner":"o","id":"{ID}"}}"#)
        );
    }

    #[test]
    fn entitlements_must_be_a_list_of_known_names() {
        let with = |value: &str| {
            from_json_str::<RobotIn>(&format!(
                r#"{{"name":"n","description":"d","owner":"o","entitlements":{value}}}"#
            ))
        };
        for value in ["null", r#""full_text""#, r#"["nope"]"#, r#"["FULL_TEXT"]"#] {
            let err = with(value).unwrap_err();
            assert!(err.path().starts_with("entitlements"), "{value}: {err}");
        }
        let robot = with(r#"["raw_enhancement_writer"]"#).unwrap();
        assert!(robot
            .entitlements
            .contains(&RobotEntitlement::RawEnhancementWriter));
        let extra = from_json_str::<Robot>(&format!(
            r#"{{"name":"n","description":"d","owner":"o","id":"{ID}","x":1}}"#
        ))
        .unwrap_err();
        assert!(extra.message().contains("unknown field `x`"), "{extra}");
    }

    #[test]
    fn duplicate_reference_ids_are_refused_at_their_path() {
        let request = |ids: &str| {
            from_json_str::<EnhancementRequestIn>(&format!(
                r#"{{"robot_id":"{ID}","reference_ids":{ids},"source":null}}"#
            ))
        };
        let err = request(&format!(r#"["{REF}","{ID}","{REF}"]"#)).unwrap_err();
        assert_eq!(
            (err.path(), err.message()),
            ("reference_ids", DUPLICATE_REFERENCE_IDS)
        );
        assert_eq!(
            err.to_string(),
            "reference_ids: reference_ids must not contain duplicate ids."
        );
        // A bad id is reported at its index, before any duplicate check.
        let err = request(&format!(r#"["{REF}","nope","{REF}"]"#)).unwrap_err();
        assert_eq!(err.path(), "reference_ids[1]");
        let ok = request(&format!(r#"["{REF}","{ID}"]"#)).unwrap();
        assert_eq!(ok.reference_ids.len(), 2);
        assert!(request("[]").unwrap().reference_ids.is_empty());
    }

    #[test]
    fn automations_keep_their_query_and_python_field_order() {
        let text = format!(
            r#"{{"id":"{ID}","query":{{"bool":{{"must":[{{"term":{{"changeset.enhancements.content.annotations.value":true}}}}]}},"z":null,"a":1}},"robot_id":"{REF}"}}"#
        );
        let automation: RobotAutomation = from_json_str(&text).unwrap();
        assert_eq!(
            serde_json::to_string(&automation).unwrap(),
            format!(
                r#"{{"robot_id":"{REF}","query":{{"bool":{{"must":[{{"term":{{"changeset.enhancements.content.annotations.value":true}}}}]}},"z":null,"a":1}},"id":"{ID}"}}"#
            )
        );
        let not_object = format!(r#"{{"robot_id":"{REF}","query":[1]}}"#);
        let err = from_json_str::<RobotAutomationIn>(&not_object).unwrap_err();
        assert_eq!(err.path(), "query");
        let no_query = format!(r#"{{"robot_id":"{REF}"}}"#);
        let err = from_json_str::<RobotAutomationIn>(&no_query).unwrap_err();
        assert!(err.message().contains("query"), "{err}");
    }
}
