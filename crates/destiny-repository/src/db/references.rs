//! References and their stored enhancements.

use destiny_sdk::models::{
    DateTime, Enhancement, EnhancementContent, IdentifierLookup, Reference, TombstoneContent,
    Visibility,
};
use sqlx::any::AnyRow;
use sqlx::any::AnyArguments;
use sqlx::{Any, AnyConnection, Arguments, Row, Transaction};
use std::collections::HashMap;
use uuid::Uuid;

use super::{bind_ids, id_list, insert_values, placeholders, uuid_at, Backend, Db, Query};
use destiny_sdk::jsonl;
use crate::error::ApiError;

/// How many ids go in one `IN (...)` list.
const CHUNK: usize = 500;

/// How long one transaction of an import may hold SQLite's writer when nobody else waits
/// for it. Each commit writes every page the transaction changed, and an import's index
/// pages are random (ids are random UUIDs), so a longer transaction writes such a page
/// once for more of its rows. Whoever waits for the writer meanwhile (a robot's claim)
/// ends the turn at the next step instead ([`Db::writer_wanted`]).
pub const SQLITE_IMPORT_TURN: std::time::Duration = std::time::Duration::from_secs(3);

/// The same on PostgreSQL, where a commit costs little and writers do not wait for each
/// other: short, so an import's references can be read soon after they are written.
pub const POSTGRES_IMPORT_TURN: std::time::Duration = std::time::Duration::from_millis(200);

/// Transactions an import writes at the same time on PostgreSQL.
const IMPORT_WRITERS: usize = 2;

/// References written between two checks of the turn ([`SQLITE_IMPORT_TURN`]).
const IMPORT_STEP: usize = 250;

/// The 409 of an import whose reference exists already.
fn exists(id: Uuid) -> ApiError {
    ApiError::Conflict(format!("Reference {id} already exists."))
}

/// An enhancement as it is stored: the JSON text of its content and of its derivation,
/// and its fingerprint, the identity of its data for discarding exact duplicates (a
/// SHA-256 of its source, visibility, robot version, derivation and content; its id and
/// reference excluded). Computed once per enhancement, for the duplicate check and the
/// insert alike.
#[derive(Debug, Clone)]
pub struct StoredForm {
    /// The content's JSON text as a reference file carries it (`None` fields left out).
    pub content: String,
    /// `derived_from` as JSON text.
    pub derived: Option<String>,
    /// The fingerprint (hex).
    pub fingerprint: String,
}

impl StoredForm {
    /// The stored form of `e`.
    ///
    /// # Errors
    /// [`ApiError::Internal`] if it cannot be serialised (it always can).
    pub fn of(e: &Enhancement) -> Result<Self, ApiError> {
        use sha2::{Digest, Sha256};
        let internal = |err: serde_json::Error| ApiError::Internal(err.to_string());
        let derived = e
            .derived_from
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(internal)?;
        // `supersedes` counts only when set, so the fingerprints stored before it existed
        // still match: an enhancement that reverts a chain to an earlier content is not a
        // duplicate of that earlier, superseded one.
        let mut head =
            serde_json::json!([e.source, e.visibility, e.robot_version, e.derived_from]);
        if let (Some(target), Some(list)) = (e.supersedes, head.as_array_mut()) {
            list.push(target.to_string().into());
        }
        // The fingerprint is of the content with its `None` fields written as `null`, as
        // every stored fingerprint has been; the stored text leaves them out.
        let mut h = Sha256::new();
        h.update(head.to_string().as_bytes());
        h.update(b"\n");
        h.update(serde_json::to_string(&e.content).map_err(internal)?.as_bytes());
        Ok(Self {
            content: jsonl::to_piece(&e.content).map_err(|err| ApiError::Internal(err.to_string()))?,
            derived,
            fingerprint: hex::encode(h.finalize()),
        })
    }
}

/// The JSON line of a stored enhancement `e` (given its `id` and when it is stored) in two
/// pieces, before and after its content, so that a reference file joins stored text
/// instead of rebuilding the model. The line is written with a small stand-in content
/// (its content is serialised once, for [`StoredForm::content`], and not copied here).
fn wire_pieces(e: &Enhancement, id: Uuid, created_at: DateTime) -> Result<(String, String), ApiError> {
    const STAND_IN: &str = r#"{"enhancement_type":"tombstone"}"#;
    let line = jsonl::to_piece(&Enhancement {
        id: Some(id),
        reference_id: e.reference_id,
        source: e.source.clone(),
        visibility: e.visibility,
        robot_version: e.robot_version.clone(),
        derived_from: e.derived_from.clone(),
        supersedes: e.supersedes,
        content: EnhancementContent::Tombstone(TombstoneContent::default()),
        created_at: Some(created_at),
    })
    .map_err(|err| ApiError::Internal(err.to_string()))?;
    // The content's key is the first `"content":` of the line: inside a JSON string the
    // quote after `content` would be escaped.
    let key = "\"content\":";
    let head_end = line.find(key).map(|at| at + key.len());
    match head_end {
        Some(end) if line[end..].starts_with(STAND_IN) => Ok((
            line[..end].to_owned(),
            line[end + STAND_IN.len()..].to_owned(),
        )),
        _ => Err(ApiError::Internal(format!(
            "the line of enhancement {id} does not hold its content where expected"
        ))),
    }
}

/// Binds the 13 values of an `enhancements` row (in the order of [`ENHANCEMENT_COLUMNS`])
/// to `args`: `e` stored as `form`, with id `id`, stored at `created_at` (`now_us`).
///
/// # Errors
/// [`ApiError::Internal`] if a value cannot be bound or the line cannot be written (never).
fn bind_enhancement(
    args: &mut AnyArguments<'static>,
    e: &Enhancement,
    form: StoredForm,
    id: Uuid,
    created_at: &DateTime,
    now_us: i64,
) -> Result<(), ApiError> {
    let (head, tail) = wire_pieces(e, id, created_at.clone())?;
    bind(args, id.to_string())?;
    bind(args, e.reference_id.to_string())?;
    bind(args, e.source.clone())?;
    bind(args, e.visibility.as_str())?;
    bind(args, e.robot_version.clone())?;
    bind(args, form.derived)?;
    bind(args, form.content)?;
    bind(args, form.fingerprint)?;
    bind(args, now_us)?;
    bind(args, e.supersedes.map(|t| t.to_string()))?;
    bind(args, e.content.enhancement_type().to_owned())?;
    bind(args, head)?;
    bind(args, tail)
}

/// Binds `value` as the next parameter of `args`.
///
/// # Errors
/// [`ApiError::Internal`] if it cannot be (never, for the types bound here).
fn bind<T>(args: &mut AnyArguments<'static>, value: T) -> Result<(), ApiError>
where
    T: sqlx::Encode<'static, Any> + sqlx::Type<Any> + 'static,
{
    args.add(value)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The columns [`bind_enhancement`] binds, in its order.
const ENHANCEMENT_COLUMNS: &str = "id, reference_id, source, visibility, robot_version, \
    derived_from, content, fingerprint, created_at, supersedes, enhancement_type, wire_head, \
    wire_tail";

/// The `INSERT` of `rows` enhancement rows on `backend`, an identical one (a duplicate)
/// skipped.
fn insert_enhancements_sql(backend: Backend, rows: usize) -> String {
    let values = insert_values(backend, rows, 13);
    format!(
        "INSERT INTO enhancements ({ENHANCEMENT_COLUMNS}) VALUES {values} \
         ON CONFLICT (reference_id, fingerprint) DO NOTHING"
    )
}

/// Enhancement rows per `INSERT` (13 parameters each; [`insert_values`] keeps binding them
/// linear on SQLite).
const INSERT_ROWS: usize = 200;

/// An enhancement to store, with its stored form.
type Item<'a> = (&'a Enhancement, &'a StoredForm);

/// Stores enhancements, each unless an identical one is already on its reference (or
/// earlier in `items`); returns, per item, whether it was stored. An enhancement's id is
/// assigned when absent. One multi-row `INSERT … ON CONFLICT DO NOTHING` per
/// `INSERT_ROWS` items (and, only when some were duplicates, a `SELECT` of their ids).
///
/// The ids in `items` must be new and distinct (absent, or the caller's own fresh ids):
/// an item is reported stored when a row with its id exists after the insert.
///
/// # Errors
/// 422 when a text field cannot be stored ([`crate::text`]); database errors (an
/// unknown reference is a foreign-key violation: 422).
pub async fn insert_enhancements(
    tx: &mut Transaction<'static, Any>,
    items: &[Item<'_>],
    now_us: i64,
) -> Result<Vec<bool>, ApiError> {
    // Callers refuse these earlier, where they can name the line; this keeps a database
    // error (PostgreSQL refuses NUL in `text`) from ever being the refusal.
    for (e, _) in items {
        if let Err((field, problem)) = crate::text::check_enhancement(e) {
            return Err(ApiError::Unprocessable(format!(
                "An enhancement of reference {} cannot be stored: {field}: {problem}",
                e.reference_id
            )));
        }
    }
    let mut stored = Vec::with_capacity(items.len());
    let all_ids: Vec<Uuid> = items
        .iter()
        .map(|(e, _)| e.id.unwrap_or_else(Uuid::new_v4))
        .collect();
    let created_at = stored_at(now_us)?;
    let chunks: Vec<(&[Item], &[Uuid])> = items
        .chunks(INSERT_ROWS)
        .zip(all_ids.chunks(INSERT_ROWS))
        .collect();
    let sqls: Vec<String> = chunks
        .iter()
        .map(|(chunk, _)| insert_enhancements_sql(Backend::of(tx), chunk.len()))
        .collect();
    let statement = |k: usize| -> Result<Query<'_>, ApiError> {
        let mut args = AnyArguments::default();
        let (chunk, ids) = chunks[k];
        for ((e, form), id) in chunk.iter().zip(ids) {
            bind_enhancement(&mut args, e, (*form).clone(), *id, &created_at, now_us)?;
        }
        Ok(sqlx::query_with(&sqls[k], args))
    };
    let mut next = (!chunks.is_empty()).then(|| statement(0)).transpose()?;
    for (k, (chunk, ids)) in chunks.iter().enumerate() {
        let Some(q) = next.take() else { break };
        // The next statement is made while the database runs this one.
        let (done, made) = tokio::join!(q.execute(&mut **tx), async {
            (k + 1 < chunks.len()).then(|| statement(k + 1)).transpose()
        });
        let done = done?;
        next = made?;
        if done.rows_affected() == chunk.len() as u64 {
            stored.extend(std::iter::repeat_n(true, chunk.len()));
            continue;
        }
        // Some were duplicates (callers usually weed them out first): find which rows went
        // in. Ids are fresh or the robot's own, so an id found is a row this call stored.
        let sql = format!(
            "SELECT id FROM enhancements WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let q = bind_ids(sqlx::query(&sql), ids);
        let inserted = q
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|row| uuid_at(row, "id"))
            .collect::<Result<std::collections::HashSet<Uuid>, sqlx::Error>>()?;
        stored.extend(ids.iter().map(|id| inserted.contains(id)));
    }
    for ((e, _), (id, stored)) in items.iter().zip(all_ids.iter().zip(&stored)) {
        if let (Some(target), true) = (e.supersedes, stored) {
            supersede(tx, target, *id, e.reference_id).await?;
        }
    }
    Ok(stored)
}

/// Records that `successor` supersedes `target`, which must still head its chain on
/// `reference`. The import checked that before writing its validation file; a
/// concurrent import that superseded it first makes this one fail as busy, to be retried
/// (and then refused with the reason in its validation file).
async fn supersede(
    tx: &mut Transaction<'static, Any>,
    target: Uuid,
    successor: Uuid,
    reference: Uuid,
) -> Result<(), ApiError> {
    let done = sqlx::query(
        "UPDATE enhancements SET superseded_by = $1 \
         WHERE id = $2 AND reference_id = $3 AND superseded_by IS NULL",
    )
    .bind(successor.to_string())
    .bind(target.to_string())
    .bind(reference.to_string())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::Busy(format!(
            "Enhancement {target} was superseded by another import meanwhile."
        )));
    }
    Ok(())
}

fn visibility(s: &str) -> Visibility {
    match s {
        "restricted" => Visibility::Restricted,
        "hidden" => Visibility::Hidden,
        _ => Visibility::Public,
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// When a row was stored (microseconds since the epoch) as pydantic writes a datetime.
fn stored_at(micros: i64) -> Result<DateTime, sqlx::Error> {
    let decode = |e: String| sqlx::Error::Decode(e.into());
    let at = jiff::Timestamp::from_microsecond(micros).map_err(|e| decode(e.to_string()))?;
    at.to_string().parse().map_err(decode)
}

fn enhancement_of(row: &AnyRow) -> Result<Enhancement, sqlx::Error> {
    let derived: Option<String> = row.try_get("derived_from")?;
    let content: String = row.try_get("content")?;
    Ok(Enhancement {
        id: Some(uuid_at(row, "id")?),
        reference_id: uuid_at(row, "reference_id")?,
        source: row.try_get("source")?,
        visibility: visibility(&row.try_get::<String, _>("visibility")?),
        robot_version: row.try_get("robot_version")?,
        derived_from: derived.as_deref().map(decode).transpose()?,
        supersedes: row
            .try_get::<Option<String>, _>("supersedes")?
            .map(|t| Uuid::parse_str(&t))
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        content: decode(&content)?,
        created_at: Some(stored_at(row.try_get("created_at")?)?),
    })
}

impl Db {
    /// Stores references (and the enhancements they carry), all or nothing; ids are
    /// assigned to references and enhancements that have none. Returns the reference ids
    /// in input order.
    ///
    /// A large import must not hold the writer (SQLite's only one) for its whole length,
    /// or robots' polls wait behind it: the ids are checked first (repeated in the body,
    /// or already stored: 409 before anything is written), then the references are
    /// written in chunks, each its own transaction holding the writer for at most
    /// [`SQLITE_IMPORT_TURN`] ([`POSTGRES_IMPORT_TURN`], `IMPORT_WRITERS` chunks at a
    /// time) and ending early when another caller waits for the writer, so a claim takes
    /// the writer after one step (`IMPORT_STEP` references). After each commit the WAL is
    /// copied back in the background ([`Db::checkpoint_behind`]). Should a chunk fail all
    /// the same (a concurrent import took one of the ids meanwhile, the disk filled up),
    /// the chunks already written are deleted before the error is returned. While an
    /// import runs, the references of its written chunks can already be read. An import
    /// never supersedes: the route refuses `supersedes` and tombstones in its lines.
    ///
    /// # Errors
    /// 409 when a reference id exists already or is repeated; database errors.
    pub async fn insert_references(
        &self,
        refs: Vec<Reference>,
        now_us: i64,
    ) -> Result<Vec<Uuid>, ApiError> {
        let ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
        if let Some(twice) = destiny_sdk::models::first_duplicate(&ids) {
            return Err(exists(twice));
        }
        if let Some(stored) = self.first_stored(&ids).await? {
            return Err(exists(stored));
        }
        let refs = std::sync::Mutex::new(refs.into_iter());
        let written = std::sync::Mutex::new(Vec::with_capacity(ids.len()));
        // One writer on SQLite (it has one); on PostgreSQL two, so that while one
        // transaction's rows are made here the other's are written by the database.
        let writers = match self.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => IMPORT_WRITERS,
        };
        let results = futures_util::future::join_all(
            (0..writers).map(|_| self.insert_chunks(&refs, &written, now_us)),
        )
        .await;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            let written = written.into_inner().unwrap_or_else(|p| p.into_inner());
            if let Err(undo) = self.delete_references(&written).await {
                tracing::error!(error = %undo, references = written.len(),
                    "an import failed part-way and its written references could not be removed");
            }
            return Err(e);
        }
        Ok(ids)
    }

    /// Writes chunks of the references left in `refs` until none is left (or another
    /// writer failed), adding their ids to `written` as each commits.
    async fn insert_chunks(
        &self,
        refs: &std::sync::Mutex<std::vec::IntoIter<Reference>>,
        written: &std::sync::Mutex<Vec<Uuid>>,
        now_us: i64,
    ) -> Result<(), ApiError> {
        // The next step is made on a blocking thread while this one is written.
        let next = || {
            let refs: Vec<Reference> = {
                let mut left = refs.lock().unwrap_or_else(|p| p.into_inner());
                left.by_ref().take(IMPORT_STEP).collect()
            };
            let backend = self.backend();
            tokio::task::spawn_blocking(move || Step::of(refs, backend, now_us))
        };
        let made = |joined: Result<Result<Step, ApiError>, tokio::task::JoinError>| {
            joined.map_err(|e| ApiError::Internal(format!("preparing an import failed: {e}")))?
        };
        let turn = match self.backend() {
            Backend::Sqlite => SQLITE_IMPORT_TURN,
            Backend::Postgres => POSTGRES_IMPORT_TURN,
        };
        let all = async {
            let mut step = made(next().await)?;
            while !step.ids.is_empty() {
                let mut tx = self.begin_write().await?;
                // Timed from when the writer is ours (waiting for it is not our turn), and
                // at least one step per turn, so an import always moves on.
                let started = std::time::Instant::now();
                let mut chunk_ids = Vec::new();
                loop {
                    let ids = std::mem::take(&mut step.ids);
                    let (written, following) = tokio::join!(step.write(self, &mut tx), next());
                    written?;
                    chunk_ids.extend(ids);
                    step = made(following)?;
                    if step.ids.is_empty() || started.elapsed() >= turn || self.writer_wanted()
                    {
                        break;
                    }
                }
                tx.commit().await?;
                self.checkpoint_behind();
                written
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(chunk_ids);
            }
            Ok::<(), ApiError>(())
        };
        let outcome = all.await;
        if outcome.is_err() {
            // The other writers stop at their next step: nothing more is written.
            *refs.lock().unwrap_or_else(|p| p.into_inner()) = Vec::new().into_iter();
        }
        outcome
    }

    /// The first of `ids` already stored, if any.
    async fn first_stored(&self, ids: &[Uuid]) -> Result<Option<Uuid>, ApiError> {
        let mut conn = self.reader().acquire().await?;
        for chunk in ids.chunks(CHUNK) {
            let stored = stored_refs(&mut *conn, self.backend(), chunk).await?;
            if let Some(id) = stored.into_iter().next() {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Removes the references `ids` and their enhancements (an import undone).
    async fn delete_references(&self, ids: &[Uuid]) -> Result<(), ApiError> {
        for chunk in ids.chunks(CHUNK) {
            let mut tx = self.begin_write().await?;
            for table_column in [
                "enhancements WHERE reference_id",
                "reference_identifiers WHERE reference_id",
                "refs WHERE id",
            ] {
                let sql = format!(
                    "DELETE FROM {table_column} IN ({})",
                    placeholders(1, chunk.len())
                );
                let q = bind_ids(sqlx::query(&sql), chunk);
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// A reference with its enhancements.
    ///
    /// # Errors
    /// 404 when unknown.
    pub async fn reference(&self, id: Uuid) -> Result<Reference, ApiError> {
        let mut found = self.references_by_id(&[id]).await?;
        found
            .pop()
            .ok_or_else(|| ApiError::NotFound(format!("Reference with id {id} does not exist.")))
    }

    /// References with their enhancements, in the order of `ids` (unknown ids skipped).
    ///
    /// # Errors
    /// Database errors.
    pub async fn references_by_id(&self, ids: &[Uuid]) -> Result<Vec<Reference>, ApiError> {
        let mut conn = self.reader().acquire().await?;
        references_in(&mut conn, ids).await
    }

    /// The references any of `lookups` names (a DESTINY id, or an identifier's type and
    /// value compared as written), each once, in the order of the first lookup naming it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn references_by_identifiers(
        &self,
        lookups: &[IdentifierLookup],
    ) -> Result<Vec<Reference>, ApiError> {
        let mut conn = self.reader().acquire().await?;
        let mut ids = Vec::new();
        for lookup in lookups {
            let Some(kind) = lookup.identifier_type else {
                // The lookup parsed it as a UUID already.
                ids.extend(Uuid::parse_str(&lookup.identifier).ok());
                continue;
            };
            let rows = sqlx::query(
                "SELECT DISTINCT reference_id FROM reference_identifiers \
                 WHERE identifier = $1 AND identifier_type = $2 \
                 AND COALESCE(other_name, '') = COALESCE($3, '') ORDER BY reference_id",
            )
            .bind(&lookup.identifier)
            .bind(kind.as_str())
            .bind(lookup.other_identifier_name.clone())
            .fetch_all(&mut *conn)
            .await?;
            for row in &rows {
                ids.push(uuid_at(row, "reference_id")?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        references_in(&mut conn, &ids).await
    }

    /// Appends to `buf` the reference-file lines of the references `ids` (in that order;
    /// unknown ids left out), each joined from the pieces stored with its rows
    /// (`wire_pieces`) without reading the models. Full texts are left out unless
    /// `full_text`. Answers `false`, with `buf` as it was, when one of the references or
    /// of their enhancements was stored before the pieces were: the caller writes those
    /// from the models ([`Db::references_by_id`]).
    ///
    /// # Errors
    /// Database errors.
    pub async fn reference_lines(
        &self,
        ids: &[Uuid],
        full_text: bool,
        buf: &mut Vec<u8>,
    ) -> Result<bool, ApiError> {
        let join = match self.backend() {
            Backend::Sqlite => "group_concat",
            Backend::Postgres => "string_agg",
        };
        let texts = if full_text {
            ""
        } else {
            " AND (e.enhancement_type IS NULL OR e.enhancement_type <> 'full_text')"
        };
        // Per reference, its enhancements joined (`''` when it has none), or NULL when one
        // of them has no pieces. A subquery per reference rather than a join grouped by
        // reference: grouping would sort the references' lines.
        let sql = format!(
            "SELECT r.id, r.wire, (SELECT CASE WHEN COUNT(e.wire_head) < COUNT(*) THEN NULL \
             ELSE COALESCE({join}(e.wire_head || e.content || e.wire_tail, ',' \
             ORDER BY e.created_at, e.id), '') END \
             FROM enhancements e WHERE e.reference_id = r.id \
             AND e.superseded_by IS NULL{texts}) AS enhancements \
             FROM refs r WHERE r.id IN ({})",
            id_list(self.backend(), ids.len())
        );
        let rows = bind_ids(sqlx::query(&sql), ids)
            .fetch_all(self.reader())
            .await?;
        let mut lines: HashMap<Uuid, (String, String)> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let wire: Option<String> = row.try_get("wire")?;
            let enhancements: Option<String> = row.try_get("enhancements")?;
            let (Some(wire), Some(enhancements)) = (wire, enhancements) else {
                return Ok(false);
            };
            lines.insert(uuid_at(row, "id")?, (wire, enhancements));
        }
        for id in ids {
            let Some((wire, enhancements)) = lines.remove(id) else {
                continue;
            };
            // The reference's piece is its object without `enhancements`, its last field.
            let Some(open) = wire.strip_suffix('}') else {
                return Err(ApiError::Internal(format!(
                    "the stored line of reference {id} is not a JSON object"
                )));
            };
            let start = buf.len();
            buf.extend_from_slice(open.as_bytes());
            buf.extend_from_slice(b",\"enhancements\":[");
            buf.extend_from_slice(enhancements.as_bytes());
            buf.extend_from_slice(b"]}");
            jsonl::end_line(buf, start);
        }
        Ok(true)
    }
}

/// Rows of `refs` or `reference_identifiers` per statement (5 or 4 values each).
const REF_ROWS: usize = 200;

/// One identifier of a reference as [`Db::references_by_identifiers`] finds it: type,
/// `other` name and value as text (a PubMed id's digits), read from the identifier's JSON
/// (as stored) so that an identifier type newer than this SDK is found too. `None` when
/// the JSON lacks a type or value.
fn identifier_row(json: &serde_json::Value) -> Option<(String, Option<String>, String)> {
    let text = |field: &str| match json.get(field) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some((
        text("identifier_type")?,
        text("other_identifier_name"),
        text("identifier")?,
    ))
}

/// A statement of an import made ready off the runtime: its SQL and its values.
struct Ready {
    sql: String,
    args: AnyArguments<'static>,
    /// For a `refs` insert, its references (one of them stored meanwhile by another import
    /// is named in the 409).
    refs: Vec<Uuid>,
}

/// Values bound into one multi-row `INSERT`, its rows counted.
#[derive(Default)]
struct Rows {
    args: AnyArguments<'static>,
    count: usize,
    /// Of `refs` rows, their references.
    refs: Vec<Uuid>,
}

impl Rows {
    /// Adds one value to the current row.
    fn add<T>(&mut self, value: T) -> Result<(), ApiError>
    where
        T: sqlx::Encode<'static, Any> + sqlx::Type<Any> + 'static,
    {
        bind(&mut self.args, value)
    }

    /// Ends a row; once `per` rows are bound, they are moved to `out` as the statement
    /// `sql(per)`.
    fn end_row(&mut self, per: usize, sql: impl Fn(usize) -> String, out: &mut Vec<Ready>) {
        self.count += 1;
        if self.count == per {
            self.flush(sql, out);
        }
    }

    /// Moves the rows bound so far (if any) to `out` as the statement `sql(rows)`.
    fn flush(&mut self, sql: impl Fn(usize) -> String, out: &mut Vec<Ready>) {
        if self.count == 0 {
            return;
        }
        let rows = std::mem::take(self);
        out.push(Ready {
            sql: sql(rows.count),
            args: rows.args,
            refs: rows.refs,
        });
    }
}

/// A step of an import made ready to write: its references' ids and its statements, with
/// every value bound (CPU work only: it runs on a blocking thread while the step before
/// is written, so the database's thread is not kept waiting for it).
#[derive(Default)]
struct Step {
    ids: Vec<Uuid>,
    statements: Vec<Ready>,
}

impl Step {
    /// The step of the references `refs` on `backend`, stored at `now_us`.
    fn of(refs: Vec<Reference>, backend: Backend, now_us: i64) -> Result<Self, ApiError> {
        let internal = |e: serde_json::Error| ApiError::Internal(e.to_string());
        let created_at = stored_at(now_us)?;
        let refs_sql = |rows: usize| {
            format!(
                "INSERT INTO refs (id, visibility, identifiers, created_at, wire) VALUES {}",
                insert_values(backend, rows, 5)
            )
        };
        let identifiers_sql = |rows: usize| {
            format!(
                "INSERT INTO reference_identifiers (reference_id, identifier_type, other_name, \
                 identifier) VALUES {}",
                insert_values(backend, rows, 4)
            )
        };
        let enhancements_sql = |rows: usize| insert_enhancements_sql(backend, rows);
        let mut step = Step {
            ids: Vec::with_capacity(refs.len()),
            statements: Vec::new(),
        };
        let (mut ref_rows, mut identifier_rows, mut enhancement_rows) =
            (Rows::default(), Rows::default(), Rows::default());
        let (mut identifiers_out, mut enhancements_out) = (Vec::new(), Vec::new());
        for mut r in refs {
            step.ids.push(r.id);
            // The route checked that each names this reference.
            for e in r.enhancements.take().unwrap_or_default() {
                // The route refused these, naming the line; checked again so that a
                // database error (PostgreSQL refuses NUL in `text`) is never the refusal.
                if let Err((field, problem)) = crate::text::check_enhancement(&e) {
                    return Err(ApiError::Unprocessable(format!(
                        "An enhancement of reference {} cannot be stored: {field}: {problem}",
                        e.reference_id
                    )));
                }
                let form = StoredForm::of(&e)?;
                let id = e.id.unwrap_or_else(Uuid::new_v4);
                bind_enhancement(&mut enhancement_rows.args, &e, form, id, &created_at, now_us)?;
                enhancement_rows.end_row(INSERT_ROWS, enhancements_sql, &mut enhancements_out);
            }
            // Serialised once: the stored JSON text, and the lookup rows read from it.
            let identifiers = r
                .identifiers
                .as_ref()
                .map(serde_json::to_value)
                .transpose()
                .map_err(internal)?;
            if let Some(serde_json::Value::Array(list)) = &identifiers {
                for (kind, name, value) in list.iter().filter_map(identifier_row) {
                    identifier_rows.add(r.id.to_string())?;
                    identifier_rows.add(kind)?;
                    identifier_rows.add(name)?;
                    identifier_rows.add(value)?;
                    identifier_rows.end_row(REF_ROWS, identifiers_sql, &mut identifiers_out);
                }
            }
            // Without its enhancements: the reference file's piece.
            let wire = jsonl::to_piece(&r).map_err(|e| ApiError::Internal(e.to_string()))?;
            ref_rows.refs.push(r.id);
            ref_rows.add(r.id.to_string())?;
            ref_rows.add(r.visibility.as_str())?;
            ref_rows.add(identifiers.map(|json| json.to_string()))?;
            ref_rows.add(now_us)?;
            ref_rows.add(wire)?;
            ref_rows.end_row(REF_ROWS, refs_sql, &mut step.statements);
        }
        ref_rows.flush(refs_sql, &mut step.statements);
        enhancement_rows.flush(enhancements_sql, &mut enhancements_out);
        identifier_rows.flush(identifiers_sql, &mut identifiers_out);
        // References first: the others' rows name them.
        step.statements.extend(enhancements_out);
        step.statements.extend(identifiers_out);
        Ok(step)
    }

    /// Writes the step in `tx` (of `db`); a reference stored meanwhile by another import
    /// is a 409 naming it.
    async fn write(self, db: &Db, tx: &mut Transaction<'static, Any>) -> Result<(), ApiError> {
        for Ready { sql, args, refs } in self.statements {
            let done = sqlx::query_with(&sql, args).execute(&mut **tx).await;
            match done.map_err(ApiError::from) {
                Ok(_) => {}
                Err(ApiError::Conflict(_)) if !refs.is_empty() => {
                    // Which one: committed by the other import, so the reader sees it.
                    let mut conn = db.reader().acquire().await?;
                    let stored = stored_refs(&mut *conn, db.backend(), &refs).await?;
                    return Err(match stored.first() {
                        Some(id) => exists(*id),
                        None => ApiError::Conflict(format!(
                            "References of this import (from {}) were imported at the same \
                             time by another request.",
                            refs[0]
                        )),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// References with their enhancements, in the order of `ids` (unknown ids skipped), read
/// on `conn`. Only the heads of supersession chains are read: a withdrawn chain is read as
/// its tombstone (whose id a robot needs to supersede it again).
///
/// # Errors
/// Database errors.
async fn references_in(conn: &mut AnyConnection, ids: &[Uuid]) -> Result<Vec<Reference>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let list = placeholders(1, chunk.len());
        let sql = format!("SELECT id, visibility, identifiers FROM refs WHERE id IN ({list})");
        let q = bind_ids(sqlx::query(&sql), chunk);
        let rows = q.fetch_all(&mut *conn).await?;
        let mut refs: HashMap<Uuid, Reference> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let identifiers: Option<String> = row.try_get("identifiers")?;
            let id = uuid_at(row, "id")?;
            refs.insert(
                id,
                Reference {
                    visibility: visibility(&row.try_get::<String, _>("visibility")?),
                    id,
                    identifiers: identifiers.as_deref().map(decode).transpose()?,
                    enhancements: Some(Vec::new()),
                },
            );
        }
        let sql = format!(
            "SELECT id, reference_id, source, visibility, robot_version, derived_from, content, \
             created_at, supersedes FROM enhancements \
             WHERE reference_id IN ({list}) AND superseded_by IS NULL ORDER BY created_at, id"
        );
        let q = bind_ids(sqlx::query(&sql), chunk);
        for row in q.fetch_all(&mut *conn).await? {
            let e = enhancement_of(&row)?;
            if let Some(list) = refs
                .get_mut(&e.reference_id)
                .and_then(|r| r.enhancements.as_mut())
            {
                list.push(e);
            }
        }
        out.extend(chunk.iter().filter_map(|id| refs.remove(id)));
    }
    Ok(out)
}

/// Which of `ids` are stored references (one statement; callers chunk the ids).
///
/// # Errors
/// Database errors.
async fn stored_refs<'c, E>(executor: E, backend: Backend, ids: &[Uuid]) -> Result<Vec<Uuid>, ApiError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let sql = format!(
        "SELECT id FROM refs WHERE id IN ({})",
        id_list(backend, ids.len())
    );
    let q = bind_ids(sqlx::query(&sql), ids);
    let rows = q.fetch_all(executor).await?;
    Ok(rows
        .iter()
        .map(|row| uuid_at(row, "id"))
        .collect::<Result<_, _>>()?)
}
