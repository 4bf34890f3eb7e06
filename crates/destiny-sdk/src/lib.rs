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
//! - [`auth`]: signing (`create_signature`, Python float `repr`), header parsing and
//!   verification, and an axum/tower layer that authenticates robot requests.
//! - [`duration`]: [`LeaseDuration`](duration::LeaseDuration), the lease length of a batch,
//!   parsed in every form the repository accepts and written as ISO 8601.
//! - [`client`]: [`RobotClient`](client::RobotClient), the async robot API client, and its
//!   blocking wrapper.
//! - [`secret`]: [`Secret`](secret::Secret), a string that never prints.

pub mod auth;
pub mod client;
pub mod duration;
pub mod jsonl;
pub mod models;
pub mod secret;
