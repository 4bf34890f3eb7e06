//! Enhancement requests ("enhance these references with that robot") and the pending
//! enhancements they create, one per reference.

use destiny_sdk::models::{
    EnhancementRequestIn, EnhancementRequestRead, EnhancementRequestSearchStatus, StatusCounts,
};
use sqlx::Row;
use std::collections::HashSet;
use uuid::Uuid;

use super::{Backend, Db};
use crate::error::ApiError;
use crate::lifecycle::{project_request_status, PendingStatus};

/// A search-based request's search: its query, how it went, how many it matched.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRecord {
    /// The Lucene query string.
    pub query: String,
    /// How the search went.
    pub status: EnhancementRequestSearchStatus,
    /// How many references it matched.
    pub n_matched: i64,
}

/// What the API needs to answer for a request, besides signed URLs.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The request as read by clients (URLs left empty; the API signs them).
    pub read: EnhancementRequestRead,
    /// Blob key of the legacy flow's reference file.
    pub reference_file: Option<String>,
    /// Blob key of the legacy flow's result file.
    pub result_file: Option<String>,
    /// Blob key of the validation file, once written.
    pub validation_file: Option<String>,
    /// Whether some of its pending enhancements are still to be written
    /// ([`crate::request_rows`]).
    pub writing_rows: bool,
}

/// A request whose pending enhancements are not all written ([`Db::next_due_rows`]).
#[derive(Debug, Clone)]
pub struct DueRows {
    /// The request.
    pub request: Uuid,
    /// The robot it is for.
    pub robot: Uuid,
    /// Its `source`.
    pub source: Option<String>,
    /// Its references, in order.
    pub reference_ids: Vec<Uuid>,
    /// How many of them have their pending enhancement written.
    pub written: usize,
}

/// Whether a new request's reference file is written when the request is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileWritten {
    /// Written already, under [`request_files`]'s key.
    Yes,
    /// To be written by a job; until then the request has no reference file.
    Later,
}

/// A request whose reference file is due: its robot and its references, in order.
#[derive(Debug, Clone)]
pub struct DueFile {
    /// The request.
    pub id: Uuid,
    /// The robot it is for (whose entitlements decide what the file holds).
    pub robot_id: Uuid,
    /// The references, in the request's order.
    pub reference_ids: Vec<Uuid>,
}

/// Whose pending enhancements [`Db::insert_pending`] writes.
struct Pending<'a> {
    request: Uuid,
    robot: Uuid,
    source: Option<&'a str>,
    now_us: i64,
}

/// Blob keys of a request's legacy-flow files: (reference file, result file); its
/// validation file is the batch's ([`super::batches::BatchRecord::validation_key`]).
///
/// ```
/// let id = uuid::Uuid::nil();
/// let (references, results) = destiny_repository::db::requests::request_files(id);
/// assert_eq!(references, format!("requests/{id}/references.jsonl"));
/// assert_eq!(results, format!("requests/{id}/results.jsonl"));
/// ```
pub fn request_files(id: Uuid) -> (String, String) {
    (
        format!("requests/{id}/references.jsonl"),
        format!("requests/{id}/results.jsonl"),
    )
}

impl Db {
    /// Creates a request and one `pending` enhancement per reference; the request's
    /// legacy-flow file keys ([`request_files`]) are recorded (the caller writes the
    /// reference file).
    ///
    /// # Errors
    /// 404 for an unknown robot; 422 for duplicate or unknown reference ids, or a
    /// `source` that cannot be stored ([`crate::text`]).
    pub async fn create_request(
        &self,
        req: &EnhancementRequestIn,
        now_us: i64,
    ) -> Result<Uuid, ApiError> {
        self.create_request_with_id(Uuid::new_v4(), req, None, FileWritten::Yes, now_us)
            .await
    }

    /// [`Db::create_request`] with the id chosen by the caller (who may have written the
    /// request's files under it first). With [`FileWritten::Later`] the reference file is
    /// not recorded: it is due ([`Db::next_due_reference_file`]) until
    /// [`Db::reference_file_written`]. Of a request over
    /// [`crate::request_rows::INLINE`] references only the first
    /// [`crate::request_rows::FIRST`] pending enhancements are written;
    /// [`Db::write_due_rows`] writes the others.
    ///
    /// # Errors
    /// As [`Db::create_request`].
    pub async fn create_request_with_id(
        &self,
        id: Uuid,
        req: &EnhancementRequestIn,
        search: Option<&SearchRecord>,
        file: FileWritten,
        now_us: i64,
    ) -> Result<Uuid, ApiError> {
        if let Some(source) = &req.source {
            crate::text::body_field(&["source"], source, None)?;
        }
        self.robot(req.robot_id).await?;
        let mut seen = HashSet::with_capacity(req.reference_ids.len());
        if let Some(dup) = req.reference_ids.iter().find(|id| !seen.insert(**id)) {
            return Err(ApiError::Unprocessable(format!(
                "Duplicate reference id {dup} in request."
            )));
        }
        // A search may match nothing; a list of ids may not be empty.
        if req.reference_ids.is_empty() && search.is_none() {
            return Err(ApiError::Unprocessable(
                "reference_ids must not be empty.".into(),
            ));
        }
        let ids_json = serde_json::to_string(&req.reference_ids)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        // Unknown references, in one statement over the ids as a JSON array (a request may
        // name 100,000 references: one statement each way, not hundreds).
        let missing: Vec<String> = sqlx::query_scalar(match self.backend() {
            Backend::Sqlite => {
                "SELECT j.value FROM json_each($1) AS j \
                 WHERE NOT EXISTS (SELECT 1 FROM refs r WHERE r.id = j.value) ORDER BY j.key"
            }
            Backend::Postgres => {
                "SELECT j.id FROM json_array_elements_text($1::json) WITH ORDINALITY AS j(id, n) \
                 WHERE NOT EXISTS (SELECT 1 FROM refs r WHERE r.id = j.id) ORDER BY j.n"
            }
        })
        .bind(&ids_json)
        .fetch_all(self.reader())
        .await?;
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
            return Err(ApiError::Unprocessable(format!(
                "{} reference(s) do not exist: {}{}",
                missing.len(),
                shown.join(", "),
                if missing.len() > 5 { ", ..." } else { "" }
            )));
        }
        let (reference_file, result_file) = request_files(id);
        let reference_file = (file == FileWritten::Yes).then_some(reference_file);
        let inline = crate::request_rows::with_request(req.reference_ids.len());
        let pending_written = (inline < req.reference_ids.len()).then_some(inline as i64);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO enhancement_requests (id, robot_id, source, reference_ids, created_at, \
             reference_file, result_file, search_query, search_status, n_matched, \
             pending_written) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.to_string())
        .bind(req.robot_id.to_string())
        .bind(req.source.clone())
        .bind(ids_json)
        .bind(now_us)
        .bind(reference_file)
        .bind(result_file)
        .bind(search.map(|r| r.query.clone()))
        .bind(search.map(|r| r.status.as_str()))
        .bind(search.map(|r| r.n_matched))
        .bind(pending_written)
        .execute(&mut *tx)
        .await?;
        let pending = Pending {
            request: id,
            robot: req.robot_id,
            source: req.source.as_deref(),
            now_us,
        };
        self.insert_pending(&mut tx, &pending, &req.reference_ids[..inline])
            .await?;
        tx.commit().await?;
        self.note_changes(inline as u64);
        Ok(id)
    }

    /// One `pending` enhancement per reference of `references`, in their order (`seq` is
    /// the poll order), from a JSON array of [id, reference] pairs in one statement (a
    /// request may name 100,000 references).
    async fn insert_pending(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        of: &Pending<'_>,
        references: &[Uuid],
    ) -> Result<(), ApiError> {
        let pairs: Vec<[String; 2]> = references
            .iter()
            .map(|r| [Uuid::new_v4().to_string(), r.to_string()])
            .collect();
        let pairs = serde_json::to_string(&pairs).map_err(|e| ApiError::Internal(e.to_string()))?;
        let pending = PendingStatus::Pending.sql();
        let insert = match self.backend() {
            Backend::Sqlite => format!(
                "INSERT INTO pending_enhancements (id, reference_id, robot_id, request_id, status, \
                 source, created_at, updated_at) \
                 SELECT json_extract(p.value, '$[0]'), json_extract(p.value, '$[1]'), $2, $3, \
                 {pending}, $4, $5, $5 FROM json_each($1) AS p ORDER BY p.key"
            ),
            Backend::Postgres => format!(
                "INSERT INTO pending_enhancements (id, reference_id, robot_id, request_id, status, \
                 source, created_at, updated_at) \
                 SELECT p.v ->> 0, p.v ->> 1, $2, $3, {pending}, $4, $5, $5 \
                 FROM json_array_elements($1::json) WITH ORDINALITY AS p(v, n) ORDER BY p.n"
            ),
        };
        sqlx::query(&insert)
            .bind(pairs)
            .bind(of.robot.to_string())
            .bind(of.request.to_string())
            .bind(of.source.map(str::to_owned))
            .bind(of.now_us)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Whether some request's pending enhancements are still to be written (one index
    /// probe).
    ///
    /// # Errors
    /// Database errors.
    pub async fn request_rows_due(&self) -> Result<bool, ApiError> {
        let probe = "SELECT 1 FROM enhancement_requests WHERE pending_written IS NOT NULL LIMIT 1";
        Ok(sqlx::query(probe)
            .fetch_optional(self.reader())
            .await?
            .is_some())
    }

    /// The oldest request that has pending enhancements still to write, if any: read once
    /// for all its chunks (the id list of a large request is megabytes).
    ///
    /// # Errors
    /// Database errors.
    pub async fn next_due_rows(&self) -> Result<Option<DueRows>, ApiError> {
        let due = "SELECT id, robot_id, source, reference_ids, pending_written \
                   FROM enhancement_requests WHERE pending_written IS NOT NULL \
                   ORDER BY created_at, id LIMIT 1";
        let Some(row) = sqlx::query(due).fetch_optional(self.reader()).await? else {
            return Ok(None);
        };
        let ids: String = row.try_get("reference_ids")?;
        let reference_ids: Vec<Uuid> =
            serde_json::from_str(&ids).map_err(|e| ApiError::Internal(e.to_string()))?;
        let written: i64 = row.try_get("pending_written")?;
        Ok(Some(DueRows {
            request: super::uuid_at(&row, "id")?,
            robot: super::uuid_at(&row, "robot_id")?,
            source: row.try_get("source")?,
            written: usize::try_from(written).unwrap_or(0).min(reference_ids.len()),
            reference_ids,
        }))
    }

    /// Writes `due`'s pending enhancements `from..to` and records that `to` are written
    /// (all of them when `to` is the end), in one transaction. (Callers take
    /// [`super::cluster_lock::ClusterKey::RequestRows`]; a writer that finds the count is
    /// no longer `from` writes nothing.)
    ///
    /// # Errors
    /// Database errors (nothing of the chunk is then written).
    pub async fn write_due_rows(
        &self,
        due: &DueRows,
        from: usize,
        to: usize,
        now_us: i64,
    ) -> Result<(), ApiError> {
        let pending = Pending {
            request: due.request,
            robot: due.robot,
            source: due.source.as_deref(),
            now_us,
        };
        let mut tx = self.begin_write().await?;
        self.insert_pending(&mut tx, &pending, &due.reference_ids[from..to])
            .await?;
        let moved = sqlx::query(
            "UPDATE enhancement_requests SET pending_written = $1 \
             WHERE id = $2 AND pending_written = $3",
        )
        .bind((to < due.reference_ids.len()).then_some(to as i64))
        .bind(due.request.to_string())
        .bind(from as i64)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(ApiError::Internal(format!(
                "request {}'s pending enhancements were written by another server",
                due.request
            )));
        }
        tx.commit().await?;
        self.checkpoint_behind();
        self.note_changes((to - from) as u64);
        Ok(())
    }

    /// Whether some request's reference file is still to be written (one index probe).
    ///
    /// # Errors
    /// Database errors.
    pub async fn reference_file_due(&self) -> Result<bool, ApiError> {
        Ok(sqlx::query(
            "SELECT 1 FROM enhancement_requests \
             WHERE reference_file IS NULL AND pending_written IS NULL LIMIT 1",
        )
            .fetch_optional(self.reader())
            .await?
            .is_some())
    }

    /// The oldest request whose reference file is still to be written, if any.
    ///
    /// # Errors
    /// Database errors.
    pub async fn next_due_reference_file(&self) -> Result<Option<DueFile>, ApiError> {
        let Some(row) = sqlx::query(
            "SELECT id, robot_id, reference_ids FROM enhancement_requests \
             WHERE reference_file IS NULL AND pending_written IS NULL \
             ORDER BY created_at, id LIMIT 1",
        )
        .fetch_optional(self.reader())
        .await?
        else {
            return Ok(None);
        };
        let ids: String = row.try_get("reference_ids")?;
        Ok(Some(DueFile {
            id: super::uuid_at(&row, "id")?,
            robot_id: super::uuid_at(&row, "robot_id")?,
            reference_ids: serde_json::from_str(&ids)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        }))
    }

    /// Records that `id`'s reference file is written, under [`request_files`]'s key.
    ///
    /// # Errors
    /// Database errors.
    pub async fn reference_file_written(&self, id: Uuid) -> Result<(), ApiError> {
        let (key, _) = request_files(id);
        sqlx::query(
            "UPDATE enhancement_requests SET reference_file = $2 \
             WHERE id = $1 AND reference_file IS NULL",
        )
        .bind(id.to_string())
        .bind(key)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// A request, with its status projected from its pending enhancements.
    ///
    /// # Errors
    /// 404 when unknown.
    pub async fn request(&self, id: Uuid) -> Result<RequestRecord, ApiError> {
        let read = "SELECT robot_id, source, reference_ids, error, reference_file, \
                    result_file, validation_file, pending_written FROM enhancement_requests \
                    WHERE id = $1";
        let row = self.row_by_id(read, id, "EnhancementRequest").await?;
        // One row per distinct status: the projection needs which statuses occur, not
        // every pending enhancement (a 20,000-reference request read them all before).
        let mut statuses: Vec<PendingStatus> =
            sqlx::query("SELECT DISTINCT status FROM pending_enhancements WHERE request_id = $1")
                .bind(id.to_string())
                .fetch_all(self.reader())
                .await?
                .iter()
                .filter_map(|r| {
                    r.try_get::<String, _>(0)
                        .ok()
                        .and_then(|s| PendingStatus::parse(&s))
                })
                .collect();
        // Those still to be written ([`crate::request_rows`]) are pending in effect.
        let writing_rows = row.try_get::<Option<i64>, _>("pending_written")?.is_some();
        if writing_rows {
            statuses.push(PendingStatus::Pending);
        }
        let ids: String = row.try_get("reference_ids")?;
        let read = EnhancementRequestRead {
            robot_id: super::uuid_at(&row, "robot_id")?,
            reference_ids: serde_json::from_str(&ids)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            source: row.try_get("source")?,
            id,
            request_status: project_request_status(statuses),
            reference_data_url: None,
            result_storage_url: None,
            validation_result_url: None,
            error: row.try_get("error")?,
        };
        Ok(RequestRecord {
            read,
            reference_file: row.try_get("reference_file")?,
            result_file: row.try_get("result_file")?,
            validation_file: row.try_get("validation_file")?,
            writing_rows,
        })
    }

    /// A search-based request's search, and its pending enhancements counted by status.
    ///
    /// # Errors
    /// 404 when unknown, or not a search-based request; database errors.
    pub async fn search_request(&self, id: Uuid) -> Result<(SearchRecord, StatusCounts), ApiError> {
        let row = self
            .row_by_id(
                "SELECT search_query, search_status, n_matched, pending_written \
                 FROM enhancement_requests WHERE id = $1 AND search_status IS NOT NULL",
                id,
                "SearchEnhancementRequest",
            )
            .await?;
        let status: String = row.try_get("search_status")?;
        let status = serde_json::from_value(serde_json::Value::String(status.clone()))
            .map_err(|_| ApiError::Internal(format!("unknown search status {status:?}")))?;
        let record = SearchRecord {
            query: row.try_get("search_query")?,
            status,
            n_matched: row.try_get("n_matched")?,
        };
        let mut counts = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM pending_enhancements WHERE request_id = $1 \
             GROUP BY status ORDER BY status",
        )
        .bind(id.to_string())
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<String, _>("status")?, r.try_get::<i64, _>("n")?)))
        .collect::<Result<StatusCounts, sqlx::Error>>()?;
        // Those still to be written ([`crate::request_rows`]) are pending in effect: a
        // search request names every match.
        if let Some(written) = row.try_get::<Option<i64>, _>("pending_written")? {
            let unwritten = record.n_matched - written;
            let pending = PendingStatus::Pending.as_str();
            counts.insert(pending, counts.get(pending).unwrap_or(0) + unwritten);
        }
        Ok((record, counts))
    }
}
