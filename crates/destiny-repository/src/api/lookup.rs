//! `GET /v1/references/?identifier=…` (the admin): references looked up by identifier, as
//! the real repository parses the lookups. `identifier` is repeated or one comma-separated
//! list, each item a DESTINY id, `TYPE:VALUE` or `other:NAME:VALUE`
//! ([`IdentifierLookup`]); any lookup matching makes a reference part of the answer, which
//! lists each reference once (`[]` when none matches).

use axum::extract::{Query, State};
use axum::Json;
use destiny_sdk::models::{IdentifierLookup, Reference};

use super::AppState;
use crate::error::ApiError;

/// The most lookups one request may carry (upstream's `max_lookup_reference_query_length`).
const MAX_LOOKUPS: usize = 100;

/// The lookup strings of a query: every `identifier` value, or the items of the one value
/// given (a comma-separated list), as upstream reads them.
fn lookup_strings(params: Vec<(String, String)>) -> Result<Vec<String>, ApiError> {
    let mut values: Vec<String> = params
        .into_iter()
        .filter(|(name, _)| name == "identifier")
        .map(|(_, value)| value)
        .collect();
    match values.len() {
        0 => Err(ApiError::query(
            "identifier",
            "Field required",
            serde_json::Value::Null,
        )),
        1 => Ok(values.remove(0).split(',').map(str::to_owned).collect()),
        _ => Ok(values),
    }
}

/// `GET /v1/references/?identifier=…`: 200 with the references found; 400 naming a lookup
/// that does not parse; 422 for none or more than 100.
pub async fn references(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<Reference>>, ApiError> {
    let strings = lookup_strings(params)?;
    if strings.len() > MAX_LOOKUPS {
        return Err(ApiError::query(
            "identifier",
            format!(
                "List should have at most {MAX_LOOKUPS} items after validation, not {}",
                strings.len()
            ),
            strings,
        ));
    }
    let lookups = strings
        .iter()
        .map(|s| s.parse::<IdentifierLookup>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::BadRequest)?;
    Ok(Json(state.db.references_by_identifiers(&lookups).await?))
}
