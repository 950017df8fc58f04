//! Experts: a user is `expert_in` a category with enough accepted
//! or verified answers and enough reputation earned there (the settings'
//! expert rule). Also the leaderboard and the per-category statistics that
//! answers keep up to date.

use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::service::pagination::{self, CursorCodec, KeyPosition, Page};
use crate::service::posts::{UserView, UserViews};
use crate::service::reputation::badges;
use crate::service::settings::ExpertRule;
pub use crate::store::stats::Ranking;
use crate::store::{self, DbConn};

/// Recounts a user's accepted and solved answers in a category (after an
/// acceptance, verification or deletion) and awards what they earned.
pub fn refresh_answer_stats(
    conn: &mut DbConn,
    user_id: i64,
    category_id: i64,
    at: chrono::NaiveDateTime,
) -> ApiResult<()> {
    store::stats::recount_answers(conn, user_id, category_id)?;
    let accepted = store::users::find(conn, user_id)?.map_or(0, |u| u.accepted_answers);
    badges::after_acceptance(conn, user_id, accepted, at)
}

/// The slugs of the categories a user is an expert in.
pub fn expert_in(conn: &mut DbConn, rule: &ExpertRule, user_id: i64) -> ApiResult<Vec<String>> {
    let mut slugs = Vec::new();
    for (category_id, reputation, solved) in store::stats::for_user(conn, user_id)? {
        if solved >= rule.min_solved_answers && reputation >= rule.min_category_reputation {
            slugs.push(store::categories::find(conn, category_id)?.slug);
        }
    }
    slugs.sort();
    Ok(slugs)
}

#[derive(Debug, Serialize)]
pub struct ExpertView {
    pub user: UserView,
    /// Reputation earned in the category.
    pub category_reputation: i32,
    /// Accepted or council-verified answers in the category.
    pub solved_answers: i32,
}

pub fn list(
    conn: &mut DbConn,
    codec: &CursorCodec,
    rule: &ExpertRule,
    slug: &str,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<ExpertView>> {
    let category = store::categories::find_by_slug(conn, slug)?.ok_or_else(|| ApiError::not_found("category"))?;
    let scope = format!("experts:{}", category.id);
    let after: Option<KeyPosition<i32>> = cursor.map(|c| codec.decode(&scope, c)).transpose()?;
    let rows = store::stats::experts(
        conn,
        category.id,
        rule.min_solved_answers,
        rule.min_category_reputation,
        false,
        after.map(|p| (p.k, p.id)),
        limit + 1,
    )?;
    let users = UserViews::load(conn, &rows.iter().map(|r| r.0.id).collect::<Vec<_>>())?;
    Ok(pagination::page(
        rows,
        limit,
        |(user, reputation, _)| codec.encode(&scope, &KeyPosition { k: *reputation, id: user.id }),
        |(user, category_reputation, solved_answers)| ExpertView {
            user: users.view(user),
            category_reputation,
            solved_answers,
        },
    ))
}

/// The experts of a category who asked to hear about new questions there
/// (at most 50 per question).
pub fn opted_in(conn: &mut DbConn, rule: &ExpertRule, category_id: i64) -> ApiResult<Vec<i64>> {
    let rows = store::stats::experts(
        conn,
        category_id,
        rule.min_solved_answers,
        rule.min_category_reputation,
        true,
        None,
        50,
    )?;
    Ok(rows.into_iter().map(|(user, ..)| user.id).collect())
}

#[derive(Debug, Serialize)]
pub struct RankedUser {
    pub user: UserView,
    /// Reputation in scope: the whole site, or earned in the category.
    pub reputation: i32,
    /// Accepted answers in scope.
    pub accepted_answers: i32,
}

/// GET /users: the leaderboard, site-wide or in a category.
pub fn leaderboard(
    conn: &mut DbConn,
    codec: &CursorCodec,
    ranking: Ranking,
    category: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<RankedUser>> {
    let category_id = match category {
        Some(slug) => match store::categories::find_by_slug(conn, slug)? {
            Some(category) => Some(category.id),
            // No category, no ranking in it; but a cursor is still checked
            // (none was ever issued for it).
            None => {
                if let Some(cursor) = cursor {
                    codec.decode::<KeyPosition<i32>>(&format!("users:{ranking:?}:unknown"), cursor)?;
                }
                return Ok(Page { items: Vec::new(), next_cursor: None, has_more: false });
            }
        },
        None => None,
    };
    let scope = format!("users:{ranking:?}:{category_id:?}");
    let after: Option<KeyPosition<i32>> = cursor.map(|c| codec.decode(&scope, c)).transpose()?;
    let rows = store::stats::leaderboard(conn, ranking, category_id, after.map(|p| (p.k, p.id)), limit + 1)?;
    let users = UserViews::load(conn, &rows.iter().map(|r| r.0.id).collect::<Vec<_>>())?;
    let key = move |r: &(store::users::UserRef, i32, i32)| match ranking {
        Ranking::Reputation => r.1,
        Ranking::Accepted => r.2,
    };
    Ok(pagination::page(
        rows,
        limit,
        |r| codec.encode(&scope, &KeyPosition { k: key(r), id: r.0.id }),
        |(user, reputation, accepted_answers)| RankedUser { user: users.view(user), reputation, accepted_answers },
    ))
}
