//! The benchmarks' community of N questions: forum text from
//! ../shared/data with answers, upvotes, accepted answers and the
//! reputation ledger that goes with them, written as an agora-jsonl dump
//! for `agora import jsonl`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use agora::service::import_export::dump::{FORMAT, Manifest, TableFile, VERSION};
use agora::service::markdown;
use agora::store::dump::{
    AnswersRow, CategoriesRow, FollowsRow, QuestionsRow, ReputationEventsRow, TABLES, UserCategoryStatsRow, UsersRow,
    VotesRow,
};
use chrono::{NaiveDateTime, Utc};
use serde::Serialize;

use crate::corpus::{Material, Rng, slug};

/// One table's JSONL file, counting what it writes.
struct TableWriter {
    out: BufWriter<File>,
    rows: u64,
}

impl TableWriter {
    fn write<T: Serialize>(&mut self, row: &T) {
        serde_json::to_writer(&mut self.out, row).unwrap();
        self.out.write_all(b"\n").unwrap();
        self.rows += 1;
    }
}

/// Points of the default table (the settings' defaults).
const UPVOTE: i32 = 10;
const ACCEPTED: i32 = 15;
const ACCEPTING: i32 = 2;

/// What a generated community holds, for the report.
#[derive(Default)]
pub(crate) struct Community {
    pub(crate) users: usize,
    pub(crate) answers: usize,
    pub(crate) votes: usize,
    pub(crate) accepted: usize,
}

/// The reputation the ledger implies, kept while the rows are written.
#[derive(Default)]
struct Ledger {
    next_id: i64,
    users: Vec<i32>,
    accepted: Vec<i32>,
    /// (user, category) → (reputation, accepted answers)
    categories: HashMap<(i64, i64), (i32, i32)>,
}

struct Grant<'a> {
    user: i64,
    points: i32,
    reason: &'a str,
    source: (&'a str, i64),
    post: (&'a str, i64),
    category: i64,
    at: NaiveDateTime,
}

impl Ledger {
    fn grant(&mut self, out: &mut TableWriter, g: Grant<'_>) {
        self.next_id += 1;
        out.write(&ReputationEventsRow {
            id: self.next_id,
            user_id: g.user,
            delta: g.points,
            points: g.points,
            reason: g.reason.to_owned(),
            source_type: g.source.0.to_owned(),
            source_id: g.source.1,
            post_type: Some(g.post.0.to_owned()),
            post_id: Some(g.post.1),
            category_id: Some(g.category),
            day: g.at.format("%Y-%m-%d").to_string(),
            reverses_id: None,
            created_at: g.at,
        });
        self.users[g.user as usize] += g.points;
        self.categories.entry((g.user, g.category)).or_default().0 += g.points;
    }
}

/// The files of the tables the generator fills; every other table of a
/// dump is an empty file.
struct DumpFiles {
    dir: PathBuf,
    writers: HashMap<&'static str, TableWriter>,
}

impl DumpFiles {
    fn create(dir: &Path) -> DumpFiles {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        DumpFiles { dir: dir.to_owned(), writers: HashMap::new() }
    }

    fn table(&mut self, name: &'static str) -> TableWriter {
        let file = File::create(self.dir.join(format!("{name}.jsonl"))).unwrap();
        TableWriter { out: BufWriter::with_capacity(1 << 20, file), rows: 0 }
    }

    fn done(&mut self, name: &'static str, mut writer: TableWriter) {
        writer.out.flush().unwrap();
        self.writers.insert(name, writer);
    }

    /// Writes the empty tables and the manifest.
    fn finish(mut self) {
        let tables = TABLES
            .iter()
            .map(|&t| {
                if !self.writers.contains_key(t) {
                    let empty = self.table(t);
                    self.done(t, empty);
                }
                TableFile { table: t.to_owned(), file: format!("{t}.jsonl"), rows: self.writers[t].rows }
            })
            .collect();
        let manifest = Manifest { format: FORMAT.to_owned(), version: VERSION, tables };
        std::fs::write(self.dir.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    }
}

/// Writes a community of `n` questions as an agora-jsonl dump in `dir`.
/// User 1 is `bench`, who answers often enough to be past the new-account
/// limits, as the residents who answer most are.
pub(crate) fn generate(material: &Material, n: usize, dir: &Path) -> Community {
    let mut files = DumpFiles::create(dir);
    let mut questions_out = files.table("questions");
    let mut answers_out = files.table("answers");
    let mut votes_out = files.table("votes");
    let mut ledger_out = files.table("reputation_events");
    let mut follows_out = files.table("follows");

    let mut rng = Rng(7);
    let user_count = (n / 4).max(200);
    let categories: Vec<(i64, String)> =
        material.categories.iter().enumerate().map(|(i, name)| (i as i64 + 1, name.clone())).collect();
    let mut category_questions = vec![0i32; categories.len() + 1];
    let answer_html: Vec<String> = material.comments.iter().map(|c| markdown::render(c)).collect();
    let now = Utc::now().naive_utc();
    let start = now - chrono::Duration::days(365);
    let step = (365 * 86_400 / n as i64).max(1);
    let mut ledger = Ledger { users: vec![1; user_count + 1], accepted: vec![0; user_count + 1], ..Ledger::default() };
    let mut community = Community { users: user_count, ..Community::default() };
    let (mut answer_id, mut vote_id) = (0i64, 0i64);
    // Someone other than `author`: the bench user answers one in ten.
    let someone_else = |rng: &mut Rng, author: i64| -> i64 {
        let pick = if rng.below(10) == 0 { 1 } else { 2 + rng.below(user_count - 1) as i64 };
        if pick == author { if author == 1 { 2 } else { 1 } } else { pick }
    };
    for id in 1..=n as i64 {
        let created = start + chrono::Duration::seconds(id * step);
        let asker = 2 + rng.below(user_count - 1) as i64;
        let (category, _) = &categories[rng.below(categories.len())];
        category_questions[*category as usize] += 1;
        let body: Vec<&str> =
            (0..2 + rng.below(3)).map(|_| material.sentences[rng.below(material.sentences.len())].as_str()).collect();
        let body = format!("{}.", body.join(". "));
        let mut last_activity = created;
        let mut accepted_answer_id = None;
        let answers = [0, 1, 1, 2, 2, 3, 4][rng.below(7)];
        for k in 0..answers {
            answer_id += 1;
            let author = someone_else(&mut rng, asker);
            let at = created + chrono::Duration::minutes(30 * (k as i64 + 1) + rng.below(60) as i64);
            last_activity = at;
            let upvotes = [0, 0, 1, 1, 2, 3][rng.below(6)];
            let mut voters: Vec<i64> = Vec::new();
            while voters.len() < upvotes {
                let voter = someone_else(&mut rng, author);
                if voters.contains(&voter) {
                    continue;
                }
                voters.push(voter);
                vote_id += 1;
                let voted = at + chrono::Duration::hours(1 + rng.below(48) as i64);
                votes_out.write(&VotesRow {
                    id: vote_id,
                    voter_id: voter,
                    post_type: "answer".into(),
                    post_id: answer_id,
                    value: 1,
                    created_at: voted,
                    updated_at: voted,
                });
                let source = ("vote", vote_id);
                let post = ("answer", answer_id);
                let grant = Grant {
                    user: author,
                    points: UPVOTE,
                    reason: "answer_upvoted",
                    source,
                    post,
                    category: *category,
                    at: voted,
                };
                ledger.grant(&mut ledger_out, grant);
            }
            if k == 0 && rng.below(2) == 0 {
                accepted_answer_id = Some(answer_id);
                let source = ("acceptance", answer_id);
                let post = ("answer", answer_id);
                let at = at + chrono::Duration::hours(2);
                ledger.grant(
                    &mut ledger_out,
                    Grant {
                        user: author,
                        points: ACCEPTED,
                        reason: "answer_accepted",
                        source,
                        post,
                        category: *category,
                        at,
                    },
                );
                ledger.grant(
                    &mut ledger_out,
                    Grant {
                        user: asker,
                        points: ACCEPTING,
                        reason: "accepted_an_answer",
                        source,
                        post,
                        category: *category,
                        at,
                    },
                );
                ledger.accepted[author as usize] += 1;
                ledger.categories.entry((author, *category)).or_default().1 += 1;
                community.accepted += 1;
            }
            let comment = rng.below(material.comments.len());
            answers_out.write(&AnswersRow {
                id: answer_id,
                question_id: id,
                author_id: author,
                body: material.comments[comment].clone(),
                body_html: answer_html[comment].clone(),
                score: voters.len() as i32,
                verified_at: None,
                verified_by: None,
                review_by: None,
                hidden_at: None,
                deleted_at: None,
                created_at: at,
                updated_at: at,
            });
            community.answers += 1;
            community.votes += voters.len();
        }
        let status = match (answers, accepted_answer_id) {
            (0, _) => "unanswered",
            (_, Some(_)) => "solved",
            _ => "answered",
        };
        questions_out.write(&QuestionsRow {
            id,
            author_id: asker,
            category_id: *category,
            title: material.titles[rng.below(material.titles.len())].chars().take(200).collect(),
            body_html: markdown::render(&body),
            body,
            area: None,
            score: 0,
            answer_count: answers,
            view_count: rng.below(500) as i64,
            accepted_answer_id,
            has_verified_answer: false,
            status: status.to_owned(),
            closed_at: None,
            close_reason: None,
            duplicate_of: None,
            locked_at: None,
            hidden_at: None,
            deleted_at: None,
            created_at: created,
            updated_at: created,
            last_activity_at: last_activity,
        });
        follows_out.write(&FollowsRow { user_id: asker, question_id: id, created_at: created });
    }

    let mut users_out = files.table("users");
    for id in 1..=user_count as i64 {
        let username = if id == 1 { "bench".to_owned() } else { format!("resident{id}") };
        let joined = start - chrono::Duration::days(30);
        users_out.write(&UsersRow {
            id,
            email: format!("{username}@example.org"),
            display_name: username.clone(),
            username,
            bio: String::new(),
            area: None,
            reputation: ledger.users[id as usize],
            token_version: 0,
            suspended_until: None,
            suspension_reason: None,
            created_at: joined,
            updated_at: joined,
            accepted_answers: ledger.accepted[id as usize],
            expert_notifications: false,
            // Verified: an answer mails its asker in the load bench.
            email_verified_at: Some(joined),
            email_undeliverable_at: None,
            erased_at: None,
        });
    }
    let mut categories_out = files.table("categories");
    for (id, name) in &categories {
        categories_out.write(&CategoriesRow {
            id: *id,
            slug: slug(name),
            name: name.clone(),
            description: String::new(),
            question_count: category_questions[*id as usize],
            created_at: start,
        });
    }
    let mut stats_out = files.table("user_category_stats");
    let mut stats: Vec<_> = ledger.categories.into_iter().collect();
    stats.sort();
    for ((user_id, category_id), (reputation, accepted)) in stats {
        stats_out.write(&UserCategoryStatsRow {
            user_id,
            category_id,
            reputation,
            accepted_answers: accepted,
            solved_answers: accepted,
        });
    }
    for (name, writer) in [
        ("questions", questions_out),
        ("answers", answers_out),
        ("votes", votes_out),
        ("reputation_events", ledger_out),
        ("follows", follows_out),
        ("users", users_out),
        ("categories", categories_out),
        ("user_category_stats", stats_out),
    ] {
        files.done(name, writer);
    }
    files.finish();
    community
}
