//! The derived deflection state's rows — per visitor and question, per
//! contact intent, per self-service session and per visitor-day — read,
//! found by what moves them, and saved (`store::deflection` re-exports
//! this). Times are Unix seconds.

use diesel::prelude::*;

use super::DbConn;
use super::schema::{
    deflection_intents as di, deflection_pairs as dp, deflection_sessions as ds, deflection_visitor_days as dv,
};

/// One visitor and question.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = dp, primary_key(visitor_id, question_id), treat_none_as_null = true)]
pub struct Pair {
    pub visitor_id: String,
    pub question_id: i64,
    /// The category and the area of the pair's earliest events that had one
    /// ('' for none), and those events' times.
    pub category: String,
    pub category_at: Option<i64>,
    pub area: String,
    pub area_at: Option<i64>,
    /// The first view of the question while it was solved.
    pub solved_view_at: Option<i64>,
    /// The first contact attempt (intent or submission) at or after it.
    pub first_attempt_after_view_at: Option<i64>,
    /// The latest answer to "Did this answer your question?" (by time, then
    /// arrival), and when.
    pub helpful: Option<String>,
    pub helpful_at: Option<i64>,
    pub helpful_event: Option<i64>,
    /// The latest answer to "Would you otherwise have contacted us?".
    pub would: Option<String>,
    pub would_at: Option<i64>,
    pub would_event: Option<i64>,
    /// The earliest contact intent the visitor confirmed resolved with it.
    pub intent_confirmed_at: Option<i64>,
    /// When the pair became a confirmed deflection, and the first contact
    /// submitted by the visitor at or after that.
    pub confirmed_at: Option<i64>,
    pub first_contact_after_confirm_at: Option<i64>,
}

impl Pair {
    pub fn new(visitor: &str, question: i64, category: &str) -> Pair {
        Pair {
            visitor_id: visitor.to_owned(),
            question_id: question,
            category: category.to_owned(),
            category_at: None,
            area: String::new(),
            area_at: None,
            solved_view_at: None,
            first_attempt_after_view_at: None,
            helpful: None,
            helpful_at: None,
            helpful_event: None,
            would: None,
            would_at: None,
            would_event: None,
            intent_confirmed_at: None,
            confirmed_at: None,
            first_contact_after_confirm_at: None,
        }
    }
}

/// One contact intent.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = di, primary_key(intent_id), treat_none_as_null = true)]
pub struct Intent {
    pub intent_id: String,
    pub visitor_id: String,
    /// As for pairs: from the intent's earliest events with one.
    pub category: String,
    pub category_at: Option<i64>,
    pub area: String,
    pub area_at: Option<i64>,
    /// The hold-out arm, when /questions/similar assigned one.
    pub arm: Option<String>,
    pub started_at: Option<i64>,
    pub suggestions_shown: bool,
    /// The first suggestion clicked, and which question it was.
    pub clicked_at: Option<i64>,
    pub clicked_question_id: Option<i64>,
    /// The first "this solved it, I won't contact you", and with which
    /// question.
    pub confirmed_at: Option<i64>,
    pub confirmed_question_id: Option<i64>,
    pub submitted_at: Option<i64>,
    /// The visitor's first submitted contact (by any intent, or none) at or
    /// after the start, and after the confirmation.
    pub first_contact_after_start_at: Option<i64>,
    pub first_contact_after_confirm_at: Option<i64>,
    /// The visitor's last self-service event before the start.
    pub last_self_service_before_start_at: Option<i64>,
}

impl Intent {
    pub fn new(intent: &str, visitor: &str, category: &str, arm: Option<String>) -> Intent {
        Intent {
            intent_id: intent.to_owned(),
            visitor_id: visitor.to_owned(),
            category: category.to_owned(),
            category_at: None,
            area: String::new(),
            area_at: None,
            arm,
            started_at: None,
            suggestions_shown: false,
            clicked_at: None,
            clicked_question_id: None,
            confirmed_at: None,
            confirmed_question_id: None,
            submitted_at: None,
            first_contact_after_start_at: None,
            first_contact_after_confirm_at: None,
            last_self_service_before_start_at: None,
        }
    }
}

/// One self-service session.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = ds, primary_key(session_key), treat_none_as_null = true)]
pub struct Session {
    pub session_key: String,
    pub visitor_id: String,
    /// As for pairs: from the session's earliest events with one.
    pub category: String,
    pub category_at: Option<i64>,
    pub area: String,
    pub area_at: Option<i64>,
    pub started_at: i64,
    pub helpful_yes: bool,
}

/// One day on which a visitor served themselves, or submitted a contact,
/// in one report cell: a category and an area, '*' standing for any.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = dv, primary_key(visitor_id, category, area, kind, day), treat_none_as_null = true)]
pub struct VisitorDay {
    pub visitor_id: String,
    pub category: String,
    pub area: String,
    pub kind: String,
    pub day: i64,
    pub previous_day: Option<i64>,
}

pub fn load_pair(conn: &mut DbConn, visitor: &str, question: i64) -> QueryResult<Option<Pair>> {
    dp::table.find((visitor, question)).select(Pair::as_select()).first(conn).optional()
}

/// A visitor's pairs whose `anchor` is at or before `at` and whose
/// first-contact `column` is unset or later: those a contact at `at` moves.
pub fn pairs_moved_by_contact(conn: &mut DbConn, visitor: &str, at: i64, attempt_only: bool) -> QueryResult<Vec<Pair>> {
    let view = dp::solved_view_at
        .le(at)
        .and(dp::first_attempt_after_view_at.is_null().or(dp::first_attempt_after_view_at.gt(at)));
    let confirm = dp::confirmed_at
        .le(at)
        .and(dp::first_contact_after_confirm_at.is_null().or(dp::first_contact_after_confirm_at.gt(at)));
    let query = dp::table.filter(dp::visitor_id.eq(visitor)).select(Pair::as_select());
    if attempt_only { query.filter(view).load(conn) } else { query.filter(view.or(confirm)).load(conn) }
}

pub fn save_pair(conn: &mut DbConn, pair: &Pair, existed: bool) -> QueryResult<()> {
    if existed {
        diesel::update(pair).set(pair).execute(conn)?;
    } else {
        diesel::insert_into(dp::table).values(pair).execute(conn)?;
    }
    Ok(())
}

pub fn load_intent(conn: &mut DbConn, intent: &str) -> QueryResult<Option<Intent>> {
    di::table.find(intent).select(Intent::as_select()).first(conn).optional()
}

/// The arm recorded on an intent: `None` when there is no such intent,
/// `Some(None)` when it has no arm.
pub fn intent_arm(conn: &mut DbConn, intent: &str) -> QueryResult<Option<Option<String>>> {
    di::table.find(intent).select(di::arm).first(conn).optional()
}

/// A visitor's intents that a submitted contact at `at` moves.
pub fn intents_moved_by_contact(conn: &mut DbConn, visitor: &str, at: i64) -> QueryResult<Vec<Intent>> {
    let start = di::started_at
        .le(at)
        .and(di::first_contact_after_start_at.is_null().or(di::first_contact_after_start_at.gt(at)));
    let confirm = di::confirmed_at
        .le(at)
        .and(di::first_contact_after_confirm_at.is_null().or(di::first_contact_after_confirm_at.gt(at)));
    di::table.filter(di::visitor_id.eq(visitor)).filter(start.or(confirm)).select(Intent::as_select()).load(conn)
}

/// A visitor's intents started after `at` whose last self-service before
/// the start is unset or earlier: those a self-service event at `at` moves.
pub fn intents_moved_by_self_service(conn: &mut DbConn, visitor: &str, at: i64) -> QueryResult<Vec<Intent>> {
    di::table
        .filter(di::visitor_id.eq(visitor))
        .filter(di::started_at.gt(at))
        .filter(di::last_self_service_before_start_at.is_null().or(di::last_self_service_before_start_at.lt(at)))
        .select(Intent::as_select())
        .load(conn)
}

/// Whether a visitor has started any contact intent.
pub fn has_intents(conn: &mut DbConn, visitor: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(di::table.filter(di::visitor_id.eq(visitor)))).get_result(conn)
}

/// The earliest time a visitor's intents were confirmed resolved with a
/// question.
pub fn earliest_intent_confirmation(conn: &mut DbConn, visitor: &str, question: i64) -> QueryResult<Option<i64>> {
    di::table
        .filter(di::visitor_id.eq(visitor))
        .filter(di::confirmed_question_id.eq(question))
        .select(diesel::dsl::min(di::confirmed_at))
        .first(conn)
}

pub fn save_intent(conn: &mut DbConn, intent: &Intent, existed: bool) -> QueryResult<()> {
    if existed {
        diesel::update(intent).set(intent).execute(conn)?;
    } else {
        diesel::insert_into(di::table).values(intent).execute(conn)?;
    }
    Ok(())
}

pub fn load_session(conn: &mut DbConn, key: &str) -> QueryResult<Option<Session>> {
    ds::table.find(key).select(Session::as_select()).first(conn).optional()
}

pub fn save_session(conn: &mut DbConn, session: &Session, existed: bool) -> QueryResult<()> {
    if existed {
        diesel::update(session).set(session).execute(conn)?;
    } else {
        diesel::insert_into(ds::table).values(session).execute(conn)?;
    }
    Ok(())
}

/// A visitor's days of one kind in the cells that pair either category
/// with either area (a handful per visitor and cell), by day. Two values
/// each rather than a list: a list of any length (`IN`) is prepared again
/// on every call on SQLite, this is prepared once per connection.
pub fn visitor_days(
    conn: &mut DbConn,
    visitor: &str,
    ([category, other_category], [area, other_area]): ([&str; 2], [&str; 2]),
    kind: &str,
) -> QueryResult<Vec<VisitorDay>> {
    super::native!(conn, |c| dv::table
        .filter(dv::visitor_id.eq(visitor))
        .filter(dv::category.eq(category).or(dv::category.eq(other_category)))
        .filter(dv::area.eq(area).or(dv::area.eq(other_area)))
        .filter(dv::kind.eq(kind))
        .order(dv::day.asc())
        .select(VisitorDay::as_select())
        .load(c))
}

pub fn save_visitor_day(conn: &mut DbConn, row: &VisitorDay, existed: bool) -> QueryResult<()> {
    if existed {
        diesel::update(row).set(row).execute(conn)?;
    } else {
        diesel::insert_into(dv::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Visitor days per INSERT: six parameters each.
const DAYS_PER_STATEMENT: usize = 200;

/// Stores new visitor days, one statement for up to [`DAYS_PER_STATEMENT`]
/// of them: a batch of a visitor's events starts a day in up to four report
/// cells per event.
pub fn insert_visitor_days(conn: &mut DbConn, rows: &[VisitorDay]) -> QueryResult<()> {
    for chunk in rows.chunks(DAYS_PER_STATEMENT) {
        super::native!(conn, |c| diesel::insert_into(dv::table).values(chunk).execute(c))?;
    }
    Ok(())
}

pub fn all_pairs(conn: &mut DbConn) -> QueryResult<Vec<Pair>> {
    dp::table.order((dp::visitor_id, dp::question_id)).select(Pair::as_select()).load(conn)
}

pub fn all_intents(conn: &mut DbConn) -> QueryResult<Vec<Intent>> {
    di::table.order(di::intent_id).select(Intent::as_select()).load(conn)
}

pub fn all_sessions(conn: &mut DbConn) -> QueryResult<Vec<Session>> {
    ds::table.order(ds::session_key).select(Session::as_select()).load(conn)
}

pub fn all_visitor_days(conn: &mut DbConn) -> QueryResult<Vec<VisitorDay>> {
    dv::table
        .order((dv::visitor_id, dv::category, dv::area, dv::kind, dv::day))
        .select(VisitorDay::as_select())
        .load(conn)
}
