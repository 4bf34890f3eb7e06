//! # destiny-repository
//!
//! A local DESTINY repository: the robot-facing API of the real repository
//! (`POST /v1/robot-enhancement-batches/` and friends), exact enough that the Python SDK
//! 0.7.4 robot client works against it unchanged, on an embedded SQLite database by
//! default and PostgreSQL at scale, plus the admin API a developer needs to register
//! robots, load references and request enhancements.
//!
//! ## Layout
//!
//! - [`config`]: [`Config`](config::Config), the server's settings.
//! - [`db`]: the schema and every query, for both backends.
//! - [`lifecycle`]: the pending-enhancement state machine and request status projection.
//! - [`blob`]: the local blob store behind signed, expiring URLs.
//! - [`reference_file`]: writing the reference file robots download.
//! - [`admission`]: the bounded queue polls wait in for their turn (backpressure
//!   instead of pool timeouts).
//! - [`import`]: validating and importing result files (the validation file).
//! - [`jobs`]: background work: the expiry job and the import worker.
//! - [`api`]: the HTTP routes (robot, admin, health) and [`AppState`](api::AppState).
//! - [`error`]: [`ApiError`](error::ApiError), with each error's HTTP status decided once.
//! - [`text`]: the text policy of stored fields (NUL, length limits), one for both
//!   backends.
//! - [`clock`]: injected time.
//! - [`random`]: secrets and keys from the OS random source.
//! - [`server`]: [`run`](server::run), which wires it together.
//! - `http` (private): the HTTP/1.1 accept loop (header-read timeout, graceful shutdown).

#![warn(missing_docs)]

pub mod admission;
pub mod api;
pub mod blob;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
mod http;
pub mod import;
pub mod jobs;
pub mod lifecycle;
pub mod random;
pub mod reference_file;
pub mod server;
pub mod text;
