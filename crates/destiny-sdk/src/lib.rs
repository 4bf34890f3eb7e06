//! # destiny-sdk
//!
//! The Rust counterpart of the Python `destiny_sdk` (0.7.4) for robots of the DESTINY
//! evidence repository: the JSON models, HMAC-SHA256 request signing and verification,
//! and an async [`RobotClient`](client::RobotClient).
//!
//! ## Layout
//!
//! - [`models`]: serde models byte-compatible with the Python SDK (references,
//!   identifiers, enhancements, robot batches and results), validated as pydantic does,
//!   with errors that name the failing JSON path.
//! - [`jsonl`]: reading and writing JSONL files with the Python SDK's rules.
//! - [`result_file`]: [`ResultFileCheck`](result_file::ResultFileCheck), a batch's result
//!   file checked line by line with the repository's rules and texts.
//! - [`auth`]: signing (`create_signature`, Python float `repr`), header parsing and
//!   verification, and an axum/tower layer that authenticates robot requests.
//! - [`duration`]: [`LeaseDuration`](duration::LeaseDuration), the lease length of a batch,
//!   parsed in every form the repository accepts and written as ISO 8601.
//! - [`client`]: [`RobotClient`](client::RobotClient), the async robot API client, and its
//!   blocking wrapper.
//! - [`samples`]: [`ReferenceGenerator`](samples::ReferenceGenerator), seeded sample references.
//! - [`expiry`]: lease expiries as Python's `isoformat()` writes and reads them.
//! - [`secret`]: [`Secret`](secret::Secret), a string that never prints.
//! - [`backoff`]: [`Backoff`](backoff::Backoff), the one jittered exponential backoff of
//!   the client, the runner and the repository.
//!
//! ## A robot's loop, by hand
//!
//! ```no_run
//! use destiny_sdk::client::RobotClient;
//! use destiny_sdk::models::RobotEnhancementBatchResult;
//!
//! async fn run() -> Result<(), Box<dyn std::error::Error>> {
//!     let robot_id = std::env::var("ROBOT_ID")?.parse()?;
//!     let client = RobotClient::new("http://127.0.0.1:8000", std::env::var("ROBOT_SECRET")?, robot_id)?;
//!     if let Some(batch) = client.poll_robot_enhancement_batch(robot_id, 100, Some("PT10M".parse()?)).await? {
//!         // download batch.reference_storage_url, enhance, upload to batch.result_storage_url...
//!         let done = RobotEnhancementBatchResult { request_id: batch.id, error: None };
//!         client.send_robot_enhancement_batch_result(&done).await?;
//!     }
//!     Ok(())
//! }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod backoff;
#[cfg(feature = "client")]
pub mod client;
pub mod duration;
pub mod expiry;
pub mod jsonl;
pub mod models;
pub mod result_file;
pub mod samples;
pub mod secret;
