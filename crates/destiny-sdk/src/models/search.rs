//! Search-based enhancement requests (SDK 0.17.6): ask a robot to enhance every reference
//! a search query matches, follow the request, and count the matches first with a dry run
//! ([`SearchResultTotal`]).
//!
//! Integers and booleans are read as pydantic reads them in lax mode (`"3"`, `3.0` and
//! `true` are integers; `"yes"` and `1` are booleans).

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::ids;
use super::lax;
use super::robots::EnhancementRequestStatus;

/// How many references a search matches (SDK 0.17.6 `search.SearchResultTotal`): the
/// answer of a dry-run search enhancement request.
///
/// ```
/// use destiny_sdk::models::{from_json_str, SearchResultTotal};
/// let total: SearchResultTotal = from_json_str(r#"{"count": "12"}"#).unwrap();
/// assert_eq!(total, SearchResultTotal { count: 12, is_lower_bound: false });
/// assert_eq!(serde_json::to_string(&total).unwrap(), r#"{"count":12,"is_lower_bound":false}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResultTotal {
    /// References matching the search, counted exactly.
    #[serde(deserialize_with = "lax::int")]
    pub count: i64,
    /// Whether `count` is only a lower bound (deprecated upstream: totals are exact, so
    /// it is `false`).
    #[serde(default, deserialize_with = "lax::bool")]
    pub is_lower_bound: bool,
}

/// Progress of the search phase of a search-based enhancement request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnhancementRequestSearchStatus {
    /// Queued.
    Pending,
    /// The search is being read and enhancements requested.
    Searching,
    /// Every matching reference has had its enhancement requested.
    Completed,
    /// The search failed before every enhancement was requested.
    Failed,
}

impl EnhancementRequestSearchStatus {
    /// The wire spelling, such as `searching`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Searching => "searching",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Whether the search phase has stopped (`completed` or `failed`).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// A request to enhance every reference a search matches
/// (`POST /v1/enhancement-requests/search/`).
///
/// ```
/// use destiny_sdk::models::SearchEnhancementRequestIn;
/// let request = SearchEnhancementRequestIn {
///     robot_id: "3a533776-c9ad-4aac-a089-d654d509490c".parse().unwrap(),
///     search_query: "title:malaria".to_owned(),
///     source: None,
/// };
/// assert_eq!(
///     serde_json::to_string(&request).unwrap(),
///     r#"{"robot_id":"3a533776-c9ad-4aac-a089-d654d509490c","search_query":"title:malaria","source":null}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEnhancementRequestIn {
    /// The robot that creates the enhancements.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// A Lucene query string selecting the references to enhance (without a field, it
    /// searches titles and abstracts).
    pub search_query: String,
    /// Where the request comes from.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub source: Option<String>,
}

/// The status of a search-based enhancement request: the search phase, and the
/// enhancements it requested.
///
/// ```
/// use destiny_sdk::models::{from_json_str, EnhancementRequestSearchStatus, SearchEnhancementRequestRead};
/// let read: SearchEnhancementRequestRead = from_json_str(
///     r#"{"id": "019384a2-7c1e-7b3a-9f00-1a2b3c4d5e6f",
///         "robot_id": "3a533776-c9ad-4aac-a089-d654d509490c",
///         "search_status": "searching", "request_status": "processing",
///         "n_matched": 40, "enhancement_status_counts": {"pending": 30, "completed": 10}}"#,
/// ).unwrap();
/// assert_eq!(read.search_status, EnhancementRequestSearchStatus::Searching);
/// assert_eq!(read.n_enhancements_requested, 0);
/// assert_eq!(read.enhancement_status_counts.get("completed"), Some(10));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEnhancementRequestRead {
    /// The request id.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub id: Uuid,
    /// The robot that creates the enhancements.
    #[serde(deserialize_with = "ids::v4_or_v7")]
    pub robot_id: Uuid,
    /// Where the request comes from.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub source: Option<String>,
    /// Progress of reading the search and requesting enhancements.
    pub search_status: EnhancementRequestSearchStatus,
    /// Progress of the requested enhancements.
    pub request_status: EnhancementRequestStatus,
    /// References the search matched, once known.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    #[serde(deserialize_with = "lax::opt_int")]
    pub n_matched: Option<i64>,
    /// Enhancements requested so far.
    #[serde(default, deserialize_with = "lax::int")]
    pub n_enhancements_requested: i64,
    /// Requested enhancements per status (`pending`, `completed`...).
    #[serde(default)]
    pub enhancement_status_counts: StatusCounts,
    /// An error that stopped the whole request.
    #[serde(default, skip_serializing_if = "lax::omit_none")]
    pub error: Option<String>,
}

/// Counts per status, in the order the repository wrote them (a Python `dict[str, int]`):
/// written back in that order; a status given twice keeps its first place and its last
/// count, as a Python dict does.
///
/// ```
/// use destiny_sdk::models::{from_json_str, StatusCounts};
/// let counts: StatusCounts = from_json_str(r#"{"pending": 2, "failed": "1", "pending": 3}"#).unwrap();
/// assert_eq!(counts.iter().collect::<Vec<_>>(), [("pending", 3), ("failed", 1)]);
/// assert_eq!(serde_json::to_string(&counts).unwrap(), r#"{"pending":3,"failed":1}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusCounts(Vec<(String, i64)>);

impl StatusCounts {
    /// The count of `status`, if the repository gave one.
    pub fn get(&self, status: &str) -> Option<i64> {
        self.0.iter().find(|(s, _)| s == status).map(|(_, n)| *n)
    }

    /// Sets the count of `status`, keeping its place if it is already there.
    pub fn insert(&mut self, status: impl Into<String>, count: i64) {
        let status = status.into();
        match self.0.iter_mut().find(|(s, _)| *s == status) {
            Some(entry) => entry.1 = count,
            None => self.0.push((status, count)),
        }
    }

    /// The statuses and their counts, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(s, n)| (s.as_str(), *n))
    }

    /// How many statuses are counted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no status is counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sum of the counts.
    pub fn total(&self) -> i64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

impl<S: Into<String>> FromIterator<(S, i64)> for StatusCounts {
    fn from_iter<I: IntoIterator<Item = (S, i64)>>(iter: I) -> Self {
        let mut counts = Self::default();
        for (status, n) in iter {
            counts.insert(status, n);
        }
        counts
    }
}

impl Serialize for StatusCounts {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(self.0.len()))?;
        for (status, n) in &self.0 {
            map.serialize_entry(status, n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StatusCounts {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct CountsVisitor;
        impl<'de> Visitor<'de> for CountsVisitor {
            type Value = StatusCounts;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of integer counts")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StatusCounts, A::Error> {
                let mut counts = StatusCounts::default();
                while let Some(status) = map.next_key::<String>()? {
                    let lax::Lax(n) = map.next_value::<lax::Lax<i64>>()?;
                    counts.insert(status, n);
                }
                Ok(counts)
            }
        }
        de.deserialize_map(CountsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::from_json_str;

    use crate::models::test_ids::{V4 as ROBOT, V7 as ID};

    #[test]
    fn read_is_written_back_as_python_dumps_it() {
        // Python 0.17.6: SearchEnhancementRequestRead.model_validate_json(IN).model_dump_json()
        let input = format!(
            r#"{{"id":"{ID}","robot_id":"{ROBOT}","search_status":"pending","request_status":"received",
               "n_matched":"3","n_enhancements_requested":true,"enhancement_status_counts":{{"z":1,"a":"2","z":3.0}},"ignored":1}}"#
        );
        let read: SearchEnhancementRequestRead = from_json_str(&input).unwrap();
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            format!(
                r#"{{"id":"{ID}","robot_id":"{ROBOT}","source":null,"search_status":"pending","request_status":"received","n_matched":3,"n_enhancements_requested":1,"enhancement_status_counts":{{"z":3,"a":2}},"error":null}}"#
            )
        );
        assert_eq!(read.enhancement_status_counts.total(), 5);
    }

    #[test]
    fn defaults_and_refusals() {
        let minimal = format!(
            r#"{{"id":"{ID}","robot_id":"{ROBOT}","search_status":"failed","request_status":"failed"}}"#
        );
        let read: SearchEnhancementRequestRead = from_json_str(&minimal).unwrap();
        assert_eq!(
            (
                read.n_matched,
                read.n_enhancements_requested,
                read.enhancement_status_counts.is_empty()
            ),
            (None, 0, true)
        );
        assert!(read.search_status.is_terminal());
        assert!(!EnhancementRequestSearchStatus::Searching.is_terminal());

        let refused = |field: &str, value: &str| {
            let text = minimal.replacen('{', &format!(r#"{{"{field}":{value},"#), 1);
            from_json_str::<SearchEnhancementRequestRead>(&text).unwrap_err()
        };
        // pydantic refuses null for a non-optional int, and fractional or textual numbers.
        assert_eq!(
            refused("n_enhancements_requested", "null").path(),
            "n_enhancements_requested"
        );
        assert_eq!(refused("n_matched", "1.5").path(), "n_matched");
        let err = refused("enhancement_status_counts", r#"{"pending":"x"}"#);
        assert_eq!(err.path(), "enhancement_status_counts.pending", "{err}");
        assert_eq!(
            refused("search_status", r#""done""#).path(),
            "search_status"
        );
        let missing = format!(r#"{{"id":"{ID}","robot_id":"{ROBOT}","request_status":"failed"}}"#);
        let err = from_json_str::<SearchEnhancementRequestRead>(&missing).unwrap_err();
        assert!(err.message().contains("search_status"), "{err}");
    }

    #[test]
    fn totals_read_laxly() {
        let total: SearchResultTotal =
            from_json_str(r#"{"count": 5.0, "is_lower_bound": "yes"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&total).unwrap(),
            r#"{"count":5,"is_lower_bound":true}"#
        );
        let err = from_json_str::<SearchResultTotal>(r#"{"is_lower_bound": false}"#).unwrap_err();
        assert!(err.message().contains("count"), "{err}");
        let err = from_json_str::<SearchResultTotal>(r#"{"count": "many"}"#).unwrap_err();
        assert_eq!(err.path(), "count");
    }

    #[test]
    fn request_in_keeps_source_and_ignores_extras() {
        let text =
            format!(r#"{{"robot_id":"{ROBOT}","search_query":"malaria","source":"cli","x":1}}"#);
        let request: SearchEnhancementRequestIn = from_json_str(&text).unwrap();
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            format!(r#"{{"robot_id":"{ROBOT}","search_query":"malaria","source":"cli"}}"#)
        );
        let v1 = r#"{"robot_id":"c232ab00-9414-11ec-b3c8-9f6bdeced846","search_query":"q"}"#;
        assert_eq!(
            from_json_str::<SearchEnhancementRequestIn>(v1)
                .unwrap_err()
                .path(),
            "robot_id"
        );
    }

    #[test]
    fn counts_build_in_order() {
        let mut counts: StatusCounts = [("completed", 2), ("failed", 1)].into_iter().collect();
        counts.insert("completed", 4);
        counts.insert("pending", 0);
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            [("completed", 4), ("failed", 1), ("pending", 0)]
        );
        assert_eq!(
            (counts.len(), counts.get("failed"), counts.get("x")),
            (3, Some(1), None)
        );
    }
}
