//! The robot routes (spec §2), behind the HMAC layer with a secret per robot.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use destiny_sdk::auth::{
    AuthError, HmacAuthLayer, MultiClientHmacAuth, SecretLookup, TimestampPolicy, VerifiedClient,
};
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::models::{
    EnhancementRequestRead, RobotEnhancementBatch, RobotEnhancementBatchRead,
    RobotEnhancementBatchResult, RobotError, RobotResult,
};
use destiny_sdk::secret::Secret;
use std::collections::HashMap;
use uuid::Uuid;

use super::body::{json_body, IdPath};
use super::AppState;
use crate::blob::Permission;
use crate::clock::micros;
use crate::config::SignatureClock;
use crate::db::batches::{BatchRecord, Submitted};
use crate::error::ApiError;
use crate::reference_file::Reader;

/// Largest batch a poll hands out (the real repository's cap).
pub const MAX_LIMIT: i64 = 10_000;

/// Looks robot secrets up in the database.
#[derive(Clone)]
struct DbSecrets(crate::db::Db);

impl SecretLookup for DbSecrets {
    async fn secret_for(&self, client_id: Uuid) -> Result<Option<Secret>, AuthError> {
        self.0
            .robot_secret(client_id)
            .await
            .map_err(|e| AuthError::unavailable(format!("robot lookup failed: {e}")))
    }
}

/// The HMAC layer of robot requests: secrets from the database, the configured body
/// limit, signature window and clock.
pub(super) fn hmac_layer(state: &AppState) -> HmacAuthLayer<MultiClientHmacAuth<impl SecretLookup>> {
    let window = state.config.signature_window;
    let auth = HmacAuthLayer::new(MultiClientHmacAuth::new(DbSecrets(state.db.clone())))
        .with_body_limit(state.config.max_body_bytes)
        .with_policy(TimestampPolicy {
            max_age: window,
            max_future: window,
        });
    if state.config.signature_clock == SignatureClock::Server {
        let clock = state.clock.clone();
        return auth.with_clock(move || clock.now().as_microsecond() as f64 / 1e6);
    }
    auth
}

/// The robot routes with their HMAC layer.
pub fn router(state: AppState) -> Router<AppState> {
    let auth = hmac_layer(&state);
    Router::new()
        .route("/v1/robot-enhancement-batches/", post(poll))
        .route("/v1/robot-enhancement-batches/{id}/", get(get_batch))
        .route(
            "/v1/robot-enhancement-batches/{id}/renew-lease/",
            patch(renew).post(renew),
        )
        .route("/v1/robot-enhancement-batches/{id}/results/", post(submit))
        .route(
            "/v1/enhancement-requests/{id}/results/",
            post(submit_request),
        )
        .route_layer(auth)
}

fn parse_uuid(name: &str, loc: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|e| ApiError::Validation {
        loc: vec![loc.into(), name.into()],
        msg: format!("Input should be a valid UUID, {e}"),
        input: text.into(),
    })
}

fn lease_param(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<LeaseDuration, ApiError> {
    match params.get("lease") {
        None => Ok(state.config.lease_default),
        Some(text) => LeaseDuration::parse_pydantic(text)
            .map_err(|e| ApiError::query("lease", e.to_string(), text.as_str())),
    }
}

async fn batch_json(
    state: &AppState,
    b: &BatchRecord,
) -> Result<RobotEnhancementBatch, ApiError> {
    Ok(RobotEnhancementBatch {
        id: b.id,
        reference_storage_url: state.signed_url(&b.reference_file, Permission::Read).await?,
        result_storage_url: state.signed_url(&b.result_file, Permission::Write).await?,
        extra_fields: None,
    })
}

async fn poll(
    State(state): State<AppState>,
    client: VerifiedClient,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let robot_id = match params.get("robot_id") {
        Some(t) => parse_uuid("robot_id", "query", t)?,
        None => {
            return Err(ApiError::query(
                "robot_id",
                "Field required",
                serde_json::Value::Null,
            ))
        }
    };
    let limit = match params.get("limit") {
        None => MAX_LIMIT,
        Some(t) => {
            let n: i64 = t.trim().parse().map_err(|_| {
                ApiError::query(
                    "limit",
                    "Input should be a valid integer, unable to parse string as an integer",
                    t.as_str(),
                )
            })?;
            if n <= 0 {
                return Err(ApiError::query(
                    "limit",
                    "Input should be greater than 0",
                    t.as_str(),
                ));
            }
            n.min(MAX_LIMIT)
        }
    };
    let lease = lease_param(&state, &params)?;
    if client.client_id() != robot_id {
        return Err(ApiError::Forbidden(
            "robot_id does not match the authenticated robot.".into(),
        ));
    }
    // Wait for this poll's turn (backpressure) before touching the database; the
    // turn is held until the reference file is written.
    let _turn = state.admission.enter().await?;
    let now = state.clock.now();
    let started = std::time::Instant::now();
    let expires = now
        .saturating_add(lease.to_signed_duration())
        .map_err(|e| ApiError::query("lease", e.to_string(), lease.to_string()))?;
    let Some(claim) = state
        .db
        .claim(robot_id, limit, micros(expires), micros(now))
        .await?
    else {
        state.metrics.polled(0);
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    // The claim is committed and its connection released: the file is written holding
    // none. If the poll cannot answer the batch, the claim is given back before the
    // error is, so a retried poll finds the same work; if the poll is dropped first
    // (the client went away mid-write), the guard gives it back all the same.
    let claimed = started.elapsed();
    let guard = ClaimGuard {
        state: state.clone(),
        batch: Some(claim.batch.id),
        reference_file: claim.batch.reference_file.clone(),
    };
    let answered = async {
        // Read now, not at registration: an entitlement revoked meanwhile is gone.
        let reader = Reader::of(&state.db.robot_entitlements(robot_id).await?);
        crate::reference_file::write(
            state.blobs.store(),
            &claim.batch.reference_file,
            &state.db,
            &claim.reference_ids,
            reader,
            None,
        )
        .await?;
        state
            .metrics
            .poll_phases(claimed, started.elapsed().saturating_sub(claimed));
        batch_json(&state, &claim.batch).await
    }
    .await;
    match answered {
        Ok(body) => {
            guard.disarm();
            state.changed();
            state.metrics.polled(claim.reference_ids.len() as u64);
            Ok(Json(body).into_response())
        }
        Err(error) => {
            guard.give_back(&error.to_string()).await;
            Err(error)
        }
    }
}

/// A committed claim whose poll has not answered yet. [`ClaimGuard::disarm`] once the
/// batch is answered; otherwise the claim is given back (its rows to `pending`, its
/// batch and file removed), awaited on an error and in a task of its own when the poll
/// is dropped.
struct ClaimGuard {
    state: AppState,
    batch: Option<Uuid>,
    reference_file: String,
}

impl ClaimGuard {
    fn disarm(mut self) {
        self.batch = None;
    }

    async fn give_back(mut self, why: &str) {
        if let Some(batch) = self.batch.take() {
            give_back(&self.state, batch, &self.reference_file, why).await;
        }
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            let (state, key) = (self.state.clone(), std::mem::take(&mut self.reference_file));
            tokio::spawn(async move {
                give_back(
                    &state,
                    batch,
                    &key,
                    "the poll was dropped before it answered",
                )
                .await
            });
        }
    }
}

/// Removes a failed poll's reference file (no file without its claim) and releases its
/// claim (fenced to the batch's rows still `processing`).
async fn give_back(state: &AppState, batch: Uuid, reference_file: &str, why: &str) {
    if let Ok(key) = crate::blob::BlobKey::new(reference_file) {
        if let Err(e) = state.blobs.store().delete(&key).await {
            tracing::warn!(%key, error = %e, "removing the reference file of a failed poll");
        }
    }
    match state
        .db
        .release_claim(batch, micros(state.clock.now()))
        .await
    {
        Ok(released) => {
            tracing::warn!(%batch, released, why, "poll failed; its claim was given back")
        }
        Err(e) => tracing::error!(
            %batch, why, release_error = %e,
            "poll failed and its claim could not be given back; its lease will lapse"
        ),
    }
}

async fn get_batch(
    State(state): State<AppState>,
    client: VerifiedClient,
    IdPath(id): IdPath,
) -> Result<Json<RobotEnhancementBatch>, ApiError> {
    let batch = state.db.batch(id, Some(client.client_id())).await?;
    Ok(Json(batch_json(&state, &batch).await?))
}

async fn renew(
    State(state): State<AppState>,
    client: VerifiedClient,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let lease = lease_param(&state, &params)?;
    let now = state.clock.now();
    let expires = now
        .saturating_add(lease.to_signed_duration())
        .map_err(|e| ApiError::query("lease", e.to_string(), lease.to_string()))?;
    state
        .db
        .renew(id, client.client_id(), micros(expires), micros(now))
        .await?;
    let text = destiny_sdk::expiry::python_isoformat(&expires);
    Ok((
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response())
}

async fn submit(
    State(state): State<AppState>,
    report: Report<RobotEnhancementBatchResult>,
) -> Result<Response, ApiError> {
    let (id, now) = (report.id, micros(state.clock.now()));
    let (outcome, batch) = state
        .db
        .submit(id, report.robot, report.error(), now)
        .await?;
    let status = submitted(&state, outcome);
    let read = RobotEnhancementBatchRead {
        robot_id: batch.robot_id,
        source: batch.source.clone(),
        id,
        reference_data_url: Some(state.signed_url(&batch.reference_file, Permission::Read).await?),
        result_storage_url: Some(state.signed_url(&batch.result_file, Permission::Write).await?),
        validation_result_url: match batch.validation_file.as_deref() {
            Some(k) => Some(state.signed_url(k, Permission::Read).await?),
            None => None,
        },
        error: batch.error,
    };
    Ok((status, Json(read)).into_response())
}

/// `POST /v1/enhancement-requests/{id}/results/`: the legacy flow (see `db::legacy`).
async fn submit_request(
    State(state): State<AppState>,
    report: Report<RobotResult>,
) -> Result<Response, ApiError> {
    let (id, now) = (report.id, micros(state.clock.now()));
    let outcome = state
        .db
        .submit_request_result(id, report.robot, report.error(), now)
        .await?;
    let status = submitted(&state, outcome);
    let read: EnhancementRequestRead = state.request_read(id).await?;
    Ok((status, Json(read)).into_response())
}

/// What a robot reports for the batch or request its path names (`.../{id}/results/`):
/// the robot the HMAC layer verified, the body parsed ([`json_body`]; 422 naming the
/// field), and its `request_id` checked against the path (400 when it differs).
struct Report<T> {
    robot: Uuid,
    id: Uuid,
    result: T,
}

/// The two result bodies: the batch's and the legacy request's.
trait ResultBody: serde::de::DeserializeOwned {
    /// The batch or request the body says it is for.
    fn request_id(&self) -> Uuid;
    /// The error it reports (`None`: a result file is ready).
    fn error(&self) -> Option<&RobotError>;
}

impl ResultBody for RobotEnhancementBatchResult {
    fn request_id(&self) -> Uuid {
        self.request_id
    }
    fn error(&self) -> Option<&RobotError> {
        self.error.as_ref()
    }
}

impl ResultBody for RobotResult {
    fn request_id(&self) -> Uuid {
        self.request_id
    }
    fn error(&self) -> Option<&RobotError> {
        self.error.as_ref()
    }
}

impl<T: ResultBody> Report<T> {
    /// The reported error's message.
    fn error(&self) -> Option<&str> {
        self.result.error().map(|e| e.message.as_str())
    }
}

impl<S: Send + Sync, T: ResultBody> FromRequest<S> for Report<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let robot = VerifiedClient::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?
            .client_id();
        let IdPath(id) = IdPath::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let result: T = json_body(&body).map_err(IntoResponse::into_response)?;
        if result.request_id() != id {
            return Err(ApiError::BadRequest("Request ID mismatch".into()).into_response());
        }
        Ok(Self { robot, id, result })
    }
}

/// Once a result is recorded: wakes what waits for changes (and the importer when there
/// is a file to import); the status to answer with.
fn submitted(state: &AppState, outcome: Submitted) -> StatusCode {
    state.changed();
    match outcome {
        Submitted::Failed => StatusCode::OK,
        Submitted::Importing => {
            state.import_wake.notify_one();
            StatusCode::ACCEPTED
        }
    }
}
