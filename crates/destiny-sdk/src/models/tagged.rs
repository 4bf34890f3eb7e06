//! Reading internally tagged unions (`enhancement_type`, `identifier_type`,
//! `annotation_type`) without building a `serde_json::Value` tree.
//!
//! A tagged object is captured as its raw JSON text ([`capture`]), its tag is read by a
//! scan that skips every other value ([`tag`]), and the text is then parsed once, straight
//! into the variant's type ([`nested_str`]). Errors keep the inner JSON path.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;

/// Captures the next JSON value as raw text.
pub(crate) fn capture<'de, D: Deserializer<'de>>(de: D) -> Result<Box<RawValue>, D::Error> {
    Box::<RawValue>::deserialize(de)
}

/// What a JSON object holds under its tag field.
pub(crate) enum Tag {
    /// The field is a string.
    Str(String),
    /// The field is missing.
    Missing,
}

/// Reads the string tag `field` of the JSON object `raw` (the last one wins when the key
/// repeats, as when the object is read into a map), skipping every other value.
///
/// # Errors
/// The text of a model error: the value is not an object (`invalid type: …, expected a
/// map`) or the tag is not a string (`` `field` should be a string, got … ``).
pub(crate) fn tag(raw: &RawValue, field: &str) -> Result<Tag, String> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let found = de
        .deserialize_map(TagVisitor { field })
        .map_err(|e| strip_position(&e))?;
    match found {
        None => Ok(Tag::Missing),
        Some(Value::String(s)) => Ok(Tag::Str(s)),
        Some(other) => Err(format!("`{field}` should be a string, got {other}")),
    }
}

/// Whether the JSON object `raw` has each of `keys` (in the order given); `None` when `raw`
/// is not an object.
pub(crate) fn has_keys<const N: usize>(raw: &RawValue, keys: [&str; N]) -> Option<[bool; N]> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_map(KeysVisitor { keys }).ok()
}

/// Parses the captured JSON text of a value into `T` from inside another `Deserialize`
/// impl, keeping the inner path for the outer [`super::ModelError`].
///
/// The text is parsed without path tracking first; only a failure is parsed again with it,
/// to name the path.
pub(crate) fn nested_str<T: de::DeserializeOwned, E: de::Error>(raw: &RawValue) -> Result<T, E> {
    match serde_json::from_str(raw.get()) {
        Ok(value) => Ok(value),
        Err(_) => super::error::nested_tracked(&mut serde_json::Deserializer::from_str(raw.get())),
    }
}

/// serde_json appends " at line L column C" to data errors; the model errors name a path
/// instead.
fn strip_position(err: &serde_json::Error) -> String {
    let mut message = err.to_string();
    if let Some(idx) = message.rfind(" at line ") {
        message.truncate(idx);
    }
    message
}

struct TagVisitor<'f> {
    field: &'f str,
}

impl<'de> Visitor<'de> for TagVisitor<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_tag) = map.next_key_seed(KeyIs(self.field))? {
            if is_tag {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct KeysVisitor<'k, const N: usize> {
    keys: [&'k str; N],
}

impl<'de, const N: usize> Visitor<'de> for KeysVisitor<'_, N> {
    type Value = [bool; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut present = [false; N];
        while let Some(key) = map.next_key_seed(KeyIndex(&self.keys))? {
            if let Some(i) = key {
                present[i] = true;
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(present)
    }
}

/// Reads a map key and says whether it equals the field, without allocating.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// Reads a map key and gives its index among the keys looked for.
struct KeyIndex<'k, 'a, const N: usize>(&'a [&'k str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for KeyIndex<'_, '_, N> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<usize>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<const N: usize> Visitor<'_> for KeyIndex<'_, '_, N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn reads_the_tag_wherever_it_is_and_the_last_of_repeats() {
        let t = |text: &str| match tag(&raw(text), "t") {
            Ok(Tag::Str(s)) => s,
            Ok(Tag::Missing) => "<missing>".to_owned(),
            Err(e) => format!("<error {e}>"),
        };
        assert_eq!(t(r#"{"t": "a", "x": [1, {"t": "no"}]}"#), "a");
        assert_eq!(t(r#"{"x": {"t": "no"}, "t": "b\u0021"}"#), "b!");
        assert_eq!(t(r#"{"t": "a", "t": "c"}"#), "c");
        assert_eq!(t(r#"{"x": 1}"#), "<missing>");
        assert_eq!(t(r#"{"t": 5}"#), "<error `t` should be a string, got 5>");
        assert_eq!(
            t(r#""text""#),
            r#"<error invalid type: string "text", expected a map>"#
        );
    }

    #[test]
    fn finds_keys_at_the_top_level_only() {
        assert_eq!(
            has_keys(&raw(r#"{"a": {"b": 1}, "c": null}"#), ["b", "c"]),
            Some([false, true])
        );
        assert_eq!(has_keys(&raw("[1]"), ["a"]), None);
    }
}
