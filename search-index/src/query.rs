//! From what a resident typed to ranked hits.
//!
//! User text is never parsed as query syntax: words and "quoted phrases"
//! are all it can express, so `title:x`, stray quotes or operators are just
//! text. Each word matches its English stem in the title (boosted), body,
//! answers, tags and category; words of five letters or more also match
//! one typo away, as a lower-scored alternative; council synonyms add their
//! alternatives. Filters are exact and required.

use std::collections::HashSet;
use std::sync::LazyLock;

use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use crate::fuzzy;
use crate::schema::{Fields, PLAIN, STEMMED};
use crate::snippet::{Highlights, Snippets};
use crate::{Facets, Result, SearchError, SearchHit, SearchIndex, SearchRequest, SearchResults, SortOrder, Synonyms};

/// Longer queries are refused (a 400 upstream), not silently cut.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Words beyond this many are ignored.
const MAX_WORDS: usize = 32;
pub(crate) const FUZZY_MIN_CHARS: usize = 5;
pub(crate) static STOPWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("stopwords.txt").split_whitespace().collect());

/// Boosts of the stemmed text fields.
const TITLE_BOOST: f32 = 3.0;
const TAGS_BOOST: f32 = 2.0;
const ANSWERS_BOOST: f32 = 0.6;
const FUZZY_BOOST: f32 = 0.4;
const SYNONYM_BOOST: f32 = 0.8;

/// Words and phrases of user text.
#[derive(Debug, Default, PartialEq)]
struct UserText {
    words: Vec<String>,
    phrases: Vec<Vec<String>>,
}

pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// Splits text into plain (lowercased, unstemmed) words and quoted
/// phrases. An unbalanced quote just ends; control characters are spaces.
fn split_user_text(analyzer: &mut TextAnalyzer, text: &str) -> UserText {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut parsed = UserText::default();
    let segments: Vec<&str> = clean.split('"').collect();
    let closed_quotes = segments.len() % 2 == 1;
    for (i, segment) in segments.iter().enumerate() {
        let quoted = i % 2 == 1 && (closed_quotes || i + 1 < segments.len());
        let words = tokens(analyzer, segment);
        if quoted && words.len() > 1 {
            parsed.phrases.push(words);
        } else {
            parsed.words.extend(words);
        }
    }
    parsed.words.truncate(MAX_WORDS);
    parsed
}

/// A page of (relevance, address), the total number of matches, and facets.
type Collected = (Vec<(f32, DocAddress)>, usize, Facets);

struct QueryBuilder<'a> {
    fields: &'a Fields,
    searcher: &'a Searcher,
    stemmer: TextAnalyzer,
    synonyms: &'a Synonyms,
    /// Every stem and phrase the query matches on, for the snippets.
    highlights: Highlights,
}

/// A word in fewer questions than this is probably misspelt: it gets the
/// one-typo alternative. Words the index knows well do not pay for it.
const RARE_WORD_DOCS: u64 = 3;

pub(crate) fn boxed(query: impl Query + 'static) -> Box<dyn Query> {
    Box::new(query)
}

pub(crate) fn term_query(field: Field, text: &str, boost: f32) -> Box<dyn Query> {
    let query = TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs);
    if (boost - 1.0).abs() < f32::EPSILON { boxed(query) } else { boxed(BoostQuery::new(boxed(query), boost)) }
}

fn exact(field: Field, value: &str) -> Box<dyn Query> {
    boxed(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

impl QueryBuilder<'_> {
    /// Rare in the questions' own words (`plain`) and, by its stem, in the
    /// answers (which `plain` leaves out): a word common only in answers is
    /// known well, and is not worth a typo lookup.
    fn is_rare(&self, word: &str, stem: &str) -> bool {
        let docs = |field: Field, text: &str| self.searcher.doc_freq(&Term::from_field_text(field, text)).unwrap_or(0);
        docs(self.fields.plain, word) + docs(self.fields.answers, stem) < RARE_WORD_DOCS
    }

    fn stem(&mut self, word: &str) -> Option<String> {
        tokens(&mut self.stemmer, word).into_iter().next()
    }

    /// A stemmed term in every text field, weighted.
    fn stem_clauses(&self, stem: &str, scale: f32) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        vec![
            (Occur::Should, term_query(f.title, stem, TITLE_BOOST * scale)),
            (Occur::Should, term_query(f.body, stem, scale)),
            (Occur::Should, term_query(f.answers, stem, ANSWERS_BOOST * scale)),
            (Occur::Should, term_query(f.tags_text, stem, TAGS_BOOST * scale)),
            (Occur::Should, term_query(f.category_text, stem, scale)),
        ]
    }

    /// A phrase of stems in the title, body and answers.
    fn phrase_clauses(&self, stems: &[String], scale: f32) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        [(f.title, TITLE_BOOST), (f.body, 1.0), (f.answers, ANSWERS_BOOST)]
            .into_iter()
            .map(|(field, boost)| {
                let terms = stems.iter().map(|s| Term::from_field_text(field, s)).collect();
                (Occur::Should, boxed(BoostQuery::new(boxed(PhraseQuery::new(terms)), boost * scale)))
            })
            .collect()
    }

    /// The query for one word: its stem everywhere, one typo away if long.
    fn word(&mut self, word: &str) -> Option<Box<dyn Query>> {
        let stem = self.stem(word)?;
        let mut clauses = self.stem_clauses(&stem, 1.0);
        self.highlights.add_stem(&stem);
        if word.chars().count() >= FUZZY_MIN_CHARS && self.is_rare(word, &stem) {
            let corrections = fuzzy::neighbours(self.searcher, self.fields.plain, word, 3).unwrap_or_default();
            for (correction, _) in corrections {
                if let Some(stem) = self.stem(&correction) {
                    clauses.extend(self.stem_clauses(&stem, FUZZY_BOOST));
                    self.highlights.add_stem(&stem);
                }
            }
        }
        Some(boxed(BooleanQuery::new(clauses)))
    }

    /// What a synonym alternative matches: a word or a phrase.
    fn alternative(&mut self, alternative: &str) -> Option<Box<dyn Query>> {
        let stems: Vec<String> = alternative.split(' ').filter_map(|w| self.stem(w)).collect();
        let clauses = match stems.as_slice() {
            [] => return None,
            [one] => self.stem_clauses(one, SYNONYM_BOOST),
            many => self.phrase_clauses(many, SYNONYM_BOOST),
        };
        self.highlights.add_phrase(&stems);
        Some(boxed(BooleanQuery::new(clauses)))
    }

    /// One group per word (stopwords dropped unless that leaves nothing);
    /// a run of words that is a synonym term becomes one group that also
    /// matches the term's alternatives.
    fn word_groups(&mut self, words: &[String]) -> Vec<Box<dyn Query>> {
        let meaningful: Vec<&String> = words.iter().filter(|w| !STOPWORDS.contains(String::as_str(w))).collect();
        let words: Vec<&String> = if meaningful.is_empty() { words.iter().collect() } else { meaningful };
        let mut groups = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let (consumed, group) = self.group_at(&words[i..]);
            if let Some(group) = group {
                groups.push(group);
            }
            i += consumed.max(1);
        }
        groups
    }

    fn group_at(&mut self, words: &[&String]) -> (usize, Option<Box<dyn Query>>) {
        let longest = self.synonyms.longest().min(words.len());
        for len in (1..=longest).rev() {
            let key = words[..len].iter().map(|w| String::as_str(w)).collect::<Vec<_>>().join(" ");
            let alternatives = self.synonyms.alternatives(&key).to_vec();
            if alternatives.is_empty() {
                continue;
            }
            let own: Vec<Box<dyn Query>> = words[..len].iter().filter_map(|w| self.word(w)).collect();
            let mut clauses = vec![(Occur::Should, boxed(BooleanQuery::intersection(own)))];
            clauses.extend(alternatives.iter().filter_map(|a| self.alternative(a)).map(|q| (Occur::Should, q)));
            return (len, Some(boxed(BooleanQuery::new(clauses))));
        }
        (1, self.word(words[0]))
    }

    fn phrase(&mut self, words: &[String]) -> Option<Box<dyn Query>> {
        let stems: Vec<String> = words.iter().filter_map(|w| self.stem(w)).collect();
        if stems.len() < 2 {
            return None;
        }
        self.highlights.add_phrase(&stems);
        Some(boxed(BooleanQuery::new(self.phrase_clauses(&stems, 1.0))))
    }

    /// The text query: phrases required; word groups all required when
    /// there are one or two, two in three otherwise (so a stray word does
    /// not empty the results). `None` when the text has no words.
    fn text_query(&mut self, text: &UserText) -> Option<Box<dyn Query>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for phrase in &text.phrases {
            if let Some(q) = self.phrase(phrase) {
                clauses.push((Occur::Must, q));
            }
        }
        let groups = self.word_groups(&text.words);
        let needed = if groups.len() <= 2 { groups.len() } else { (groups.len() * 2).div_ceil(3) };
        if !groups.is_empty() {
            let words = BooleanQuery::union_with_minimum_required_clauses(groups, needed);
            clauses.push((Occur::Must, boxed(words)));
        }
        (!clauses.is_empty()).then(|| boxed(BooleanQuery::new(clauses)))
    }
}

impl SearchIndex {
    fn builder<'a>(&'a self, searcher: &'a Searcher, synonyms: &'a Synonyms) -> Result<QueryBuilder<'a>> {
        let stemmer = self.analyzer(STEMMED)?;
        Ok(QueryBuilder { fields: &self.fields, searcher, stemmer, synonyms, highlights: Highlights::default() })
    }

    pub(crate) fn analyzer(&self, name: &str) -> Result<TextAnalyzer> {
        self.index.tokenizers().get(name).ok_or_else(|| SearchError::Other(format!("tokenizer {name} missing")))
    }

    /// Searches with filters, a sort, facets over every match and
    /// highlighted snippets.
    pub fn search(&self, request: &SearchRequest, synonyms: &Synonyms) -> Result<SearchResults> {
        if request.text.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong(MAX_QUERY_CHARS));
        }
        let mut plain = self.analyzer(PLAIN)?;
        let text = split_user_text(&mut plain, &request.text);
        let searcher = self.reader.searcher();
        let mut builder = self.builder(&searcher, synonyms)?;
        let text_query = builder.text_query(&text);
        let query = self.with_filters(text_query, request);
        let (addresses, total, facets) = self.collect(&searcher, query.as_ref(), request)?;
        let mut snippets = Snippets::new(&self.fields, builder.stemmer, builder.highlights);
        let mut hits = Vec::with_capacity(addresses.len());
        for (relevance, address) in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            hits.push(self.hit(&doc, relevance, snippets.render(&doc)));
        }
        Ok(SearchResults { hits, total, facets })
    }

    fn with_filters(&self, text: Option<Box<dyn Query>>, request: &SearchRequest) -> Box<dyn Query> {
        let f = &self.fields;
        let filters = &request.filters;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, value) in [
            (f.category, &filters.category),
            (f.tags, &filters.tag),
            (f.area, &filters.area),
            (f.status, &filters.status),
        ] {
            if let Some(value) = value {
                clauses.push((Occur::Must, exact(field, value)));
            }
        }
        match (text, clauses.is_empty()) {
            (Some(text), true) => text,
            (Some(text), false) => {
                clauses.push((Occur::Must, text));
                boxed(BooleanQuery::new(clauses))
            }
            (None, true) => boxed(AllQuery),
            (None, false) => boxed(BooleanQuery::new(clauses)),
        }
    }

    /// The page (as (relevance, address)), the total and the facets.
    fn collect(&self, searcher: &Searcher, query: &dyn Query, request: &SearchRequest) -> Result<Collected> {
        let top = TopDocs::with_limit(request.limit.max(1)).and_offset(request.offset);
        let mut facet_collector = FacetCollector::for_field("facets");
        for facet in ["/category", "/tag", "/status", "/area"] {
            facet_collector.add_facet(facet);
        }
        let (page, total, counts) = match request.sort {
            SortOrder::Relevance => searcher.search(query, &(top.order_by_score(), Count, facet_collector))?,
            SortOrder::Newest | SortOrder::Votes => {
                let field = if request.sort == SortOrder::Newest { "created_at" } else { "score" };
                let (page, total, counts) = searcher
                    .search(query, &(top.order_by_fast_field::<i64>(field, Order::Desc), Count, facet_collector))?;
                (page.into_iter().map(|(_, address)| (0.0, address)).collect(), total, counts)
            }
        };
        let mut facets = Facets::default();
        for (prefix, target) in [
            ("/category", &mut facets.category),
            ("/tag", &mut facets.tag),
            ("/status", &mut facets.status),
            ("/area", &mut facets.area),
        ] {
            for (facet, count) in counts.get(prefix) {
                if let Some(last) = facet.to_path().last() {
                    target.insert((*last).to_owned(), count);
                }
            }
        }
        Ok((page, total, facets))
    }

    pub(crate) fn hit(&self, doc: &TantivyDocument, relevance: f32, snippet_html: String) -> SearchHit {
        let f = &self.fields;
        let text = |field: Field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let int = |field: Field| doc.get_first(field).and_then(|v| v.as_i64()).unwrap_or_default();
        let uint = |field: Field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or_default();
        SearchHit {
            question_id: int(f.id),
            title: text(f.title),
            snippet_html,
            relevance,
            score: int(f.score),
            status: text(f.status),
            answer_count: uint(f.answer_count),
            accepted: uint(f.accepted) == 1,
            verified: uint(f.verified) == 1,
            category_slug: text(f.category),
            tags: doc.get_all(f.tags).filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            created_at: int(f.created_at),
            duplicate_of: doc.get_first(f.duplicate_of).and_then(|v| v.as_i64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::TokenizerManager;

    fn split(text: &str) -> UserText {
        let mut analyzer = TokenizerManager::default().get(PLAIN).unwrap();
        split_user_text(&mut analyzer, text)
    }

    #[test]
    fn user_text_is_words_and_phrases_only() {
        let parsed = split(r#"Green BIN "not collected" title:foo +bar"#);
        assert_eq!(parsed.words, ["green", "bin", "title", "foo", "bar"]);
        assert_eq!(parsed.phrases, vec![vec!["not".to_owned(), "collected".to_owned()]]);
        let unbalanced = split(r#"bin "not collected"#);
        assert_eq!(unbalanced.words, ["bin", "not", "collected"]);
        assert!(unbalanced.phrases.is_empty());
        assert_eq!(split("\u{0}\u{7}bins\u{1b}").words, ["bins"]);
        assert_eq!(split(&"word ".repeat(100)).words.len(), MAX_WORDS);
    }
}
