//! Residents' paraphrases of the demo community's questions: is the
//! intended question first, or in the top five?

use crate::corpus;
use crate::similar;

/// Recall of the intended question, in percent.
pub struct Recall {
    pub at_1: f64,
    pub at_5: f64,
    /// R@5 over the paraphrases sharing no word with the title.
    pub hard_at_5: f64,
    pub hard: usize,
    /// Paraphrases whose question is not in the top five.
    pub missed: Vec<String>,
}

pub fn recall(index: &search_index::SearchIndex, paraphrases: &[corpus::Paraphrased]) -> Recall {
    let (mut first, mut top_5, mut hard_top_5, mut hard, mut missed) = (0, 0, 0, 0, Vec::new());
    for p in paraphrases {
        let ids = similar(index, &p.text, 5, None);
        let found = ids.iter().position(|id| *id == p.wanted);
        match found {
            Some(0) => (first, top_5) = (first + 1, top_5 + 1),
            Some(_) => top_5 += 1,
            None => missed.push(p.text.clone()),
        }
        if p.no_title_word {
            hard += 1;
            hard_top_5 += usize::from(found.is_some());
        }
    }
    let percent = |k: usize, n: usize| 100.0 * k as f64 / n.max(1) as f64;
    let n = paraphrases.len();
    Recall { at_1: percent(first, n), at_5: percent(top_5, n), hard_at_5: percent(hard_top_5, hard), hard, missed }
}

#[test]
fn residents_paraphrases_find_the_demo_question() {
    let set = corpus::municipal();
    let r = recall(&set.index.index, &set.paraphrases);
    println!(
        "Municipal paraphrases: R@1 {:.2}  R@5 {:.2}  ({} paraphrases); sharing no title word: R@5 {:.2} ({})",
        r.at_1,
        r.at_5,
        set.paraphrases.len(),
        r.hard_at_5,
        r.hard
    );
    let h = recall(&set.index.index, &set.hard);
    println!("Municipal hard paraphrases: R@1 {:.2}  R@5 {:.2}  ({} paraphrases)", h.at_1, h.at_5, set.hard.len());
    for text in h.missed.iter().chain(&r.missed).take(40) {
        println!("  missed: {text}");
    }
    // Measured 89.28 and 96.04 (87.84 and 95.05 at this set's first use);
    // a fall of more than two points is a regression.
    assert!(r.at_1 >= 87.0 && r.at_5 >= 94.0, "R@1 {:.2}, R@5 {:.2}", r.at_1, r.at_5);
    // Measured 54.46 and 70.41 with each word's nearest in meaning (53.38
    // and 68.78 without it, so losing it fails here; 52.43 and 67.57
    // without the everyday cosine too; 51.76 and 65.00 with neither and 15
    // candidates for short drafts; 45.54 and 62.57 at the set's first use,
    // close to the 63 % issue 29 reports on its held-out set).
    assert!(h.at_1 >= 53.5 && h.at_5 >= 69.5, "hard R@1 {:.2}, R@5 {:.2}", h.at_1, h.at_5);
}

/// R@5 by the paraphrase's style (the set has three a question, in this
/// order: short, a sentence in everyday words, sloppy); with
/// `AGORA_PROBE="draft|draft"`, each draft's top five too.
#[test]
#[ignore = "diagnostics"]
fn by_style() {
    let set = corpus::municipal();
    let index = &set.index.index;
    for style in 0..3 {
        let subset: Vec<_> = set.paraphrases.iter().skip(style).step_by(3).collect();
        let found = subset.iter().filter(|p| similar(index, &p.text, 5, None).contains(&p.wanted)).count();
        println!("style {style}: R@5 {:.2} of {}", 100.0 * found as f64 / subset.len() as f64, subset.len());
    }
    for text in std::env::var("AGORA_PROBE").unwrap_or_default().split('|').filter(|t| !t.is_empty()) {
        let request = search_index::SimilarRequest { text: text.into(), limit: 5, restrict_to: None };
        println!("{text}:");
        for hit in index.similar(&request, &crate::SYNONYMS).unwrap() {
            println!("    {:.3} {} [{}]", hit.relevance, hit.title, hit.status);
        }
    }
}

/// How often the hard paraphrases' question is among the candidates the
/// re-ranking sees, and in the top five after it.
#[test]
#[ignore = "diagnostics"]
fn candidates_hold_the_question() {
    let set = corpus::municipal();
    let index = &set.index.index;
    let percent = |n: usize| 100.0 * n as f64 / set.hard.len() as f64;
    let top5 = set.hard.iter().filter(|p| similar(index, &p.text, 5, None).contains(&p.wanted)).count();
    println!("top 5: {:.1}%", percent(top5));
    // Limits of 5, 20 and 50 re-rank 30, 45 and 105 candidates.
    for pool in [5usize, 20, 50] {
        let in_pool = set
            .hard
            .iter()
            .filter(|p| {
                let request = search_index::SimilarRequest { text: p.text.clone(), limit: pool, restrict_to: None };
                let found = index.similar_features(&request, &crate::SYNONYMS).unwrap();
                found.iter().any(|(h, _)| h.question_id == p.wanted)
            })
            .count();
        println!("limit {pool}: the candidates hold the question for {:.1}%", percent(in_pool));
    }
}
