//! The re-ranking weights, learned rather than hand-set: coordinate ascent
//! (as in RankLib) from the weights in force, maximising MAP on SemEval
//! train1 plus MRR on half of the municipal paraphrases, easy and hard
//! (the questions at even positions), each candidate blend then judged on
//! the held-back halves — SemEval dev and the odd-position paraphrases. Prints the
//! figures and the weights to paste into `similar/features.rs`.

use search_index::{FEATURES, Features, SimilarRequest, WEIGHTS, blend};

use crate::corpus;
use crate::metrics::{average_precision, reciprocal_rank};

/// One judged draft: its candidates' measures, status and relevance.
struct Judged {
    candidates: Vec<(Features, String, bool)>,
    /// Relevant candidates retrieval did not find (they rank last).
    unfound: usize,
    /// One of the hard municipal paraphrases.
    hard: bool,
}

impl Judged {
    fn flags(&self, weights: &Features) -> Vec<bool> {
        let mut scored: Vec<(f32, bool)> =
            self.candidates.iter().map(|(f, status, relevant)| (blend(f, weights, status), *relevant)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut flags: Vec<bool> = scored.into_iter().map(|s| s.1).collect();
        flags.extend(std::iter::repeat_n(true, self.unfound));
        flags
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0), |(s, n), v| (s + v, n + 1));
    100.0 * sum / n.max(1) as f64
}

fn map(set: &[Judged], w: &Features) -> f64 {
    mean(set.iter().map(|j| average_precision(&j.flags(w))))
}

fn mrr(set: &[Judged], w: &Features) -> f64 {
    mean(set.iter().map(|j| reciprocal_rank(&j.flags(w))))
}

/// R@k over the judged drafts that are (or are not) `hard`.
fn recall_at(set: &[Judged], w: &Features, k: usize, hard: bool) -> f64 {
    mean(set.iter().filter(|j| j.hard == hard).map(|j| if j.flags(w).iter().take(k).any(|&r| r) { 1.0 } else { 0.0 }))
}

/// Coordinate ascent over non-negative weights.
fn ascend(start: Features, objective: impl Fn(&Features) -> f64) -> Features {
    let mut best = start;
    let mut best_value = objective(&best);
    for _round in 0..25 {
        let mut improved = false;
        for i in 0..FEATURES.len() {
            for step in [-0.5f32, -0.25, -0.1, -0.05, 0.05, 0.1, 0.25, 0.5, 1.0] {
                let mut trial = best;
                trial[i] = (trial[i] + step).max(0.0);
                let value = objective(&trial);
                if value > best_value + 1e-9 {
                    (best, best_value, improved) = (trial, value, true);
                }
            }
        }
        if !improved {
            break;
        }
    }
    best
}

#[test]
#[ignore = "tuning: prints weights to paste into the code"]
fn learn_similar_weights() {
    let Some(semeval) = corpus::semeval() else {
        eprintln!("NOTICE: ../shared/data/cqa-qatarliving-2016 not found; nothing to learn from");
        return;
    };
    let judge_semeval = |split: &str| -> Vec<Judged> {
        semeval
            .queries
            .iter()
            .filter(|q| q.split == split)
            .map(|q| {
                let ids: Vec<i64> = q.candidates.iter().map(|c| c.0).collect();
                let request = SimilarRequest { text: q.text.clone(), limit: ids.len(), restrict_to: Some(ids) };
                let found = semeval.index.index.similar_features(&request, &crate::SYNONYMS).unwrap();
                let relevant = |id: i64| q.candidates.iter().any(|c| c.0 == id && c.1);
                let candidates: Vec<(Features, String, bool)> =
                    found.into_iter().map(|(hit, f)| (f, hit.status, relevant(hit.question_id))).collect();
                let found_relevant = candidates.iter().filter(|c| c.2).count();
                let unfound = q.candidates.iter().filter(|c| c.1).count() - found_relevant;
                Judged { candidates, unfound, hard: false }
            })
            .collect()
    };
    let (train1, dev, train2) = (judge_semeval("train1_derived"), judge_semeval("dev"), judge_semeval("train2"));

    let municipal = corpus::municipal();
    let (mut m_train, mut m_dev) = (Vec::new(), Vec::new());
    let sets = [(&municipal.paraphrases, false), (&municipal.hard, true)];
    for (p, hard) in sets.into_iter().flat_map(|(set, hard)| set.iter().map(move |p| (p, hard))) {
        let request = SimilarRequest { text: p.text.clone(), limit: 20, restrict_to: None };
        let found = municipal.index.index.similar_features(&request, &crate::SYNONYMS).unwrap();
        let candidates: Vec<(Features, String, bool)> =
            found.into_iter().map(|(hit, f)| (f, hit.status, hit.question_id == p.wanted)).collect();
        // A question retrieval missed cannot be ranked in: a miss.
        let judged = Judged { candidates, unfound: 0, hard };
        if p.position % 2 == 0 { m_train.push(judged) } else { m_dev.push(judged) }
    }

    let report = |name: &str, w: &Features| {
        println!(
            "{name}: SemEval MAP train1 {:.2} dev {:.2} train2 {:.2} | municipal MRR train {:.2} dev {:.2}, R@5 train {:.2} dev {:.2}, hard R@5 train {:.2} dev {:.2}",
            map(&train1, w),
            map(&dev, w),
            map(&train2, w),
            mrr(&m_train, w),
            mrr(&m_dev, w),
            recall_at(&m_train, w, 5, false),
            recall_at(&m_dev, w, 5, false),
            recall_at(&m_train, w, 5, true),
            recall_at(&m_dev, w, 5, true),
        );
    };
    report("in force", &WEIGHTS);
    let on_dev = |w: &Features| map(&dev, w) + mrr(&m_dev, w);
    // The blend in force stays unless a learned one does better on dev.
    let mut chosen = (on_dev(&WEIGHTS), WEIGHTS);
    // Candidate blends: the municipal half weighted 0 (SemEval alone) to 1.
    for balance in [0.0, 0.25, 0.5, 1.0] {
        let learned = ascend(WEIGHTS, |w| map(&train1, w) + balance * mrr(&m_train, w));
        report(&format!("learned, balance {balance}"), &learned);
        println!("    {:?}", learned);
        if on_dev(&learned) > chosen.0 {
            chosen = (on_dev(&learned), learned);
        }
    }
    // And the blend in force with only one everyday meaning measure's
    // weight changed (ascent moves every weight at once).
    let everyday = [search_index::EVERYDAY_COSINE, search_index::EVERYDAY_ALIGNMENT];
    for (measure, weight) in everyday.into_iter().flat_map(|m| [0.0, 0.25, 0.5, 1.0, 1.5].map(|w| (m, w))) {
        let mut trial = WEIGHTS;
        trial[measure] = weight;
        report(&format!("in force, {} {weight}", FEATURES[measure]), &trial);
        println!("    dev objective {:.2} (in force {:.2})", on_dev(&trial), on_dev(&WEIGHTS));
        if on_dev(&trial) > chosen.0 {
            chosen = (on_dev(&trial), trial);
        }
    }
    let names: Vec<String> = FEATURES.iter().zip(chosen.1).map(|(n, w)| format!("{n} {w:.2}")).collect();
    println!("chosen on dev: {}", names.join(", "));
    println!("pub const WEIGHTS: Features = {:?};", chosen.1);
}
