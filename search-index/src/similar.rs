//! "Has this been asked before?": the questions most like a draft.
//!
//! 1. Retrieval: an OR over every word of a draft is slow on a big index,
//!    so a bounded query is built from the draft's most informative terms
//!    (tf·idf, at most a dozen), matching titles more strongly; words the
//!    index has never seen (likely typos) match one edit away.
//! 2. Re-ranking of the few candidates by a blend of their BM25 score, the
//!    cosine of tf·idf word vectors (symmetric, so long questions do not win
//!    by length) and the cosine of character trigrams (robust to the
//!    misspellings residents make). The blend was tuned on the SemEval-2016
//!    Task 3 train1 split (see tests/relevance.rs) and lifts dev MAP from
//!    ~70 (BM25 alone) to ~73.
//! 3. Solved questions rank higher; closed duplicates give way to the
//!    question they duplicate.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use rustc_hash::FxHashMap;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Searcher, TantivyDocument, Term};

use crate::fuzzy;
use crate::query::{FUZZY_MIN_CHARS, STOPWORDS, boxed, term_query, tokens};
use crate::schema::PLAIN;
use crate::{Result, SearchHit, SearchIndex, SimilarRequest};

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
/// Candidate text read for re-ranking (the start of title and body).
const RERANK_CHARS: usize = 1500;
/// The re-ranking blend.
const BM25_WEIGHT: f32 = 0.25;
const WORD_COSINE_WEIGHT: f32 = 0.75;
const TRIGRAM_COSINE_WEIGHT: f32 = 1.25;
/// At most this many unknown words of a draft are corrected.
const MAX_CORRECTED_WORDS: usize = 3;
/// A correction counts a little less than a word the resident typed.
const CORRECTION_DISCOUNT: f32 = 0.8;
/// Solved questions rank this much higher.
const SOLVED_BOOST: f32 = 1.25;

/// Stem → tf·idf weight.
type Vector = FxHashMap<String, f32>;
/// Three characters packed in a u64 (21 bits each) → log count.
type Trigrams = FxHashMap<u64, f32>;

impl SearchIndex {
    /// The questions most like `request.text`, best first.
    pub fn similar(&self, request: &SimilarRequest) -> Result<Vec<SearchHit>> {
        let searcher = self.reader.searcher();
        if searcher.num_docs() == 0 || request.limit == 0 {
            return Ok(Vec::new());
        }
        let draft: String = request.text.chars().take(MAX_DRAFT_CHARS).collect();
        let mut words = Words::new(self.analyzer(PLAIN)?);
        let mut idf = Idf { searcher: &searcher, index: self, cache: FxHashMap::default() };
        let draft_terms = self.draft_terms(&searcher, &mut words, &mut idf, &draft)?;
        let Some(query) = self.retrieval_query(&draft_terms, searcher.num_docs()) else {
            return Ok(Vec::new());
        };
        let query = self.restricted(query, request.restrict_to.as_deref());
        let candidates =
            searcher.search(query.as_ref(), &TopDocs::with_limit(request.limit * 2 + 5).order_by_score())?;
        let best_bm25 = candidates.iter().map(|c| c.0).fold(f32::EPSILON, f32::max);
        let draft_words: Vector =
            draft_terms.iter().map(|(stem, &(tf, idf))| (stem.clone(), (1.0 + tf).ln() * idf)).collect();
        let draft_trigrams = trigrams(&draft);
        let mut hits = Vec::with_capacity(candidates.len());
        for (bm25, address) in candidates {
            let doc: TantivyDocument = searcher.doc(address)?;
            let mut hit = self.hit(&doc, bm25, String::new());
            let body = doc.get_first(self.fields.body).and_then(|v| v.as_str()).unwrap_or_default();
            let text: String = format!("{}\n{}", hit.title, body).chars().take(RERANK_CHARS).collect();
            hit.relevance = BM25_WEIGHT * bm25 / best_bm25
                + WORD_COSINE_WEIGHT * cosine(&draft_words, &words.vector(&text, &mut idf)?)
                + TRIGRAM_COSINE_WEIGHT * cosine(&draft_trigrams, &trigrams(&text));
            if hit.status == "solved" {
                hit.relevance *= SOLVED_BOOST;
            }
            hits.push(hit);
        }
        hits.sort_by(|a, b| b.relevance.total_cmp(&a.relevance).then(a.question_id.cmp(&b.question_id)));
        let hits = self.replace_duplicates(&searcher, hits)?;
        Ok(hits.into_iter().take(request.limit).collect())
    }

    /// The draft's known stems with (tf, idf). Words the index has never
    /// seen (likely typos) stand in for their most common one-edit
    /// neighbours, a little discounted.
    fn draft_terms(
        &self,
        searcher: &Searcher,
        words: &mut Words,
        idf: &mut Idf,
        draft: &str,
    ) -> Result<HashMap<String, (f32, f32)>> {
        let mut terms: HashMap<String, (f32, f32)> = HashMap::new();
        let mut corrections = 0;
        for (stem, (tf, word)) in words.stems(draft) {
            if let Some(weight) = idf.of(&stem)? {
                terms.entry(stem).or_insert((0.0, weight)).0 += tf;
                continue;
            }
            if word.chars().count() < FUZZY_MIN_CHARS || corrections >= MAX_CORRECTED_WORDS {
                continue;
            }
            corrections += 1;
            for (neighbour, _) in fuzzy::neighbours(searcher, self.fields.plain, &word, 2)? {
                let Some(stem) = words.stem(&neighbour) else { continue };
                if let Some(weight) = idf.of(&stem)? {
                    terms.entry(stem).or_insert((0.0, weight)).0 += tf * CORRECTION_DISCOUNT;
                }
            }
        }
        Ok(terms)
    }

    /// A union of the most informative terms (a dozen at most), title
    /// matches weighted up, common words of a large index in titles only.
    /// Plain terms only, so the search can skip blocks that cannot reach
    /// the top. `None` when the draft has no usable words.
    fn retrieval_query(&self, terms: &HashMap<String, (f32, f32)>, documents: u64) -> Option<Box<dyn Query>> {
        let f = &self.fields;
        let mut weighted: Vec<(f32, &String, f32)> =
            terms.iter().map(|(stem, &(tf, idf))| ((1.0 + tf).ln() * idf, stem, idf)).collect();
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

/// Text → stems and word vectors: the plain analyzer's words, each stemmed
/// once per request by Snowball English. That is exactly what the stemmed
/// fields' `en_stem` produces (the same split, length limit and lowercasing,
/// then the same stemmer), without stemming the candidates' shared words
/// over and over.
struct Words {
    plain: TextAnalyzer,
    stemmer: frostem::Stemmer,
    /// Word → stem.
    memo: FxHashMap<String, String>,
}

impl Words {
    fn new(plain: TextAnalyzer) -> Words {
        Words { plain, stemmer: frostem::Stemmer::new(frostem::Algorithm::English), memo: FxHashMap::default() }
    }

    /// The stem of one plain (lowercased) word.
    fn stem(&mut self, word: &str) -> Option<String> {
        tokens(&mut self.plain, word).first().map(|w| self.stemmer.stem(w).into_owned())
    }

    /// Calls `each(word, stem)` for every meaningful word of the text.
    fn each(&mut self, text: &str, mut each: impl FnMut(&str, &str)) {
        let Words { plain, stemmer, memo } = self;
        let mut stream = plain.token_stream(text);
        while let Some(token) = stream.next() {
            let word = token.text.as_str();
            if STOPWORDS.contains(word) || word.chars().nth(1).is_none() {
                continue;
            }
            let stem = match memo.get(word) {
                Some(stem) => stem,
                None => memo.entry(word.to_owned()).or_insert_with(|| stemmer.stem(word).into_owned()),
            };
            each(word, stem);
        }
    }

    /// Each meaningful stem with its count and the first word it came from.
    fn stems(&mut self, text: &str) -> HashMap<String, (f32, String)> {
        let mut stems: HashMap<String, (f32, String)> = HashMap::new();
        self.each(text, |word, stem| match stems.get_mut(stem) {
            Some(entry) => entry.0 += 1.0,
            None => {
                stems.insert(stem.to_owned(), (1.0, word.to_owned()));
            }
        });
        stems
    }

    /// A tf·idf vector of the text's known stems.
    fn vector(&mut self, text: &str, idf: &mut Idf) -> Result<Vector> {
        let mut counts: FxHashMap<String, f32> = FxHashMap::default();
        self.each(text, |_, stem| match counts.get_mut(stem) {
            Some(count) => *count += 1.0,
            None => {
                counts.insert(stem.to_owned(), 1.0);
            }
        });
        let mut vector = Vector::default();
        for (stem, tf) in counts {
            if let Some(idf) = idf.of(&stem)? {
                vector.insert(stem, (1.0 + tf).ln() * idf);
            }
        }
        Ok(vector)
    }
}

/// Inverse document frequencies over titles and bodies, cached for one
/// request (candidates share most of their words).
struct Idf<'a> {
    searcher: &'a Searcher,
    index: &'a SearchIndex,
    cache: FxHashMap<String, Option<f32>>,
}

impl Idf<'_> {
    /// `None` for a stem no question contains.
    fn of(&mut self, stem: &str) -> Result<Option<f32>> {
        if let Some(&cached) = self.cache.get(stem) {
            return Ok(cached);
        }
        let f = &self.index.fields;
        let df = self.searcher.doc_freq(&Term::from_field_text(f.title, stem))?
            + self.searcher.doc_freq(&Term::from_field_text(f.body, stem))?;
        let documents = self.searcher.num_docs() as f32;
        let idf = (df > 0).then(|| {
            let df = (df as f32).min(documents);
            (1.0 + (documents - df + 0.5) / (df + 0.5)).ln()
        });
        self.cache.insert(stem.to_owned(), idf);
        Ok(idf)
    }
}

/// Log-weighted character trigrams of the text's meaningful words, each
/// word padded with a space at both ends.
fn trigrams(text: &str) -> Trigrams {
    let mut counts = Trigrams::default();
    let lowered = text.to_lowercase();
    for word in lowered.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty() && !STOPWORDS.contains(w)) {
        let (mut first, mut second) = (' ', ' ');
        for (i, third) in word.chars().chain([' ']).enumerate() {
            if i > 0 {
                let key = (first as u64) << 42 | (second as u64) << 21 | third as u64;
                *counts.entry(key).or_default() += 1.0;
            }
            (first, second) = (second, third);
        }
    }
    counts.values_mut().for_each(|v| *v = (1.0 + *v).ln());
    counts
}

fn cosine<K: Hash + Eq>(a: &FxHashMap<K, f32>, b: &FxHashMap<K, f32>) -> f32 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let dot: f32 = small.iter().filter_map(|(k, x)| large.get(k).map(|y| x * y)).sum();
    let norm = |v: &FxHashMap<K, f32>| v.values().map(|x| x * x).sum::<f32>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosines_compare_shapes() {
        let a = trigrams("recycling collection");
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &trigrams("recyclng colection")) > 0.6, "typos keep most trigrams");
        assert_eq!(cosine(&a, &trigrams("zzz")), 0.0);
        assert_eq!(cosine(&a, &Trigrams::default()), 0.0);
    }

    #[test]
    fn trigrams_pad_each_word() {
        let key = |t: &str| {
            let c: Vec<char> = t.chars().collect();
            (c[0] as u64) << 42 | (c[1] as u64) << 21 | c[2] as u64
        };
        let grams = trigrams("Bin, ox and the bin");
        let mut keys: Vec<u64> = grams.keys().copied().collect();
        keys.sort();
        let mut expected = vec![key(" bi"), key("bin"), key("in "), key(" ox"), key("ox ")];
        expected.sort();
        assert_eq!(keys, expected, "stopwords (and, the) add none");
        assert!((grams[&key("bin")] - 3f32.ln()).abs() < 1e-6);
    }
}
