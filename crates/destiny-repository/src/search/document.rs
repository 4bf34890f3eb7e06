//! What the search index holds of a reference, as the repository's `reference` search
//! index does: `id`, `visibility`, `title`, `abstract` and `authors` (analysed text),
//! `publication_year`, and `annotations` (`scheme/label` of each true boolean
//! annotation, and `scheme` alone).

use destiny_sdk::models::Reference;
use tantivy::schema::{Field, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING};
use tantivy::tokenizer::{LowerCaser, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

/// The analyzer of text fields: words lowercased (Elasticsearch's `standard` analyzer
/// splits on Unicode word boundaries and lowercases; tantivy's simple tokenizer splits on
/// what is not alphanumeric; `docs/search.md` says where they differ).
const TEXT: &str = "standard_like";

/// The index's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The reference id (stored: hits are read back by it).
    pub id: Field,
    /// `public` / `restricted` / `hidden`.
    pub visibility: Field,
    /// The newest bibliographic title.
    pub title: Field,
    /// The newest abstract.
    pub abstract_: Field,
    /// The authors' display names.
    pub authors: Field,
    /// The publication year.
    pub publication_year: Field,
    /// True boolean annotations.
    pub annotations: Field,
}

/// The schema and its fields.
pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TEXT)
            .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        visibility: b.add_text_field("visibility", STRING),
        title: b.add_text_field("title", text.clone()),
        abstract_: b.add_text_field("abstract", text.clone()),
        authors: b.add_text_field("authors", text),
        publication_year: b.add_i64_field("publication_year", INDEXED | FAST),
        annotations: b.add_text_field("annotations", STRING),
    };
    (b.build(), fields)
}

/// Registers the text analyzer on `index`.
pub fn register_tokenizers(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .build();
    index.tokenizers().register(TEXT, analyzer);
}

/// The true boolean annotations of `reference`: `scheme/label` and `scheme`.
fn annotations(reference: &Reference) -> Vec<String> {
    let mut out = Vec::new();
    for e in reference.of_type("annotation") {
        let Ok(content) = serde_json::to_value(&e.content) else {
            continue;
        };
        let list = content["annotations"].as_array().cloned().unwrap_or_default();
        for a in list {
            if a["annotation_type"] != "boolean" || a["value"] != true {
                continue;
            }
            let Some(scheme) = a["scheme"].as_str() else {
                continue;
            };
            out.push(scheme.to_owned());
            if let Some(label) = a["label"].as_str() {
                out.push(format!("{scheme}/{label}"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The document of `reference`.
pub fn of(fields: &Fields, reference: &Reference) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.id, reference.id.to_string());
    doc.add_text(fields.visibility, reference.visibility.as_str());
    if let Some(title) = reference.title() {
        doc.add_text(fields.title, title);
    }
    if let Some(text) = reference.abstract_text() {
        doc.add_text(fields.abstract_, text);
    }
    for author in reference.authors() {
        doc.add_text(fields.authors, &author.display_name);
    }
    if let Some(year) = reference.publication_year() {
        doc.add_i64(fields.publication_year, year);
    }
    for a in annotations(reference) {
        doc.add_text(fields.annotations, a);
    }
    doc
}
