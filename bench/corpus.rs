//! Realistic text for the benchmarks: titles, sentences, answers and
//! queries of the Qatar Living forum (SemEval-2016 Task 3) in
//! ../shared/data, read at bench time and never copied into the repo.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
struct CorpusQuestion {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
struct Comment {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cqa-qatarliving-2016")
}

/// Ends the benchmark with a plain notice (and success) when the shared
/// data is not beside the clone: the text it builds communities from is
/// never copied into the repository.
pub fn require_data(bench: &str) {
    if !data_dir().is_dir() {
        println!("NOTICE: ../shared/data/cqa-qatarliving-2016 not found; the {bench} benchmark skipped");
        std::process::exit(0);
    }
}

pub fn jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (the bench reads ../shared/data)", path.display()))
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// SplitMix64: the same corpus on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}

/// Material to build synthetic questions from: titles, sentences,
/// comments and categories of the real forum.
pub struct Material {
    pub titles: Vec<String>,
    pub sentences: Vec<String>,
    pub comments: Vec<String>,
    pub categories: Vec<String>,
    pub search_queries: Vec<String>,
    pub drafts: Vec<String>,
}

pub fn material() -> Material {
    let dir = data_dir();
    let corpus: Vec<CorpusQuestion> = jsonl(&dir.join("corpus_canonical.jsonl"));
    let comments: Vec<Comment> = jsonl(&dir.join("comments.jsonl"));
    let queries: Vec<Query> = jsonl(&dir.join("queries.jsonl"));
    let titles: Vec<String> =
        corpus.iter().filter_map(|q| q.subject.clone()).filter(|s| !s.trim().is_empty()).collect();
    let sentences: Vec<String> = corpus
        .iter()
        .filter_map(|q| q.body.as_deref())
        .flat_map(|b| {
            b.split(['.', '?', '!']).map(str::trim).filter(|s| s.len() > 15).map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    let comments: Vec<String> = comments.into_iter().filter_map(|c| c.text).filter(|t| t.len() > 10).collect();
    let mut categories: Vec<String> = corpus.iter().filter_map(|q| q.category.clone()).collect();
    categories.sort();
    categories.dedup();
    // Short searches: two or three words of real query subjects.
    let search_queries: Vec<String> = queries
        .iter()
        .filter_map(|q| q.subject.as_deref())
        .map(|s| s.split_whitespace().filter(|w| w.len() > 3).take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect();
    let drafts: Vec<String> = queries
        .iter()
        .map(|q| format!("{}\n{}", q.subject.as_deref().unwrap_or(""), q.body.as_deref().unwrap_or("")))
        .collect();
    Material { titles, sentences, comments, categories, search_queries, drafts }
}

pub fn slug(name: &str) -> String {
    name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}
