//! The index schema in one place. Bump [`SCHEMA_VERSION`] whenever a field
//! changes: an index of an older version is rebuilt at start.

use tantivy::schema::{
    FAST, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

/// 3: areas are also facets (`/area/<name>`), for the area counts. The
/// fields are unchanged, but an index of version 2 has no area facets and
/// would count no areas until every question was next re-indexed.
pub const SCHEMA_VERSION: u32 = 3;

/// Stemmed English: tantivy's `en_stem` (split, lowercase, stem), which
/// the writer replaces by the same analyzer with a memo of stems.
pub const STEMMED: &str = "en_stem";
/// Lowercased, unstemmed words, for typo tolerance.
pub const PLAIN: &str = "default";

/// Handles of every field.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub title: Field,
    pub body: Field,
    pub answers: Field,
    pub tags_text: Field,
    pub category_text: Field,
    /// Title and body, unstemmed: the words typo tolerance corrects to.
    pub plain: Field,
    pub category: Field,
    pub category_name: Field,
    pub tags: Field,
    pub area: Field,
    pub status: Field,
    pub facets: Field,
    pub score: Field,
    pub answer_count: Field,
    pub accepted: Field,
    pub verified: Field,
    pub created_at: Field,
    pub activity_at: Field,
    pub closed: Field,
    pub duplicate_of: Field,
}

fn text(tokenizer: &str, stored: bool, positions: bool) -> TextOptions {
    let record = if positions { IndexRecordOption::WithFreqsAndPositions } else { IndexRecordOption::WithFreqs };
    let options = TextOptions::default()
        .set_indexing_options(TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record));
    if stored { options.set_stored() } else { options }
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_i64_field("id", INDEXED | STORED | FAST),
        title: b.add_text_field("title", text(STEMMED, true, true)),
        body: b.add_text_field("body", text(STEMMED, true, true)),
        answers: b.add_text_field("answers", text(STEMMED, true, true)),
        tags_text: b.add_text_field("tags_text", text(STEMMED, false, false)),
        category_text: b.add_text_field("category_text", text(STEMMED, false, false)),
        plain: b.add_text_field("plain", text(PLAIN, false, false)),
        category: b.add_text_field("category", STRING | STORED),
        category_name: b.add_text_field("category_name", STORED),
        tags: b.add_text_field("tags", STRING | STORED),
        area: b.add_text_field("area", STRING),
        status: b.add_text_field("status", STRING | STORED),
        facets: b.add_facet_field("facets", FacetOptions::default()),
        score: b.add_i64_field("score", STORED | FAST),
        answer_count: b.add_u64_field("answer_count", STORED),
        accepted: b.add_u64_field("accepted", STORED),
        verified: b.add_u64_field("verified", STORED),
        created_at: b.add_i64_field("created_at", STORED | FAST),
        activity_at: b.add_i64_field("activity_at", FAST),
        closed: b.add_u64_field("closed", INDEXED),
        duplicate_of: b.add_i64_field("duplicate_of", STORED),
    };
    (b.build(), fields)
}

/// Finds the fields of an opened index's schema (same names as `build`).
pub fn fields_of(schema: &Schema) -> tantivy::Result<Fields> {
    let f = |name: &str| schema.get_field(name);
    Ok(Fields {
        id: f("id")?,
        title: f("title")?,
        body: f("body")?,
        answers: f("answers")?,
        tags_text: f("tags_text")?,
        category_text: f("category_text")?,
        plain: f("plain")?,
        category: f("category")?,
        category_name: f("category_name")?,
        tags: f("tags")?,
        area: f("area")?,
        status: f("status")?,
        facets: f("facets")?,
        score: f("score")?,
        answer_count: f("answer_count")?,
        accepted: f("accepted")?,
        verified: f("verified")?,
        created_at: f("created_at")?,
        activity_at: f("activity_at")?,
        closed: f("closed")?,
        duplicate_of: f("duplicate_of")?,
    })
}
