//! Similar-question relevance, measured through `SearchIndex::similar`
//! (what `GET /questions/similar` serves):
//!
//! - `semeval`: the SemEval-2016 Task 3 (Qatar Living) set from
//!   `../shared/data` — each query's ten candidates re-ranked (MAP, MRR,
//!   P@1 on dev and train2), the same ranked by where the whole corpus's
//!   top 20 puts them (the held-out protocol), and Recall@10 over the
//!   corpus. Skipped, with a notice, when the data is not beside the
//!   repository.
//! - `municipal`: the demo community (`src/demo/community.jsonl`) asked
//!   with residents' paraphrases kept in `tests/fixtures` (R@1, R@5): three
//!   a question of all kinds, and two hard ones sharing no word with the
//!   title. Always runs.
//! - `learn`: the re-ranking weights, learned on train and chosen on dev
//!   (`cargo test -p search-index --release --test relevance -- --ignored
//!   --nocapture learn`).
//!
//! Run with `--nocapture` to see the figures.

mod corpus;
mod learn;
mod metrics;
mod municipal;
mod semeval;

use std::sync::LazyLock;

use search_index::{SearchIndex, SimilarRequest, Synonyms};

/// The built-in council synonyms, as a community without its own has.
pub static SYNONYMS: LazyLock<Synonyms> = LazyLock::new(|| Synonyms::with_extra(&[]));

/// The ids `/questions/similar` would list for `text`, best first.
pub fn similar(index: &SearchIndex, text: &str, limit: usize, restrict_to: Option<Vec<i64>>) -> Vec<i64> {
    let request = SimilarRequest { text: text.to_owned(), limit, restrict_to };
    index.similar(&request, &SYNONYMS).unwrap().iter().map(|h| h.question_id).collect()
}
