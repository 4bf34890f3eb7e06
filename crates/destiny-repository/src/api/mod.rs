//! The HTTP API: [`AppState`] and one router per resource group, assembled in [`app`].
//!
//! - [`robot`]: the HMAC-signed robot routes (spec §2).
//! - [`admin`]: robots and references (the admin's bearer token), with [`lookup`]
//!   (references by identifier).
//! - [`requests`]: enhancement requests, hybrid (a signed robot or the admin), and
//!   [`automations`], mounted with them.
//! - [`search`]: reference search (admin) and search-based enhancement requests
//!   (hybrid, mounted by [`requests`]).
//! - [`caller`]: who calls (admin or robot) and the middleware deciding it.
//! - health check, `/metrics` ([`crate::metrics`]) and blob routes.
//! - [`body`]: request bodies read once at the edge (size limit, idle timeout) and the
//!   `{id}` path extractor.
//!
//! Every error is JSON `{"detail": ...}`, including unknown routes (404 `Not Found`) and
//! methods a route does not have (405 `Method Not Allowed`), as FastAPI answers them.

pub mod admin;
pub mod automations;
pub mod body;
pub mod caller;
pub mod lookup;
pub mod requests;
pub mod robot;
pub mod search;

use axum::routing::get;
use axum::{Json, Router};
use destiny_sdk::secret::Secret;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

use crate::blob::{BlobKey, BlobState, Permission};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The blob store, its URL signer and limits.
    pub blobs: BlobState,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: Arc<Config>,
    /// The admin bearer token.
    pub admin_token: Secret,
    /// Wakes the import worker when a result is submitted.
    pub import_wake: Arc<Notify>,
    /// Counts committed changes to the work's state (requests created, batches claimed
    /// and submitted, imports and expiries done), so whoever waits on one (the test kit,
    /// the demo) is woken by it instead of polling for it.
    pub changes: Arc<watch::Sender<u64>>,
    /// The reference search index (caught up from the database before each search).
    pub search: Arc<crate::search::SearchIndex>,
    /// The queue polls wait in for their turn.
    pub admission: crate::admission::Admission,
    /// Held while matching against the automations: one import worker of this server
    /// matches at a time, so two cannot both find a reference not yet under way for a
    /// robot and both ask for it (across servers, `db::cluster_lock` does the same).
    pub percolating: Arc<tokio::sync::Mutex<()>>,
    /// What the server counts (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
    /// Enhancement requests in flight, which the writing of large requests' rows and
    /// files steps aside for.
    pub foreground: crate::foreground::Foreground,
}

impl AppState {
    /// Marks a change committed: wakes the [`changes`](Self::changes) watchers.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A signed URL for a blob.
    ///
    /// # Errors
    /// 500 if the key is invalid (keys are made by the server).
    pub async fn signed_url(
        &self,
        key: &str,
        permission: Permission,
    ) -> Result<destiny_sdk::models::HttpUrl, ApiError> {
        let key = BlobKey::new(key)?;
        self.blobs
            .url(&key, permission)
            .await?
            .parse()
            .map_err(ApiError::Internal)
    }

    /// [`signed_url`](Self::signed_url) of a key that may be absent.
    async fn sign(
        &self,
        key: Option<String>,
        permission: Permission,
    ) -> Result<Option<destiny_sdk::models::HttpUrl>, ApiError> {
        match key {
            Some(key) => Ok(Some(self.signed_url(&key, permission).await?)),
            None => Ok(None),
        }
    }

    /// An enhancement request as clients read it, with freshly signed URLs for the
    /// files it has.
    ///
    /// # Errors
    /// 404 for an unknown request; database errors.
    pub async fn request_read(
        &self,
        id: uuid::Uuid,
    ) -> Result<destiny_sdk::models::EnhancementRequestRead, ApiError> {
        let record = self.db.request(id).await?;
        let mut read = record.read;
        read.reference_data_url = self.sign(record.reference_file, Permission::Read).await?;
        read.result_storage_url = self.sign(record.result_file, Permission::Write).await?;
        read.validation_result_url = self.sign(record.validation_file, Permission::Read).await?;
        Ok(read)
    }
}

/// The whole application: robot, admin, health and blob routes.
pub fn app(state: AppState) -> Router {
    let blob_state = state.blobs.clone();
    let metrics = state.metrics.clone();
    let limits = body::BodyLimits {
        max_bytes: state.config.max_body_bytes,
        idle_timeout: state.config.body_idle_timeout,
    };
    Router::new()
        .route("/v1/system/healthcheck/", get(healthcheck))
        .route("/metrics", get(crate::metrics::serve))
        .merge(robot::router(state.clone()))
        .merge(admin::router(state.clone()))
        .merge(requests::router(state.clone()))
        // Bodies are buffered by `body::buffer_body`; this only keeps axum's extractors
        // from applying their own (smaller) default.
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            body::buffer_body,
        ))
        .with_state(state)
        .merge(crate::blob::router(blob_state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track_latency,
        ))
        // A request without a proper `Host` is refused before anything else but its id.
        .layer(axum::middleware::from_fn(crate::http::require_host))
        .layer(axum::middleware::from_fn(crate::request_id::track))
}

/// FastAPI's answer to an unknown route.
async fn not_found() -> ApiError {
    ApiError::NotFound("Not Found".into())
}

/// FastAPI's answer to a method the route does not have.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn healthcheck(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.db.ping().await?;
    state.blobs.store().check().await?;
    let store = match state.blobs.store() {
        crate::blob::Store::File(_) => "file",
        crate::blob::Store::Object(_) => "object",
    };
    Ok(Json(serde_json::json!({
        "status": "ok",
        "database": format!("{:?}", state.db.backend()),
        "blob_store": store,
    })))
}
