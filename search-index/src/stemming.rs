//! The English analyzer of the stemmed fields: tantivy's `en_stem` (split,
//! drop words over 40 bytes, lowercase, Snowball English), with a memo of
//! the stems already computed.
//!
//! Stemming was the largest single cost of a rebuild (`perf` on
//! `agora reindex`): every occurrence of every word ran the Snowball
//! algorithm, although a forum's text repeats a few thousand words. The
//! memo lives in the analyzer, and tantivy keeps one analyzer per field per
//! segment being written, so it needs no lock; it starts over when full.
//! Only the writer uses it (`SearchIndex::for_writing`).
//! The stems are the same as `en_stem`'s, so an index built before the
//! memo existed needs no rebuild.

use std::mem;

use rustc_hash::FxHashMap;
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// tantivy's limit for `en_stem`: longer "words" are not words.
const MAX_WORD_BYTES: usize = 40;
/// Distinct words an analyzer remembers before it starts over (~2 MiB).
const MEMO_WORDS: usize = 20_000;

/// The analyzer registered as `en_stem` for writing.
pub(crate) fn english() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(MemoStemmer)
        .build()
}

/// Snowball English with a memo; expects lowercased tokens.
#[derive(Clone, Copy)]
struct MemoStemmer;

impl TokenFilter for MemoStemmer {
    type Tokenizer<T: Tokenizer> = MemoStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> MemoStemmerFilter<T> {
        MemoStemmerFilter { inner, memo: FxHashMap::default() }
    }
}

/// Cloning copies the memo; tantivy clones the registered analyzer, whose
/// memo is never filled, for each segment writer and each query.
#[derive(Clone)]
pub(crate) struct MemoStemmerFilter<T> {
    inner: T,
    /// Word → stem.
    memo: FxHashMap<String, String>,
}

impl<T: Tokenizer> Tokenizer for MemoStemmerFilter<T> {
    type TokenStream<'a> = MemoStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        MemoStemmerStream {
            tail: self.inner.token_stream(text),
            memo: &mut self.memo,
            stemmer: frostem::Stemmer::new(frostem::Algorithm::English),
        }
    }
}

pub(crate) struct MemoStemmerStream<'a, S> {
    tail: S,
    memo: &'a mut FxHashMap<String, String>,
    stemmer: frostem::Stemmer,
}

impl<S: TokenStream> TokenStream for MemoStemmerStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if let Some(stem) = self.memo.get(token.text.as_str()) {
            token.text.clear();
            token.text.push_str(stem);
            return true;
        }
        let stem = self.stemmer.stem(&token.text).into_owned();
        if self.memo.len() >= MEMO_WORDS {
            self.memo.clear();
        }
        let word = mem::replace(&mut token.text, stem.clone());
        self.memo.insert(word, stem);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::TokenizerManager;

    use super::*;

    fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut out = Vec::new();
        analyzer
            .token_stream(text)
            .process(&mut |t: &Token| out.push((t.text.clone(), t.position, t.offset_from, t.offset_to)));
        out
    }

    #[test]
    fn stems_exactly_as_tantivys_en_stem_also_once_the_memo_starts_over() {
        let mut builtin = TokenizerManager::default().get("en_stem").expect("tantivy registers en_stem");
        let mut memo = english();
        let text = "Collections of the Bins were MISSED again; the council's collection crews \
                    missed recycling collections twice. Potholes, pot-holes and \
                    Averyveryveryveryveryveryveryveryverylongwordindeed running runs ran";
        for _ in 0..3 {
            assert_eq!(tokens(&mut memo, text), tokens(&mut builtin, text));
        }
        // Past the memo's size: it starts over and still agrees.
        let many: String = (0..MEMO_WORDS + 10).map(|i| format!("word{i}ing ")).collect();
        assert_eq!(tokens(&mut memo, &many), tokens(&mut builtin, &many));
        assert_eq!(tokens(&mut memo, text), tokens(&mut builtin, text));
    }
}
