//! "Has this been asked before?": the questions most like a draft.
//!
//! 1. The draft (`draft`): its meaningful stems by tf·idf; for words the
//!    index has never seen, or only in a couple of questions (likely
//!    typos, the community's own included), their more common one-edit
//!    neighbours; for council synonym terms, their alternatives.
//! 2. Retrieval: an OR over every word of a draft is slow on a big index,
//!    so a bounded query is built from the draft's most informative terms
//!    (at most a dozen), matching titles more strongly.
//! 3. Re-ranking of a few dozen candidates (`features`) by a learned blend
//!    of measures: BM25, word, trigram and word-pair cosines over title and
//!    body, how much of the draft they cover, and for short drafts their
//!    everyday meaning (`everyday`: word vectors shipped with the crate;
//!    the texts' summed vectors, and each draft word's nearest in meaning);
//!    more measures are computed for learning, those weighted 0 are not
//!    computed in use.
//! 4. Solved questions rank higher; closed duplicates give way to the
//!    question they duplicate.

mod draft;
mod everyday;
mod features;

pub use features::{EVERYDAY_ALIGNMENT, EVERYDAY_COSINE, FEATURES, Features, WEIGHTS};

use std::collections::HashSet;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Searcher, TantivyDocument, Term};

use crate::query::{boxed, term_query};
use crate::schema::PLAIN;
use crate::{Result, SearchHit, SearchIndex, SimilarRequest, Synonyms};
use draft::{Draft, Idf, Words};
use features::{Candidate, DraftShape};

/// How many terms of a draft the retrieval query keeps.
const QUERY_TERMS: usize = 12;
/// How many of them are also looked for in answers.
const ANSWER_TERMS: usize = 3;
/// Words at most this informative (in about one question in twelve or
/// more: "want", "need", "visa" on a forum about visas) are matched in
/// titles only. Walking their long body postings was most of the slowest
/// drafts' time (p99 at 100k questions 3.9 -> 2.7 ms), and the re-ranking
/// still counts them; relevance moved by at most ±0.4 MAP on any split.
const COMMON_WORD_IDF: f32 = 2.5;
/// Below this many questions every posting list is short, and common words
/// are matched in bodies too (in a young community most words are
/// "common").
const COMMON_WORDS_FROM_DOCS: u64 = 10_000;
/// Drafts longer than this are read only this far.
const MAX_DRAFT_CHARS: usize = 5000;
/// Candidate text read for re-ranking: the start of title and body, and
/// of the answers.
const RERANK_CHARS: usize = 1500;
const RERANK_ANSWER_CHARS: usize = 1500;
/// For a short draft, at least this many candidates are re-ranked, however
/// few are asked for: a resident's few words often rank the question they
/// mean below the first dozen by BM25 (the hard paraphrases' question is
/// among the first 15 for 73 % of them, the first 30 for 85 %), and the
/// re-ranking lifts it. Long drafts keep the smaller pool: reading each
/// candidate costs, and their words already find it.
const SHORT_DRAFT_CANDIDATES: usize = 30;
/// Solved questions rank this much higher.
const SOLVED_BOOST: f32 = 1.25;

impl SearchIndex {
    /// The questions most like `request.text`, best first.
    pub fn similar(&self, request: &SimilarRequest, synonyms: &Synonyms) -> Result<Vec<SearchHit>> {
        // One snapshot for the candidates and their duplicates' targets.
        let searcher = self.reader.searcher();
        let measured = self.measured_candidates(&searcher, request, synonyms, &WEIGHTS)?;
        let mut hits: Vec<SearchHit> = measured
            .into_iter()
            .map(|(mut hit, features)| {
                hit.relevance = blend(&features, &WEIGHTS, &hit.status);
                hit
            })
            .collect();
        hits.sort_by(|a, b| b.relevance.total_cmp(&a.relevance).then(a.question_id.cmp(&b.question_id)));
        let hits = self.replace_duplicates(&searcher, hits)?;
        Ok(hits.into_iter().take(request.limit).collect())
    }

    /// The candidates of a draft with each re-ranking measure, in retrieval
    /// order: what the weights are learned from (`tests/relevance`).
    #[doc(hidden)]
    pub fn similar_features(
        &self,
        request: &SimilarRequest,
        synonyms: &Synonyms,
    ) -> Result<Vec<(SearchHit, Features)>> {
        self.measured_candidates(&self.reader.searcher(), request, synonyms, &[1.0; FEATURES.len()])
    }

    fn measured_candidates(
        &self,
        searcher: &Searcher,
        request: &SimilarRequest,
        synonyms: &Synonyms,
        wanted: &Features,
    ) -> Result<Vec<(SearchHit, Features)>> {
        if searcher.num_docs() == 0 || request.limit == 0 {
            return Ok(Vec::new());
        }
        let text: String = request.text.chars().take(MAX_DRAFT_CHARS).collect();
        let mut words = Words::new(self.analyzer(PLAIN)?);
        let mut idf = Idf::new(searcher, &self.fields);
        let draft = Draft::read(&text, &mut words, &mut idf, searcher, self.fields.plain, synonyms)?;
        let Some(query) = self.retrieval_query(&draft, searcher.num_docs()) else {
            return Ok(Vec::new());
        };
        let query = self.restricted(query, request.restrict_to.as_deref());
        let candidates = searcher
            .search(query.as_ref(), &TopDocs::with_limit(candidate_pool(request.limit, &draft)).order_by_score())?;
        let best_bm25 = candidates.iter().map(|c| c.0).fold(f32::EPSILON, f32::max);
        let shape = DraftShape::of(&draft, &text, &mut words);
        let mut hits = Vec::with_capacity(candidates.len());
        let mut measured = Vec::with_capacity(candidates.len());
        for (bm25, address) in candidates {
            let doc: TantivyDocument = searcher.doc(address)?;
            let hit = self.hit(&doc, bm25, String::new());
            let stored = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default();
            let body = prefix(stored(self.fields.body), RERANK_CHARS);
            let answers: String = doc
                .get_all(self.fields.answers)
                .take_while(|_| wanted[features::ANSWER_WORD_COSINE] != 0.0)
                .filter_map(|v| v.as_str())
                .flat_map(|a| a.chars().chain(['\n']))
                .take(RERANK_ANSWER_CHARS)
                .collect();
            let candidate = Candidate { title: &hit.title, body, answers: &answers, bm25: bm25 / best_bm25 };
            measured.push(features::measure(&draft, &shape, &candidate, wanted, &mut words, &mut idf)?);
            hits.push(hit);
        }
        if wanted[features::NEIGHBOUR_COSINE] != 0.0 {
            features::neighbour_cosines(&mut measured, &WEIGHTS);
        }
        Ok(hits.into_iter().zip(measured.into_iter().map(|m| m.0)).collect())
    }

    /// A union of the most informative terms (a dozen at most), title
    /// matches weighted up, common words of a large index in titles only.
    /// Plain terms only, so the search can skip blocks that cannot reach
    /// the top. `None` when the draft has no usable words.
    fn retrieval_query(&self, draft: &Draft, documents: u64) -> Option<Box<dyn Query>> {
        let f = &self.fields;
        let mut weighted: Vec<(f32, &String, f32)> =
            draft.terms.iter().map(|(stem, term)| (term.weight(), stem, term.idf)).collect();
        weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        weighted.truncate(QUERY_TERMS);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (rank, &(_, stem, idf)) in weighted.iter().enumerate() {
            clauses.push((Occur::Should, term_query(f.title, stem, 2.0)));
            if idf >= COMMON_WORD_IDF || documents < COMMON_WORDS_FROM_DOCS {
                clauses.push((Occur::Should, term_query(f.body, stem, 1.0)));
            }
            // Answers are long: matching them on every term costs more than
            // it finds. The few most informative terms suffice.
            if rank < ANSWER_TERMS {
                clauses.push((Occur::Should, term_query(f.answers, stem, 0.3)));
            }
        }
        (!clauses.is_empty()).then(|| boxed(BooleanQuery::new(clauses)))
    }

    fn restricted(&self, query: Box<dyn Query>, ids: Option<&[i64]>) -> Box<dyn Query> {
        let Some(ids) = ids else { return query };
        let allowed: Vec<Box<dyn Query>> = ids
            .iter()
            .map(|&id| boxed(TermQuery::new(Term::from_field_i64(self.fields.id, id), IndexRecordOption::Basic)))
            .collect();
        boxed(BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, boxed(BooleanQuery::union(allowed)))]))
    }

    /// Replaces closed duplicates by their canonical question (once each).
    fn replace_duplicates(&self, searcher: &Searcher, hits: Vec<SearchHit>) -> Result<Vec<SearchHit>> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits {
            let hit = match hit.duplicate_of {
                Some(target) => match self.by_id(searcher, target)? {
                    Some(canonical) => SearchHit { relevance: hit.relevance, ..canonical },
                    None => continue,
                },
                None => hit,
            };
            if seen.insert(hit.question_id) {
                out.push(hit);
            }
        }
        Ok(out)
    }

    fn by_id(&self, searcher: &Searcher, id: i64) -> Result<Option<SearchHit>> {
        let query = TermQuery::new(Term::from_field_i64(self.fields.id, id), IndexRecordOption::Basic);
        let found = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        match found.first() {
            Some(&(_, address)) => {
                let doc: TantivyDocument = searcher.doc(address)?;
                Ok(Some(self.hit(&doc, 0.0, String::new())))
            }
            None => Ok(None),
        }
    }
}

/// A candidate's relevance: its measures weighted, solved questions ahead.
#[doc(hidden)]
pub fn blend(features: &Features, weights: &Features, status: &str) -> f32 {
    let score = features::score(features, weights);
    if status == "solved" { score * SOLVED_BOOST } else { score }
}

/// How many candidates to re-rank for `limit` suggestions.
fn candidate_pool(limit: usize, draft: &Draft) -> usize {
    let pool = limit * 2 + 5;
    if draft.is_short() { pool.max(SHORT_DRAFT_CANDIDATES) } else { pool }
}

/// The first `chars` characters of `text`.
fn prefix(text: &str, chars: usize) -> &str {
    text.char_indices().nth(chars).map_or(text, |(end, _)| &text[..end])
}
