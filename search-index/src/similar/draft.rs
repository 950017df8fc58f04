//! What a draft is about: its meaningful stems, weighted by how
//! informative they are, with the words a resident probably meant added
//! for misspellings, and the council's synonyms added for the words and
//! phrases that have them ("rates" also asks about "council tax").

use rustc_hash::FxHashMap;
use tantivy::Searcher;
use tantivy::Term;
use tantivy::schema::Field;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::tokenizer::TokenStream;

use crate::fuzzy;
use crate::query::{FUZZY_MIN_CHARS, STOPWORDS, tokens};
use crate::schema::Fields;
use crate::{Result, Synonyms};

/// At most this many of a draft's words are corrected.
const MAX_CORRECTED_WORDS: usize = 3;
/// A correction counts a little less than a word the resident typed.
const CORRECTION_DISCOUNT: f32 = 0.8;
/// A synonym counts less than the word it stands in for.
const SYNONYM_DISCOUNT: f32 = 0.7;
/// A word in fewer questions than this may be a misspelling the community
/// made too ("recyling"): its more common neighbours are added.
const RARE_WORD_DOCS: u64 = 5;
/// ...when a neighbour is in at least this many times more questions.
const CORRECTION_MIN_RATIO: u64 = 2;

/// A draft of at most this many meaningful words is short: it shares few
/// words with what it is like, so more candidates are re-ranked and its
/// everyday meaning counts too. A longer draft shares enough words for
/// those to decide: applied to every draft, everyday meaning cost
/// SemEval's long drafts up to 2.5 MAP on dev (README, issue 29).
const SHORT_DRAFT_WORDS: usize = 6;

/// Stem → tf·idf weight.
pub(crate) type Vector = FxHashMap<String, f32>;

/// One stem of a draft.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DraftTerm {
    /// How often the draft says it (corrections and synonyms discounted).
    pub tf: f32,
    pub idf: f32,
    /// The resident typed it, rather than it standing in for a word.
    pub typed: bool,
}

impl DraftTerm {
    pub fn weight(&self) -> f32 {
        (1.0 + self.tf).ln() * self.idf
    }
}

/// Text → stems: the plain analyzer's words, each stemmed once per request
/// by Snowball English. That is exactly what the stemmed fields' `en_stem`
/// produces (the same split, length limit and lowercasing, then the same
/// stemmer), without stemming the candidates' shared words over and over.
pub(crate) struct Words {
    plain: TextAnalyzer,
    stemmer: frostem::Stemmer,
    /// Word → stem.
    memo: FxHashMap<String, String>,
}

impl Words {
    pub fn new(plain: TextAnalyzer) -> Words {
        Words { plain, stemmer: frostem::Stemmer::new(frostem::Algorithm::English), memo: FxHashMap::default() }
    }

    /// The stem of one plain (lowercased) word.
    pub fn stem(&mut self, word: &str) -> Option<String> {
        tokens(&mut self.plain, word).first().map(|w| self.stemmer.stem(w).into_owned())
    }

    /// Every plain word of the text, stopwords included.
    pub fn plain_words(&mut self, text: &str) -> Vec<String> {
        tokens(&mut self.plain, text)
    }

    /// Calls `each(word, stem)` for every meaningful word of the text.
    pub fn each(&mut self, text: &str, mut each: impl FnMut(&str, &str)) {
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
    fn stems(&mut self, text: &str) -> Vec<(String, f32, String)> {
        let mut stems: Vec<(String, f32, String)> = Vec::new();
        self.each(text, |word, stem| match stems.iter_mut().find(|s| s.0 == stem) {
            Some(entry) => entry.1 += 1.0,
            None => stems.push((stem.to_owned(), 1.0, word.to_owned())),
        });
        stems
    }

    /// Stem → count, for the text's meaningful words.
    pub fn counts(&mut self, text: &str) -> FxHashMap<String, f32> {
        let mut counts: FxHashMap<String, f32> = FxHashMap::default();
        self.each(text, |_, stem| match counts.get_mut(stem) {
            Some(count) => *count += 1.0,
            None => {
                counts.insert(stem.to_owned(), 1.0);
            }
        });
        counts
    }
}

/// Inverse document frequencies over titles and bodies, cached for one
/// request (candidates share most of their words).
pub(crate) struct Idf<'a> {
    searcher: &'a Searcher,
    fields: &'a Fields,
    cache: FxHashMap<String, Option<f32>>,
}

impl<'a> Idf<'a> {
    pub fn new(searcher: &'a Searcher, fields: &'a Fields) -> Idf<'a> {
        Idf { searcher, fields, cache: FxHashMap::default() }
    }

    /// `None` for a stem no question contains.
    pub fn of(&mut self, stem: &str) -> Result<Option<f32>> {
        if let Some(&cached) = self.cache.get(stem) {
            return Ok(cached);
        }
        let f = self.fields;
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

    /// A tf·idf vector of counted stems the index knows.
    pub fn vector(&mut self, counts: &FxHashMap<String, f32>) -> Result<Vector> {
        let mut vector = Vector::default();
        for (stem, &tf) in counts {
            if let Some(idf) = self.of(stem)? {
                vector.insert(stem.clone(), (1.0 + tf).ln() * idf);
            }
        }
        Ok(vector)
    }
}

/// A draft's stems, typed and stood-in.
pub(crate) struct Draft {
    pub terms: FxHashMap<String, DraftTerm>,
}

impl Draft {
    /// Reads the draft's words against the index (`plain` holds the
    /// questions' own unstemmed words).
    pub fn read(
        text: &str,
        words: &mut Words,
        idf: &mut Idf,
        searcher: &Searcher,
        plain: Field,
        synonyms: &Synonyms,
    ) -> Result<Draft> {
        let mut draft = Draft { terms: FxHashMap::default() };
        let mut corrections = 0;
        for (stem, tf, word) in words.stems(text) {
            let known = idf.of(&stem)?;
            if let Some(weight) = known {
                draft.add(stem, tf, weight, true);
            }
            let long = word.chars().count() >= FUZZY_MIN_CHARS;
            if !long || corrections >= MAX_CORRECTED_WORDS {
                continue;
            }
            let in_questions = searcher.doc_freq(&Term::from_field_text(plain, &word))?;
            if known.is_some() && in_questions >= RARE_WORD_DOCS {
                continue;
            }
            corrections += 1;
            for (neighbour, docs) in fuzzy::neighbours(searcher, plain, &word, 2)? {
                // A word the index knows is taken as a misspelling only of
                // a much more common word with the same first letter (typos
                // seldom change it; "rates" is not a misspelt "dates").
                let same_start = neighbour.chars().next() == word.chars().next();
                if known.is_some() && (docs < in_questions.max(1) * CORRECTION_MIN_RATIO || !same_start) {
                    continue;
                }
                let Some(stem) = words.stem(&neighbour) else { continue };
                if let Some(weight) = idf.of(&stem)? {
                    draft.add(stem, tf * CORRECTION_DISCOUNT, weight, false);
                }
            }
        }
        draft.add_synonyms(text, words, idf, synonyms)?;
        Ok(draft)
    }

    fn add(&mut self, stem: String, tf: f32, idf: f32, typed: bool) {
        let term = self.terms.entry(stem).or_insert(DraftTerm { tf: 0.0, idf, typed });
        term.tf += tf;
        term.typed |= typed;
    }

    /// Adds the stems of the alternatives of every synonym term in the
    /// draft (the longest term at each word wins, as in searches).
    fn add_synonyms(&mut self, text: &str, words: &mut Words, idf: &mut Idf, synonyms: &Synonyms) -> Result<()> {
        let plain = words.plain_words(text);
        let mut i = 0;
        while i < plain.len() {
            let longest = synonyms.longest().min(plain.len() - i);
            let mut consumed = 1;
            for len in (1..=longest).rev() {
                let alternatives = synonyms.alternatives(&plain[i..i + len].join(" "));
                if alternatives.is_empty() {
                    continue;
                }
                for alternative in alternatives {
                    for (stem, tf) in words.counts(alternative) {
                        if self.terms.get(&stem).is_some_and(|t| t.typed) {
                            continue;
                        }
                        if let Some(weight) = idf.of(&stem)? {
                            self.add(stem, tf * SYNONYM_DISCOUNT, weight, false);
                        }
                    }
                }
                consumed = len;
                break;
            }
            i += consumed;
        }
        Ok(())
    }

    /// The draft as a tf·idf vector (stood-in stems included).
    pub fn vector(&self) -> Vector {
        self.terms.iter().map(|(stem, term)| (stem.clone(), term.weight())).collect()
    }

    /// Whether the resident typed at most `SHORT_DRAFT_WORDS` meaningful
    /// words (that the index knows).
    pub fn is_short(&self) -> bool {
        self.terms.values().filter(|t| t.typed).count() <= SHORT_DRAFT_WORDS
    }

    /// The sum of the typed stems' idf: what full coverage is worth.
    pub fn typed_idf(&self) -> f32 {
        self.terms.values().filter(|t| t.typed).map(|t| t.idf).sum()
    }
}
