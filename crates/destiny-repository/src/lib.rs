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
//! The public surface is what an embedder needs to run the server:
//!
//! - [`config`]: [`Config`](config::Config), the server's settings.
//! - [`clock`]: injected time.
//! - [`server`]: [`prepare`](server::prepare) and [`run`](server::run), which wire it
//!   together.
//!
//! The rest is internal (crate-private; public only with the `testing` feature, which the
//! workspace's test kit turns on):
//!
//! - `db`: the schema and every query, for both backends.
//! - `lifecycle`: the pending-enhancement state machine and request status projection.
//! - `blob`: the local blob store behind signed, expiring URLs.
//! - `reference_file`: writing the reference file robots download.
//! - `request_rows`, `request_files`: the pending enhancements beyond the first 10,000 and
//!   the reference files of large requests, written after the answer.
//! - `admission`: the bounded queue polls wait in for their turn (backpressure instead of
//!   pool timeouts).
//! - `foreground`: requests in flight that bulk background work steps aside for.
//! - `import`: validating and importing result files (the validation file).
//! - `jobs`: background work: the expiry job and the import worker.
//! - `api`: the HTTP routes (robot, admin, health) and `AppState`.
//! - `error`: `ApiError`, with each error's HTTP status decided once.
//! - `metrics`: the server's counters and latencies, served at `GET /metrics`.
//! - `request_id`: an id per request, answered in `X-Request-Id` and on every log line.
//! - `text`: the text policy of stored fields (NUL, length limits), one for both backends.
//! - `random`: secrets and keys from the OS random source.
//! - `http` (always private): the HTTP/1.1 accept loop (header-read timeout, graceful
//!   shutdown).

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod server;

mod http;

/// Declares the internal modules: crate-private, and public with the `testing` feature so
/// the workspace's tests, benches and test kit can drive the parts they check. One list, so
/// a module cannot be private in one build and forgotten in the other.
macro_rules! internal {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[cfg(feature = "testing")]
        pub mod $name;
        $(#[$meta])*
        #[cfg(not(feature = "testing"))]
        mod $name;
    )*};
}

internal! {
    admission;
    api;
    blob;
    db;
    error;
    foreground;
    import;
    jobs;
    lifecycle;
    metrics;
    percolate;
    random;
    reference_file;
    request_files;
    request_id;
    request_rows;
    search;
    text;
}
