//! Robot-side models: batches handed to robots, results they report, errors, enhancement
//! requests and robot registration.

use serde::{Deserialize, Serialize};
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

/// The robot's report on a legacy enhancement request
/// (`POST /v1/enhancement-requests/{id}/results/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotResult {
    /// The enhancement request this reports on.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub request_id: Uuid,
    /// Set when the whole request failed; `null` means the result file is ready.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub error: Option<RobotError>,
}

/// The robot's report on a batch (`POST /v1/robot-enhancement-batches/{id}/results/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotEnhancementBatchResult {
    /// The batch this reports on (must equal the id in the path).
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub request_id: Uuid,
    /// Set when the whole batch failed; `null` means the result file is ready.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub error: Option<RobotError>,
}

/// One line of the validation file the repository writes after importing a result file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RobotResultValidationEntry {
    /// The reference the line is about; absent when the entry could not be parsed.
    #[serde(
        default,
        skip_serializing_if = "super::lax::omit_none",
        deserialize_with = "ids::opt_v4_or_v7"
    )]
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

/// A leased batch of work handed to a robot by a poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotEnhancementBatch {
    /// The batch id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
    /// Signed URL of the JSONL file of [`Reference`](super::Reference)s to enhance.
    pub reference_storage_url: HttpUrl,
    /// Signed URL the JSONL result file is PUT to.
    pub result_storage_url: HttpUrl,
    /// Extra fields for the robot (unused by the repository so far).
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub extra_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A legacy enhancement request pushed to a robot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobotRequest {
    /// The enhancement request id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
    /// Signed URL of the JSONL file of references to enhance.
    pub reference_storage_url: HttpUrl,
    /// Signed URL the JSONL result file is PUT to.
    pub result_storage_url: HttpUrl,
    /// Extra fields for the robot.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub extra_fields: Option<serde_json::Map<String, serde_json::Value>>,
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

/// A request to enhance references with a robot (admin side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancementRequestIn {
    /// The robot to use.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// The references to enhance.
    #[serde(deserialize_with = "ids::vec_v4_or_v7")]
    pub reference_ids: Vec<Uuid>,
    /// Where the request comes from.
    #[serde(default, skip_serializing_if = "super::lax::omit_none")]
    pub source: Option<String>,
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

/// Registration of a new robot (`extra="forbid"` in the Python SDK: unknown fields are
/// rejected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotIn {
    /// Unique name.
    pub name: String,
    /// What the robot provides.
    pub description: String,
    /// Who runs it.
    pub owner: String,
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
            .field("id", &self.id)
            .field("client_secret", &"***")
            .finish()
    }
}
