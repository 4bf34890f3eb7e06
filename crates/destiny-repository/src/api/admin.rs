//! The admin routes: robots and references, behind the admin's bearer token (the real
//! repository uses its identity provider here).

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use destiny_sdk::models::{
    EnhancementContent, Reference, Robot, RobotIn,
};
use uuid::Uuid;

use super::body::{json_body, IdPath};
use super::caller::require_admin;
use super::AppState;
use crate::clock::micros;
use crate::error::ApiError;

/// The admin routes with their bearer-token check.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/robots/", post(create_robot).get(list_robots))
        .route("/v1/robots/{id}/", get(get_robot).put(update_robot))
        .route("/v1/robots/{id}/secret/", post(cycle_secret))
        .route(
            "/v1/references/",
            post(import_references).get(super::lookup::references),
        )
        .route("/v1/references/{id}/", get(get_reference))
        .route("/v1/references/search/", get(super::search::references))
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

async fn create_robot(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let robot: RobotIn = json_body(&body)?;
    let created = state
        .db
        .create_robot(&robot, micros(state.clock.now()))
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list_robots(State(state): State<AppState>) -> Result<Json<Vec<Robot>>, ApiError> {
    Ok(Json(state.db.robots().await?))
}

async fn get_robot(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<Robot>, ApiError> {
    Ok(Json(state.db.robot(id).await?))
}

async fn update_robot(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<Json<Robot>, ApiError> {
    let robot: RobotIn = json_body(&body)?;
    // The admin is the entitlement writer: the set given replaces the robot's (`[]`
    // revokes them all). A body without the field keeps them, so an SDK 0.7.4 client,
    // which cannot name them, does not revoke what it cannot see.
    let names_entitlements = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
        .is_ok_and(|fields| fields.contains_key("entitlements"));
    let entitlements = names_entitlements.then_some(&robot.entitlements);
    Ok(Json(state.db.update_robot(id, &robot, entitlements).await?))
}

async fn cycle_secret(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let robot = state.db.cycle_robot_secret(id).await?;
    Ok((StatusCode::CREATED, Json(robot)).into_response())
}

/// Gives an import line what upstream import files leave out, as the repository does
/// when it imports them: the reference's `id` (a fresh one) and each enhancement's
/// `reference_id` (the reference's).
fn fill_import_ids(line: &mut serde_json::Value) {
    let Some(reference) = line.as_object_mut() else {
        return; // not an object: the model's refusal names it
    };
    let id = reference
        .entry("id")
        .or_insert_with(|| Uuid::new_v4().to_string().into())
        .clone();
    if let Some(list) = reference
        .get_mut("enhancements")
        .and_then(|e| e.as_array_mut())
    {
        for enhancement in list.iter_mut().filter_map(|e| e.as_object_mut()) {
            enhancement
                .entry("reference_id")
                .or_insert_with(|| id.clone());
        }
    }
}

/// Bodies larger than this are read by two threads, a half each.
const SPLIT_BODY: usize = 1 << 20;

/// `POST /v1/references/`: a JSONL body of references (ids assigned when absent); all
/// or nothing; answers the ids in input order.
async fn import_references(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Parsing and checking every line is CPU work: off the runtime's threads, and on two
    // of them when the body is large.
    let refs = tokio::task::spawn_blocking(move || read_import(&body))
        .await
        .map_err(|e| ApiError::Internal(format!("reading the import failed: {e}")))??;
    if refs.is_empty() {
        return Err(ApiError::Unprocessable(
            "The body holds no references.".into(),
        ));
    }
    let ids = state
        .db
        .insert_references(refs, micros(state.clock.now()))
        .await?;
    // Matched against the automations by the import worker. Queued once the whole
    // import stands: a server stopped between the two loses this match.
    let trigger = crate::db::percolation::Trigger::Import(ids.clone());
    match state
        .db
        .enqueue_percolation(&trigger, micros(state.clock.now()))
        .await
    {
        Ok(()) => state.import_wake.notify_one(),
        // The references are stored: the import is not refused for this.
        Err(e) => tracing::error!(error = %e, references = ids.len(),
            "cannot queue imported references for the automations; they will not be matched"),
    }
    Ok((StatusCode::CREATED, Json(ids)).into_response())
}

/// The references of an import body, each checked ([`read_lines`]); the first problem
/// (by line) refuses the body.
fn read_import(body: &[u8]) -> Result<Vec<Reference>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::Unprocessable(format!("Body is not valid UTF-8: {e}")))?;
    let half = text.len() / 2;
    let split = match text[half..].find('\n') {
        Some(at) if text.len() > SPLIT_BODY => half + at + 1,
        _ => return read_lines(text, 0),
    };
    let (first, second) = text.split_at(split);
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| read_lines(second, first.lines().count()));
        let first = read_lines(first, 0);
        (first, second.join())
    });
    let second = second.map_err(|_| ApiError::Internal("reading an import panicked".into()))?;
    let mut refs = first?;
    refs.extend(second?);
    Ok(refs)
}

/// The references of the JSONL `text`, whose first line is line `before + 1` of the
/// body, each checked as an import may hold it.
fn read_lines(text: &str, before: usize) -> Result<Vec<Reference>, ApiError> {
    let mut refs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |msg: String| ApiError::Unprocessable(format!("Line {}: {msg}", before + i + 1));
        // Read as the model at once when it names every id (a file written by the SDK);
        // otherwise through a JSON value given the ids it lacks.
        let r: Reference = match destiny_sdk::models::from_json_str(line) {
            Ok(r) => r,
            Err(_) => {
                let mut value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
                fill_import_ids(&mut value);
                destiny_sdk::models::from_json_value(value).map_err(|e| invalid(e.to_string()))?
            }
        };
        for (k, e) in r.enhancements().iter().enumerate() {
            // Written here, or the reference's own: an enhancement is never moved to
            // another reference silently.
            if e.reference_id != r.id {
                return Err(invalid(format!(
                    "enhancements[{k}].reference_id: {} is not the id of its reference, {}",
                    e.reference_id, r.id
                )));
            }
            // As the repository's import files: supersession chains are of stored
            // enhancements, which an import has none of.
            if matches!(e.content, EnhancementContent::Tombstone(_)) {
                return Err(invalid(format!(
                    "enhancements[{k}]: an import cannot carry a tombstone enhancement"
                )));
            }
            if e.supersedes.is_some() {
                return Err(invalid(format!(
                    "enhancements[{k}].supersedes: an import cannot supersede enhancements \
                     (a robot holding enhancement_supersession_writer can)"
                )));
            }
        }
        // The text policy of stored fields (`crate::text`): content is JSON text and
        // keeps every character; `source` and `robot_version` are text columns.
        for (k, e) in r.enhancements().iter().enumerate() {
            if let Err((field, problem)) = crate::text::check_enhancement(e) {
                return Err(invalid(format!("enhancements[{k}].{field}: {problem}")));
            }
        }
        refs.push(r);
    }
    Ok(refs)
}

async fn get_reference(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<Reference>, ApiError> {
    Ok(Json(state.db.reference(id).await?))
}
