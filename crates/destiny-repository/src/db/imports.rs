//! The durable import queue: a batch whose result was submitted is `queued`; a worker
//! marks it `running` under a lease (`import_lease_until`) that it extends while it works,
//! imports it, and marks it `done` in the same transaction as the imported enhancements.
//! A holder that stops mid-import (a crash, a killed server) leaves it `running` with a
//! lease that runs out, and any worker of any server then takes it again: nothing is
//! requeued at start-up, so a starting server never takes another's import in progress.
//! Each take counts an attempt (`import_attempts`), and every later write of the holder
//! names its attempt, so a holder that was taken over changes nothing.
//!
//! An attempt that fails goes back to the queue with a backoff (`import_after`) or, when
//! a retry cannot help or the attempts ran out, ends `failed` with its pending
//! enhancements (see [`crate::jobs`]).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::references::{insert_enhancements, StoredForm};
use super::{bind_ids, placeholders, uuid_at, Db};
use crate::error::ApiError;
use crate::lifecycle::{PendingStatus, Transition};

/// The fate of one reference of a batch, decided from the result file.
pub use destiny_sdk::result_file::Outcome;

/// One pending enhancement of a batch being imported.
#[derive(Debug, Clone)]
pub struct PendingRef {
    /// Pending enhancement id.
    pub id: Uuid,
    /// Its reference.
    pub reference_id: Uuid,
}

/// An import a worker took from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakenImport {
    /// Its batch.
    pub batch: Uuid,
    /// Which attempt this is (1 for the first; attempts a crash interrupted count too).
    /// It fences the holder: each write for the import names it, and changes nothing
    /// once another worker has taken the import over (a later attempt).
    pub attempt: u32,
}

/// `UPDATE batches SET {set}` of the import a worker holds: `set`'s parameters come
/// first, then the batch id and attempt, which [`held_by`] binds. Changes no row once
/// the worker no longer holds the import (taken over, or finished).
fn update_held(set: &str, params: usize) -> String {
    format!(
        "UPDATE batches SET {set} WHERE id = ${} AND import_state = 'running' \
         AND import_attempts = ${}",
        params + 1,
        params + 2
    )
}

/// Binds the batch and attempt of `taken` to an [`update_held`] statement.
fn held_by<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    taken: TakenImport,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(taken.batch.to_string())
        .bind(i64::from(taken.attempt))
}

impl Db {
    /// Takes the next import that is due and that no other worker is taking, marking it
    /// `running` under a lease until `lease_until_us` and counting the attempt. Due
    /// means queued with its backoff (`import_after`) not after `now_us`, or `running`
    /// with a lease that ran out before `now_us` (its holder stopped); oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn next_import(
        &self,
        now_us: i64,
        lease_until_us: i64,
    ) -> Result<Option<TakenImport>, ApiError> {
        let mut tx = self.begin_write().await?;
        // Concurrent workers on PostgreSQL skip the rows another one is taking; SQLite's
        // single writer connection keeps them apart by itself.
        let lock = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "SELECT id, CAST(import_attempts AS BIGINT) AS import_attempts FROM batches \
             WHERE (import_state = 'queued' AND import_after <= $1) \
                OR (import_state = 'running' AND import_lease_until < $1) \
             ORDER BY created_at LIMIT 1{lock}"
        ))
        .bind(now_us)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let id = uuid_at(&row, "id")?;
        let before: i64 = row.try_get("import_attempts")?;
        // Fenced on the attempt count read: of two takers, one changes the row.
        let done = sqlx::query(
            "UPDATE batches SET import_state = 'running', import_attempts = import_attempts + 1, \
             import_lease_until = $1 WHERE id = $2 AND import_attempts = $3 \
             AND (import_state = 'queued' OR (import_state = 'running' AND import_lease_until < $4))",
        )
        .bind(lease_until_us)
        .bind(id.to_string())
        .bind(before)
        .bind(now_us)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((done.rows_affected() == 1).then_some(TakenImport {
            batch: id,
            attempt: u32::try_from(before).unwrap_or(0).saturating_add(1),
        }))
    }

    /// Result files queued for import or under import, by every server of the database.
    ///
    /// # Errors
    /// Database errors.
    pub async fn import_queue_depth(&self) -> Result<u64, ApiError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM batches WHERE import_state IN ('queued', 'running')",
        )
        .fetch_one(self.reader())
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// Extends the lease of an import `taken` still holds to `lease_until_us`; `false`
    /// when it no longer holds it (taken over after its lease ran out, or finished).
    ///
    /// # Errors
    /// Database errors.
    pub async fn extend_import_lease(
        &self,
        taken: TakenImport,
        lease_until_us: i64,
    ) -> Result<bool, ApiError> {
        let sql = update_held("import_lease_until = $1", 1);
        let query = sqlx::query(&sql).bind(lease_until_us);
        let done = held_by(query, taken).execute(&mut *self.write_conn().await?).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends the leases of every `running` import, so they are taken again at once. Only
    /// for a server that knows it is the database's one server (SQLite, whose file it
    /// holds locked): on a shared database the holders may be alive.
    ///
    /// # Errors
    /// Database errors.
    pub async fn release_import_leases(&self) -> Result<u64, ApiError> {
        let done = sqlx::query(
            "UPDATE batches SET import_lease_until = 0 \
             WHERE import_state = 'running' AND import_lease_until > 0",
        )
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected())
    }

    /// Puts an import `taken` still holds back in the queue, to be taken again no
    /// earlier than `not_before_us`; `why` is kept as the batch's last import error.
    /// Nothing changes when it no longer holds it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn retry_import_later(
        &self,
        taken: TakenImport,
        not_before_us: i64,
        why: &str,
    ) -> Result<(), ApiError> {
        let sql = update_held(
            "import_state = 'queued', import_after = $1, import_error = $2",
            2,
        );
        let why = crate::text::storable_message(why);
        let query = sqlx::query(&sql).bind(not_before_us).bind(why.as_ref());
        held_by(query, taken).execute(&mut *self.write_conn().await?).await?;
        Ok(())
    }

    /// Gives up an import the worker holds (`running`): its pending enhancements still
    /// `importing` end `failed`, the batch records `why` and its validation file (and a
    /// legacy batch's request the file too), and the import ends `failed`. Returns how
    /// many pending enhancements failed: 0, and nothing changed, when `taken` no longer
    /// holds the import (another worker took it over after its lease ran out).
    ///
    /// # Errors
    /// Database errors (nothing is changed then).
    pub async fn fail_import(
        &self,
        taken: TakenImport,
        why: &str,
        validation_file: Option<&str>,
        now_us: i64,
    ) -> Result<u64, ApiError> {
        let mut tx = self.begin_write().await?;
        // Fenced: only an import this worker still holds is failed (its pending
        // enhancements with it); another worker's, or a finished one, is left alone.
        let batch = taken.batch;
        let sql = update_held(
            "import_state = 'failed', import_error = $1, validation_file = $2",
            2,
        );
        let why = crate::text::storable_message(why);
        let query = sqlx::query(&sql).bind(why.as_ref()).bind(validation_file);
        let held = held_by(query, taken).execute(&mut *tx).await?.rows_affected();
        if held == 0 {
            return Ok(0);
        }
        let failed =
            sqlx::query(&Transition::IMPORT_FAILED.update("updated_at = $1", "batch_id = $2"))
                .bind(now_us)
                .bind(batch.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if validation_file.is_some() {
            set_request_validation_file(&mut tx, batch, validation_file).await?;
        }
        tx.commit().await?;
        Ok(failed)
    }

    /// The pending enhancements of a batch that await import.
    ///
    /// # Errors
    /// Database errors.
    pub async fn importing_refs(&self, batch: Uuid) -> Result<Vec<PendingRef>, ApiError> {
        let sql = format!(
            "SELECT id, reference_id FROM pending_enhancements \
             WHERE batch_id = $1 AND status = {} ORDER BY seq",
            PendingStatus::Importing.sql()
        );
        let query = sqlx::query(&sql).bind(batch.to_string());
        let pending_ref = |r: &AnyRow| {
            Ok(PendingRef {
                id: uuid_at(r, "id")?,
                reference_id: uuid_at(r, "reference_id")?,
            })
        };
        Ok(self.rows_of(query, pending_ref).await?)
    }

    /// Applies an import in one transaction: stores enhancements (exact duplicates are
    /// discarded), moves each pending enhancement to its final status, records the
    /// validation file, queues what was stored for the automations
    /// ([`super::percolation`]) and marks the import done. Returns the pending enhancements
    /// completed (their ids), and how many were discarded and failed; `None`, and nothing
    /// applied, when `taken` no longer holds the import (another worker took it over).
    ///
    /// # Errors
    /// Database errors (nothing is applied then).
    pub async fn finish_import(
        &self,
        taken: TakenImport,
        robot: Uuid,
        outcomes: &[(PendingRef, Outcome)],
        forms: &std::collections::HashMap<Uuid, StoredForm>,
        validation_file: &str,
        now_us: i64,
    ) -> Result<Option<(std::collections::HashSet<Uuid>, u64, u64)>, ApiError> {
        let batch = taken.batch;
        let mut tx = self.begin_write().await?;
        // First, and fenced: the import ends `done` only if this attempt still holds it.
        // On PostgreSQL the row lock also keeps a worker taking it over waiting until
        // this transaction ends (and then finds it done).
        let sql = update_held("import_state = 'done', validation_file = $1", 1);
        let query = sqlx::query(&sql).bind(validation_file);
        let held = held_by(query, taken).execute(&mut *tx).await?.rows_affected();
        if held == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let (mut completed, mut discarded, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        let mut enhanced = Vec::new();
        let mut enhancements = Vec::new();
        for (pending, outcome) in outcomes {
            match outcome {
                Outcome::Enhance(e) => {
                    let form = forms.get(&pending.reference_id).ok_or_else(|| {
                        ApiError::Internal(format!(
                            "no stored form for the enhancement of {}",
                            pending.reference_id
                        ))
                    })?;
                    enhanced.push(pending.id);
                    enhancements.push((&**e, form));
                }
                Outcome::Fail => failed.push(pending.id),
            }
        }
        let stored = insert_enhancements(&mut tx, &enhancements, now_us).await?;
        for (id, stored) in enhanced.into_iter().zip(stored) {
            if stored {
                completed.push(id);
            } else {
                discarded.push(id);
            }
        }
        // Stored enhancements pass through `indexing` (there is no search index to wait for).
        for (ids, transition) in [
            (&completed, Transition::INDEX),
            (&completed, Transition::COMPLETE),
            (&discarded, Transition::DISCARD),
            (&failed, Transition::IMPORT_FAILED),
        ] {
            for chunk in ids.chunks(500) {
                let sql = transition.update(
                    "updated_at = $1",
                    &format!("id IN ({})", placeholders(2, chunk.len())),
                );
                let q = bind_ids(sqlx::query(&sql).bind(now_us), chunk);
                q.execute(&mut *tx).await?;
            }
        }
        set_request_validation_file(&mut tx, batch, Some(validation_file)).await?;
        // The stored enhancements wait for the automations, stored with them.
        let stored: Vec<(Uuid, Uuid)> = outcomes
            .iter()
            .filter(|(p, _)| completed.contains(&p.id))
            .filter_map(|(p, outcome)| match outcome {
                Outcome::Enhance(e) => e.id.map(|id| (p.reference_id, id)),
                Outcome::Fail => None,
            })
            .collect();
        if !stored.is_empty() {
            let trigger = super::percolation::Trigger::Results {
                batch,
                robot,
                enhancements: stored,
            };
            super::percolation::enqueue(&mut *tx, &trigger, now_us).await?;
        }
        tx.commit().await?;
        self.checkpoint_behind();
        Ok(Some((
            completed.into_iter().collect(),
            discarded.len() as u64,
            failed.len() as u64,
        )))
    }
}

impl Db {
    /// Which references already have, identically, the enhancement whose stored form
    /// `forms` gives for them.
    ///
    /// # Errors
    /// Database errors.
    pub async fn existing_fingerprints(
        &self,
        forms: &std::collections::HashMap<Uuid, StoredForm>,
    ) -> Result<std::collections::HashSet<Uuid>, ApiError> {
        let wanted: Vec<(Uuid, &str)> = forms
            .iter()
            .map(|(r, form)| (*r, form.fingerprint.as_str()))
            .collect();
        let mut found = std::collections::HashSet::new();
        for chunk in wanted.chunks(250) {
            // One index probe per (reference, fingerprint) pair; only the (rare) matches
            // come back. (Two separate `IN` lists made SQLite probe every combination.)
            let pairs = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 1 + 2 * i, 2 + 2 * i))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT reference_id, fingerprint FROM enhancements \
                 WHERE (reference_id, fingerprint) IN (VALUES {pairs})"
            );
            let mut q = sqlx::query(&sql);
            for (r, f) in chunk {
                q = q.bind(r.to_string()).bind(*f);
            }
            let rows = q.fetch_all(self.reader()).await?;
            let existing: std::collections::HashSet<(String, String)> = rows
                .iter()
                .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
                .collect::<Result<_, sqlx::Error>>()?;
            for (r, f) in chunk {
                if existing.contains(&(r.to_string(), (*f).to_owned())) {
                    found.insert(*r);
                }
            }
        }
        Ok(found)
    }
}

/// Gives a batch's validation file to its request as well: a legacy (0.7.4) client reads
/// the validation file from the request, not the batch.
async fn set_request_validation_file(
    tx: &mut AnyConnection,
    batch: Uuid,
    validation_file: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE enhancement_requests SET validation_file = $1 \
         WHERE id = (SELECT request_id FROM batches WHERE id = $2)",
    )
    .bind(validation_file)
    .bind(batch.to_string())
    .execute(tx)
    .await?;
    Ok(())
}
