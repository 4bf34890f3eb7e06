//! Who is calling: the admin (its bearer token; the real repository asks its identity
//! provider here) or a robot (HMAC), and the middleware that decides it on admin-only and
//! on hybrid routes.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use destiny_sdk::auth::VerifiedClient;
use http::request::Parts;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::AppState;
use crate::error::ApiError;

/// Put in a request's extensions once its bearer token proved to be the admin's.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// The bearer token of a request's `Authorization` header (`None`: there is none).
/// Bytes, not text: a token with non-ASCII bytes is a wrong token, not a missing one.
fn bearer(req: &Request) -> Option<&[u8]> {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
}

/// Checks a bearer token against the admin's.
fn admin_token(state: &AppState, token: &[u8]) -> Result<Admin, ApiError> {
    if bool::from(token.ct_eq(state.admin_token.expose().as_bytes())) {
        Ok(Admin)
    } else {
        Err(ApiError::Unauthorized("Invalid admin token.".into()))
    }
}

/// Admin-only routes: the admin's bearer token or 401.
pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let checked = match bearer(&req) {
        Some(token) => admin_token(&state, token),
        None => Err(ApiError::Unauthorized(
            "Admin routes require an Authorization: Bearer <admin token> header.".into(),
        )),
    };
    match checked {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Hybrid routes, in front of the HMAC layer: a request with a bearer token is the
/// admin's (marked [`Admin`], which the HMAC layer lets through unsigned) or refused; one
/// without goes on to the HMAC layer, which verifies the robot.
pub async fn admin_by_bearer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer(&req) else {
        return next.run(req).await;
    };
    match admin_token(&state, token) {
        Ok(admin) => {
            req.extensions_mut().insert(admin);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Whether a request was marked the admin's (the HMAC layer's bypass on hybrid routes).
pub fn is_admin(parts: &Parts) -> bool {
    parts.extensions.get::<Admin>().is_some()
}

/// Who called a hybrid route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The admin (bearer token).
    Admin,
    /// A robot, by its client id (HMAC).
    Robot(Uuid),
}

impl Caller {
    /// Refuses a robot acting for another robot (403); the admin acts for any.
    ///
    /// # Errors
    /// 403 naming what `what` is.
    pub fn may_act_for(self, robot: Uuid, what: &str) -> Result<(), ApiError> {
        match self {
            Self::Robot(me) if me != robot => Err(ApiError::Forbidden(format!(
                "{what} belongs to another robot; a robot may only act for itself."
            ))),
            _ => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if is_admin(parts) {
            return Ok(Self::Admin);
        }
        match parts.extensions.get::<VerifiedClient>() {
            Some(client) => Ok(Self::Robot(client.client_id())),
            // Only reachable on a route mounted without its layers: fail closed.
            None => Err(ApiError::Unauthorized(
                "Authorization header missing.".into(),
            )),
        }
    }
}
