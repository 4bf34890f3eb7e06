//! Matching a checked [`Query`] against one percolated document, with Elasticsearch's
//! object semantics: arrays of objects are flattened into their parent, except nested
//! fields ([`Kind::Nested`]), whose objects are only reached, each on its own, by a
//! `nested` query (a field inside one matches nothing outside it).

use serde_json::Value;

use super::mapping::{self, Kind};
use super::query::{Query, Value1};
use super::simple::Simple;

/// Whether `document` (`{"reference": …, "changeset": …}`) matches `query`.
pub fn matches(query: &Query, document: &Value) -> bool {
    eval(query, document, "")
}

/// `query` in the scope of `object`, found at `scope` ("" for the root, else a nested
/// field's path).
fn eval(query: &Query, object: &Value, scope: &str) -> bool {
    match query {
        Query::All => true,
        Query::None => false,
        Query::Bool {
            must,
            should,
            must_not,
            min_should,
        } => {
            must.iter().all(|q| eval(q, object, scope))
                && !must_not.iter().any(|q| eval(q, object, scope))
                && should.iter().filter(|q| eval(q, object, scope)).count() >= *min_should
        }
        Query::Equals { field, values } => {
            values_at(object, scope, field).any(|v| values.iter().any(|w| equal(v, w)))
        }
        Query::Exists { field } => exists(object, scope, field),
        Query::Nested { path, query } => {
            objects_at(object, scope, path).any(|child| eval(query, child, path))
        }
        Query::Simple { fields, query } => simple(query, fields, object, scope),
    }
}

/// The path of `field` below `scope`, if it lies there.
fn below<'f>(scope: &str, field: &'f str) -> Option<&'f str> {
    if scope.is_empty() {
        Some(field)
    } else {
        field.strip_prefix(scope)?.strip_prefix('.')
    }
}

/// Every value found by walking `rest` down from `values`, arrays flattened. With
/// `stop_at_nested`, a nested field on the way (or at the end) yields nothing.
fn walk<'v>(
    values: Vec<&'v Value>,
    mut path: String,
    rest: &str,
    stop_at_nested: bool,
) -> Vec<&'v Value> {
    let mut current = values;
    for segment in rest.split('.') {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(segment);
        if stop_at_nested && mapping::kind(&path) == Some(Kind::Nested) {
            return Vec::new();
        }
        let mut next = Vec::new();
        for value in current {
            if let Some(found) = value.get(segment) {
                flatten(found, &mut next);
            }
        }
        current = next;
    }
    current
}

fn flatten<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        Value::Null => {}
        other => out.push(other),
    }
}

/// The values of the value field `field` in this scope.
fn values_at<'v>(object: &'v Value, scope: &str, field: &str) -> impl Iterator<Item = &'v Value> {
    let found = match below(scope, field) {
        Some(rest) => walk(vec![object], scope.to_owned(), rest, true),
        None => Vec::new(),
    };
    found.into_iter()
}

/// The objects of the nested field `path` below this scope.
fn objects_at<'v>(object: &'v Value, scope: &str, path: &str) -> impl Iterator<Item = &'v Value> {
    let found = match below(scope, path) {
        Some(rest) => walk(vec![object], scope.to_owned(), rest, false),
        None => Vec::new(),
    };
    found.into_iter().filter(|v| v.is_object())
}

/// `exists`: a value field with a value, or an object with any mapped value under it (in
/// this scope).
fn exists(object: &Value, scope: &str, field: &str) -> bool {
    let Some(rest) = below(scope, field) else {
        return false;
    };
    let found = walk(vec![object], scope.to_owned(), rest, true);
    match mapping::kind(field) {
        Some(Kind::Object) => found.iter().any(|v| any_mapped_value(v, field)),
        _ => !found.is_empty(),
    }
}

fn any_mapped_value(object: &Value, path: &str) -> bool {
    let Some(map) = object.as_object() else {
        return false;
    };
    map.iter().any(|(key, value)| {
        let child = format!("{path}.{key}");
        match mapping::kind(&child) {
            None | Some(Kind::Nested) => false,
            Some(Kind::Object) => {
                let mut inner = Vec::new();
                flatten(value, &mut inner);
                inner.iter().any(|v| any_mapped_value(v, &child))
            }
            Some(_) => {
                let mut inner = Vec::new();
                flatten(value, &mut inner);
                !inner.is_empty()
            }
        }
    })
}

/// A stored value as a keyword field indexes it: text as is, numbers and booleans as
/// their JSON text.
fn keyword_of(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string().into()),
        _ => None,
    }
}

fn bool_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn equal(value: &Value, want: &Value1) -> bool {
    match want {
        Value1::Text(text) => keyword_of(value).is_some_and(|k| k == text.as_str()),
        Value1::Bool(b) => bool_of(value) == Some(*b),
    }
}

/// A `simple_query_string` over `fields`: a term matches when any field has it.
fn simple(query: &Simple, fields: &[String], object: &Value, scope: &str) -> bool {
    let any_value = |test: &dyn Fn(&str, &Value) -> bool| {
        fields.iter().any(|field| {
            values_at(object, scope, field).any(|v| test(field, v))
        })
    };
    match query {
        Simple::Empty => false,
        Simple::Exact(text) => any_value(&|field, v| match mapping::kind(field) {
            Some(Kind::Boolean) => match text.as_str() {
                "true" | "false" => bool_of(v) == Some(text == "true"),
                _ => false,
            },
            _ => keyword_of(v).is_some_and(|k| k == text.as_str()),
        }),
        Simple::Prefix(stem) => any_value(&|field, v| {
            mapping::kind(field) == Some(Kind::Keyword)
                && keyword_of(v).is_some_and(|k| k.starts_with(stem.as_str()))
        }),
        Simple::Not(inner) => !simple(inner, fields, object, scope),
        Simple::And(a, b) => {
            simple(a, fields, object, scope) && simple(b, fields, object, scope)
        }
        Simple::Or(a, b) => simple(a, fields, object, scope) || simple(b, fields, object, scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::percolate::query::parse;
    use serde_json::json;

    /// A changeset with one annotation enhancement: `scheme`/`label` true, and
    /// `other`/`label` false.
    fn document() -> Value {
        json!({"reference": {"visibility": "public", "identifiers": [
                {"identifier_type": "doi", "identifier": "10.1/a"},
                {"identifier_type": "open_alex", "identifier": "W1"}]},
            "changeset": {"visibility": "public", "enhancements": [{
                "source": "flagger", "robot_version": "1.0", "content": {
                    "enhancement_type": "annotation", "annotations": [
                        {"scheme": "flag", "label": "include", "value": true},
                        {"scheme": "other", "label": "include", "value": false}]}}]}})
    }

    fn nested_annotation(query: Value) -> Value {
        json!({"nested": {"path": "changeset.enhancements.content.annotations", "query": query}})
    }

    #[test]
    fn queries_match_as_elasticsearch_would() {
        let a = "changeset.enhancements.content.annotations";
        let cases: Vec<(Value, bool, &str)> = vec![
            (json!({"match_all": {}}), true, "match_all"),
            (json!({"bool": {}}), true, "an empty bool matches all"),
            (json!({"term": {"reference.visibility": "public"}}), true, "a root keyword"),
            (json!({"term": {"reference.visibility": "Public"}}), false, "keywords are exact"),
            (
                json!({"term": {format!("{a}.scheme"): "flag"}}),
                false,
                "a nested field outside a nested query matches nothing",
            ),
            (nested_annotation(json!({"term": {format!("{a}.scheme"): "flag"}})), true, "nested"),
            (
                nested_annotation(json!({"bool": {"must": [
                    {"term": {format!("{a}.scheme"): "other"}},
                    {"term": {format!("{a}.value"): true}}]}})),
                false,
                "a nested object matches on its own, not mixed with its siblings",
            ),
            (
                nested_annotation(json!({"term": {format!("{a}.value"): "false"}})),
                true,
                "booleans from their strings",
            ),
            (
                json!({"nested": {"path": "changeset.enhancements",
                    "query": {"term": {"changeset.enhancements.content.enhancement_type": "annotation"}}}}),
                true,
                "an object inside a nested object is its own",
            ),
            (
                json!({"nested": {"path": "reference.identifiers", "query":
                    {"terms": {"reference.identifiers.identifier_type": ["eric", "doi"]}}}}),
                true,
                "terms: any",
            ),
            (json!({"exists": {"field": "changeset.duplicate_determination"}}), false, "absent"),
            (json!({"exists": {"field": "changeset"}}), true, "an object with a value"),
            (
                json!({"bool": {"should": [{"match_none": {}}, {"match_all": {}}],
                    "minimum_should_match": 2}}),
                false,
                "minimum_should_match",
            ),
            (
                json!({"bool": {"must": {"match_all": {}}, "should": {"match_none": {}}}}),
                true,
                "should is optional beside must",
            ),
            (
                json!({"bool": {"must_not": {"term": {"reference.visibility": "public"}}}}),
                false,
                "must_not",
            ),
            (
                nested_annotation(json!({"simple_query_string": {"query": "flag | nothing",
                    "fields": [format!("{a}.scheme"), format!("{a}.label")]}})),
                true,
                "simple_query_string: or",
            ),
            (
                nested_annotation(json!({"simple_query_string": {"query": "fla* -include",
                    "default_operator": "and", "fields": [format!("{a}.scheme"), format!("{a}.label")]}})),
                false,
                "simple_query_string: prefix and not",
            ),
            (
                nested_annotation(json!({"match": {format!("{a}.label"): {"query": "include"}}})),
                true,
                "match on a keyword compares the whole value",
            ),
        ];
        let doc = document();
        for (query, want, what) in cases {
            let parsed = parse(query.as_object().unwrap()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(matches(&parsed, &doc), want, "{what}: {query}");
        }
    }
}
