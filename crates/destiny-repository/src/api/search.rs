//! Search: `GET /v1/references/search/` (the admin) and search-based enhancement requests,
//! `POST /v1/enhancement-requests/search/?dry_run=` and `GET …/search/{id}/` (hybrid,
//! mounted by [`super::requests::router`]). The index is [`crate::search`].

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use destiny_sdk::models::{
    EnhancementRequestIn, EnhancementRequestSearchStatus, SearchEnhancementRequestIn,
    SearchEnhancementRequestRead, SearchResultTotal,
};
use serde_json::json;

use super::body::{json_body, IdPath};
use super::caller::Caller;
use super::AppState;
use crate::clock::micros;
use crate::db::requests::SearchRecord;
use crate::error::ApiError;
use crate::search::Filters;

/// References per page of search results, as upstream.
const PAGE_SIZE: usize = 20;
/// The last page that may be asked for, as upstream.
const MAX_PAGE: usize = 500;

fn positive(name: &str, text: &str) -> Result<i64, ApiError> {
    match text.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        Ok(_) => Err(ApiError::query(name, "Input should be greater than 0", text)),
        Err(_) => Err(ApiError::query(
            name,
            "Input should be a valid integer, unable to parse string as an integer",
            text,
        )),
    }
}

/// `annotation=<scheme>[/<label>]`; a score (`@0.8`) is refused: there is no score to
/// compare with here.
fn annotation(text: &str) -> Result<String, ApiError> {
    if text.contains('@') {
        return Err(ApiError::query(
            "annotation",
            "Filtering on an annotation score (`@score`) is not supported by this repository.",
            text,
        ));
    }
    if text.trim().is_empty() || text.starts_with('/') {
        return Err(ApiError::query(
            "annotation",
            "Expected <scheme>[/<label>].",
            text,
        ));
    }
    Ok(text.to_owned())
}

/// `GET /v1/references/search/?q=…&page=…&start_year=…&end_year=…&annotation=…&sort=…`.
pub async fn references(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut q = None;
    let mut page = 1usize;
    let mut filters = Filters::default();
    for (name, value) in &params {
        match name.as_str() {
            "q" => q = Some(value.clone()),
            "page" => {
                page = usize::try_from(positive("page", value)?).unwrap_or(usize::MAX);
                if page > MAX_PAGE {
                    return Err(ApiError::query(
                        "page",
                        format!("Input should be less than or equal to {MAX_PAGE}"),
                        value.as_str(),
                    ));
                }
            }
            "start_year" => filters.start_year = Some(positive("start_year", value)?),
            "end_year" => filters.end_year = Some(positive("end_year", value)?),
            "annotation" => filters.annotations.push(annotation(value)?),
            "sort" if value == "relevance" || value == "-relevance" => {}
            "sort" => {
                return Err(ApiError::query(
                    "sort",
                    "Only `relevance` is supported by this repository.",
                    value.as_str(),
                ))
            }
            _ => {}
        }
    }
    let q = q
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::query("q", "Field required", serde_json::Value::Null))?;
    if let (Some(start), Some(end)) = (filters.start_year, filters.end_year) {
        if end < start {
            return Err(ApiError::BadRequest(
                "end_year must be greater than or equal to start_year.".into(),
            ));
        }
    }
    state.search.catch_up(&state.db, micros(state.clock.now())).await?;
    let query = state.search.query(&q, &filters)?;
    let hits = state
        .search
        .page(query.as_ref(), (page - 1) * PAGE_SIZE, PAGE_SIZE)?;
    let mut found = state.db.references_by_id(&hits.ids).await?;
    // In hit order (the database answers in its own).
    found.sort_by_key(|r| hits.ids.iter().position(|id| *id == r.id));
    Ok(Json(json!({
        "total": {"count": hits.total, "is_lower_bound": false},
        "page": {"count": found.len(), "number": page},
        "references": found,
    })))
}

/// `POST /v1/enhancement-requests/search/?dry_run=`: a dry run counts the matches (200);
/// otherwise every match is requested of the robot (202). The search runs before the
/// answer, so the request answered has already searched.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Vec<(String, String)>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let dry_run = match params.iter().find(|(n, _)| n == "dry_run") {
        None => false,
        Some((_, v)) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => true,
            "false" | "0" | "no" | "off" | "f" | "n" => false,
            _ => {
                return Err(ApiError::query(
                    "dry_run",
                    "Input should be a valid boolean, unable to interpret input",
                    v.as_str(),
                ))
            }
        },
    };
    let req: SearchEnhancementRequestIn = json_body(&body)?;
    caller.may_act_for(req.robot_id, "The robot_id")?;
    match state.db.robot(req.robot_id).await {
        Err(ApiError::NotFound(_)) => {
            return Err(ApiError::Unprocessable(format!(
                "Robot with id {} does not exist.",
                req.robot_id
            )))
        }
        other => other.map(|_| ())?,
    }
    state.search.catch_up(&state.db, micros(state.clock.now())).await?;
    let query = state.search.query(&req.search_query, &Filters::default())?;
    if dry_run {
        let count = state.search.count(query.as_ref())?;
        let total = SearchResultTotal {
            count: i64::try_from(count).unwrap_or(i64::MAX),
            is_lower_bound: false,
        };
        return Ok((StatusCode::OK, Json(total)).into_response());
    }
    let matched = state.search.all(query.as_ref())?;
    let search = SearchRecord {
        query: req.search_query.clone(),
        status: EnhancementRequestSearchStatus::Completed,
        n_matched: i64::try_from(matched.len()).unwrap_or(i64::MAX),
    };
    let request = EnhancementRequestIn {
        robot_id: req.robot_id,
        reference_ids: matched,
        source: req.source.clone(),
    };
    let id = state.create_request_with(&request, Some(&search)).await?;
    Ok((StatusCode::ACCEPTED, Json(read(&state, id).await?)).into_response())
}

async fn read(state: &AppState, id: uuid::Uuid) -> Result<SearchEnhancementRequestRead, ApiError> {
    let (search, counts) = state.db.search_request(id).await?;
    let request = state.db.request(id).await?.read;
    Ok(SearchEnhancementRequestRead {
        id,
        robot_id: request.robot_id,
        source: request.source,
        search_status: search.status,
        request_status: request.request_status,
        n_matched: Some(search.n_matched),
        n_enhancements_requested: counts.total(),
        enhancement_status_counts: counts,
        error: request.error,
    })
}

/// `GET /v1/enhancement-requests/search/{id}/`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<SearchEnhancementRequestRead>, ApiError> {
    let read = read(&state, id).await?;
    caller.may_act_for(read.robot_id, &format!("SearchEnhancementRequest {id}"))?;
    Ok(Json(read))
}
