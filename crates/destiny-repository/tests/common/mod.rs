//! The repository's tests use the workspace's test kit (`destiny-testkit`: a server on
//! port 0 on either backend, admin helpers, the Python peers); this module re-exports it
//! so each test file says `common::…`.

#![allow(unused_imports)] // Each test file uses its own part of the kit.

pub use destiny_testkit::python::{python, workspace_root};
pub use destiny_testkit::*;
