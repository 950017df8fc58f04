//! Council synonyms, kept as data (`synonyms.txt`) and extendable by
//! admins: a query for one term of a group also finds the others.

use std::collections::HashMap;
use std::sync::LazyLock;

const BUILT_IN: &str = include_str!("synonyms.txt");

/// Synonym groups keyed by each member (lowercased, words joined by one
/// space). A member maps to the other members of its groups.
#[derive(Debug, Clone, Default)]
pub struct Synonyms {
    alternatives: HashMap<String, Vec<String>>,
    longest: usize,
}

static BUILT_IN_GROUPS: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| parse(BUILT_IN));

fn parse(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(',').map(normalise).filter(|t| !t.is_empty()).collect())
        .collect()
}

fn normalise(term: &str) -> String {
    term.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl Synonyms {
    /// The built-in groups plus `extra` ones (from the admins' settings).
    pub fn with_extra(extra: &[Vec<String>]) -> Synonyms {
        let mut synonyms = Synonyms::default();
        for group in BUILT_IN_GROUPS.iter().chain(extra.iter()) {
            synonyms.add_group(group);
        }
        synonyms
    }

    fn add_group(&mut self, group: &[String]) {
        let members: Vec<String> = group.iter().map(|t| normalise(t)).filter(|t| !t.is_empty()).collect();
        for member in &members {
            self.longest = self.longest.max(member.split(' ').count());
            let entry = self.alternatives.entry(member.clone()).or_default();
            for other in &members {
                if other != member && !entry.contains(other) {
                    entry.push(other.clone());
                }
            }
        }
    }

    /// The other members of `phrase`'s groups (empty if none).
    pub fn alternatives(&self, phrase: &str) -> &[String] {
        self.alternatives.get(phrase).map_or(&[], Vec::as_slice)
    }

    /// The most words any member has (how far to look ahead in a query).
    pub fn longest(&self) -> usize {
        self.longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_symmetric_and_extendable() {
        let s = Synonyms::with_extra(&[vec!["Wheelie Bin".into(), "green bin".into()]]);
        assert!(s.alternatives("rubbish").contains(&"bin".to_owned()));
        assert!(s.alternatives("bin").contains(&"rubbish".to_owned()));
        assert!(s.alternatives("pothole").contains(&"road defect".to_owned()));
        assert!(s.alternatives("wheelie bin").contains(&"green bin".to_owned()));
        assert!(s.alternatives("wheelie bin").contains(&"dustbin".to_owned()));
        assert!(s.alternatives("nothing").is_empty());
        assert!(s.longest() >= 4);
    }
}
