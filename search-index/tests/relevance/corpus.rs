//! The labelled sets, loaded and indexed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use search_index::{QuestionDoc, SearchIndex};
use serde::Deserialize;

/// Some records have `null` text fields: read them as empty.
fn text_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

pub fn jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

/// An index in a temporary directory, removed when dropped.
pub struct TempIndex {
    pub index: SearchIndex,
    dir: PathBuf,
}

impl TempIndex {
    pub fn of(name: &str, docs: &[QuestionDoc]) -> TempIndex {
        let dir = std::env::temp_dir().join(format!("agora-relevance-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (index, _) = SearchIndex::open(&dir).unwrap();
        let mut writer = index.writer(100_000_000).unwrap();
        for doc in docs {
            writer.upsert(doc).unwrap();
        }
        writer.commit(0).unwrap();
        index.reload().unwrap();
        TempIndex { index, dir }
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// --- SemEval-2016 Task 3 (Qatar Living) -------------------------------

#[derive(Deserialize)]
struct CorpusQuestion {
    id: String,
    #[serde(default, deserialize_with = "text_or_null")]
    subject: String,
    #[serde(default, deserialize_with = "text_or_null")]
    body: String,
    #[serde(default, deserialize_with = "text_or_null")]
    category: String,
}

#[derive(Deserialize)]
struct Comment {
    question_id: String,
    #[serde(default, deserialize_with = "text_or_null")]
    text: String,
}

#[derive(Deserialize)]
struct LabelledQuery {
    split: String,
    id: String,
    #[serde(default, deserialize_with = "text_or_null")]
    subject: String,
    #[serde(default, deserialize_with = "text_or_null")]
    body: String,
}

/// A query with its judged candidates (question id, relevant), in the
/// order the data gives them.
pub struct Query {
    pub split: String,
    pub text: String,
    pub candidates: Vec<(i64, bool)>,
}

pub struct SemEval {
    pub index: TempIndex,
    pub queries: Vec<Query>,
}

fn semeval_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cqa-qatarliving-2016");
    dir.join("qrels.tsv").exists().then_some(dir)
}

/// The whole forum corpus indexed (with its comments as answers) and every
/// labelled query; `None` when the data is not beside the repository.
pub fn semeval() -> Option<SemEval> {
    let dir = semeval_dir()?;
    let corpus: Vec<CorpusQuestion> = jsonl(&dir.join("corpus_canonical.jsonl"));
    let comments: Vec<Comment> = jsonl(&dir.join("comments.jsonl"));
    let labelled: Vec<LabelledQuery> = jsonl(&dir.join("queries.jsonl"));
    let qrels = std::fs::read_to_string(dir.join("qrels.tsv")).unwrap();

    let numeric: HashMap<&str, i64> = corpus.iter().enumerate().map(|(i, q)| (q.id.as_str(), i as i64 + 1)).collect();
    let mut answers: HashMap<&str, Vec<String>> = HashMap::new();
    for c in &comments {
        answers.entry(c.question_id.as_str()).or_default().push(c.text.clone());
    }
    let docs: Vec<QuestionDoc> = corpus
        .iter()
        .map(|q| QuestionDoc {
            id: numeric[q.id.as_str()],
            title: q.subject.clone(),
            body: q.body.clone(),
            answers: answers.remove(q.id.as_str()).unwrap_or_default(),
            category_slug: "forum".into(),
            category_name: q.category.clone(),
            status: "answered".into(),
            ..QuestionDoc::default()
        })
        .collect();

    let mut judged: HashMap<(&str, &str), Vec<(i64, bool)>> = HashMap::new();
    for line in qrels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let Some(&doc) = numeric.get(cols[2]) else { continue };
        judged.entry((cols[0], cols[1])).or_default().push((doc, cols[3].parse::<u8>().unwrap() >= 1));
    }
    let queries = labelled
        .iter()
        .filter_map(|q| {
            let candidates = judged.get(&(q.split.as_str(), q.id.as_str()))?;
            // Drop self-matches: a candidate that is the query itself.
            let candidates = candidates
                .iter()
                .copied()
                .filter(|(doc, _)| {
                    let c = &corpus[*doc as usize - 1];
                    !(c.subject.trim() == q.subject.trim() && c.body.trim() == q.body.trim())
                })
                .collect();
            Some(Query { split: q.split.clone(), text: format!("{}\n{}", q.subject, q.body), candidates })
        })
        .collect();
    Some(SemEval { index: TempIndex::of("semeval", &docs), queries })
}

// --- The demo community and residents' paraphrases --------------------

#[derive(Deserialize)]
struct DemoLine {
    kind: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    answers: Vec<DemoAnswer>,
}

#[derive(Deserialize)]
struct DemoAnswer {
    body: String,
    #[serde(default)]
    accepted: bool,
}

#[derive(Deserialize)]
struct Paraphrase {
    title: String,
    paraphrase: String,
}

/// A resident's phrasing of a demo question.
pub struct Paraphrased {
    pub text: String,
    /// The intended question's id.
    pub wanted: i64,
    /// That question's position in the demo file.
    pub position: usize,
    /// It shares no word with the question's title (words compared by
    /// their first five letters, stop words left out): the hard cases.
    pub no_title_word: bool,
}

pub struct Municipal {
    pub index: TempIndex,
    /// Three a question: short, everyday words, sloppy.
    pub paraphrases: Vec<Paraphrased>,
    /// Two a question, short and sharing no word with the title: the way
    /// residents ask who have never seen the question.
    pub hard: Vec<Paraphrased>,
}

fn word_starts(text: &str) -> std::collections::HashSet<String> {
    let stop: std::collections::HashSet<&str> = include_str!("../../src/stopwords.txt").split_whitespace().collect();
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1 && !stop.contains(w))
        .map(|w| w.chars().take(5).collect())
        .collect()
}

/// The demo community indexed as the demo loads it (questions numbered
/// from 1 in file order), and the paraphrase dev set.
pub fn municipal() -> Municipal {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lines: Vec<DemoLine> = jsonl(&root.join("../src/demo/community.jsonl"));
    let questions: Vec<&DemoLine> = lines.iter().filter(|l| l.kind == "question").collect();
    let docs: Vec<QuestionDoc> = questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let accepted = q.answers.iter().any(|a| a.accepted);
            QuestionDoc {
                id: i as i64 + 1,
                title: q.title.clone(),
                body: q.body.clone(),
                answers: q.answers.iter().map(|a| a.body.clone()).collect(),
                tags: q.tags.clone(),
                category_slug: q.category.clone(),
                category_name: q.category.replace('-', " "),
                status: if accepted {
                    "solved"
                } else if q.answers.is_empty() {
                    "unanswered"
                } else {
                    "answered"
                }
                .into(),
                answer_count: q.answers.len() as u64,
                accepted,
                ..QuestionDoc::default()
            }
        })
        .collect();
    let ids: HashMap<&str, usize> = questions.iter().enumerate().map(|(i, q)| (q.title.as_str(), i)).collect();
    let read = |file: &str| -> Vec<Paraphrased> {
        let written: Vec<Paraphrase> = jsonl(&root.join("tests/fixtures").join(file));
        written
            .into_iter()
            .map(|p| {
                let position = *ids.get(p.title.as_str()).unwrap_or_else(|| panic!("no demo question {:?}", p.title));
                let no_title_word = word_starts(&p.paraphrase).is_disjoint(&word_starts(&p.title));
                Paraphrased { text: p.paraphrase, wanted: position as i64 + 1, position, no_title_word }
            })
            .collect()
    };
    let (paraphrases, hard) = (read("municipal-paraphrases.jsonl"), read("municipal-hard-paraphrases.jsonl"));
    Municipal { index: TempIndex::of("municipal", &docs), paraphrases, hard }
}
