//! The JSON models of the robot API, byte-compatible with the Python `destiny_sdk` 0.7.4.
//!
//! Reading is lenient the way pydantic is (unknown fields are ignored; UUID versions 4 and
//! 7 are accepted; enhancement content and identifier types newer than 0.7.4 are kept as
//! opaque JSON and written back unchanged); every constraint pydantic enforces on 0.7.4
//! models is enforced here too, and a failure names the JSON path that broke it.
//!
//! - [`references`]: [`Reference`] and [`Visibility`].
//! - [`identifiers`]: [`ExternalIdentifier`] and the validated identifier newtypes.
//! - [`lookup`]: [`IdentifierLookup`], an identifier as a reference lookup names it.
//! - [`enhancements`]: [`Enhancement`] and its [`EnhancementContent`] variants.
//! - [`robots`]: batches, results, errors, enhancement requests, robot registration
//!   (with [`RobotEntitlement`]s) and robot automations.
//! - [`search`]: search-based enhancement requests and [`SearchResultTotal`] (SDK 0.17.6).
//! - [`datetime`]: [`DateTime`], read and written as pydantic's `datetime` fields.
//! - [`ids`]: serde helpers for UUID fields (v4 or v7 accepted on read).
//! - [`error`]: [`ModelError`], and [`from_json_str`] / [`from_json_slice`] that produce it.
//! - `strict` (private): every model is read from JSON objects only, never arrays.
//! - `tagged` (private): reading the tagged unions from raw JSON text, without a
//!   `serde_json::Value` in between.
//! - `text` (private): the impls shared by the text newtypes ([`HttpUrl`], [`DateTime`],
//!   the identifiers...).

pub mod datetime;
pub mod enhancements;
pub mod error;
pub mod identifiers;
pub mod ids;
pub(crate) mod lax;
pub mod lookup;
pub mod references;
pub mod robots;
pub mod search;
mod strict;
mod tagged;
mod text;
pub mod url;

pub use datetime::DateTime;
pub use enhancements::*;
pub use error::{from_json_slice, from_json_str, from_json_value, ModelError};
pub use identifiers::*;
pub use lookup::IdentifierLookup;
pub use references::*;
pub use robots::*;
pub use search::*;
pub use url::HttpUrl;

/// Ids the unit tests write into JSON: a UUIDv7 (as today's repository issues) and a
/// UUIDv4.
#[cfg(test)]
pub(crate) mod test_ids {
    pub const V7: &str = "019384a2-7c1e-7b3a-9f00-1a2b3c4d5e6f";
    pub const V4: &str = "3a533776-c9ad-4aac-a089-d654d509490c";
}
