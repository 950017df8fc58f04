//! How alike a draft and a candidate question are, as a few measures
//! combined by weights learned on labelled data (SemEval-2016 Task 3
//! train1 and half of the municipal paraphrase set) and chosen on the
//! held-back halves (dev); see `tests/relevance`.

use std::hash::{BuildHasher, Hash};

use rustc_hash::FxHashMap;

use super::draft::{Draft, Idf, Vector, Words};
use super::everyday::{Dense, DraftWord, EVERYDAY, alignment, dense_cosine};
use crate::Result;
use crate::query::STOPWORDS;

/// The measures, in the order of [`WEIGHTS`].
pub const FEATURES: [&str; 12] = [
    "bm25",
    "word_cosine",
    "trigram_cosine",
    "title_word_cosine",
    "title_trigram_cosine",
    "answer_word_cosine",
    "coverage",
    "title_coverage",
    "bigram_cosine",
    "neighbour_cosine",
    "everyday_cosine",
    "everyday_alignment",
];

pub type Features = [f32; FEATURES.len()];

/// The learned blend (`tests/relevance/learn.rs`, 2026-12-06): coordinate
/// ascent gave 0.05 each to the answers' word cosine and the likeness to
/// the best candidates; both are left out, since reading the answers cost
/// about 0.9 ms a draft at 100k questions and neither moved dev by more
/// than 0.3. The everyday cosine's 0.25 is the one weight for it the dev
/// halves preferred to none, and so is the everyday alignment's 0.25
/// (2026-12-08; at 0.5 and more, SemEval dev's few short drafts lose up to
/// 2 MAP). A measure weighted 0 is not computed.
pub const WEIGHTS: Features = [0.1, 0.65, 1.25, 0.0, 0.0, 0.0, 0.15, 0.0, 1.15, 0.0, 0.25, 0.25];

pub fn score(features: &Features, weights: &Features) -> f32 {
    features.iter().zip(weights).map(|(f, w)| f * w).sum()
}

/// Three characters packed in a u64 (21 bits each) → log count.
type Trigrams = FxHashMap<u64, f32>;
/// Two adjacent stems, hashed → log count.
type Bigrams = FxHashMap<u64, f32>;

/// The draft's side of every measure, computed once per request.
pub(crate) struct DraftShape {
    words: Vector,
    trigrams: Trigrams,
    bigrams: Bigrams,
    typed_idf: f32,
    /// The draft's everyday meaning (`None`: no word the table knows).
    everyday: Option<Dense>,
    /// A short draft's typed words (none for a longer draft).
    everyday_words: Vec<DraftWord>,
}

impl DraftShape {
    pub fn of(draft: &Draft, text: &str, words: &mut Words) -> DraftShape {
        let vector = draft.vector();
        let short = draft.is_short();
        DraftShape {
            everyday: if short { EVERYDAY.dense(&vector) } else { None },
            everyday_words: if short {
                draft.terms.iter().filter(|(_, t)| t.typed).map(|(stem, t)| DraftWord::new(stem, t.idf)).collect()
            } else {
                Vec::new()
            },
            words: vector,
            trigrams: trigrams(text),
            bigrams: bigrams(text, words),
            typed_idf: draft.typed_idf(),
        }
    }
}

/// A candidate's text, as read from the index.
pub(crate) struct Candidate<'a> {
    pub title: &'a str,
    /// The start of the body.
    pub body: &'a str,
    /// The start of its answers.
    pub answers: &'a str,
    /// Its BM25 over the best candidate's.
    pub bm25: f32,
}

const TITLE_WORD_COSINE: usize = 3;
pub(crate) const ANSWER_WORD_COSINE: usize = 5;
const TITLE_COVERAGE: usize = 7;
pub(crate) const NEIGHBOUR_COSINE: usize = 9;
pub const EVERYDAY_COSINE: usize = 10;
pub const EVERYDAY_ALIGNMENT: usize = 11;
/// Word cosines at most this count for nothing: two random stems of the
/// table have a cosine above 0.17 one time in ten, above 0.33 one in a
/// hundred.
const ALIGNMENT_FLOOR: f32 = 0.3;

/// The measures of one candidate against the draft that are `wanted`
/// (non-zero; the others are 0), and its title and body's word vector.
/// The last measure, against the best-ranked neighbours, is filled in by
/// [`neighbour_cosines`].
pub(crate) fn measure(
    draft: &Draft,
    shape: &DraftShape,
    candidate: &Candidate,
    wanted: &Features,
    words: &mut Words,
    idf: &mut Idf,
) -> Result<(Features, Vector)> {
    let text = format!("{}\n{}", candidate.title, candidate.body);
    let (text_counts, text_bigrams) = stems_and_bigrams(&text, words);
    let title_only = wanted[TITLE_WORD_COSINE] != 0.0 || wanted[TITLE_COVERAGE] != 0.0;
    let title_counts = if title_only { words.counts(candidate.title) } else { FxHashMap::default() };
    let coverage = |counts: &FxHashMap<String, f32>| {
        let covered: f32 =
            draft.terms.iter().filter(|(stem, t)| t.typed && counts.contains_key(*stem)).map(|(_, t)| t.idf).sum();
        if shape.typed_idf > 0.0 { covered / shape.typed_idf } else { 0.0 }
    };
    let text_vector = idf.vector(&text_counts)?;
    let mut features = [0.0; FEATURES.len()];
    for (i, value) in features.iter_mut().enumerate().filter(|(i, _)| wanted[*i] != 0.0) {
        *value = match i {
            0 => candidate.bm25,
            1 => cosine(&shape.words, &text_vector),
            2 => cosine(&shape.trigrams, &trigrams(&text)),
            TITLE_WORD_COSINE => cosine(&shape.words, &idf.vector(&title_counts)?),
            4 => cosine(&shape.trigrams, &trigrams(candidate.title)),
            ANSWER_WORD_COSINE => cosine(&shape.words, &idf.vector(&words.counts(candidate.answers))?),
            6 => coverage(&text_counts),
            TITLE_COVERAGE => coverage(&title_counts),
            8 => cosine(&shape.bigrams, &text_bigrams),
            // Long drafts have no everyday meaning: nothing to compare.
            EVERYDAY_COSINE => match &shape.everyday {
                Some(draft) => EVERYDAY.dense(&text_vector).map_or(0.0, |text| dense_cosine(draft, &text)),
                None => 0.0,
            },
            EVERYDAY_ALIGNMENT => alignment(&shape.everyday_words, &text_counts, ALIGNMENT_FLOOR),
            _ => 0.0,
        };
    }
    Ok((features, text_vector))
}

/// How many of the best candidates stand for what the draft is about.
const NEIGHBOURS: usize = 3;

/// The cluster hypothesis, as pseudo-relevance feedback: a question like
/// the best few candidates is more likely relevant than one that shares
/// only the draft's words. Fills each candidate's last measure with the
/// cosine of its words to the sum of the best few's (by the other
/// measures).
pub(crate) fn neighbour_cosines(measured: &mut [(Features, Vector)], weights: &Features) {
    let mut order: Vec<usize> = (0..measured.len()).collect();
    order.sort_by(|&a, &b| score(&measured[b].0, weights).total_cmp(&score(&measured[a].0, weights)));
    let mut centroid = Vector::default();
    for &i in order.iter().take(NEIGHBOURS) {
        for (stem, w) in &measured[i].1 {
            *centroid.entry(stem.clone()).or_default() += w;
        }
    }
    for (features, vector) in measured.iter_mut() {
        features[NEIGHBOUR_COSINE] = cosine(&centroid, vector);
    }
}

/// Log-weighted character trigrams of the text's meaningful words, each
/// word padded with a space at both ends.
pub(crate) fn trigrams(text: &str) -> Trigrams {
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

/// Log-weighted pairs of adjacent meaningful stems: word order, cheaply.
fn bigrams(text: &str, words: &mut Words) -> Bigrams {
    stems_and_bigrams(text, words).1
}

/// Stem → count, and the word-pair bigrams, in one pass over the text.
fn stems_and_bigrams(text: &str, words: &mut Words) -> (FxHashMap<String, f32>, Bigrams) {
    let mut counts: FxHashMap<String, f32> = FxHashMap::default();
    let mut pairs = Bigrams::default();
    let mut previous: Option<u64> = None;
    words.each(text, |_, stem| {
        match counts.get_mut(stem) {
            Some(count) => *count += 1.0,
            None => {
                counts.insert(stem.to_owned(), 1.0);
            }
        }
        let hash = rustc_hash::FxBuildHasher.hash_one(stem);
        if let Some(previous) = previous {
            *pairs.entry(previous.rotate_left(17) ^ hash).or_default() += 1.0;
        }
        previous = Some(hash);
    });
    pairs.values_mut().for_each(|v| *v = (1.0 + *v).ln());
    (counts, pairs)
}

pub(crate) fn cosine<K: Hash + Eq>(a: &FxHashMap<K, f32>, b: &FxHashMap<K, f32>) -> f32 {
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
