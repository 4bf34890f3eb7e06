//! The properties the fuzz targets check, one function per target, each taking the raw
//! fuzzer input.
//!
//! They live in [`props`] (plain Rust over `destiny-sdk`, `http`, `uuid`, `serde_json`,
//! `axum`, `tower`, `http-body-util` and `bytes`, no fuzzing crate) so that
//! `crates/destiny-sdk/tests/fuzz_regressions.rs` includes the very same file and runs
//! every property over the seed corpus and the saved crash inputs in plain `cargo nextest`.

pub mod props;
