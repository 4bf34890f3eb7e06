//! # destiny-testkit
//!
//! The one test kit of the workspace (a dev-dependency only; never published). Every
//! crate's tests start repositories, register robots, seed work, wait and talk to the
//! Python peers through it.
//!
//! - [`Backend`], [`TestDb`] and [`on_both_backends!`]: one test per backend per
//!   scenario; a database of the test's own (`CREATE DATABASE test_<uuid>` on the server
//!   named by `DESTINY_TEST_POSTGRES`, dropped afterwards). Without
//!   `DESTINY_TEST_POSTGRES` the PostgreSQL tests FAIL, unless `DESTINY_SKIP_POSTGRES=1`
//!   says to skip them.
//! - [`Server`] ([`start`], [`start_with`], [`start_seeded`]): `destiny serve` in this
//!   process on port 0 with a manual clock, and the admin calls tests make (register,
//!   import, request, seed, wait, expire, signed requests by hand).
//! - [`lease_and_submit`], [`lease_and_submit_each`] and their steps ([`poll_batch`], [`fetch_text`],
//!   [`reference_ids`], [`put_result`], [`submit`]): a robot's side of a batch by hand.
//! - [`on_change`] (woken by the server's committed changes, no timer; what
//!   [`Server::wait_status`] uses), [`eventually`], [`wait_for`] and [`DEADLINE`]: waits
//!   with a deadline, never a bare sleep.
//! - [`python`]: the Python peers (destiny-sdk 0.7.4 and 0.17.6) and their scripts in
//!   `crates/destiny-testkit/python/`.
//! - [`sql`]: the rows, the one row or the one value a query of the test's database
//!   answers.
//! - [`scratch_db`]: scratch PostgreSQL databases (tests and benches); [`mod@bench`]: what the
//!   benches read from their environment.
//! - [`stores`]: Azurite and an S3 server (moto) for the `--blob-store az://` and
//!   `s3://` tests, a fresh container or bucket each.
//! - [`proxy::Proxy`]: a TCP proxy to cut the database away and bring it back, or to
//!   lose a server's answers;
//! - [`pg_cluster::PgCluster`]: a PostgreSQL cluster of one test's own, to restart.
//! - [`serve_process::Serve`]: `destiny serve` as a child process (kill it, restart it),
//!   and [`serve_process::admin`] calls to it; [`child::Process`], a child process with
//!   its log, killed when dropped.
//! - [`fixture`] / [`fixture_text`]: the shared fixtures in `../shared/fixtures`.
//! - [`init_logging`], [`capture_logs`] and [`LogSink`]: logs on demand (`TEST_LOG=debug`)
//!   or captured.

#![allow(clippy::missing_panics_doc)] // A test kit fails tests by panicking.

mod backend;
mod batch;
pub mod bench;
pub mod child;
mod fixtures;
mod logs;
pub mod pg_cluster;
pub mod proxy;
pub mod python;
pub mod scratch_db;
pub mod serve_process;
mod server;
pub mod sql;
pub mod stores;
mod wait;

pub use backend::{postgres_admin_url, skip_postgres, Backend, TestDb};
pub use batch::{
    fetch_text, lease_and_submit, lease_and_submit_each, poll_batch, put_result, reference_ids,
    submit,
};
pub use fixtures::{fixture, fixture_text};
pub use logs::{capture_logs, init_logging, LogSink};
pub use server::{
    annotation, ids_in, partial_result, refuse_inserts, run_python, signed_headers, start,
    start_seeded, start_with, Options, Server,
};
pub use wait::{eventually, on_change, wait_for, DEADLINE};
