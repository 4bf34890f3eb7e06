//! Robot automations, matched ("percolated") as the repository does: every reference
//! imported and every enhancement stored is queued with what stores it
//! ([`crate::db::percolation`]), then, by the import worker ([`drain`]), turned into a
//! document
//! ([`documents`]: `reference` and `changeset`) and matched against every automation's
//! query ([`query`], checked against the [`mapping`] when registered; [`eval`]); a match
//! requests an enhancement of that reference from the automation's robot.
//!
//! Never for the robot whose result caused the match (a robot cannot trigger itself), and
//! never a second enhancement for a robot and reference while one is under way.
//! Differences from Elasticsearch are listed in `docs/automations.md`.

pub mod documents;
pub mod eval;
pub mod mapping;
pub mod query;
pub mod simple;

use std::collections::{HashMap, HashSet};

use destiny_sdk::models::{EnhancementRequestIn, Reference, RobotAutomation};
use serde_json::Value;
use uuid::Uuid;

pub use query::Query;

use crate::api::AppState;
use crate::clock::micros;
use crate::db::cluster_lock::ClusterKey;
use crate::db::percolation::Trigger;
use crate::error::ApiError;

/// What caused the documents being matched.
#[derive(Debug, Clone, Copy)]
pub enum Cause {
    /// References imported.
    Import,
    /// A robot's batch of results imported: that robot's automations are skipped.
    Results {
        /// The batch.
        batch: Uuid,
        /// Its robot.
        robot: Uuid,
    },
}

impl Cause {
    /// The `source` of the enhancement requests a match creates (upstream:
    /// `RobotEnhancementBatch:{id}`; a reference import has no batch, so `ReferenceImport`).
    fn source(self) -> String {
        match self {
            Cause::Import => "ReferenceImport".to_owned(),
            Cause::Results { batch, .. } => format!("RobotEnhancementBatch:{batch}"),
        }
    }

    fn robot(self) -> Option<Uuid> {
        match self {
            Cause::Import => None,
            Cause::Results { robot, .. } => Some(robot),
        }
    }
}

/// Every automation with its parsed query (one stored before a mapping change that no
/// longer parses is skipped, with a warning).
async fn automations(state: &AppState) -> Result<Vec<(RobotAutomation, Query)>, ApiError> {
    let mut parsed = Vec::new();
    for automation in state.db.automations(None).await? {
        match query::parse(&automation.query) {
            Ok(q) => parsed.push((automation, q)),
            Err(e) => tracing::warn!(
                automation = %automation.id, error = %e,
                "a stored automation no longer parses; skipped"
            ),
        }
    }
    Ok(parsed)
}

/// Matches everything queued ([`crate::db::percolation`]), oldest first, until the queue
/// is empty; a match that fails goes back to the queue. One worker of one server matches
/// at a time (two could each find a reference not yet under way for a robot and each ask
/// for it): when another server holds the queue ([`ClusterKey::Percolation`]) this
/// returns at once and leaves the queue to it.
///
/// # Errors
/// Database or storage failures.
pub async fn drain(state: &AppState) -> Result<(), ApiError> {
    let _one_at_a_time = state.percolating.lock().await;
    // Most rounds find the queue empty: asked before taking the lock. And one server at
    // a time: another that holds the lock drains the queue itself.
    let db = &state.db;
    if db.percolation_queued().await? {
        db.exclusively(ClusterKey::Percolation, drain_held(state)).await?;
    }
    Ok(())
}

/// [`drain`], once this server holds the queue.
async fn drain_held(state: &AppState) -> Result<(), ApiError> {
    while let Some((id, trigger)) = state.db.take_percolation(micros(state.clock.now())).await? {
        match run(state, &trigger).await {
            Ok(created) => {
                if !created.is_empty() {
                    tracing::info!(requests = created.len(), "automations requested enhancements");
                }
                state.db.percolated(id).await?;
                state.changed();
            }
            Err(e) => {
                state.db.release_percolation(id).await?;
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Matches one queued trigger; answers the requests created.
async fn run(state: &AppState, trigger: &Trigger) -> Result<Vec<Uuid>, ApiError> {
    let automations = automations(state).await?;
    if automations.is_empty() {
        return Ok(Vec::new());
    }
    match trigger {
        Trigger::Import(ids) => {
            let mut docs = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(500) {
                for reference in state.db.references_by_id(chunk).await? {
                    docs.push((reference.id, documents::imported(&reference)));
                }
            }
            dispatch(state, &automations, &docs, Cause::Import).await
        }
        Trigger::Results {
            batch,
            robot,
            enhancements,
        } => {
            let mut docs = Vec::with_capacity(enhancements.len());
            for chunk in enhancements.chunks(500) {
                let ids: Vec<Uuid> = chunk.iter().map(|(r, _)| *r).collect();
                let references: HashMap<Uuid, Reference> = state
                    .db
                    .references_by_id(&ids)
                    .await?
                    .into_iter()
                    .map(|r| (r.id, r))
                    .collect();
                for (reference, enhancement) in chunk {
                    // One superseded since is no longer the reference's to match.
                    let Some(reference) = references.get(reference) else {
                        continue;
                    };
                    let added = reference
                        .enhancements()
                        .iter()
                        .find(|e| e.id == Some(*enhancement));
                    if let Some(added) = added {
                        docs.push((reference.id, documents::enhanced(reference, added)));
                    }
                }
            }
            let cause = Cause::Results {
                batch: *batch,
                robot: *robot,
            };
            dispatch(state, &automations, &docs, cause).await
        }
    }
}

/// Matches `documents` (each with its reference's id) against `automations` and requests
/// the enhancements they call for: one request per robot, of the references it has
/// nothing under way for. Answers the requests created.
///
/// # Errors
/// Database or storage failures (requests created before one are kept).
async fn dispatch(
    state: &AppState,
    automations: &[(RobotAutomation, Query)],
    documents: &[(Uuid, Value)],
    cause: Cause,
) -> Result<Vec<Uuid>, ApiError> {
    // Robots in the order their first automation was registered, so what a match
    // requests is requested in a stable order.
    // Each robot's references in match order, and as a set (a reference has a
    // document per stored enhancement: it is asked for once).
    let mut wanted: Vec<(Uuid, Vec<Uuid>, HashSet<Uuid>)> = Vec::new();
    for (automation, query) in automations {
        if Some(automation.robot_id) == cause.robot() {
            continue;
        }
        let at = match wanted.iter().position(|(r, _, _)| *r == automation.robot_id) {
            Some(at) => at,
            None => {
                wanted.push((automation.robot_id, Vec::new(), HashSet::new()));
                wanted.len() - 1
            }
        };
        let (_, refs, set) = &mut wanted[at];
        for (reference, document) in documents {
            if !set.contains(reference) && eval::matches(query, document) {
                set.insert(*reference);
                refs.push(*reference);
            }
        }
    }
    let mut created = Vec::new();
    for (robot, references, _) in wanted {
        if references.is_empty() {
            continue;
        }
        let under_way = state.db.under_way(robot, &references).await?;
        let reference_ids: Vec<Uuid> = references
            .into_iter()
            .filter(|r| !under_way.contains(r))
            .collect();
        if reference_ids.is_empty() {
            continue;
        }
        let request = EnhancementRequestIn {
            robot_id: robot,
            reference_ids,
            source: Some(cause.source()),
        };
        created.push(state.create_request(&request).await?);
    }
    Ok(created)
}
