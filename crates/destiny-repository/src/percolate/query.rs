//! An automation's query, parsed from its JSON and checked against the mapping
//! ([`super::mapping`]) when it is registered, so a query that is stored can always be
//! matched. The clauses are Elasticsearch's, with its semantics; the subset supported is
//! listed in [`SUPPORTED`], and every other clause Elasticsearch knows is refused with a
//! 422 naming it (one it does not know, or an unmapped field, with a 400 as upstream).

use serde_json::{Map, Value};

use super::mapping::{self, Kind};
use super::simple::{self, Simple};
use crate::error::ApiError;

/// The clauses this repository matches.
pub const SUPPORTED: &str =
    "bool, term, terms, exists, nested, match, match_all, match_none, simple_query_string";

/// Query clauses Elasticsearch knows that this repository does not match.
const KNOWN_ELSEWHERE: &[&str] = &[
    "boosting",
    "combined_fields",
    "constant_score",
    "dis_max",
    "distance_feature",
    "function_score",
    "fuzzy",
    "geo_bounding_box",
    "geo_distance",
    "geo_polygon",
    "geo_shape",
    "has_child",
    "has_parent",
    "ids",
    "intervals",
    "knn",
    "match_bool_prefix",
    "match_phrase",
    "match_phrase_prefix",
    "more_like_this",
    "multi_match",
    "parent_id",
    "percolate",
    "pinned",
    "prefix",
    "query_string",
    "range",
    "rank_feature",
    "regexp",
    "script",
    "script_score",
    "semantic",
    "shape",
    "span_containing",
    "span_field_masking",
    "span_first",
    "span_multi",
    "span_near",
    "span_not",
    "span_or",
    "span_term",
    "span_within",
    "sparse_vector",
    "terms_set",
    "text_expansion",
    "wildcard",
    "wrapper",
];

/// A value a `term` compares with, normalised for its field's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Value1 {
    /// A keyword field's text.
    Text(String),
    /// A boolean field's value.
    Bool(bool),
}

/// A parsed, checked query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Every document.
    All,
    /// No document.
    None,
    /// `bool`: every `must` (and `filter`), at least `min_should` of `should`, no `must_not`.
    Bool {
        /// `must` and `filter` (scoring is not kept, so they are one list).
        must: Vec<Query>,
        /// `should`.
        should: Vec<Query>,
        /// `must_not`.
        must_not: Vec<Query>,
        /// How many `should` clauses must match.
        min_should: usize,
    },
    /// `term` / `terms` / `match` on a keyword or boolean field: any value equal to one of
    /// these.
    Equals {
        /// The field's full path.
        field: String,
        /// The values, any of which matches.
        values: Vec<Value1>,
    },
    /// `exists`: the field (or, for an object, any field under it) has a value.
    Exists {
        /// The field's full path.
        field: String,
    },
    /// `nested`: some object of the nested field `path` matches `query` on its own.
    Nested {
        /// The nested field.
        path: String,
        /// The query each object is matched against.
        query: Box<Query>,
    },
    /// `simple_query_string` on keyword and boolean fields.
    Simple {
        /// The fields searched (any may match a term).
        fields: Vec<String>,
        /// The parsed query text.
        query: Simple,
    },
}

/// Where in the query a problem is, for error texts (`query.bool.must[0].term`).
#[derive(Clone)]
struct At(String);

impl At {
    fn key(&self, key: &str) -> At {
        At(format!("{}.{key}", self.0))
    }
    fn index(&self, i: usize) -> At {
        At(format!("{}[{i}]", self.0))
    }
    fn malformed(&self, problem: impl std::fmt::Display) -> ApiError {
        ApiError::BadRequest(format!("Malformed Elasticsearch query at {}: {problem}", self.0))
    }
    fn unsupported(&self, problem: impl std::fmt::Display) -> ApiError {
        ApiError::Unprocessable(format!(
            "Unsupported query at {}: {problem} This repository matches {SUPPORTED}.",
            self.0
        ))
    }
}

/// Parses and checks an automation's query (the object given as `query`).
///
/// # Errors
/// 400 for what Elasticsearch refuses too (an unknown clause, an unmapped field, a
/// malformed clause); 422 for a clause Elasticsearch knows that this repository does not
/// match, naming it.
pub fn parse(query: &Map<String, Value>) -> Result<Query, ApiError> {
    clause(query, &At("query".into()), "")
}

/// One clause: an object with exactly one key, the clause's name.
fn clause(object: &Map<String, Value>, at: &At, scope: &str) -> Result<Query, ApiError> {
    let mut entries = object.iter();
    let (name, body) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => return Err(at.malformed("a query clause is an object with one key; this one is empty.")),
        (Some(_), Some(_)) => {
            let names: Vec<&str> = object.keys().map(String::as_str).collect();
            return Err(at.malformed(format!(
                "a query clause is an object with one key; this one has {}.",
                names.join(", ")
            )));
        }
    };
    let at = at.key(name);
    match name.as_str() {
        "bool" => bool_clause(body, &at, scope),
        "term" => term_clause(body, &at, "value", false),
        "match" => term_clause(body, &at, "query", true),
        "terms" => terms_clause(body, &at),
        "exists" => exists_clause(body, &at),
        "nested" => nested_clause(body, &at, scope),
        "simple_query_string" => simple_clause(body, &at),
        "match_all" => {
            object_of(body, &at)?;
            Ok(Query::All)
        }
        "match_none" => {
            object_of(body, &at)?;
            Ok(Query::None)
        }
        other if KNOWN_ELSEWHERE.contains(&other) => {
            Err(at.unsupported(format!("the `{other}` clause is not supported here.")))
        }
        other => Err(at.malformed(format!("DSL class `{other}` does not exist in query."))),
    }
}

fn object_of<'v>(body: &'v Value, at: &At) -> Result<&'v Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| at.malformed(format!("expected an object, found {body}.")))
}

/// Options Elasticsearch accepts on every clause and that change no match.
fn ignorable(key: &str) -> bool {
    matches!(key, "boost" | "_name")
}

fn refuse_options(
    options: &Map<String, Value>,
    at: &At,
    allowed: &[&str],
) -> Result<(), ApiError> {
    for key in options.keys() {
        if !allowed.contains(&key.as_str()) && !ignorable(key) {
            return Err(at.unsupported(format!("the option `{key}` is not supported here.")));
        }
    }
    Ok(())
}

/// The body of a clause whose options are named, as an object of `allowed` options only.
fn options_of<'v>(
    body: &'v Value,
    at: &At,
    allowed: &[&str],
) -> Result<&'v Map<String, Value>, ApiError> {
    let object = object_of(body, at)?;
    refuse_options(object, at, allowed)?;
    Ok(object)
}

/// The text option `key` a clause needs.
fn text_option<'v>(object: &'v Map<String, Value>, key: &str, at: &At) -> Result<&'v str, ApiError> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| at.malformed(format!("[{key}] (a text) is missing.")))
}

/// A field a clause names: mapped, and (unless an object for `exists`) a value field.
/// Fields in a nested object deeper than `scope` match nothing outside a `nested` query,
/// as in Elasticsearch; they are accepted.
fn field(name: &str, at: &At) -> Result<(String, Kind), ApiError> {
    match mapping::kind(name) {
        Some(kind) => Ok((name.to_owned(), kind)),
        None => Err(at.malformed(format!(
            "No field mapping can be found for the field with name [{name}]"
        ))),
    }
}

fn value_for(kind: Kind, field: &str, value: &Value, at: &At) -> Result<Value1, ApiError> {
    match (kind, value) {
        (Kind::Keyword, Value::String(s)) => Ok(Value1::Text(s.clone())),
        (Kind::Keyword, Value::Bool(_) | Value::Number(_)) => Ok(Value1::Text(value.to_string())),
        (Kind::Boolean, Value::Bool(b)) => Ok(Value1::Bool(*b)),
        (Kind::Boolean, Value::String(s)) if s == "true" || s == "false" => {
            Ok(Value1::Bool(s == "true"))
        }
        (Kind::Boolean, _) => Err(at.malformed(format!(
            "Failed to parse value [{value}] of [{field}] as only [true] or [false] are allowed."
        ))),
        (Kind::Date, _) => Err(at.unsupported(format!(
            "comparing the date field [{field}] with a value is not supported here (`exists` is)."
        ))),
        (Kind::Object | Kind::Nested, _) => Err(at.malformed(format!(
            "[{field}] is an object, not a value field."
        ))),
        (Kind::Keyword, _) => Err(at.malformed(format!(
            "expected a text, number or boolean value for [{field}], found {value}."
        ))),
    }
}

/// `term` (`{field: value}` or `{field: {"value": value}}`) and `match` (the same with
/// `query`): on keyword and boolean fields both compare the whole value.
fn term_clause(body: &Value, at: &At, key: &str, is_match: bool) -> Result<Query, ApiError> {
    let object = object_of(body, at)?;
    let (name, spec) = one_field(object, at)?;
    let at = at.key(name);
    let (field, kind) = field(name, &at)?;
    let value = match spec {
        Value::Object(options) => {
            let allowed: &[&str] = if is_match {
                &["query", "operator", "analyzer", "minimum_should_match"]
            } else {
                &["value", "case_insensitive"]
            };
            refuse_options(options, &at, allowed)?;
            if options.get("case_insensitive") == Some(&Value::Bool(true)) {
                return Err(at.unsupported("`case_insensitive` is not supported here."));
            }
            if let Some(analyzer) = options.get("analyzer") {
                if analyzer != "keyword" {
                    return Err(at.unsupported(format!("the analyzer {analyzer} is not supported here.")));
                }
            }
            options
                .get(key)
                .ok_or_else(|| at.malformed(format!("[{key}] is missing.")))?
        }
        other => other,
    };
    let value = value_for(kind, &field, value, &at)?;
    Ok(Query::Equals {
        field,
        values: vec![value],
    })
}

/// `{field: body}` with exactly one field (besides `boost`).
fn one_field<'v>(object: &'v Map<String, Value>, at: &At) -> Result<(&'v str, &'v Value), ApiError> {
    let mut fields = object.iter().filter(|(k, _)| !ignorable(k));
    match (fields.next(), fields.next()) {
        (Some((name, spec)), None) => Ok((name, spec)),
        (None, _) => Err(at.malformed("no field is named.")),
        (Some(_), Some(_)) => Err(at.malformed("a query may name one field only.")),
    }
}

fn terms_clause(body: &Value, at: &At) -> Result<Query, ApiError> {
    let object = object_of(body, at)?;
    let (name, spec) = one_field(object, at)?;
    let at = at.key(name);
    let (field, kind) = field(name, &at)?;
    let list = spec
        .as_array()
        .ok_or_else(|| at.unsupported("only a list of values is supported here (no terms lookup)."))?;
    let values = list
        .iter()
        .enumerate()
        .map(|(i, v)| value_for(kind, &field, v, &at.index(i)))
        .collect::<Result<_, _>>()?;
    Ok(Query::Equals { field, values })
}

fn exists_clause(body: &Value, at: &At) -> Result<Query, ApiError> {
    let object = options_of(body, at, &["field"])?;
    let name = text_option(object, "field", at)?;
    let (field, _) = field(name, &at.key("field"))?;
    Ok(Query::Exists { field })
}

fn nested_clause(body: &Value, at: &At, scope: &str) -> Result<Query, ApiError> {
    let object = options_of(body, at, &["path", "query", "score_mode", "ignore_unmapped", "inner_hits"])?;
    let path = text_option(object, "path", at)?;
    if mapping::kind(path) != Some(Kind::Nested) {
        return Err(at.key("path").malformed(format!(
            "[nested] failed to find nested object under path [{path}]"
        )));
    }
    if !scope.is_empty() && !path.starts_with(&format!("{scope}.")) {
        return Err(at.key("path").malformed(format!(
            "[nested] nested path [{path}] is not a child of the enclosing nested path [{scope}]"
        )));
    }
    let inner = object
        .get("query")
        .ok_or_else(|| at.malformed("[query] is missing."))?;
    let inner_at = at.key("query");
    let query = clause(object_of(inner, &inner_at)?, &inner_at, path)?;
    Ok(Query::Nested {
        path: path.to_owned(),
        query: Box::new(query),
    })
}

/// A `should` / `must` / … entry: one clause or a list of them.
fn clauses(body: &Value, at: &At, scope: &str) -> Result<Vec<Query>, ApiError> {
    match body {
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let at = at.index(i);
                clause(object_of(c, &at)?, &at, scope)
            })
            .collect(),
        Value::Object(one) => Ok(vec![clause(one, at, scope)?]),
        other => Err(at.malformed(format!("expected a clause or a list of clauses, found {other}."))),
    }
}

fn bool_clause(body: &Value, at: &At, scope: &str) -> Result<Query, ApiError> {
    let object = options_of(body, at, &["must", "filter", "should", "must_not", "minimum_should_match"])?;
    let list = |key: &str| match object.get(key) {
        Some(body) => clauses(body, &at.key(key), scope),
        None => Ok(Vec::new()),
    };
    let mut must = list("must")?;
    must.extend(list("filter")?);
    let should = list("should")?;
    let must_not = list("must_not")?;
    let min_should = match object.get("minimum_should_match") {
        None => usize::from(must.is_empty() && !should.is_empty()),
        Some(value) => {
            let n = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse::<u64>().ok(),
                _ => None,
            };
            let n = n.ok_or_else(|| {
                at.key("minimum_should_match")
                    .unsupported(format!("only a count of clauses (0 or more) is supported here, not {value}."))
            })?;
            usize::try_from(n).unwrap_or(usize::MAX)
        }
    };
    Ok(Query::Bool {
        must,
        should,
        must_not,
        min_should,
    })
}

fn simple_clause(body: &Value, at: &At) -> Result<Query, ApiError> {
    let object = options_of(body, at, &["query", "fields", "default_operator", "analyze_wildcard", "lenient"])?;
    let text = text_option(object, "query", at)?;
    let and = match object.get("default_operator").map(|v| v.as_str().map(str::to_ascii_lowercase)) {
        None => false,
        Some(Some(op)) if op == "or" => false,
        Some(Some(op)) if op == "and" => true,
        Some(_) => return Err(at.key("default_operator").malformed("expected `and` or `or`.")),
    };
    let names = object
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| at.unsupported("`fields` (a list) is required here (no default field)."))?;
    let mut fields = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let at = at.key("fields").index(i);
        let name = name
            .as_str()
            .ok_or_else(|| at.malformed("expected a field name."))?;
        // A boost (`field^2`) changes scores only.
        let name = name.split_once('^').map_or(name, |(n, _)| n);
        if name.contains('*') {
            return Err(at.unsupported(format!("the wildcard field `{name}` is not supported here.")));
        }
        let (field, kind) = field(name, &at)?;
        if !matches!(kind, Kind::Keyword | Kind::Boolean) {
            return Err(at.unsupported(format!("[{field}] is not a keyword or boolean field.")));
        }
        fields.push(field);
    }
    let query = simple::parse(text, and).map_err(|problem| at.key("query").unsupported(problem))?;
    Ok(Query::Simple { fields, query })
}
