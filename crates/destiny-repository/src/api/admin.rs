//! The admin routes: robots, references and enhancement requests, behind a bearer token
//! (the real repository uses its identity provider here).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use destiny_sdk::models::{
    EnhancementContent, EnhancementRequestIn, EnhancementRequestRead, Reference, Robot, RobotIn,
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::body::{json_body, IdPath};
use super::AppState;
use crate::clock::micros;
use crate::error::ApiError;

/// The admin routes with their bearer-token check.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/robots/", post(create_robot).get(list_robots))
        .route("/v1/robots/{id}/", get(get_robot).put(update_robot))
        .route("/v1/robots/{id}/secret/", post(cycle_secret))
        .route("/v1/references/", post(import_references))
        .route("/v1/references/{id}/", get(get_reference))
        .route("/v1/enhancement-requests/", post(create_request))
        .route("/v1/enhancement-requests/{id}/", get(get_request))
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Bytes, not text: a token with non-ASCII bytes is a wrong token, not a missing one.
    let given = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        Some(token) if bool::from(token.ct_eq(state.admin_token.expose().as_bytes())) => {
            next.run(req).await
        }
        Some(_) => ApiError::Unauthorized("Invalid admin token.".into()).into_response(),
        None => ApiError::Unauthorized(
            "Admin routes require an Authorization: Bearer <admin token> header.".into(),
        )
        .into_response(),
    }
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
    Ok(Json(state.db.update_robot(id, &robot).await?))
}

async fn cycle_secret(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let robot = state.db.cycle_robot_secret(id).await?;
    Ok((StatusCode::CREATED, Json(robot)).into_response())
}

/// `POST /v1/references/`: a JSONL body of references (ids assigned when absent); all
/// or nothing; answers the ids in input order.
async fn import_references(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::Unprocessable(format!("Body is not valid UTF-8: {e}")))?;
    let mut refs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |msg: String| ApiError::Unprocessable(format!("Line {}: {msg}", i + 1));
        let mut value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
        if let Some(obj) = value.as_object_mut() {
            obj.entry("id")
                .or_insert_with(|| Uuid::new_v4().to_string().into());
        }
        let r: Reference =
            destiny_sdk::models::from_json_value(value).map_err(|e| invalid(e.to_string()))?;
        // As the repository's import files: a tombstone withdraws a chain of stored
        // enhancements, which an import has none of.
        if let Some(k) = r
            .enhancements()
            .iter()
            .position(|e| matches!(e.content, EnhancementContent::Tombstone(_)))
        {
            return Err(invalid(format!(
                "enhancements[{k}]: an import cannot carry a tombstone enhancement"
            )));
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
    if refs.is_empty() {
        return Err(ApiError::Unprocessable(
            "The body holds no references.".into(),
        ));
    }
    let ids = state
        .db
        .insert_references(refs, micros(state.clock.now()))
        .await?;
    Ok((StatusCode::CREATED, Json(ids)).into_response())
}

async fn get_reference(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<Reference>, ApiError> {
    Ok(Json(state.db.reference(id).await?))
}

async fn create_request(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: EnhancementRequestIn = json_body(&body)?;
    // The legacy flow's reference file (see `db::legacy`) is written first, so a full
    // disk refuses the request before it exists (a retry cannot duplicate it); the file
    // is removed again if the request is refused.
    let id = Uuid::new_v4();
    let (reference_file, _, _) = crate::db::requests::request_files(id);
    crate::reference_file::write(
        state.blobs.store(),
        &reference_file,
        &state.db,
        &req.reference_ids,
    )
    .await?;
    if let Err(e) = state
        .db
        .create_request_with_id(id, &req, micros(state.clock.now()))
        .await
    {
        if let Ok(key) = crate::blob::BlobKey::new(&reference_file) {
            let _ = state.blobs.store().delete(&key).await;
        }
        return Err(e);
    }
    let read = state.request_read(id).await?;
    Ok((StatusCode::ACCEPTED, Json(read)).into_response())
}

async fn get_request(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Json<EnhancementRequestRead>, ApiError> {
    Ok(Json(state.request_read(id).await?))
}
