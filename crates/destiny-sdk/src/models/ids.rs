//! Serde helpers for UUID fields: pydantic's `UUID4` on 0.7.4, widened to accept the
//! UUIDv7 ids that newer repositories issue (spec §5). Other versions are rejected.

use serde::{Deserialize, Deserializer};
use uuid::Uuid;

/// Whether a UUID is one the models accept: RFC 4122 variant, version 4 or 7.
pub fn is_accepted(id: &Uuid) -> bool {
    id.get_variant() == uuid::Variant::RFC4122 && matches!(id.get_version_num(), 4 | 7)
}

/// Parses a UUID from text and checks its version.
///
/// # Errors
/// A message saying the text is not a UUID, or that its version is not 4 or 7.
pub fn parse(text: &str) -> Result<Uuid, String> {
    let id = Uuid::parse_str(text).map_err(|e| format!("invalid UUID {text:?}: {e}"))?;
    check(id)
}

fn check(id: Uuid) -> Result<Uuid, String> {
    if is_accepted(&id) {
        Ok(id)
    } else {
        Err(format!(
            "UUID version 4 or 7 expected, got version {} ({id})",
            id.get_version_num()
        ))
    }
}

/// `deserialize_with` for a `Uuid` field.
pub fn v4_or_v7<'de, D: Deserializer<'de>>(de: D) -> Result<Uuid, D::Error> {
    let text = std::borrow::Cow::<str>::deserialize(de)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// `deserialize_with` for an `Option<Uuid>` field (pair it with `#[serde(default)]`).
pub fn opt_v4_or_v7<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Uuid>, D::Error> {
    Option::<std::borrow::Cow<str>>::deserialize(de)?
        .map(|t| parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// `deserialize_with` for a `Vec<Uuid>` field.
pub fn vec_v4_or_v7<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<Uuid>, D::Error> {
    Vec::<Id>::deserialize(de).map(|v| v.into_iter().map(|i| i.0).collect())
}

/// `deserialize_with` for an `Option<Vec<Uuid>>` field (pair it with `#[serde(default)]`).
pub fn opt_vec_v4_or_v7<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Vec<Uuid>>, D::Error> {
    Option::<Vec<Id>>::deserialize(de).map(|v| v.map(|v| v.into_iter().map(|i| i.0).collect()))
}

/// A checked UUID inside a sequence (so the sequence index appears in error paths).
struct Id(Uuid);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        v4_or_v7(de).map(Id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_v4_and_v7_only() {
        assert!(parse("3a533776-c9ad-4aac-a089-d654d509490c").is_ok());
        assert!(parse("019384a2-7c1e-7b3a-9f00-1a2b3c4d5e6f").is_ok());
        let v1 = parse("c232ab00-9414-11ec-b3c8-9f6bdeced846").unwrap_err();
        assert!(
            v1.contains("version 4 or 7 expected, got version 1"),
            "{v1}"
        );
        assert!(parse("nope").unwrap_err().contains("invalid UUID"));
    }
}
