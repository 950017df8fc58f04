//! `agora import stackexchange DIR`: a Stack Exchange data dump into Agora.
//!
//! Every file is streamed row by row (memory stays flat whatever the dump's
//! size) and written through the same functions the API uses, so counts,
//! revisions, the search outbox and the reputation ledger agree with what
//! residents' own actions would have produced:
//!
//! - users become accounts without a password (they cannot log in until
//!   they reset it), named after their display name;
//! - questions (in one category for the site) and answers, their HTML
//!   turned into Markdown; tags; comments; accepted answers;
//! - up and down votes become votes, so reputation follows Agora's ledger
//!   rules (daily cap included). The dump hides who voted: each post's
//!   n-th vote is cast by placeholder voter n;
//! - duplicate links close the question as a duplicate of its target.
//!
//! Everything else is counted as skipped, with the reason. What a run
//! creates is recorded in `import_map`, so a second run adds nothing.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use quick_xml::events::Event;

use super::{Progress, Summary};
use crate::domain::{Body, CommentBody, Role, TagName, Title};
use crate::error::ApiError;
use crate::service::community::answers;
use crate::service::community::questions;
use crate::service::community::votes::{self, VoteChange};
use crate::service::markdown;
use crate::service::posts::PostType;
use crate::service::settings::{self, ReputationPoints};
use crate::store::comments::CommentInsertForm;
use crate::store::users::UserInsertForm;
use crate::store::{self, DbConn, imports, write_transaction};

/// Rows written per transaction.
const BATCH: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a Stack Exchange dump file: {detail}")]
    Xml { path: PathBuf, detail: String },
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

type ImportResult<T> = Result<T, ImportError>;

/// One `<row …/>` of a dump file: its attributes, unescaped.
struct Row(HashMap<String, String>);

impl Row {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn id(&self) -> &str {
        self.get("Id").unwrap_or_default()
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// Dump times are UTC without a zone: `2018-03-12T17:00:45.567`.
    fn time(&self, key: &str) -> Option<NaiveDateTime> {
        self.get(key).and_then(|v| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").ok())
    }
}

/// Calls `each` with every batch of rows of a dump file, streaming it.
fn for_each_batch(
    path: &Path,
    progress: &mut dyn Progress,
    mut each: impl FnMut(Vec<Row>) -> ImportResult<()>,
) -> ImportResult<()> {
    let io = |source| ImportError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    progress.start(&path.file_name().unwrap_or_default().to_string_lossy(), total);
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(file));
    let xml = |e: &dyn std::fmt::Display| ImportError::Xml { path: path.to_owned(), detail: e.to_string() };
    let mut buf = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| xml(&e))?;
        match event {
            Event::Empty(element) | Event::Start(element) if element.name().as_ref() == b"row" => {
                let mut attributes = HashMap::new();
                for attribute in element.attributes() {
                    let attribute = attribute.map_err(|e| xml(&e))?;
                    let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
                    let value = attribute.unescape_value().map_err(|e| xml(&e))?.into_owned();
                    attributes.insert(key, value);
                }
                batch.push(Row(attributes));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        if batch.len() >= BATCH {
            each(std::mem::take(&mut batch))?;
            progress.advance(reader.buffer_position());
        }
    }
    if !batch.is_empty() {
        each(batch)?;
    }
    progress.finish();
    Ok(())
}

/// What the import needs as it goes.
struct Importer<'a> {
    dir: &'a Path,
    /// `stackexchange:<directory name>`: the key of this dump in
    /// `import_map`.
    source: String,
    category_id: i64,
    points: ReputationPoints,
    summary: Summary,
    now: NaiveDateTime,
}

/// Imports the dump in `dir` into `category` (a slug; created when
/// missing, named after the directory, by default the directory's name).
pub fn import(
    conn: &mut DbConn,
    dir: &Path,
    category: Option<&str>,
    now: NaiveDateTime,
    progress: &mut dyn Progress,
) -> ImportResult<Summary> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dump".to_owned());
    if !dir.join("Posts.xml").is_file() {
        return Err(ImportError::Io {
            path: dir.join("Posts.xml"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no Posts.xml: is this a Stack Exchange dump?"),
        });
    }
    let slug = category.map(str::to_owned).unwrap_or_else(|| slug_of(&name));
    let category_id = write_transaction(conn, |conn| -> ImportResult<i64> {
        Ok(match store::categories::find_by_slug(conn, &slug)? {
            Some(existing) => existing.id,
            None => store::categories::insert(conn, &slug, &name, &format!("Imported from the {name} dump"), now)?.id,
        })
    })?;
    let points = settings::load(conn)?.reputation;
    let mut importer = Importer {
        dir,
        source: format!("stackexchange:{name}"),
        category_id,
        points,
        summary: Summary::default(),
        now,
    };
    importer.run(conn, progress)?;
    Ok(importer.summary)
}

/// A category slug from a directory name.
fn slug_of(name: &str) -> String {
    let slug: String =
        name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>();
    let slug = slug.trim_matches('-').chars().take(40).collect::<String>();
    if slug.len() < 2 { "imported".to_owned() } else { slug }
}

impl Importer<'_> {
    fn run(&mut self, conn: &mut DbConn, progress: &mut dyn Progress) -> ImportResult<()> {
        self.file(conn, progress, "Users.xml", Self::user)?;
        self.file(conn, progress, "Tags.xml", Self::tag)?;
        self.file(conn, progress, "Posts.xml", Self::question)?;
        self.file(conn, progress, "Posts.xml", Self::answer)?;
        self.file(conn, progress, "Comments.xml", Self::comment)?;
        self.file(conn, progress, "Votes.xml", Self::vote)?;
        self.file(conn, progress, "PostLinks.xml", Self::link)?;
        if self.dir.join("Badges.xml").is_file() {
            self.file(conn, progress, "Badges.xml", |s, _, _| {
                s.summary.skipped("badges", "Agora awards its own badges");
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Streams one file, a transaction per batch.
    fn file(
        &mut self,
        conn: &mut DbConn,
        progress: &mut dyn Progress,
        file: &str,
        handle: fn(&mut Self, &mut DbConn, &Row) -> ImportResult<()>,
    ) -> ImportResult<()> {
        let path = self.dir.join(file);
        if !path.is_file() {
            self.summary.skipped(file, "file missing from the dump");
            return Ok(());
        }
        for_each_batch(&path, progress, |rows| {
            write_transaction(conn, |conn| rows.iter().try_for_each(|row| handle(self, conn, row)))
        })
    }

    fn target(&self, conn: &mut DbConn, kind: &str, id: &str) -> ImportResult<Option<i64>> {
        Ok(imports::target(conn, &self.source, kind, id)?)
    }

    fn remember(&self, conn: &mut DbConn, kind: &str, id: &str, target: i64) -> ImportResult<()> {
        Ok(imports::record(conn, &self.source, kind, id, target)?)
    }

    fn user(&mut self, conn: &mut DbConn, row: &Row) -> ImportResult<()> {
        if self.target(conn, "user", row.id())?.is_some() {
            self.summary.already("users");
            return Ok(());
        }
        let display_name: String = row.get("DisplayName").unwrap_or("user").trim().chars().take(50).collect();
        let display_name = if display_name.is_empty() { "user".to_owned() } else { display_name };
        let at = row.time("CreationDate").unwrap_or(self.now);
        let id = self.create_user(conn, &display_name, &format!("se{}", row.id().replace('-', "m")), at)?;
        self.remember(conn, "user", row.id(), id)?;
        self.summary.imported("users");
        Ok(())
    }

    /// An account without a password: `<name>.<suffix>`, unique.
    fn create_user(&self, conn: &mut DbConn, display_name: &str, suffix: &str, at: NaiveDateTime) -> ImportResult<i64> {
        let base: String = display_name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let base: String = base.chars().take(32 - suffix.len() - 1).collect();
        let base = if base.is_empty() { "user".to_owned() } else { base.trim_end_matches('-').to_owned() };
        let mut username = format!("{base}.{suffix}");
        let mut n = 1;
        while store::users::username_taken(conn, &username)? {
            n += 1;
            username = format!("{base}.{suffix}{n}");
        }
        let site = self.source.trim_start_matches("stackexchange:");
        let email = format!("{suffix}.{}@{}.import.invalid", n, slug_of(site));
        let form = UserInsertForm {
            username: &username,
            email: &email,
            password_hash: None,
            display_name,
            created_at: at,
            updated_at: at,
        };
        Ok(store::users::insert(conn, &form, &[Role::Resident])?.id)
    }

    /// A placeholder account (the owner of posts whose author left, or an
    /// anonymous voter), created once per source.
    fn placeholder(&mut self, conn: &mut DbConn, key: &str, display_name: &str) -> ImportResult<i64> {
        if let Some(id) = self.target(conn, "placeholder", key)? {
            return Ok(id);
        }
        let id = self.create_user(conn, display_name, key, self.now)?;
        self.remember(conn, "placeholder", key, id)?;
        self.summary.imported("placeholder accounts");
        Ok(id)
    }

    /// The account of a dump user, or the placeholder of departed ones.
    fn author(&mut self, conn: &mut DbConn, user: Option<&str>) -> ImportResult<i64> {
        if let Some(user) = user
            && let Some(id) = self.target(conn, "user", user)?
        {
            return Ok(id);
        }
        self.placeholder(conn, "deleted", "Deleted user")
    }

    fn tag(&mut self, conn: &mut DbConn, row: &Row) -> ImportResult<()> {
        let name = row.get("TagName").unwrap_or_default();
        match TagName::parse(name) {
            Err(reason) => self.summary.skipped("tags", reason),
            Ok(tag) => {
                if store::tags::find_by_name(conn, tag.as_str())?.is_some() {
                    self.summary.already("tags");
                } else {
                    store::tags::insert(conn, tag.as_str(), None, self.now)?;
                    self.summary.imported("tags");
                }
            }
        }
        Ok(())
    }

    /// The post's HTML as Markdown, if it is a valid Agora body.
    fn body(&mut self, kind: &str, row: &Row) -> Option<String> {
        let html = row.get("Body").unwrap_or_default();
        let markdown = match htmd::convert(html) {
            Ok(markdown) => markdown,
            Err(_) => {
                self.summary.skipped(kind, "body is not readable HTML");
                return None;
            }
        };
        match Body::parse(&markdown) {
            Ok(body) => Some(body.as_str().to_owned()),
            Err(reason) => {
                self.summary.skipped(kind, format!("body {reason}"));
                None
            }
        }
    }

    fn question(&mut self, conn: &mut DbConn, row: &Row) -> ImportResult<()> {
        match row.get("PostTypeId") {
            Some("1") => {}
            Some("2") => return Ok(()),
            Some("4" | "5") => {
                self.summary.skipped("posts", "tag wiki (Agora tags have no wiki)");
                return Ok(());
            }
            _ => {
                self.summary.skipped("posts", "not a question or an answer");
                return Ok(());
            }
        }
        if self.target(conn, "question", row.id())?.is_some() {
            self.summary.already("questions");
            return Ok(());
        }
        let title = match Title::parse(row.get("Title").unwrap_or_default()) {
            Ok(title) => title,
            Err(reason) => {
                self.summary.skipped("questions", format!("title {reason}"));
                return Ok(());
            }
        };
        let Some(body) = self.body("questions", row) else { return Ok(()) };
        let at = row.time("CreationDate").unwrap_or(self.now);
        let author_id = self.author(conn, row.get("OwnerUserId"))?;
        let tags = self.question_tags(conn, row.get("Tags").unwrap_or_default(), at)?;
        let tag_ids: Vec<i64> = tags.iter().map(|(_, id)| *id).collect();
        let names: Vec<TagName> = tags.into_iter().map(|(name, _)| name).collect();
        let record = questions::QuestionRecord {
            author_id,
            category_id: self.category_id,
            title: title.as_str(),
            body: &body,
            body_html: &markdown::render(&body),
            area: None,
            tag_ids: &tag_ids,
            tag_list: &questions::tag_list(&names),
            at,
        };
        let id = questions::insert(conn, &record)?;
        store::questions::set_view_count(conn, id, row.int("ViewCount").unwrap_or(0))?;
        self.remember(conn, "question", row.id(), id)?;
        if let Some(accepted) = row.get("AcceptedAnswerId") {
            self.remember(conn, "accepted_answer", accepted, id)?;
        }
        self.summary.imported("questions");
        Ok(())
    }

    /// `<a><b>` → the tags (created when new), at most 5.
    fn question_tags(&mut self, conn: &mut DbConn, tags: &str, at: NaiveDateTime) -> ImportResult<Vec<(TagName, i64)>> {
        let mut out: Vec<(TagName, i64)> = Vec::new();
        for name in tags.split(['<', '>']).filter(|t| !t.is_empty()) {
            let Ok(tag) = TagName::parse(name) else {
                self.summary.skipped("question tags", "not a valid Agora tag name");
                continue;
            };
            if out.len() == TagName::MAX_PER_QUESTION || out.iter().any(|(t, _)| *t == tag) {
                continue;
            }
            let id = match store::tags::find_by_name(conn, tag.as_str())? {
                Some(existing) => existing.id,
                None => store::tags::insert(conn, tag.as_str(), None, at)?.id,
            };
            out.push((tag, id));
        }
        Ok(out)
    }

    fn answer(&mut self, conn: &mut DbConn, row: &Row) -> ImportResult<()> {
        if row.get("PostTypeId") != Some("2") {
            return Ok(());
        }
        if self.target(conn, "answer", row.id())?.is_some() {
            self.summary.already("answers");
            return Ok(());
        }
        let Some(question_id) = self.target(conn, "question", row.get("ParentId").unwrap_or_default())? else {
            self.summary.skipped("answers", "its question was not imported");
            return Ok(());
        };
        let Some(body) = self.body("answers", row) else { return Ok(()) };
        let at = row.time("CreationDate").unwrap_or(self.now);
        let author_id = self.author(conn, row.get("OwnerUserId"))?;
        let question = store::questions::find(conn, question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
        let answer_id = answers::insert(conn, &question, author_id, &body, &markdown::render(&body), at)?;
        self.remember(conn, "answer", row.id(), answer_id)?;
        self.summary.imported("answers");
        if self.target(conn, "accepted_answer", row.id())?.is_some() {
            // Re-read: the answer changed the question's state.
            let question = store::questions::find(conn, question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
            let answer = store::answers::find(conn, answer_id)?.ok_or_else(|| ApiError::not_found("answer"))?;
            let asker = question.author_id;
            answers::set_accepted(conn, &self.points, question, &answer, asker, at)?;
            self.summary.imported("accepted answers");
        }
        Ok(())
    }

    /// The (question, answer) a dump post became.
    fn post(&self, conn: &mut DbConn, post: &str) -> ImportResult<Option<(i64, Option<i64>)>> {
        if let Some(question) = self.target(conn, "question", post)? {
            return Ok(Some((question, None)));
        }
        match self.target(conn, "answer", post)? {
            Some(answer) => {
                let found = store::answers::find(conn, answer)?.ok_or_else(|| ApiError::not_found("answer"))?;
                Ok(Some((found.question_id, Some(answer))))
            }
            None => Ok(None),
        }
    }

    fn comment(&mut self, conn: &mut DbConn, row: &Row) -> ImportResult<()> {
        if self.target(conn, "comment", row.id())?.is_some() {
            self.summary.already("comments");
            return Ok(());
        }
        let Some((question_id, answer_id)) = self.post(conn, row.get("PostId").unwrap_or_default())? else {
            self.summary.skipped("comments", "its post was not imported");
            return Ok(());
        };
        let body = match CommentBody::parse(row.get("Text").unwrap_or_default()) {
            Ok(body) => body,
            Err(reason) => {
                self.summary.skipped("comments", format!("text {reason}"));
                return Ok(());
            }
        };
        let author_id = self.author(conn, row.get("UserId"))?;
        let form = CommentInsertForm {
            question_id,
            answer_id,
            author_id,
            body: body.as_str(),
            body_html: &markdown::render(body.as_str()),
            created_at: row.time("CreationDate").unwrap_or(self.now),
        };
        let comment = store::comments::insert(conn, &form)?;
        self.remember(conn, "comment", row.id(), comment.id)?;
        self.summary.imported("comments");
        Ok(())
    }

    fn vote(&mut self, conn: &mut DbConn, row: &Row) -> ImportResult<()> {
        let value = match row.get("VoteTypeId") {
            Some("2") => 1,
            Some("3") => -1,
            Some(kind) => {
                self.summary.skipped("votes", vote_kind(kind));
                return Ok(());
            }
            None => {
                self.summary.skipped("votes", "no vote type");
                return Ok(());
            }
        };
        if self.target(conn, "vote", row.id())?.is_some() {
            self.summary.already("votes");
            return Ok(());
        }
        let Some((question_id, answer_id)) = self.post(conn, row.get("PostId").unwrap_or_default())? else {
            self.summary.skipped("votes", "its post was not imported");
            return Ok(());
        };
        let question = store::questions::find(conn, question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
        let (post_type, post_id, author_id) = match answer_id {
            Some(answer) => {
                let found = store::answers::find(conn, answer)?.ok_or_else(|| ApiError::not_found("answer"))?;
                (PostType::Answer, answer, found.author_id)
            }
            None => (PostType::Question, question_id, question.author_id),
        };
        // The dump does not say who voted: the post's n-th vote is cast by
        // placeholder voter n, so no voter votes twice on a post.
        let n = store::votes::count_on_post(conn, post_type.as_str(), post_id)? + 1;
        let voter_id = self.placeholder(conn, &format!("voter{n}"), &format!("Stack Exchange voter {n}"))?;
        let change = VoteChange {
            voter_id,
            author_id,
            post_type,
            post_id,
            question_id,
            category_id: question.category_id,
            value,
            at: row.time("CreationDate").unwrap_or(self.now),
        };
        votes::apply(conn, &self.points, None, &change)?;
        self.remember(conn, "vote", row.id(), post_id)?;
        self.summary.imported(if value > 0 { "up votes" } else { "down votes" });
        Ok(())
    }

    fn link(&mut self, conn: &mut DbConn, row: &Row) -> ImportResult<()> {
        if row.get("LinkTypeId") != Some("3") {
            self.summary.skipped("post links", "a related link (Agora links duplicates only)");
            return Ok(());
        }
        if self.target(conn, "duplicate", row.id())?.is_some() {
            self.summary.already("duplicates");
            return Ok(());
        }
        let source = self.target(conn, "question", row.get("PostId").unwrap_or_default())?;
        let target = self.target(conn, "question", row.get("RelatedPostId").unwrap_or_default())?;
        let (Some(source), Some(target)) = (source, target) else {
            self.summary.skipped("duplicates", "a question of the link is not in the dump");
            return Ok(());
        };
        let question = store::questions::find(conn, source)?.ok_or_else(|| ApiError::not_found("question"))?;
        if question.closed_at.is_some() || source == target {
            self.summary.skipped("duplicates", "the question is already closed as a duplicate");
            return Ok(());
        }
        let at = row.time("CreationDate").unwrap_or(self.now);
        store::questions::set_closed(conn, source, Some(at), Some("duplicate"), Some(target))?;
        store::outbox::enqueue(conn, source, "close", at)?;
        self.remember(conn, "duplicate", row.id(), source)?;
        self.summary.imported("duplicates closed");
        Ok(())
    }
}

/// Why a vote of another type is not imported.
fn vote_kind(kind: &str) -> &'static str {
    match kind {
        "1" => "acceptance (imported from the question's accepted answer)",
        "4" => "offensive flag",
        "5" => "favourite (Agora has follows)",
        "6" | "7" => "close or reopen vote",
        "8" | "9" => "bounty",
        "10" | "11" => "deletion or undeletion",
        "12" => "spam flag",
        "15" => "moderator review",
        "16" => "approved edit suggestion",
        _ => "another vote type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_become_slugs() {
        assert_eq!(slug_of("stackexchange-quantumcomputing-2018"), "stackexchange-quantumcomputing-2018");
        assert_eq!(slug_of("Gardening & Landscaping"), "gardening---landscaping");
        assert_eq!(slug_of("!"), "imported");
    }

    #[test]
    fn dump_times_parse() {
        let row = Row(HashMap::from([("CreationDate".to_owned(), "2018-03-12T17:00:45.567".to_owned())]));
        assert_eq!(row.time("CreationDate").unwrap().to_string(), "2018-03-12 17:00:45.567");
    }
}
