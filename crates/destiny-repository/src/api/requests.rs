//! The enhancement-request routes, hybrid as in today's repository: a robot signing with
//! HMAC or the admin with its bearer token may call them. A robot acts only for itself
//! (403 otherwise; the real repository lets any robot act for any, with a TODO to check).

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use destiny_sdk::models::{EnhancementRequestIn, EnhancementRequestRead, EnhancementRequestStatus};
use uuid::Uuid;

use super::body::{json_body, IdPath};
use super::caller::{admin_by_bearer, is_admin, Caller};
use super::AppState;
use crate::blob::Permission;
use crate::clock::micros;
use crate::db::requests::FileWritten;
use crate::error::ApiError;

/// The hybrid routes: the bearer check in front of the HMAC layer, which lets the
/// admin's requests through unsigned.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/enhancement-requests/", post(create_request))
        .route("/v1/enhancement-requests/{id}/", get(get_request))
        .route(
            "/v1/enhancement-requests/automations/",
            post(super::automations::create).get(super::automations::list),
        )
        .route(
            "/v1/enhancement-requests/automations/{id}/",
            put(super::automations::update),
        )
        .route("/v1/enhancement-requests/search/", post(super::search::create))
        .route("/v1/enhancement-requests/search/{id}/", get(super::search::get))
        .route_layer(super::robot::hmac_layer(&state).accepting(is_admin))
        .route_layer(middleware::from_fn_with_state(state, admin_by_bearer))
}

/// `POST /v1/enhancement-requests/`: 202 with the request as read.
async fn create_request(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let _busy = state.foreground.busy();
    let req: EnhancementRequestIn = json_body(&body)?;
    caller.may_act_for(req.robot_id, "The robot_id")?;
    let id = state.create_request(&req).await?;
    let read = state.created_read(id, req).await?;
    Ok((StatusCode::ACCEPTED, Json(read)).into_response())
}

/// `GET /v1/enhancement-requests/{id}/`.
async fn get_request(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<EnhancementRequestRead>, ApiError> {
    let read = state.request_read(id).await?;
    caller.may_act_for(read.robot_id, &format!("EnhancementRequest {id}"))?;
    Ok(Json(read))
}

impl AppState {
    /// Request `id`, just created from `req`, as read: `received`, with its files' URLs
    /// (the reference file's when it came with the request). Made from what was asked
    /// rather than read back: a request may name 100,000 references.
    ///
    /// # Errors
    /// Storage failures signing the URLs.
    async fn created_read(
        &self,
        id: Uuid,
        req: EnhancementRequestIn,
    ) -> Result<EnhancementRequestRead, ApiError> {
        let (reference_file, result_file) = crate::db::requests::request_files(id);
        let reference_file = crate::request_files::with_request(req.reference_ids.len())
            .then_some(reference_file);
        Ok(EnhancementRequestRead {
            robot_id: req.robot_id,
            reference_ids: req.reference_ids,
            source: req.source,
            id,
            request_status: EnhancementRequestStatus::Received,
            reference_data_url: self.sign(reference_file, Permission::Read).await?,
            result_storage_url: self.sign(Some(result_file), Permission::Write).await?,
            validation_result_url: None,
            error: None,
        })
    }

    /// Creates an enhancement request (for a caller, or for an automation's match).
    ///
    /// # Errors
    /// As [`crate::db::Db::create_request`]; storage failures writing its reference file.
    pub(crate) async fn create_request(&self, req: &EnhancementRequestIn) -> Result<Uuid, ApiError> {
        self.create_request_with(req, None).await
    }

    /// [`AppState::create_request`] for a search-based request, with its search.
    ///
    /// # Errors
    /// As [`AppState::create_request`].
    pub(crate) async fn create_request_with(
        &self,
        req: &EnhancementRequestIn,
        search: Option<&crate::db::requests::SearchRecord>,
    ) -> Result<Uuid, ApiError> {
        // The legacy flow's reference file (see `db::legacy`) of a small request is
        // written first, so a full disk refuses the request before it exists (a retry
        // cannot duplicate it); the file is removed again if the request is refused. A
        // large one's is written by the import worker after the answer
        // ([`crate::request_files`]): `reference_data_url` is absent until then.
        let id = Uuid::new_v4();
        let file = if crate::request_files::with_request(req.reference_ids.len()) {
            crate::request_files::write(self, id, req.robot_id, &req.reference_ids, false).await?;
            FileWritten::Yes
        } else {
            FileWritten::Later
        };
        if let Err(e) = self
            .db
            .create_request_with_id(id, req, search, file, micros(self.clock.now()))
            .await
        {
            if file == FileWritten::Yes {
                let (reference_file, _) = crate::db::requests::request_files(id);
                if let Ok(key) = crate::blob::BlobKey::new(&reference_file) {
                    if let Err(cleanup) = self.blobs.store().delete(&key).await {
                        tracing::warn!(%id, error = %cleanup, "cannot remove a refused request's reference file");
                    }
                }
            }
            return Err(e);
        }
        // A large request leaves rows and its file to the import worker.
        if file == FileWritten::Later {
            self.import_wake.notify_one();
        }
        self.changed();
        Ok(id)
    }
}
