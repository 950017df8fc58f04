//! Typo tolerance by correction: the words of the index one edit away from
//! a (probably misspelt) word, found by intersecting a Levenshtein automaton
//! with the term dictionary. Queries then use those words as plain terms,
//! which keeps them fast (a union of terms can skip whole posting blocks;
//! a fuzzy query cannot) and lets snippets highlight the corrections.

use std::collections::HashMap;
use std::sync::LazyLock;

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::Searcher;
use tantivy::schema::Field;

use crate::{Result, SearchError};

/// Distance 1, a transposition counting as one edit ("recieve").
static ONE_EDIT: LazyLock<LevenshteinAutomatonBuilder> = LazyLock::new(|| LevenshteinAutomatonBuilder::new(1, true));

struct Dfa(DFA);

impl tantivy_fst::Automaton for Dfa {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// Up to `limit` words of `field` one edit from `word` (not `word` itself),
/// the most frequent first, with the number of questions containing them.
pub(crate) fn neighbours(searcher: &Searcher, field: Field, word: &str, limit: usize) -> Result<Vec<(String, u64)>> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted
            .terms()
            .search(Dfa(ONE_EDIT.build_dfa(word)))
            .into_stream()
            .map_err(|e| SearchError::Other(e.to_string()))?;
        while stream.advance() {
            if let Ok(term) = std::str::from_utf8(stream.key())
                && term != word
            {
                *counts.entry(term.to_owned()).or_default() += u64::from(stream.value().doc_freq);
            }
        }
    }
    let mut found: Vec<(String, u64)> = counts.into_iter().collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    found.truncate(limit);
    Ok(found)
}
