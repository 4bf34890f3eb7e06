//! Reference search (`GET /v1/references/search/`, search-based enhancement requests): an
//! in-memory [tantivy](https://docs.rs/tantivy) index of the references, shaped as the
//! repository's `reference` search index ([`document`]), kept up to date from the
//! database before each search ([`SearchIndex::catch_up`]) so that every server on one
//! database answers alike, whoever imported.
//!
//! Queries are Lucene query strings, as Elasticsearch's `query_string` reads them, over
//! `title` and `abstract` by default; any indexed field can be named (`authors:smith`,
//! `publication_year:2020`). Differences from Elasticsearch are in `docs/search.md`.

pub mod document;

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::time::Duration;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiError;
use document::Fields;

/// How long a write may take between stamping its rows (`created_at`, taken when it
/// starts) and committing them: each catch-up reads again the rows stamped this long
/// before it started, so a write that committed after an earlier catch-up is still
/// picked up. Rows read before are recognised by id and not indexed twice.
const LOOK_BACK: Duration = Duration::from_secs(120);

/// Memory the index writer may buffer (tantivy's minimum per thread is 15 MB).
const WRITER_BYTES: usize = 50_000_000;

/// Restricts a search beyond its query string.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Publication years from (inclusive).
    pub start_year: Option<i64>,
    /// Publication years to (inclusive).
    pub end_year: Option<i64>,
    /// `scheme` or `scheme/label`: a true boolean annotation each reference must hold.
    pub annotations: Vec<String>,
}

/// One page of hits.
#[derive(Debug, Clone)]
pub struct Hits {
    /// How many references match in all.
    pub total: usize,
    /// This page's references, best first.
    pub ids: Vec<Uuid>,
}

struct Writer {
    writer: IndexWriter,
    /// The next catch-up reads the rows stamped from here on.
    since_us: i64,
    /// The rows read at or after `since_us`, by id, with their stamps: those already
    /// indexed.
    seen: HashMap<Uuid, i64>,
}

/// The search index.
pub struct SearchIndex {
    index: Index,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("search index: {e}"))
}

impl SearchIndex {
    /// An empty index (filled at the first search).
    ///
    /// # Errors
    /// When tantivy cannot start a writer or reader (it always can in memory).
    pub fn new() -> Result<Self, ApiError> {
        let (schema, fields) = document::schema();
        let index = Index::create_in_ram(schema);
        document::register_tokenizers(&index);
        let writer = index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(internal)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(internal)?;
        Ok(Self {
            index,
            fields,
            reader,
            writer: Mutex::new(Writer {
                writer,
                since_us: i64::MIN,
                seen: HashMap::new(),
            }),
        })
    }

    /// Indexes every reference imported or enhanced since the last catch-up; `now_us` is
    /// the time by the clock that stamps the rows.
    ///
    /// # Errors
    /// Database errors.
    pub async fn catch_up(&self, db: &Db, now_us: i64) -> Result<(), ApiError> {
        let mut w = self.writer.lock().await;
        let changes = db.changes_since(w.since_us).await?;
        // Rows stamped before this are committed by now: the next catch-up reads from
        // here, and only rows from here on need remembering.
        let back = i64::try_from(LOOK_BACK.as_micros()).unwrap_or(i64::MAX);
        let since = now_us.saturating_sub(back).max(w.since_us);
        let fresh: Vec<_> = changes
            .iter()
            .filter(|c| !w.seen.contains_key(&c.row))
            .collect();
        let references: Vec<Uuid> = fresh
            .iter()
            .map(|c| c.reference)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in references.chunks(500) {
            for reference in db.references_by_id(chunk).await? {
                let id = reference.id.to_string();
                w.writer
                    .delete_term(Term::from_field_text(self.fields.id, &id));
                w.writer
                    .add_document(document::of(&self.fields, &reference))
                    .map_err(internal)?;
            }
        }
        if !references.is_empty() {
            w.writer.commit().map_err(internal)?;
            self.reader.reload().map_err(internal)?;
        }
        // Indexed: remembered, and the window moves on (not before, so a failure above
        // leaves them for the next catch-up).
        for change in fresh.iter().filter(|c| c.at >= since) {
            w.seen.insert(change.row, change.at);
        }
        w.seen.retain(|_, at| *at >= since);
        w.since_us = since;
        Ok(())
    }

    /// Parses `q` (a Lucene query string) with `filters`.
    ///
    /// # Errors
    /// 400 naming the problem when `q` does not parse.
    pub fn query(&self, q: &str, filters: &Filters) -> Result<Box<dyn Query>, ApiError> {
        let parser = QueryParser::for_index(&self.index, vec![self.fields.title, self.fields.abstract_]);
        let parsed = parser.parse_query(q).map_err(|e| {
            ApiError::BadRequest(format!("The search query {q:?} cannot be parsed: {e}."))
        })?;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, parsed)];
        if filters.start_year.is_some() || filters.end_year.is_some() {
            let year = |y: i64| Term::from_field_i64(self.fields.publication_year, y);
            let lower = filters.start_year.map_or(Bound::Unbounded, |y| Bound::Included(year(y)));
            let upper = filters.end_year.map_or(Bound::Unbounded, |y| Bound::Included(year(y)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        for annotation in &filters.annotations {
            let term = Term::from_field_text(self.fields.annotations, annotation);
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// How many references `query` matches.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn count(&self, query: &dyn Query) -> Result<usize, ApiError> {
        self.reader.searcher().search(query, &Count).map_err(internal)
    }

    /// `limit` hits from `offset`, best first (ties by id), and the total.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn page(&self, query: &dyn Query, offset: usize, limit: usize) -> Result<Hits, ApiError> {
        let searcher = self.reader.searcher();
        let (total, top) = searcher
            .search(
                query,
                &(Count, TopDocs::with_limit(limit).and_offset(offset).order_by_score()),
            )
            .map_err(internal)?;
        let mut ids = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(internal)?;
            let id = doc
                .get_first(self.fields.id)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| internal("a document without its id"))?;
            ids.push(id);
        }
        Ok(Hits { total, ids })
    }

    /// Every reference `query` matches (for search-based requests), in index order.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn all(&self, query: &dyn Query) -> Result<Vec<Uuid>, ApiError> {
        let total = self.count(query)?;
        Ok(self.page(query, 0, total.max(1))?.ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of one title.
    async fn titled(title: &str) -> SearchIndex {
        let index = SearchIndex::new().unwrap();
        {
            let mut w = index.writer.lock().await;
            let mut doc = TantivyDocument::default();
            doc.add_text(index.fields.id, Uuid::nil().to_string());
            doc.add_text(index.fields.title, title);
            w.writer.add_document(doc).unwrap();
            w.writer.commit().unwrap();
        }
        index.reader.reload().unwrap();
        index
    }

    /// What the query parser makes of Lucene's syntax (docs/search.md says it).
    #[tokio::test]
    async fn lucene_syntax_as_this_parser_reads_it() {
        let index = titled("Malaria vaccines for children, don't miss").await;
        let cases: Vec<(&str, Option<usize>)> = vec![
            ("vaccines", Some(1)),
            ("VACCINES", Some(1)),
            ("title:malaria AND title:children", Some(1)),
            ("malaria -children", Some(0)),
            ("\"malaria vaccines\"", Some(1)),
            ("\"vaccines malaria\"", Some(0)),
            ("don", Some(1)),
            ("vacc*", Some(0)),
            ("vaccine~1", Some(0)),
            ("/vacc.*/", None),
            ("_exists_:title", None),
            ("title:(unclosed", None),
        ];
        for (q, want) in cases {
            let got = match index.query(q, &Filters::default()) {
                Ok(query) => Some(index.count(query.as_ref()).unwrap()),
                Err(ApiError::BadRequest(_)) => None,
                Err(e) => panic!("{q}: {e}"),
            };
            assert_eq!(got, want, "{q}");
        }
    }
}
