//! Questions: ask, list, read (with answers and comments), edit with
//! revisions, soft delete, views and follows.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::{Body, TagName, Title};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::accounts::new_accounts;
use crate::service::community::answers::{self, AnswerView};
use crate::service::community::categories;
use crate::service::community::revisions;
use crate::service::deflection;
use crate::service::escalation::{self, AutoEscalation, EscalationSummary};
use crate::service::markdown;
use crate::service::notifications::{self, Event, Kind};
use crate::service::posts::{self, CommentView, PostType, Target, UserView, UserViews};
use crate::service::privileges::Privilege;
use crate::service::reputation::experts;
use crate::service::webhooks;
use crate::store::deflection::QuestionFacts;
use crate::store::questions::{Question, QuestionInsertForm, QuestionRow};
use crate::store::revisions::NewRevision;
use crate::store::{self, DbConn, write_transaction};

mod listing;

pub use crate::store::questions::QuestionSort;
pub use listing::{ListQuery, list};

#[derive(Debug, Clone, Serialize)]
pub struct CategoryRef {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClosedInfo {
    pub reason: Option<String>,
    #[serde(with = "rfc3339")]
    pub closed_at: NaiveDateTime,
    /// The canonical question when closed as a duplicate.
    pub duplicate_of: Option<i64>,
}

/// A question in a list.
#[derive(Debug, Serialize)]
pub struct QuestionSummary {
    pub id: i64,
    pub title: String,
    pub excerpt: String,
    pub category: CategoryRef,
    pub tags: Vec<String>,
    pub area: Option<String>,
    pub author: UserView,
    pub score: i32,
    pub answer_count: i32,
    pub view_count: i64,
    pub status: String,
    pub accepted_answer_id: Option<i64>,
    pub closed: bool,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "rfc3339")]
    pub last_activity_at: NaiveDateTime,
}

/// A question page: the question, its answers in reading order, comments
/// and the caller's own votes.
#[derive(Debug, Serialize)]
pub struct QuestionDetail {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub body_html: String,
    pub category: CategoryRef,
    pub tags: Vec<String>,
    pub area: Option<String>,
    pub author: UserView,
    pub score: i32,
    pub answer_count: i32,
    pub view_count: i64,
    pub status: String,
    pub accepted_answer_id: Option<i64>,
    pub closed: Option<ClosedInfo>,
    pub locked: bool,
    /// Only moderators (and, for hidden posts, the author) see these true.
    pub hidden: bool,
    pub deleted: bool,
    pub my_vote: Option<i32>,
    pub following: Option<bool>,
    /// The council case, when the question was escalated (Open311).
    pub escalation: Option<EscalationSummary>,
    pub comments: Vec<CommentView>,
    pub answers: Vec<AnswerView>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: NaiveDateTime,
    #[serde(with = "rfc3339")]
    pub last_activity_at: NaiveDateTime,
}

impl QuestionDetail {
    /// What a counted view of this page records about the question.
    pub fn facts(&self) -> QuestionFacts {
        QuestionFacts {
            solved: self.status == "solved",
            category: self.category.slug.clone(),
            area: self.area.clone(),
            author_id: self.author.id,
        }
    }
}

pub struct NewQuestion {
    pub title: Title,
    pub body: Body,
    pub category: String,
    pub tags: Vec<TagName>,
    pub area: Option<String>,
    /// Escalate to the council if unanswered, and/or share the asker's
    /// email with a case (Open311).
    pub escalation: Option<AutoEscalation>,
}

/// Asks a question: stores it with its first revision, tags and category
/// counts, makes the asker follow it and enqueues it for search.
pub fn create(conn: &mut DbConn, ctx: &Context, caller: &Caller, new: NewQuestion) -> ApiResult<i64> {
    let now = ctx.clock.now();
    let rules = ctx.rules(conn)?;
    caller.require(&rules.privileges, Privilege::Ask)?;
    new_accounts::check_new_post(conn, &rules.new_accounts, caller, PostType::Question, new.body.as_str(), now)?;
    let body_html = markdown::render(new.body.as_str());
    write_transaction(conn, |conn| {
        let category = store::categories::find_by_slug(conn, &new.category)?
            .ok_or_else(|| ApiError::validation("category", "no such category"))?;
        let tag_ids = categories::resolve_tags(conn, caller, &rules.privileges, &new.tags, now)?;
        let record = QuestionRecord {
            author_id: caller.id,
            category_id: category.id,
            title: new.title.as_str(),
            body: new.body.as_str(),
            body_html: &body_html,
            area: new.area.as_deref(),
            tag_ids: &tag_ids,
            tag_list: &tag_list(&new.tags),
            at: now,
        };
        let id = insert(conn, &record)?;
        deflection::record_action(conn, "question_posted", caller, id, None, now)?;
        webhooks::events::question_created(conn, id, now)?;
        let text = format!("{}\n{}", new.title.as_str(), new.body.as_str());
        posts::personal_info::guard(conn, Target::Question(id), &text, now)?;
        let experts = experts::opted_in(conn, &rules.experts, category.id)?;
        let event = Event {
            kind: Kind::ExpertQuestion,
            question_id: id,
            answer_id: None,
            comment_id: None,
            actor_id: Some(caller.id),
            at: now,
        };
        notifications::notify(conn, &experts, event)?;
        if let Some(auto) = &new.escalation {
            escalation::schedule(conn, ctx, id, auto, now)?;
        }
        Ok(id)
    })
}

/// A question to store, already validated and authorised.
pub struct QuestionRecord<'a> {
    pub author_id: i64,
    pub category_id: i64,
    pub title: &'a str,
    pub body: &'a str,
    pub body_html: &'a str,
    pub area: Option<&'a str>,
    pub tag_ids: &'a [i64],
    /// Space-separated tag names, for the revision.
    pub tag_list: &'a str,
    pub at: NaiveDateTime,
}

/// Stores a question inside the caller's transaction: the row, tags and
/// counts, the first revision, the asker's follow and the outbox entry.
/// Shared by the API, the demo seeder and importers.
pub fn insert(conn: &mut DbConn, r: &QuestionRecord<'_>) -> ApiResult<i64> {
    let question = store::questions::insert(
        conn,
        &QuestionInsertForm {
            author_id: r.author_id,
            category_id: r.category_id,
            title: r.title,
            body: r.body,
            body_html: r.body_html,
            area: r.area,
            created_at: r.at,
            updated_at: r.at,
            last_activity_at: r.at,
        },
    )?;
    store::tags::set_for_question(conn, question.id, r.tag_ids)?;
    store::tags::adjust_counts(conn, r.tag_ids, 1)?;
    store::categories::adjust_count(conn, r.category_id, 1)?;
    store::revisions::insert_original(
        conn,
        &NewRevision {
            post_type: PostType::Question.as_str(),
            post_id: question.id,
            editor_id: r.author_id,
            title: Some(r.title),
            body: r.body,
            tags: Some(r.tag_list),
            created_at: r.at,
        },
    )?;
    store::follows::follow(conn, r.author_id, question.id, r.at)?;
    store::outbox::enqueue(conn, question.id, "question_created", r.at)?;
    Ok(question.id)
}

pub fn tag_list(tags: &[TagName]) -> String {
    tags.iter().map(TagName::as_str).collect::<Vec<_>>().join(" ")
}

/// The question page, in a fixed number of queries however many answers
/// and comments it has.
pub fn detail(conn: &mut DbConn, viewer: Option<&Caller>, id: i64) -> ApiResult<QuestionDetail> {
    store::read_snapshot(conn, |conn| load_detail(conn, viewer, id))
}

fn load_detail(conn: &mut DbConn, viewer: Option<&Caller>, id: i64) -> ApiResult<QuestionDetail> {
    let row = store::questions::find_row(conn, id)?.ok_or_else(|| ApiError::not_found("question"))?;
    let q = &row.question;
    if !posts::can_see(viewer, q.author_id, q.hidden_at, q.deleted_at) {
        return Err(ApiError::not_found("question"));
    }
    let tags = store::tags::names_for_question(conn, id)?;
    let is_moderator = viewer.is_some_and(Caller::is_moderator);
    let answer_rows: Vec<_> = store::answers::for_question(conn, id, is_moderator)?
        .into_iter()
        .filter(|r| posts::can_see(viewer, r.answer.author_id, r.answer.hidden_at, r.answer.deleted_at))
        .collect();
    let comment_rows: Vec<_> = store::comments::for_question(conn, id)?
        .into_iter()
        .filter(|r| posts::can_see(viewer, r.comment.author_id, r.comment.hidden_at, r.comment.deleted_at))
        .collect();
    let mut user_ids = vec![row.author.id];
    user_ids.extend(answer_rows.iter().map(|r| r.author.id));
    user_ids.extend(comment_rows.iter().map(|r| r.author.id));
    user_ids.extend(answer_rows.iter().filter_map(|r| r.answer.verified_by));
    let users = UserViews::load(conn, &user_ids)?;
    let votes = MyVotes::load(conn, viewer, id, &answer_rows.iter().map(|r| r.answer.id).collect::<Vec<_>>())?;
    let following = match viewer {
        Some(v) => Some(store::follows::is_following(conn, v.id, id)?),
        None => None,
    };
    let verifier_ids: Vec<i64> = answer_rows.iter().filter_map(|r| r.answer.verified_by).collect();
    let verifiers = answers::Verifiers::load(conn, &users, &verifier_ids)?;

    let mut comments_by_answer: HashMap<Option<i64>, Vec<CommentView>> = HashMap::new();
    for r in comment_rows {
        comments_by_answer.entry(r.comment.answer_id).or_default().push(CommentView {
            id: r.comment.id,
            body: r.comment.body,
            body_html: r.comment.body_html,
            author: users.view(r.author),
            created_at: r.comment.created_at,
        });
    }
    let accepted = row.question.accepted_answer_id;
    let mut answer_views: Vec<AnswerView> = answer_rows
        .into_iter()
        .map(|r| {
            let comments = comments_by_answer.remove(&Some(r.answer.id)).unwrap_or_default();
            // A missing vote reads as 0 for a signed-in reader, as on the
            // question and on the answer's own endpoints.
            let my_vote = viewer.map(|_| votes.answers.get(&r.answer.id).copied().unwrap_or(0));
            answers::view(r, &users, &verifiers, accepted, my_vote, comments)
        })
        .collect();
    answers::sort_for_reading(&mut answer_views);
    let question_comments = comments_by_answer.remove(&None).unwrap_or_default();
    let escalation = escalation::summary(conn, id)?;
    let extras = Extras { my_vote: votes.question, following, escalation };
    Ok(detail_view(row, &users, tags, extras, question_comments, answer_views))
}

/// What the question page adds about the viewer and the council.
struct Extras {
    my_vote: Option<i32>,
    following: Option<bool>,
    escalation: Option<EscalationSummary>,
}

fn detail_view(
    row: QuestionRow,
    users: &UserViews,
    tags: Vec<String>,
    extras: Extras,
    comments: Vec<CommentView>,
    answers: Vec<AnswerView>,
) -> QuestionDetail {
    let Extras { my_vote, following, escalation } = extras;
    let q = row.question;
    let closed = q.closed_at.map(|closed_at| ClosedInfo {
        reason: q.close_reason.clone(),
        closed_at,
        duplicate_of: q.duplicate_of,
    });
    QuestionDetail {
        id: q.id,
        title: q.title,
        body: q.body,
        body_html: q.body_html,
        category: CategoryRef { slug: row.category_slug, name: row.category_name },
        tags,
        area: q.area,
        author: users.view(row.author),
        score: q.score,
        answer_count: q.answer_count,
        view_count: q.view_count,
        status: q.status,
        accepted_answer_id: q.accepted_answer_id,
        closed,
        locked: q.locked_at.is_some(),
        hidden: q.hidden_at.is_some(),
        deleted: q.deleted_at.is_some(),
        my_vote,
        following,
        escalation,
        comments,
        answers,
        created_at: q.created_at,
        updated_at: q.updated_at,
        last_activity_at: q.last_activity_at,
    }
}

/// The viewer's votes on a question and its answers (two queries).
struct MyVotes {
    question: Option<i32>,
    answers: HashMap<i64, i32>,
}

impl MyVotes {
    fn load(conn: &mut DbConn, viewer: Option<&Caller>, question_id: i64, answer_ids: &[i64]) -> ApiResult<MyVotes> {
        let Some(viewer) = viewer else {
            return Ok(MyVotes { question: None, answers: HashMap::new() });
        };
        let question = store::votes::of_voter(conn, viewer.id, PostType::Question.as_str(), &[question_id])?;
        let answers = store::votes::of_voter(conn, viewer.id, PostType::Answer.as_str(), answer_ids)?;
        // A missing vote reads as 0 for a logged-in viewer.
        Ok(MyVotes {
            question: Some(question.first().map(|&(_, v)| v).unwrap_or(0)),
            answers: answers.into_iter().collect(),
        })
    }
}

/// An edit of a question; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct QuestionEdit {
    pub title: Option<Title>,
    pub body: Option<Body>,
    pub category: Option<String>,
    pub tags: Option<Vec<TagName>>,
    pub area: Option<Option<String>>,
    /// Hide every earlier revision's text from all but admins (moderators
    /// removing personal information).
    pub redact: bool,
}

/// Edits a question, keeping a revision of the result. Locked questions
/// can only be edited by moderators.
pub fn edit(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64, edit: QuestionEdit) -> ApiResult<()> {
    let now = ctx.clock.now();
    let body_html = edit.body.as_ref().map(|b| markdown::render(b.as_str()));
    write_transaction(conn, |conn| {
        let question = posts::visible_question(conn, Some(caller), id)?;
        let rules = ctx.rules(conn)?;
        posts::require_editor(caller, &rules.privileges, question.author_id)?;
        if let Some(body) = &edit.body {
            new_accounts::check_links(&rules.new_accounts, caller, body.as_str(), now)?;
        }
        if edit.redact {
            caller.require_moderator()?;
        }
        if question.locked_at.is_some() && !caller.is_moderator() {
            return Err(ApiError::Conflict {
                code: ErrorCode::QuestionLocked,
                detail: "the question is locked".into(),
            });
        }
        let category_id = match &edit.category {
            Some(slug) => Some(
                store::categories::find_by_slug(conn, slug)?
                    .ok_or_else(|| ApiError::validation("category", "no such category"))?
                    .id,
            ),
            None => None,
        };
        let old_tag_ids = store::tags::ids_of_question(conn, id)?;
        let new_tag_ids = match &edit.tags {
            Some(tags) => Some(categories::resolve_tags(conn, caller, &rules.privileges, tags, now)?),
            None => None,
        };
        let form = store::questions::QuestionUpdateForm {
            title: edit.title.as_ref().map(|t| t.as_str().to_owned()),
            body: edit.body.as_ref().map(|b| b.as_str().to_owned()),
            body_html: body_html.clone(),
            category_id,
            area: edit.area.clone(),
            updated_at: Some(now),
            last_activity_at: Some(now),
        };
        let updated = store::questions::update(conn, id, &form)?;
        if let Some(category_id) = category_id.filter(|&c| c != question.category_id) {
            store::categories::adjust_count(conn, question.category_id, -1)?;
            store::categories::adjust_count(conn, category_id, 1)?;
        }
        if let Some(new_tag_ids) = &new_tag_ids {
            store::tags::adjust_counts(conn, &old_tag_ids, -1)?;
            store::tags::set_for_question(conn, id, new_tag_ids)?;
            store::tags::adjust_counts(conn, new_tag_ids, 1)?;
        }
        let tags = store::tags::names_for_questions(conn, &[id])?
            .into_iter()
            .map(|(_, name)| name)
            .collect::<Vec<_>>()
            .join(" ");
        store::revisions::append(
            conn,
            &NewRevision {
                post_type: PostType::Question.as_str(),
                post_id: id,
                editor_id: caller.id,
                title: Some(&updated.title),
                body: &updated.body,
                tags: Some(&tags),
                created_at: now,
            },
        )?;
        store::outbox::enqueue(conn, id, "question_edited", now)?;
        posts::personal_info::guard(conn, Target::Question(id), &format!("{}\n{}", updated.title, updated.body), now)?;
        if edit.redact {
            revisions::redact_history(conn, PostType::Question, id, now)?;
        }
        posts::moderator_edits::record_moderator_edit(
            conn,
            caller,
            Target::Question(id),
            question.author_id,
            edit.redact,
            now,
        )
    })
}

/// Soft-deletes a question: its author while it has no answers, or a
/// moderator. The row stays for audit; it vanishes from lists and search.
pub fn delete(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64) -> ApiResult<()> {
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let question = posts::visible_question(conn, Some(caller), id)?;
        if question.deleted_at.is_some() {
            return Ok(());
        }
        if !caller.is_moderator() {
            if question.author_id != caller.id {
                return Err(ApiError::forbidden("only the author or a moderator may delete this question"));
            }
            if question.answer_count > 0 {
                return Err(ApiError::Conflict {
                    code: ErrorCode::QuestionHasAnswers,
                    detail: "a question with answers can only be deleted by a moderator".into(),
                });
            }
        }
        soft_delete(conn, &question, now)?;
        posts::moderator_edits::record_moderator_delete(conn, caller, Target::Question(id), question.author_id, now)
    })
}

/// Marks a question deleted and takes it out of counts and search (the
/// API's delete and moderation both use this).
pub fn soft_delete(conn: &mut DbConn, question: &Question, now: NaiveDateTime) -> ApiResult<()> {
    if question.deleted_at.is_some() {
        return Ok(());
    }
    store::questions::set_deleted(conn, question.id, Some(now))?;
    if question.hidden_at.is_none() {
        store::categories::adjust_count(conn, question.category_id, -1)?;
        let tag_ids = store::tags::ids_of_question(conn, question.id)?;
        store::tags::adjust_counts(conn, &tag_ids, -1)?;
    }
    store::outbox::enqueue(conn, question.id, "question_deleted", now)?;
    Ok(())
}

pub fn follow(conn: &mut DbConn, caller: &Caller, id: i64, now: NaiveDateTime) -> ApiResult<()> {
    posts::visible_question(conn, Some(caller), id)?;
    write_transaction(conn, |conn| Ok(store::follows::follow(conn, caller.id, id, now)?))
}

pub fn unfollow(conn: &mut DbConn, caller: &Caller, id: i64) -> ApiResult<()> {
    posts::visible_question(conn, Some(caller), id)?;
    write_transaction(conn, |conn| Ok(store::follows::unfollow(conn, caller.id, id)?))
}
