//! Ranking measures over lists of relevance flags, best-ranked first.

/// Average precision (0 when nothing is relevant).
pub fn average_precision(relevant: &[bool]) -> f64 {
    let mut hits = 0.0;
    let mut sum = 0.0;
    for (i, &r) in relevant.iter().enumerate() {
        if r {
            hits += 1.0;
            sum += hits / (i as f64 + 1.0);
        }
    }
    if hits > 0.0 { sum / hits } else { 0.0 }
}

pub fn reciprocal_rank(relevant: &[bool]) -> f64 {
    relevant.iter().position(|&r| r).map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// MAP, MRR and P@1 (percent) over a split's queries.
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    pub map: f64,
    pub mrr: f64,
    pub p_at_1: f64,
    pub queries: usize,
}

impl Figures {
    pub fn of<'a>(rankings: impl IntoIterator<Item = &'a Vec<bool>>) -> Figures {
        let (mut map, mut mrr, mut p1, mut n) = (0.0, 0.0, 0.0, 0);
        for relevant in rankings {
            map += average_precision(relevant);
            mrr += reciprocal_rank(relevant);
            p1 += if relevant.first() == Some(&true) { 1.0 } else { 0.0 };
            n += 1;
        }
        let n_f = n.max(1) as f64;
        Figures { map: 100.0 * map / n_f, mrr: 100.0 * mrr / n_f, p_at_1: 100.0 * p1 / n_f, queries: n }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MAP {:.2}  MRR {:.2}  P@1 {:.2}  ({} queries)", self.map, self.mrr, self.p_at_1, self.queries)
    }
}

#[test]
fn measures_follow_their_definitions() {
    assert_eq!(average_precision(&[false, false]), 0.0);
    assert!((average_precision(&[true, false, true]) - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
    assert_eq!(reciprocal_rank(&[false, true]), 0.5);
    let f = Figures::of(&[vec![true], vec![false, true]]);
    assert!((f.map - 75.0).abs() < 1e-9 && (f.p_at_1 - 50.0).abs() < 1e-9 && f.queries == 2);
}
