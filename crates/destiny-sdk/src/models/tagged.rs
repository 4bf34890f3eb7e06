//! Reading internally tagged unions (`enhancement_type`, `identifier_type`,
//! `annotation_type`) without building a `serde_json::Value` tree.
//!
//! [`read_tag`] reads a tagged object up to its tag, then hands the rest of the same map
//! to the variant's `Deserialize`, so the object is read once; the few entries before the
//! tag are buffered. A result line (an enhancement or an error, untagged) is captured as
//! raw JSON text ([`capture`]) and parsed from it ([`nested_str`]), so it can be read
//! only from `serde_json` (text or a `Value`). Errors
//! keep the inner JSON path.

use serde::de::value::{CowStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

use super::strict::Strict;

/// A union read from a JSON object by its string tag: [`deserialize_tagged`] reads the map
/// up to [`TAG`](Self::TAG) and hands the rest to [`from_tag`](Self::from_tag).
pub(crate) trait TaggedUnion: Sized {
    /// The tag's key, such as `enhancement_type`.
    const TAG: &'static str;

    /// The value for `tag`, read from the other entries of the object.
    fn from_tag<'de, A: MapAccess<'de>>(
        tag: String,
        rest: TagRest<'de, A>,
    ) -> Result<Self, A::Error>;
}

/// Makes `$name` a [`TaggedUnion`] under the key `$tag` and implements its `Deserialize`:
/// `|tag, rest| body` gives the value for a tag (a `String`) from the rest of the object
/// (a [`TagRest`]), as [`TaggedUnion::from_tag`].
macro_rules! tagged_union {
    ($name:ident, $tag:literal, |$tag_var:ident, $rest:ident| $body:expr) => {
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                $crate::models::tagged::deserialize_tagged(de)
            }
        }

        impl $crate::models::tagged::TaggedUnion for $name {
            const TAG: &'static str = $tag;

            fn from_tag<'de, A: ::serde::de::MapAccess<'de>>(
                $tag_var: String,
                $rest: $crate::models::tagged::TagRest<'de, A>,
            ) -> Result<Self, A::Error> {
                $body
            }
        }
    };
}

pub(crate) use tagged_union;

/// `Deserialize::deserialize` for a [`TaggedUnion`].
pub(crate) fn deserialize_tagged<'de, T: TaggedUnion, D: Deserializer<'de>>(
    de: D,
) -> Result<T, D::Error> {
    de.deserialize_map(TaggedVisitor(std::marker::PhantomData))
}

/// A [`TaggedUnion`] read from a map a visitor was handed.
pub(crate) fn from_map<'de, T: TaggedUnion, A: MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    let (tag, rest) = read_tag(map, T::TAG)?;
    T::from_tag(tag, rest)
}

struct TaggedVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: TaggedUnion> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        from_map(map)
    }
}

/// Reads `map` up to its tag `field`: returns the tag and the rest of the map, for the
/// variant's `Deserialize`. Entries before the tag are buffered (as small
/// `serde_json::Value`s: every writer puts the tag first or after one or two short
/// fields); everything after it is streamed.
///
/// # Errors
/// The map's own errors; a missing tag; a tag that is not a string.
pub(crate) fn read_tag<'de, A: MapAccess<'de>>(
    mut map: A,
    field: &'static str,
) -> Result<(String, TagRest<'de, A>), A::Error> {
    let mut before = Vec::new();
    loop {
        let Some(key) = map.next_key_seed(CowKey)? else {
            return Err(de::Error::missing_field(field));
        };
        if key == field {
            return match map.next_value::<Value>()? {
                Value::String(tag) => Ok((
                    tag,
                    TagRest {
                        before: before.into_iter(),
                        value: None,
                        map,
                        field,
                    },
                )),
                other => Err(de::Error::custom(format!(
                    "`{field}` should be a string, got {other}"
                ))),
            };
        }
        let value = map.next_value::<Value>()?;
        before.push((key, value));
    }
}

/// The entries of a map other than its tag: those read before it, then the rest of the
/// map. A second tag key is an error (as a repeated field is for the derived models).
pub(crate) struct TagRest<'de, A> {
    /// Entries that came before the tag.
    before: std::vec::IntoIter<(Cow<'de, str>, Value)>,
    /// The value of the buffered key just returned.
    value: Option<(Cow<'de, str>, Value)>,
    /// The rest of the map.
    map: A,
    /// The tag's key.
    field: &'static str,
}

impl<'de, A: MapAccess<'de>> TagRest<'de, A> {
    /// The variant, read from the entries.
    pub(crate) fn variant<T: Deserialize<'de>>(self) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(self))
    }

    /// The whole object, the tag back in its place (for types kept as opaque JSON).
    pub(crate) fn into_object(mut self, tag: String) -> Result<Map<String, Value>, A::Error> {
        let mut object = Map::new();
        for (key, value) in self.before.by_ref() {
            object.insert(key.into_owned(), value);
        }
        object.insert(self.field.to_owned(), Value::String(tag));
        while let Some((key, value)) = self.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        Ok(object)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TagRest<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.before.next() {
            let out = seed.deserialize(CowStrDeserializer::new(key.clone()));
            self.value = Some((key, value));
            return out.map(Some);
        }
        let Some(key) = self.map.next_key_seed(CowKey)? else {
            return Ok(None);
        };
        if key == self.field {
            return Err(de::Error::duplicate_field(self.field));
        }
        seed.deserialize(CowStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.value.take() {
            Some((key, value)) => super::error::nested_seed(&key, value, seed),
            None => self.map.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint().map(|n| n + self.before.len())
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
    let mut de = serde_json::Deserializer::from_str(raw.get());
    match T::deserialize(Strict(&mut de)) {
        Ok(value) => Ok(value),
        Err(_) => {
            super::error::nested_tracked(Strict(&mut serde_json::Deserializer::from_str(raw.get())))
        }
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

    fn read<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        crate::models::from_json_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn the_tag_may_come_anywhere_and_errors_keep_their_path() {
        use crate::models::{Annotation, EnhancementContent, ExternalIdentifier};
        // Before, between and after other fields.
        for json in [
            r#"{"identifier_type": "doi", "identifier": "10.1234/x"}"#,
            r#"{"identifier": "10.1234/x", "identifier_type": "doi"}"#,
        ] {
            assert!(matches!(
                read::<ExternalIdentifier>(json),
                Ok(ExternalIdentifier::Doi(_))
            ));
        }
        let late = r#"{"process": "other", "abstract": "A.", "enhancement_type": "abstract"}"#;
        assert!(matches!(
            read::<EnhancementContent>(late),
            Ok(EnhancementContent::Abstract(_))
        ));
        // A buffered value's error names its own path, as a streamed one does.
        let want = Err("identifier: ".to_owned());
        for json in [
            r#"{"identifier": "nope", "identifier_type": "doi"}"#,
            r#"{"identifier_type": "doi", "identifier": "nope"}"#,
        ] {
            let got = read::<ExternalIdentifier>(json);
            assert_eq!(
                got.as_ref().map_err(|e| &e[..12]),
                want.as_ref().map_err(|e| &e[..])
            );
        }
        let json = r#"{"scheme": "a", "label": "b", "data": {"x": 1}, "score": "high",
            "annotation_type": "score"}"#;
        assert_eq!(
            read::<Annotation>(json).unwrap_err(),
            "score: input should be a valid number, unable to parse string \"high\" as a finite number"
        );
        // Missing, mistyped and repeated tags.
        assert_eq!(
            read::<ExternalIdentifier>(r#"{"identifier": "10.1234/x"}"#).unwrap_err(),
            "missing field `identifier_type`"
        );
        assert_eq!(
            read::<ExternalIdentifier>(r#"{"identifier_type": 3}"#).unwrap_err(),
            "`identifier_type` should be a string, got 3"
        );
        assert_eq!(
            read::<EnhancementContent>(
                r#"{"enhancement_type": "abstract", "enhancement_type": "raw"}"#
            )
            .unwrap_err(),
            "duplicate field `enhancement_type`"
        );
        // As for any model field given twice (pydantic would keep the last value).
        assert_eq!(
            read::<EnhancementContent>(
                r#"{"enhancement_type": "abstract", "process": "other", "abstract": "A.",
                    "abstract": "B."}"#
            )
            .unwrap_err(),
            "duplicate field `abstract`"
        );
    }

    #[test]
    fn messages_do_not_depend_on_where_the_tag_is() {
        use crate::models::ExternalIdentifier;
        // A buffered value's error has no line/column; text that looks like one stays.
        let late = r#"{"identifier": "x at line 2", "identifier_type": "pm_id"}"#;
        let early = r#"{"identifier_type": "pm_id", "identifier": "x at line 2"}"#;
        let (late, early) = (
            read::<ExternalIdentifier>(late).unwrap_err(),
            read::<ExternalIdentifier>(early).unwrap_err(),
        );
        assert_eq!(late, early);
        assert!(late.contains("x at line 2"), "{late}");
    }

    #[test]
    fn an_identifier_is_an_object_or_a_uuid_string() {
        use crate::models::Identifier;
        let id = "3a533776-c9ad-4aac-a089-d654d509490c";
        assert!(matches!(
            read::<Identifier>(&format!("\"{id}\"")),
            Ok(Identifier::Id(_))
        ));
        let object = r#"{"identifier": "10.1234/x", "identifier_type": "doi"}"#;
        assert!(matches!(
            read::<Identifier>(object),
            Ok(Identifier::External(_))
        ));
        for (json, shown) in [
            ("5", "5"),
            ("[1, \"a\"]", "[1,\"a\"]"),
            ("null", "null"),
            ("true", "true"),
        ] {
            assert_eq!(
                read::<Identifier>(json).unwrap_err(),
                format!("expected an identifier object or a UUID string, got {shown}")
            );
        }
        // From a `serde_json::Value` too (no raw text to capture).
        let value: serde_json::Value = serde_json::from_str(object).unwrap();
        assert!(matches!(
            crate::models::from_json_value::<Identifier>(value),
            Ok(Identifier::External(_))
        ));
    }

    #[test]
    fn unknown_types_keep_every_field_in_order() {
        use crate::models::{EnhancementContent, ExternalIdentifier};
        let json = r#"{"a": 1, "enhancement_type": "graph_data", "b": {"c": [null]}}"#;
        let content = read::<EnhancementContent>(json).unwrap();
        assert_eq!(content.enhancement_type(), "graph_data");
        assert_eq!(
            serde_json::to_string(&content).unwrap(),
            r#"{"a":1,"enhancement_type":"graph_data","b":{"c":[null]}}"#
        );
        let json = r#"{"identifier": "x", "identifier_type": "isbn", "note": true}"#;
        let id = read::<ExternalIdentifier>(json).unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#"{"identifier":"x","identifier_type":"isbn","note":true}"#
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
