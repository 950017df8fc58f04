//! Per-user, per-category statistics: reputation earned there (kept by
//! the ledger) and accepted / solved answers (recounted on every change),
//! plus the leaderboard and expert queries that read them.

use diesel::prelude::*;

use super::DbConn;
use super::schema::{answers, questions, user_category_stats, users};
use super::users::UserRef;

/// Recounts a user's accepted and solved (accepted or council-verified)
/// answers in a category, and their accepted answers overall.
pub fn recount_answers(conn: &mut DbConn, user_id: i64, category_id: i64) -> QueryResult<()> {
    let visible = answers::table
        .inner_join(questions::table)
        .filter(answers::author_id.eq(user_id))
        .filter(answers::deleted_at.is_null())
        .filter(answers::hidden_at.is_null())
        .filter(questions::deleted_at.is_null())
        .filter(questions::category_id.eq(category_id));
    let accepted_here = || questions::accepted_answer_id.eq(answers::id.nullable());
    let accepted: i64 = visible.filter(accepted_here()).count().get_result(conn)?;
    let solved: i64 =
        visible.filter(accepted_here().or(answers::verified_at.is_not_null())).count().get_result(conn)?;
    super::reputation::ensure_stats_row(conn, user_id, category_id)?;
    diesel::update(user_category_stats::table.find((user_id, category_id)))
        .set((
            user_category_stats::accepted_answers.eq(accepted as i32),
            user_category_stats::solved_answers.eq(solved as i32),
        ))
        .execute(conn)?;
    let total: Option<i64> = user_category_stats::table
        .filter(user_category_stats::user_id.eq(user_id))
        .select(diesel::dsl::sum(user_category_stats::accepted_answers))
        .first(conn)?;
    diesel::update(users::table.find(user_id))
        .set(users::accepted_answers.eq(total.unwrap_or(0) as i32))
        .execute(conn)
        .map(|_| ())
}

/// (category id, reputation, solved answers) of a user's categories.
pub fn for_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<(i64, i32, i32)>> {
    user_category_stats::table
        .filter(user_category_stats::user_id.eq(user_id))
        .select((
            user_category_stats::category_id,
            user_category_stats::reputation,
            user_category_stats::solved_answers,
        ))
        .load(conn)
}

/// What the leaderboard ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    Reputation,
    Accepted,
}

/// A leaderboard row: the user and the (reputation, accepted answers) in
/// scope (the whole site or one category).
pub type Ranked = (UserRef, i32, i32);

/// Users by reputation or accepted answers, best first, ties by id, after
/// the keyset `(value, id)`.
pub fn leaderboard(
    conn: &mut DbConn,
    ranking: Ranking,
    category_id: Option<i64>,
    after: Option<(i32, i64)>,
    limit: i64,
) -> QueryResult<Vec<Ranked>> {
    match category_id {
        None => site_leaderboard(conn, ranking, after, limit),
        Some(category_id) => category_leaderboard(conn, ranking, category_id, after, limit),
    }
}

fn site_leaderboard(
    conn: &mut DbConn,
    ranking: Ranking,
    after: Option<(i32, i64)>,
    limit: i64,
) -> QueryResult<Vec<Ranked>> {
    let mut query =
        users::table.select((UserRef::as_select(), users::reputation, users::accepted_answers)).into_boxed();
    query = match (ranking, after) {
        (Ranking::Reputation, Some((v, id))) => {
            query.filter(users::reputation.lt(v).or(users::reputation.eq(v).and(users::id.gt(id))))
        }
        (Ranking::Accepted, Some((v, id))) => {
            query.filter(users::accepted_answers.lt(v).or(users::accepted_answers.eq(v).and(users::id.gt(id))))
        }
        (_, None) => query,
    };
    query = match ranking {
        Ranking::Reputation => query.order((users::reputation.desc(), users::id.asc())),
        Ranking::Accepted => query.order((users::accepted_answers.desc(), users::id.asc())),
    };
    query.limit(limit).load(conn)
}

fn category_leaderboard(
    conn: &mut DbConn,
    ranking: Ranking,
    category_id: i64,
    after: Option<(i32, i64)>,
    limit: i64,
) -> QueryResult<Vec<Ranked>> {
    use user_category_stats as s;
    let mut query = s::table
        .inner_join(users::table)
        .filter(s::category_id.eq(category_id))
        .select((UserRef::as_select(), s::reputation, s::accepted_answers))
        .into_boxed();
    query = match (ranking, after) {
        (Ranking::Reputation, Some((v, id))) => {
            query.filter(s::reputation.lt(v).or(s::reputation.eq(v).and(s::user_id.gt(id))))
        }
        (Ranking::Accepted, Some((v, id))) => {
            query.filter(s::accepted_answers.lt(v).or(s::accepted_answers.eq(v).and(s::user_id.gt(id))))
        }
        (_, None) => query,
    };
    query = match ranking {
        Ranking::Reputation => query.filter(s::reputation.gt(0)).order((s::reputation.desc(), s::user_id.asc())),
        Ranking::Accepted => {
            query.filter(s::accepted_answers.gt(0)).order((s::accepted_answers.desc(), s::user_id.asc()))
        }
    };
    query.limit(limit).load(conn)
}

/// The experts of a category by the rule, best first, after `(reputation,
/// user id)`; with `opted_in`, only those who asked to hear of new
/// questions.
pub fn experts(
    conn: &mut DbConn,
    category_id: i64,
    min_solved: i32,
    min_reputation: i32,
    opted_in: bool,
    after: Option<(i32, i64)>,
    limit: i64,
) -> QueryResult<Vec<(UserRef, i32, i32)>> {
    use user_category_stats as s;
    let mut query = s::table
        .inner_join(users::table)
        .filter(s::category_id.eq(category_id))
        .filter(s::solved_answers.ge(min_solved))
        .filter(s::reputation.ge(min_reputation))
        .select((UserRef::as_select(), s::reputation, s::solved_answers))
        .into_boxed();
    if opted_in {
        query = query.filter(users::expert_notifications.eq(true));
    }
    if let Some((v, id)) = after {
        query = query.filter(s::reputation.lt(v).or(s::reputation.eq(v).and(s::user_id.gt(id))));
    }
    query.order((s::reputation.desc(), s::user_id.asc())).limit(limit).load(conn)
}
