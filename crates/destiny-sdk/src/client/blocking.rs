//! A blocking [`RobotClient`] for code without an async runtime: the async client driven
//! by its own current-thread tokio runtime.
//!
//! Its methods must not be called from inside an async runtime (tokio panics when a
//! runtime blocks inside another); use the async [`super::RobotClient`] there.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use uuid::Uuid;

use super::{ClientError, RobotClientBuilder};
use crate::duration::LeaseDuration;
use crate::models::{
    EnhancementRequestIn, EnhancementRequestRead, HttpUrl, RobotAutomation, RobotAutomationIn,
    RobotEnhancementBatch, RobotEnhancementBatchRead, RobotEnhancementBatchResult, RobotResult,
    SearchEnhancementRequestIn, SearchEnhancementRequestRead, SearchResultTotal,
};
use crate::secret::Secret;

/// The blocking robot API client; the same calls as [`super::RobotClient`], same retries.
///
/// ```no_run
/// use destiny_sdk::client::blocking::RobotClient;
/// let robot_id = uuid::Uuid::parse_str("3a533776-c9ad-4aac-a089-d654d509490c").unwrap();
/// let client = RobotClient::new("http://localhost:8000", "secret", robot_id)?;
/// let batch = client.poll_robot_enhancement_batch(robot_id, 10, None)?;
/// # Ok::<(), destiny_sdk::client::ClientError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RobotClient {
    /// The async client doing the work.
    inner: super::RobotClient,
    /// Drives `inner`; shared by clones.
    runtime: Arc<tokio::runtime::Runtime>,
}

impl RobotClient {
    /// A blocking client with default settings (see [`super::RobotClient::new`]).
    ///
    /// # Errors
    /// [`ClientError::InvalidBaseUrl`]; [`ClientError::Config`] if the runtime cannot
    /// start.
    pub fn new(
        base_url: &str,
        secret: impl Into<Secret>,
        client_id: Uuid,
    ) -> Result<Self, ClientError> {
        Self::from_builder(super::RobotClient::builder(base_url, secret, client_id))
    }

    /// A blocking client from a configured builder.
    ///
    /// # Errors
    /// As [`RobotClientBuilder::build`]; [`ClientError::Config`] if the runtime cannot
    /// start.
    pub fn from_builder(builder: RobotClientBuilder) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Config(format!("could not start a tokio runtime: {e}")))?;
        let inner = builder.build()?;
        Ok(Self {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    /// The async client inside.
    pub fn as_async(&self) -> &super::RobotClient {
        &self.inner
    }

    /// See [`super::RobotClient::poll_robot_enhancement_batch`].
    ///
    /// # Errors
    /// As the async method.
    pub fn poll_robot_enhancement_batch(
        &self,
        robot_id: Uuid,
        limit: u32,
        lease: Option<LeaseDuration>,
    ) -> Result<Option<RobotEnhancementBatch>, ClientError> {
        self.runtime.block_on(
            self.inner
                .poll_robot_enhancement_batch(robot_id, limit, lease),
        )
    }

    /// See [`super::RobotClient::renew_robot_enhancement_batch_lease`].
    ///
    /// # Errors
    /// As the async method.
    pub fn renew_robot_enhancement_batch_lease(
        &self,
        batch_id: Uuid,
        lease: Option<LeaseDuration>,
    ) -> Result<jiff::Timestamp, ClientError> {
        self.runtime.block_on(
            self.inner
                .renew_robot_enhancement_batch_lease(batch_id, lease),
        )
    }

    /// See [`super::RobotClient::get_robot_enhancement_batch`].
    ///
    /// # Errors
    /// As the async method.
    pub fn get_robot_enhancement_batch(
        &self,
        batch_id: Uuid,
    ) -> Result<RobotEnhancementBatch, ClientError> {
        self.runtime
            .block_on(self.inner.get_robot_enhancement_batch(batch_id))
    }

    /// See [`super::RobotClient::send_robot_enhancement_batch_result`].
    ///
    /// # Errors
    /// As the async method.
    pub fn send_robot_enhancement_batch_result(
        &self,
        result: &RobotEnhancementBatchResult,
    ) -> Result<RobotEnhancementBatchRead, ClientError> {
        self.runtime
            .block_on(self.inner.send_robot_enhancement_batch_result(result))
    }

    /// See [`super::RobotClient::send_robot_result`].
    ///
    /// # Errors
    /// As the async method.
    pub fn send_robot_result(
        &self,
        result: &RobotResult,
    ) -> Result<EnhancementRequestRead, ClientError> {
        self.runtime.block_on(self.inner.send_robot_result(result))
    }

    /// See [`super::RobotClient::create_enhancement_request`].
    ///
    /// # Errors
    /// As the async method.
    pub fn create_enhancement_request(
        &self,
        request: &EnhancementRequestIn,
    ) -> Result<EnhancementRequestRead, ClientError> {
        self.runtime
            .block_on(self.inner.create_enhancement_request(request))
    }

    /// See [`super::RobotClient::get_enhancement_request`].
    ///
    /// # Errors
    /// As the async method.
    pub fn get_enhancement_request(
        &self,
        request_id: Uuid,
    ) -> Result<EnhancementRequestRead, ClientError> {
        self.runtime
            .block_on(self.inner.get_enhancement_request(request_id))
    }

    /// See [`super::RobotClient::create_robot_automation`].
    ///
    /// # Errors
    /// As the async method.
    pub fn create_robot_automation(
        &self,
        automation: &RobotAutomationIn,
    ) -> Result<RobotAutomation, ClientError> {
        self.runtime
            .block_on(self.inner.create_robot_automation(automation))
    }

    /// See [`super::RobotClient::update_robot_automation`].
    ///
    /// # Errors
    /// As the async method.
    pub fn update_robot_automation(
        &self,
        automation_id: Uuid,
        automation: &RobotAutomationIn,
    ) -> Result<RobotAutomation, ClientError> {
        self.runtime.block_on(
            self.inner
                .update_robot_automation(automation_id, automation),
        )
    }

    /// See [`super::RobotClient::list_robot_automations`].
    ///
    /// # Errors
    /// As the async method.
    pub fn list_robot_automations(&self) -> Result<Vec<RobotAutomation>, ClientError> {
        self.runtime.block_on(self.inner.list_robot_automations())
    }

    /// See [`super::RobotClient::request_search_enhancement`].
    ///
    /// # Errors
    /// As the async method.
    pub fn request_search_enhancement(
        &self,
        request: &SearchEnhancementRequestIn,
    ) -> Result<SearchEnhancementRequestRead, ClientError> {
        self.runtime
            .block_on(self.inner.request_search_enhancement(request))
    }

    /// See [`super::RobotClient::request_search_enhancement_dry_run`].
    ///
    /// # Errors
    /// As the async method.
    pub fn request_search_enhancement_dry_run(
        &self,
        request: &SearchEnhancementRequestIn,
    ) -> Result<SearchResultTotal, ClientError> {
        self.runtime
            .block_on(self.inner.request_search_enhancement_dry_run(request))
    }

    /// See [`super::RobotClient::get_search_enhancement_request`].
    ///
    /// # Errors
    /// As the async method.
    pub fn get_search_enhancement_request(
        &self,
        request_id: Uuid,
    ) -> Result<SearchEnhancementRequestRead, ClientError> {
        self.runtime
            .block_on(self.inner.get_search_enhancement_request(request_id))
    }

    /// Downloads a signed storage URL into memory (see
    /// [`super::RobotClient::download_stream`]).
    ///
    /// # Errors
    /// As the async method, or a failure while reading the body.
    pub fn download(&self, url: &HttpUrl) -> Result<Bytes, ClientError> {
        self.runtime.block_on(async {
            let mut stream = self.inner.download_stream(url).await?;
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk?);
            }
            Ok(Bytes::from(out))
        })
    }

    /// Uploads a result file (see [`super::RobotClient::upload_file`]).
    ///
    /// # Errors
    /// As the async method.
    pub fn upload_file(&self, url: &HttpUrl, body: impl Into<Bytes>) -> Result<(), ClientError> {
        let body: Bytes = body.into();
        self.runtime.block_on(self.inner.upload_file(url, body))
    }
}
