//! Pydantic's lax coercions for JSON input (ints and bools written as other JSON types),
//! and the switch that makes optional fields vanish when writing JSONL.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

thread_local! {
    static EXCLUDE_NONE: Cell<bool> = const { Cell::new(false) };
}

/// `skip_serializing_if` for optional model fields: `None` is written as `null` (as
/// pydantic's `model_dump`) except inside [`exclude_none`], which JSONL writing uses (as
/// pydantic's `model_dump_json(exclude_none=True)`). Free-form JSON (`data`, `extra`...)
/// keeps its nulls either way, as in pydantic.
pub(crate) fn omit_none<T>(value: &Option<T>) -> bool {
    value.is_none() && EXCLUDE_NONE.with(Cell::get)
}

/// Runs `f` with `None` model fields omitted from serialisation.
pub(crate) fn exclude_none<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EXCLUDE_NONE.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(EXCLUDE_NONE.with(|c| c.replace(true)));
    f()
}

/// The key under which serde_json's `arbitrary_precision` feature (on in this workspace,
/// so that integers of any size in free-form JSON are kept exactly, as Python keeps them)
/// hands a number to a `deserialize_any` visitor: a one-entry map `{TOKEN: "<digits>"}`.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Reads the number text of such a map and hands it to `visitor` as the plain number it
/// is: `i64`, else `u64`, else `f64`. A map that is not a number is refused.
pub(crate) fn visit_number_map<'de, V: Visitor<'de>, A: MapAccess<'de>>(
    visitor: V,
    mut map: A,
) -> Result<V::Value, A::Error> {
    let key: Option<std::borrow::Cow<'de, str>> = map.next_key()?;
    if key.as_deref() != Some(NUMBER_TOKEN) {
        return Err(de::Error::invalid_type(de::Unexpected::Map, &visitor));
    }
    let text: String = map.next_value()?;
    if let Ok(n) = text.parse::<i64>() {
        visitor.visit_i64(n)
    } else if let Ok(n) = text.parse::<u64>() {
        visitor.visit_u64(n)
    } else if !text.contains(['.', 'e', 'E']) {
        Err(de::Error::custom(format!("integer {text} is too large")))
    } else {
        let n: f64 = text
            .parse()
            .map_err(|_| de::Error::custom(format!("invalid number {text}")))?;
        visitor.visit_f64(n)
    }
}

/// `deserialize_with` for free-form JSON objects (`data`, `metadata`, `extra`...): numbers
/// as Python's `json` reads and writes them. Integers keep every digit (serde_json's
/// `arbitrary_precision`), `-0` becomes `0`; a float is written in its shortest form
/// (`1e5` → `100000.0`), and one too large for a double becomes `null`, as pydantic
/// writes infinity.
pub(crate) fn free_object<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
    let mut map = serde_json::Map::deserialize(de)?;
    map.values_mut().for_each(python_numbers);
    Ok(map)
}

/// [`free_object`] for an optional field (pair with `#[serde(default)]`).
pub(crate) fn opt_free_object<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, D::Error> {
    let mut map = Option::<serde_json::Map<String, serde_json::Value>>::deserialize(de)?;
    map.iter_mut()
        .flat_map(|m| m.values_mut())
        .for_each(python_numbers);
    Ok(map)
}

/// [`free_object`] for any JSON value.
pub(crate) fn free_value<'de, D: Deserializer<'de>>(de: D) -> Result<serde_json::Value, D::Error> {
    let mut value = serde_json::Value::deserialize(de)?;
    python_numbers(&mut value);
    Ok(value)
}

/// Rewrites the numbers in `value` as Python writes them back (see [`free_object`]).
pub(crate) fn python_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            let text = n.as_str();
            if text.contains(['.', 'e', 'E']) {
                *value = text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number);
            } else if text == "-0" {
                *value = Value::from(0);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(python_numbers),
        Value::Object(map) => map.values_mut().for_each(python_numbers),
        _ => {}
    }
}

/// An integer as pydantic accepts it in lax mode: a JSON integer, a float with no
/// fractional part, a string holding an integer, or a boolean (`true` is 1).
pub(crate) fn int<'de, D: Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    Lax::deserialize(de).map(|v| v.0)
}

/// [`int`] for an optional field (pair with `#[serde(default)]`).
pub(crate) fn opt_int<'de, D: Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    opt(de)
}

/// A boolean as pydantic accepts it in lax mode: `true`/`false`, `0`/`1`, or one of the
/// strings `true false yes no on off t f y n 1 0` (any case).
pub(crate) fn bool<'de, D: Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    Lax::deserialize(de).map(|v| v.0)
}

/// [`bool`] for an optional field (pair with `#[serde(default)]`).
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(de: D) -> Result<Option<bool>, D::Error> {
    opt(de)
}

/// A float as pydantic accepts it in lax mode: a JSON number, a boolean (`true` is 1.0),
/// or a string holding a finite number (surrounding whitespace allowed).
pub(crate) fn float<'de, D: Deserializer<'de>>(de: D) -> Result<f64, D::Error> {
    Lax::deserialize(de).map(|v| v.0)
}

/// [`float`] for an optional field (pair with `#[serde(default)]`).
pub(crate) fn opt_float<'de, D: Deserializer<'de>>(de: D) -> Result<Option<f64>, D::Error> {
    opt(de)
}

fn opt<'de, T: LaxScalar, D: Deserializer<'de>>(de: D) -> Result<Option<T>, D::Error> {
    Option::<Lax<T>>::deserialize(de).map(|o| o.map(|v| v.0))
}

/// A value read as pydantic reads its type in lax mode (for the item type of a list or
/// map, where `deserialize_with` cannot reach).
pub(crate) struct Lax<T>(pub(crate) T);

impl<'de, T: LaxScalar> Deserialize<'de> for Lax<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(LaxVisitor(PhantomData)).map(Lax)
    }
}

/// A scalar type with pydantic's lax-mode reading of each JSON type: what the
/// [`LaxVisitor`] of the type does with each value it is handed.
pub(crate) trait LaxScalar: Sized {
    /// What the value should have been, for serde's type errors.
    const EXPECTING: &'static str;
    /// From a JSON boolean.
    fn from_bool<E: de::Error>(v: bool) -> Result<Self, E>;
    /// From a JSON integer that fits an `i64`.
    fn from_i64<E: de::Error>(v: i64) -> Result<Self, E>;
    /// From a JSON integer above `i64::MAX`.
    fn from_u64<E: de::Error>(v: u64) -> Result<Self, E>;
    /// From a JSON float.
    fn from_f64<E: de::Error>(v: f64) -> Result<Self, E>;
    /// From a JSON string.
    fn from_str<E: de::Error>(v: &str) -> Result<Self, E>;
}

impl LaxScalar for f64 {
    const EXPECTING: &'static str = "a valid number";

    fn from_bool<E: de::Error>(v: bool) -> Result<f64, E> {
        Ok(if v { 1.0 } else { 0.0 })
    }

    fn from_i64<E: de::Error>(v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn from_u64<E: de::Error>(v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn from_f64<E: de::Error>(v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn from_str<E: de::Error>(v: &str) -> Result<f64, E> {
        match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(E::custom(format!(
                "input should be a valid number, unable to parse string {v:?} as a finite number"
            ))),
        }
    }
}

impl LaxScalar for i64 {
    const EXPECTING: &'static str = "a valid integer";

    fn from_bool<E: de::Error>(v: bool) -> Result<i64, E> {
        Ok(i64::from(v))
    }

    fn from_i64<E: de::Error>(v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn from_u64<E: de::Error>(v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn from_f64<E: de::Error>(v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v.is_finite() && v.abs() < 9.2e18 {
            Ok(v as i64)
        } else if v.fract() == 0.0 && v.is_finite() {
            Err(E::custom(format!("integer {v} is too large")))
        } else {
            Err(E::custom(format!(
                "input should be a valid integer, got a number with a fractional part ({v})"
            )))
        }
    }

    fn from_str<E: de::Error>(v: &str) -> Result<i64, E> {
        let t = v.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            t.parse()
                .map_err(|_| E::custom(format!("integer {t} is too large")))
        } else {
            Err(E::custom(format!(
                "input should be a valid integer, unable to parse string {v:?} as an integer"
            )))
        }
    }
}

impl LaxScalar for bool {
    const EXPECTING: &'static str = "a valid boolean";

    fn from_bool<E: de::Error>(v: bool) -> Result<bool, E> {
        Ok(v)
    }

    fn from_i64<E: de::Error>(v: i64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::custom(format!(
                "input should be a valid boolean, got {v}"
            ))),
        }
    }

    fn from_u64<E: de::Error>(v: u64) -> Result<bool, E> {
        Self::from_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn from_f64<E: de::Error>(v: f64) -> Result<bool, E> {
        if v == 0.0 {
            Ok(false)
        } else if v == 1.0 {
            Ok(true)
        } else {
            Err(E::custom(format!(
                "input should be a valid boolean, got {v}"
            )))
        }
    }

    fn from_str<E: de::Error>(v: &str) -> Result<bool, E> {
        match v.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Ok(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Ok(true),
            _ => Err(E::custom(format!(
                "input should be a valid boolean, unable to interpret {v:?}"
            ))),
        }
    }
}

/// Reads a `T` from any JSON value through its [`LaxScalar`] conversions (numbers kept
/// exact by `arbitrary_precision` come as a map: see [`visit_number_map`]).
struct LaxVisitor<T>(PhantomData<T>);

impl<'de, T: LaxScalar> Visitor<'de> for LaxVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        visit_number_map(self, map)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::from_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::from_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::from_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_str(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "int")]
        i: i64,
        #[serde(deserialize_with = "bool")]
        b: bool,
    }

    fn parse(s: &str) -> Result<(i64, bool), String> {
        serde_json::from_str::<T>(s)
            .map(|t| (t.i, t.b))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn lax_ints_and_bools() {
        assert_eq!(parse(r#"{"i": 12, "b": true}"#).unwrap(), (12, true));
        assert_eq!(parse(r#"{"i": 12.0, "b": 0}"#).unwrap(), (12, false));
        assert_eq!(parse(r#"{"i": " -7 ", "b": "Yes"}"#).unwrap(), (-7, true));
        for (json, says) in [
            (r#"{"i": 1.5, "b": true}"#, "fractional"),
            (r#"{"i": "x1", "b": true}"#, "integer"),
            (r#"{"i": 1, "b": 2}"#, "boolean"),
            (r#"{"i": 1, "b": "maybe"}"#, "boolean"),
        ] {
            let e = parse(json).unwrap_err();
            assert!(e.contains(says), "{json}: {e}");
        }
    }

    #[test]
    fn exclude_none_is_scoped() {
        assert!(!omit_none::<u8>(&None));
        assert!(exclude_none(|| omit_none::<u8>(&None)));
        assert!(!exclude_none(|| omit_none(&Some(1))));
        assert!(!omit_none::<u8>(&None));
    }
}
