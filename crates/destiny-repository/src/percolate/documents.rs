//! The documents an automation's query is matched against, shaped as the repository's
//! percolation documents: `{"reference": …, "changeset": …}`, each half a reference's
//! `visibility`, `duplicate_determination`, `identifiers` (each with its
//! `reference_id`) and `enhancements`, leaving out raw, reference-association and
//! linked-data enhancements and bibliographic `pagination`, as upstream does.
//!
//! This repository does not deduplicate: every reference is its own canonical, so the
//! `reference` half is the reference as stored and its `duplicate_determination` is
//! `canonical`.

use destiny_sdk::models::{Enhancement, Reference};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Enhancement types upstream leaves out of percolation documents.
const LEFT_OUT: &[&str] = &["raw", "reference_association", "linked_data"];

fn enhancement(e: &Enhancement) -> Option<Value> {
    if LEFT_OUT.contains(&e.content.enhancement_type()) {
        return None;
    }
    let mut value = serde_json::to_value(e).ok()?;
    if let Some(content) = value.get_mut("content").and_then(Value::as_object_mut) {
        content.remove("pagination");
    }
    Some(value)
}

/// One half: `reference`'s identifiers and `enhancements`, with a determination when
/// given.
fn half(
    id: Uuid,
    reference: Option<&Reference>,
    enhancements: &[Enhancement],
    determination: Option<&str>,
) -> Value {
    let mut half = Map::new();
    let visibility = reference.map_or_else(|| json!("public"), |r| json!(r.visibility));
    half.insert("visibility".into(), visibility);
    if let Some(d) = determination {
        half.insert("duplicate_determination".into(), json!(d));
    }
    let identifiers: Vec<Value> = reference
        .map(Reference::identifiers)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            let mut v = serde_json::to_value(i).ok()?;
            v.as_object_mut()?
                .insert("reference_id".into(), json!(id));
            Some(v)
        })
        .collect();
    if !identifiers.is_empty() {
        half.insert("identifiers".into(), Value::Array(identifiers));
    }
    let enhancements: Vec<Value> = enhancements.iter().filter_map(enhancement).collect();
    if !enhancements.is_empty() {
        half.insert("enhancements".into(), Value::Array(enhancements));
    }
    Value::Object(half)
}

/// The document for a reference just imported: the changeset is the whole reference.
pub fn imported(reference: &Reference) -> Value {
    let whole = half(reference.id, Some(reference), reference.enhancements(), Some("canonical"));
    json!({"reference": whole.clone(), "changeset": whole})
}

/// The document for an enhancement just stored on `reference` (which already holds it):
/// the changeset is a reference with that enhancement only, as upstream builds it.
pub fn enhanced(reference: &Reference, added: &Enhancement) -> Value {
    json!({
        "reference": half(reference.id, Some(reference), reference.enhancements(), Some("canonical")),
        "changeset": half(reference.id, None, std::slice::from_ref(added), None),
    })
}
