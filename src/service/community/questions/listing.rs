//! GET /questions: the filters, the keyset cursors of each order, and the
//! summaries a list shows.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::{CategoryRef, QuestionSummary};
use crate::error::ApiResult;
use crate::service::Context;
use crate::service::markdown;
use crate::service::pagination::{self, KeyPosition, Page};
use crate::service::posts::UserViews;
use crate::store::questions::{Keyset, Question, QuestionFilter, QuestionRow, QuestionSort};
use crate::store::{self, DbConn};

/// The filters and order of GET /questions.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub category: Option<String>,
    pub tag: Option<String>,
    pub area: Option<String>,
    pub status: Option<String>,
    pub author: Option<i64>,
    pub sort: Option<QuestionSort>,
    pub cursor: Option<String>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, ctx: &Context, query: ListQuery) -> ApiResult<Page<QuestionSummary>> {
    let sort = query.sort.unwrap_or(QuestionSort::Newest);
    let Some(filter) = resolve_filter(conn, &query)? else {
        // An unknown category or tag filters everything out.
        return Ok(Page { items: Vec::new(), next_cursor: None, has_more: false });
    };
    let scope = format!("questions:{sort:?}");
    let after = match &query.cursor {
        Some(cursor) => Some(decode_keyset(ctx, &scope, sort, cursor)?),
        None => None,
    };
    let rows = store::questions::list(conn, &filter, sort, after, query.limit + 1)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.question.id).collect();
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for (question_id, name) in store::tags::names_for_questions(conn, &ids)? {
        tags.entry(question_id).or_default().push(name);
    }
    let users = UserViews::load(conn, &rows.iter().map(|r| r.author.id).collect::<Vec<_>>())?;
    Ok(pagination::page(
        rows,
        query.limit,
        |r| encode_keyset(ctx, &scope, sort, &r.question),
        |r| {
            let question_tags = tags.remove(&r.question.id).unwrap_or_default();
            summary(r, &users, question_tags)
        },
    ))
}

fn resolve_filter(conn: &mut DbConn, query: &ListQuery) -> ApiResult<Option<QuestionFilter>> {
    let mut filter = QuestionFilter {
        area: query.area.clone(),
        status: query.status.clone(),
        author_id: query.author,
        ..QuestionFilter::default()
    };
    if let Some(slug) = &query.category {
        match store::categories::find_by_slug(conn, slug)? {
            Some(category) => filter.category_id = Some(category.id),
            None => return Ok(None),
        }
    }
    if let Some(tag) = &query.tag {
        match store::tags::find_by_name(conn, tag)? {
            Some(tag) => filter.tag_id = Some(tag.id),
            None => return Ok(None),
        }
    }
    Ok(Some(filter))
}

fn encode_keyset(ctx: &Context, scope: &str, sort: QuestionSort, q: &Question) -> String {
    match sort {
        QuestionSort::Newest => ctx.cursors.encode(scope, &KeyPosition { k: q.created_at, id: q.id }),
        QuestionSort::Active => ctx.cursors.encode(scope, &KeyPosition { k: q.last_activity_at, id: q.id }),
        QuestionSort::Votes => ctx.cursors.encode(scope, &KeyPosition { k: q.score, id: q.id }),
    }
}

fn decode_keyset(ctx: &Context, scope: &str, sort: QuestionSort, cursor: &str) -> ApiResult<Keyset> {
    Ok(match sort {
        QuestionSort::Newest | QuestionSort::Active => {
            let p: KeyPosition<NaiveDateTime> = ctx.cursors.decode(scope, cursor)?;
            Keyset::Time(p.k, p.id)
        }
        QuestionSort::Votes => {
            let p: KeyPosition<i32> = ctx.cursors.decode(scope, cursor)?;
            Keyset::Score(p.k, p.id)
        }
    })
}

fn summary(row: QuestionRow, users: &UserViews, tags: Vec<String>) -> QuestionSummary {
    let q = row.question;
    QuestionSummary {
        id: q.id,
        excerpt: markdown::excerpt(&q.body, 200),
        title: q.title,
        category: CategoryRef { slug: row.category_slug, name: row.category_name },
        tags,
        area: q.area,
        author: users.view(row.author),
        score: q.score,
        answer_count: q.answer_count,
        view_count: q.view_count,
        status: q.status,
        accepted_answer_id: q.accepted_answer_id,
        closed: q.closed_at.is_some(),
        created_at: q.created_at,
        last_activity_at: q.last_activity_at,
    }
}
