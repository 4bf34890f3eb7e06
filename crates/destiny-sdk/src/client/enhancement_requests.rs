//! The calls today's repository (SDK 0.17.6) lets a robot make besides its batches:
//! enhancement requests, robot automations and search-based enhancement requests, all
//! HMAC-signed as the batch calls are (spec `current-repository.md` §3).
//!
//! SDK 0.17.6 has no `RobotClient` method for most of these: its `OAuthClient` sends the
//! search requests, and the others are plain routes. The paths, query strings and bodies
//! here are what that SDK (or its `httpx` session, with the SDK's models dumped as JSON)
//! sends.

use http::Method;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::retry::Retry;
use super::{ClientError, RobotClient};
use crate::models::{
    EnhancementRequestIn, EnhancementRequestRead, RobotAutomation, RobotAutomationIn,
    SearchEnhancementRequestIn, SearchEnhancementRequestRead, SearchResultTotal,
};

impl RobotClient {
    /// Asks the repository to enhance references with a robot:
    /// `POST /v1/enhancement-requests/` with the request as compact JSON (answered 202).
    ///
    /// Retried only when the request could not be sent: one that reached the server may
    /// have created the request.
    ///
    /// # Errors
    /// [`ClientError::Api`] (404 unknown robot or reference, 422 invalid request),
    /// [`ClientError::Transport`], [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn create_enhancement_request(
        &self,
        request: &EnhancementRequestIn,
    ) -> Result<EnhancementRequestRead, ClientError> {
        self.post_json("/enhancement-requests/".to_owned(), request)
            .await
    }

    /// An enhancement request and its status: `GET /v1/enhancement-requests/{id}/`.
    ///
    /// Idempotent: retried on transport errors, timeouts and 5xx.
    ///
    /// # Errors
    /// [`ClientError::Api`] (404 unknown request), [`ClientError::Transport`],
    /// [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn get_enhancement_request(
        &self,
        request_id: Uuid,
    ) -> Result<EnhancementRequestRead, ClientError> {
        self.get_json(format!("/enhancement-requests/{request_id}/"))
            .await
    }

    /// Registers a robot automation (a standing percolator query):
    /// `POST /v1/enhancement-requests/automations/` (answered 201).
    ///
    /// Retried only when the request could not be sent: a repeated one could register
    /// the automation twice.
    ///
    /// # Errors
    /// [`ClientError::Api`] (422 invalid query), [`ClientError::Transport`],
    /// [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn create_robot_automation(
        &self,
        automation: &RobotAutomationIn,
    ) -> Result<RobotAutomation, ClientError> {
        self.post_json("/enhancement-requests/automations/".to_owned(), automation)
            .await
    }

    /// Replaces a robot automation:
    /// `PUT /v1/enhancement-requests/automations/{id}/` (answered 201).
    ///
    /// Idempotent (the same body sent twice leaves the same automation): retried on
    /// transport errors, timeouts and 5xx.
    ///
    /// # Errors
    /// [`ClientError::Api`] (404 unknown automation, 422 invalid query),
    /// [`ClientError::Transport`], [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn update_robot_automation(
        &self,
        automation_id: Uuid,
        automation: &RobotAutomationIn,
    ) -> Result<RobotAutomation, ClientError> {
        let path = format!("/enhancement-requests/automations/{automation_id}/");
        self.call_json(self.api_call(Method::PUT, path).json(automation)?)
            .await
    }

    /// Every robot automation: `GET /v1/enhancement-requests/automations/`.
    ///
    /// Idempotent: retried on transport errors, timeouts and 5xx.
    ///
    /// # Errors
    /// [`ClientError::Api`], [`ClientError::Transport`], [`ClientError::Timeout`],
    /// [`ClientError::Decode`].
    pub async fn list_robot_automations(&self) -> Result<Vec<RobotAutomation>, ClientError> {
        self.get_json("/enhancement-requests/automations/".to_owned())
            .await
    }

    /// Asks for every reference a search matches to be enhanced:
    /// `POST /v1/enhancement-requests/search/?dry_run=false` (answered 202); follow it
    /// with [`get_search_enhancement_request`](Self::get_search_enhancement_request).
    ///
    /// Retried only when the request could not be sent: a repeated one could request
    /// the enhancements twice.
    ///
    /// # Errors
    /// [`ClientError::Api`] (422 invalid query), [`ClientError::Transport`],
    /// [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn request_search_enhancement(
        &self,
        request: &SearchEnhancementRequestIn,
    ) -> Result<SearchEnhancementRequestRead, ClientError> {
        self.search_enhancement(request, false).await
    }

    /// Counts the references a search enhancement request would enhance, creating
    /// nothing: `POST /v1/enhancement-requests/search/?dry_run=true` (answered 200).
    ///
    /// A dry run has no effect, so it is retried as an idempotent call (transport
    /// errors, timeouts and 5xx).
    ///
    /// # Errors
    /// [`ClientError::Api`] (422 invalid query), [`ClientError::Transport`],
    /// [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn request_search_enhancement_dry_run(
        &self,
        request: &SearchEnhancementRequestIn,
    ) -> Result<SearchResultTotal, ClientError> {
        self.search_enhancement(request, true).await
    }

    /// The status of a search enhancement request:
    /// `GET /v1/enhancement-requests/search/{id}/`.
    ///
    /// Idempotent: retried on transport errors, timeouts and 5xx.
    ///
    /// # Errors
    /// [`ClientError::Api`] (404 unknown request), [`ClientError::Transport`],
    /// [`ClientError::Timeout`], [`ClientError::Decode`].
    pub async fn get_search_enhancement_request(
        &self,
        request_id: Uuid,
    ) -> Result<SearchEnhancementRequestRead, ClientError> {
        self.get_json(format!("/enhancement-requests/search/{request_id}/"))
            .await
    }

    /// `POST /v1/enhancement-requests/search/?dry_run=..`: a dry run has no effect, so it
    /// is retried as an idempotent call; a real one only when unsent.
    async fn search_enhancement<T: DeserializeOwned>(
        &self,
        request: &SearchEnhancementRequestIn,
        dry_run: bool,
    ) -> Result<T, ClientError> {
        let call = self
            .api_call(Method::POST, "/enhancement-requests/search/".to_owned())
            .query(vec![("dry_run", dry_run.to_string())])
            .json(request)?;
        let retry = if dry_run {
            Retry::Idempotent
        } else {
            Retry::UnsentOnly
        };
        self.call_json(call.retry(retry)).await
    }
}
