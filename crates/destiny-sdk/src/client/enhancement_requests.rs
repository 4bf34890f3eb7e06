//! The calls today's repository (SDK 0.17.6) lets a robot make besides its batches:
//! enhancement requests, robot automations and search-based enhancement requests, all
//! HMAC-signed as the batch calls are (spec `current-repository.md` §3).
//!
//! SDK 0.17.6 has no `RobotClient` method for most of these: its `OAuthClient` sends the
//! search requests, and the others are plain routes. The paths, query strings and bodies
//! here are what that SDK (or its `httpx` session, with the SDK's models dumped as JSON)
//! sends.

use bytes::Bytes;
use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::request::ApiCall;
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
        let call = self.json_call(
            Method::POST,
            "/enhancement-requests/".to_owned(),
            Vec::new(),
            Some(request),
            Retry::UnsentOnly,
        )?;
        self.call_json(call).await
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
        let call = self.json_call(
            Method::POST,
            "/enhancement-requests/automations/".to_owned(),
            Vec::new(),
            Some(automation),
            Retry::UnsentOnly,
        )?;
        self.call_json(call).await
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
        let call = self.json_call(
            Method::PUT,
            format!("/enhancement-requests/automations/{automation_id}/"),
            Vec::new(),
            Some(automation),
            Retry::Idempotent,
        )?;
        self.call_json(call).await
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
        let call = self.json_call(
            Method::POST,
            "/enhancement-requests/search/".to_owned(),
            vec![("dry_run", "false".to_owned())],
            Some(request),
            Retry::UnsentOnly,
        )?;
        self.call_json(call).await
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
        let call = self.json_call(
            Method::POST,
            "/enhancement-requests/search/".to_owned(),
            vec![("dry_run", "true".to_owned())],
            Some(request),
            Retry::Idempotent,
        )?;
        self.call_json(call).await
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

    /// A call with `body` as compact JSON (the bytes sent are the bytes signed).
    fn json_call(
        &self,
        method: Method,
        path: String,
        query: Vec<(&'static str, String)>,
        body: Option<&impl Serialize>,
        retry: Retry,
    ) -> Result<ApiCall, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Config(format!("could not serialise the request body: {e}")))?
            .map(Bytes::from);
        Ok(ApiCall {
            method,
            path,
            query,
            body,
            retry,
            timeout: self.inner.request_timeout,
        })
    }

    async fn get_json<T: DeserializeOwned>(&self, path: String) -> Result<T, ClientError> {
        let call = self.json_call(
            Method::GET,
            path,
            Vec::new(),
            None::<&()>,
            Retry::Idempotent,
        )?;
        self.call_json(call).await
    }

    async fn call_json<T: DeserializeOwned>(&self, call: ApiCall) -> Result<T, ClientError> {
        let (method, path) = (call.method.clone(), call.path.clone());
        let answer = self.call(call).await?;
        self.decode(&method, &path, &answer)
    }
}
