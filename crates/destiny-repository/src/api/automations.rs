//! Robot automations (`/v1/enhancement-requests/automations/`), hybrid like the other
//! enhancement-request routes (mounted by [`super::requests::router`]): a robot registers
//! and changes only its own; the admin any. A query is checked when registered
//! ([`crate::percolate::query`]), so a stored one can always be matched.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use destiny_sdk::models::{RobotAutomation, RobotAutomationIn};

use super::body::{json_body, IdPath};
use super::caller::Caller;
use super::AppState;
use crate::clock::micros;
use crate::error::ApiError;

fn checked(body: &[u8], caller: Caller) -> Result<RobotAutomationIn, ApiError> {
    let automation: RobotAutomationIn = json_body(body)?;
    caller.may_act_for(automation.robot_id, "The robot_id")?;
    crate::percolate::query::parse(&automation.query)?;
    Ok(automation)
}

/// `POST /v1/enhancement-requests/automations/`: 201 with the automation.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let automation = checked(&body, caller)?;
    let stored = state
        .db
        .create_automation(&automation, micros(state.clock.now()))
        .await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// `PUT /v1/enhancement-requests/automations/{id}/`: 201 (as upstream) with the
/// automation as it now is.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let existing = state.db.automation(id).await?;
    caller.may_act_for(existing.robot_id, &format!("RobotAutomation {id}"))?;
    let automation = checked(&body, caller)?;
    let stored = state.db.update_automation(id, &automation).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// `GET /v1/enhancement-requests/automations/`: every automation for the admin; a
/// robot's own for a robot.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<RobotAutomation>>, ApiError> {
    let robot = match caller {
        Caller::Admin => None,
        Caller::Robot(id) => Some(id),
    };
    Ok(Json(state.db.automations(robot).await?))
}
