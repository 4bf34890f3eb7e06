//! Reading internally tagged unions (`enhancement_type`, `identifier_type`,
//! `annotation_type`) without building a `serde_json::Value` tree.
//!
//! A tagged object is captured as its raw JSON text ([`capture`]), its tag is read by a
//! scan that skips every other value ([`tag`]), and the text is then parsed once, straight
//! into the variant's type ([`nested_str`]). Errors keep the inner JSON path.
//!
//! When the tag is usually the first key (`enhancement_type`, as every writer puts it),
//! [`read_leading_tag`] streams instead: it reads the tag and hands the rest of the same
//! map to the variant, so the object is read once.

use serde::de::value::{CowStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// A map read up to its tag by [`read_leading_tag`].
pub(crate) enum Leading<A> {
    /// The first key was the tag: its value, and the rest of the map (the tag may not
    /// come again).
    Tagged(Value, TagRest<A>),
    /// The tag was not first: the whole object, buffered.
    Buffered(Map<String, Value>),
}

/// Reads the first entry of `map`: when its key is `field`, returns the tag's value and
/// the rest of the map to stream into the variant; otherwise buffers the whole object.
///
/// # Errors
/// The map's own errors (an empty object is a missing tag).
pub(crate) fn read_leading_tag<'de, A: MapAccess<'de>>(
    mut map: A,
    field: &'static str,
) -> Result<Leading<A>, A::Error> {
    let Some(first) = map.next_key_seed(CowKey)? else {
        return Err(de::Error::missing_field(field));
    };
    if first == field {
        let tag = map.next_value::<Value>()?;
        return Ok(Leading::Tagged(tag, TagRest { map, field }));
    }
    let mut object = Map::new();
    object.insert(first.into_owned(), map.next_value()?);
    while let Some((key, value)) = map.next_entry::<String, Value>()? {
        object.insert(key, value);
    }
    Ok(Leading::Buffered(object))
}

/// The rest of a map after its leading tag; a second tag key is an error (as a repeated
/// field is for the derived models).
pub(crate) struct TagRest<A> {
    map: A,
    field: &'static str,
}

impl<'de, A: MapAccess<'de>> TagRest<A> {
    /// A deserializer over the remaining entries, for the variant's `Deserialize`.
    pub(crate) fn into_deserializer(self) -> MapAccessDeserializer<Self> {
        MapAccessDeserializer::new(self)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TagRest<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key_seed(CowKey)? else {
            return Ok(None);
        };
        if key == self.field {
            return Err(de::Error::duplicate_field(self.field));
        }
        seed.deserialize(CowStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Reads a map key, borrowing it from the input when it can.
struct CowKey;

impl<'de> DeserializeSeed<'de> for CowKey {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CowKey {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key))
    }
}

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
    if let Some(tag) = leading_tag(raw.get(), field) {
        return Ok(Tag::Str(tag.to_owned()));
    }
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

/// The tag of the common case read from the text alone: compact JSON whose first key is
/// `field` with a plain string value (`{"field":"value"…`). `None` (read it with the full
/// scan) unless the text cannot hold the key a second time: any other `"field"` (nested
/// or repeated) or any `\u` escape (which could spell the key differently) sends the
/// object to the full scan.
fn leading_tag<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    let rest = text
        .strip_prefix("{\"")?
        .strip_prefix(field)?
        .strip_prefix("\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest.as_bytes())?;
    if rest.as_bytes()[end] != b'"' {
        return None;
    }
    let after = &rest.as_bytes()[end..];
    let quoted = format!("\"{field}\"");
    if memchr::memmem::find(after, quoted.as_bytes()).is_some()
        || memchr::memmem::find(after, b"\\u").is_some()
    {
        return None;
    }
    Some(&rest[..end])
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
    fn the_leading_tag_shortcut_only_takes_unambiguous_texts() {
        fn lead(text: &str) -> Option<&str> {
            leading_tag(text, "t")
        }
        assert_eq!(lead(r#"{"t":"a","x":1}"#), Some("a"));
        assert_eq!(lead(r#"{"t":"a"}"#), Some("a"));
        // Repeated (last wins), nested, escaped or not first: the full scan decides.
        assert_eq!(lead(r#"{"t":"a","t":"b"}"#), None);
        assert_eq!(lead(r#"{"t":"a","x":{"t":"b"}}"#), None);
        assert_eq!(lead(r#"{"t":"a","\u0074":"b"}"#), None);
        assert_eq!(lead(r#"{"t":"a\"b"}"#), None);
        assert_eq!(lead(r#"{"x":1,"t":"a"}"#), None);
        assert_eq!(lead(r#"{ "t": "a"}"#), None);
        assert_eq!(lead(r#"{"t":5}"#), None);
        assert_eq!(lead(r#"{"tt":"a"}"#), None);
        // Whatever the shortcut takes, the full scan agrees with.
        for text in [r#"{"t":"a","x":1}"#, r#"{"t":"","y":[1,"u"]}"#] {
            let full = match tag(&raw(&text.replacen('{', "{ ", 1)), "t") {
                Ok(Tag::Str(s)) => s,
                _ => panic!("no tag in {text}"),
            };
            assert_eq!(lead(text), Some(full.as_str()));
        }
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
