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

/// Blocking methods that run the async client's method of the same name on the runtime.
macro_rules! blocking {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(
            #[doc = concat!("See [`super::RobotClient::", stringify!($name), "`].")]
            ///
            /// # Errors
            /// As the async method.
            pub fn $name(&self, $($arg: $ty),*) -> Result<$ret, ClientError> {
                self.runtime.block_on(self.inner.$name($($arg),*))
            }
        )*
    };
}

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

    blocking! {
        fn poll_robot_enhancement_batch(robot_id: Uuid, limit: u32, lease: Option<LeaseDuration>)
            -> Option<RobotEnhancementBatch>;
        fn renew_robot_enhancement_batch_lease(batch_id: Uuid, lease: Option<LeaseDuration>)
            -> jiff::Timestamp;
        fn get_robot_enhancement_batch(batch_id: Uuid) -> RobotEnhancementBatch;
        fn send_robot_enhancement_batch_result(result: &RobotEnhancementBatchResult)
            -> RobotEnhancementBatchRead;
        fn send_robot_result(result: &RobotResult) -> EnhancementRequestRead;
        fn create_enhancement_request(request: &EnhancementRequestIn) -> EnhancementRequestRead;
        fn get_enhancement_request(request_id: Uuid) -> EnhancementRequestRead;
        fn create_robot_automation(automation: &RobotAutomationIn) -> RobotAutomation;
        fn update_robot_automation(automation_id: Uuid, automation: &RobotAutomationIn)
            -> RobotAutomation;
        fn list_robot_automations() -> Vec<RobotAutomation>;
        fn request_search_enhancement(request: &SearchEnhancementRequestIn)
            -> SearchEnhancementRequestRead;
        fn request_search_enhancement_dry_run(request: &SearchEnhancementRequestIn)
            -> SearchResultTotal;
        fn get_search_enhancement_request(request_id: Uuid) -> SearchEnhancementRequestRead;
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
