//! What is held about one user, table by table, in the shapes of the JSONL
//! dump (`store::dump`): the personal-data export reads these, and the
//! erasure writes the rest.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::DbConn;
use super::dump::{
    AnswersRow, BadgesRow, CloseVotesRow, CommentsRow, DeflectionEventsRow, FlagsRow, FollowsRow, MailPreferencesRow,
    NotificationsRow, QuestionsRow, ReputationEventsRow, RevisionsRow, UserCategoryStatsRow, VotesRow,
};
use super::escalations::{AutoRequest, Escalation};
use super::schema::{
    answers, audit_log, badges, close_votes, comments, deflection_events, email_tokens, escalation_requests,
    escalations, flags, follows, login_failures, mail_outbox, mail_preferences, notifications, questions,
    refresh_tokens, reputation_events, revisions, user_category_stats, users, votes,
};

/// Most rows of one kind an export carries; beyond that the export says it
/// was cut (`truncated`), so it never exhausts the server.
pub const MAX_ROWS: i64 = 100_000;

#[derive(Debug, Serialize)]
pub struct Held {
    pub questions: Vec<QuestionsRow>,
    pub answers: Vec<AnswersRow>,
    pub comments: Vec<CommentsRow>,
    pub revisions: Vec<RevisionsRow>,
    pub votes: Vec<VotesRow>,
    pub close_votes: Vec<CloseVotesRow>,
    pub flags_raised: Vec<FlagsRow>,
    pub follows: Vec<FollowsRow>,
    pub notifications: Vec<NotificationsRow>,
    pub reputation_events: Vec<ReputationEventsRow>,
    pub category_reputation: Vec<UserCategoryStatsRow>,
    pub badges: Vec<BadgesRow>,
    pub mail_preferences: Option<MailPreferencesRow>,
    pub sessions: Vec<SessionRow>,
    pub moderation_of_account: Vec<ModerationRow>,
    pub deflection_events: Vec<DeflectionEventsRow>,
    /// What the user chose when asking (escalate if unanswered, where,
    /// whether their email may go), and the council cases of their
    /// questions with the location sent.
    pub escalations: Vec<EscalationRow>,
}

/// A question of the user's as far as the council is concerned.
#[derive(Debug, Serialize)]
pub struct EscalationRow {
    pub question_id: i64,
    pub status: Option<String>,
    pub service_request_id: Option<String>,
    pub address_string: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub share_email: bool,
    pub escalate_if_unanswered: bool,
}

/// A login (refresh-token family): when it began, when it was last renewed,
/// when it ends; never the tokens.
#[derive(Debug, Serialize)]
pub struct SessionRow {
    pub started_at: NaiveDateTime,
    pub last_renewed_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// An action moderators or admins took on the account (who took it is
/// theirs, not the user's, and is left out).
#[derive(Debug, Serialize, Queryable)]
pub struct ModerationRow {
    pub action: String,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn held(conn: &mut DbConn, user_id: i64) -> QueryResult<Held> {
    Ok(Held {
        questions: questions::table
            .filter(questions::author_id.eq(user_id))
            .order(questions::id)
            .limit(MAX_ROWS)
            .select(QuestionsRow::as_select())
            .load(conn)?,
        answers: answers::table
            .filter(answers::author_id.eq(user_id))
            .order(answers::id)
            .limit(MAX_ROWS)
            .select(AnswersRow::as_select())
            .load(conn)?,
        comments: comments::table
            .filter(comments::author_id.eq(user_id))
            .order(comments::id)
            .limit(MAX_ROWS)
            .select(CommentsRow::as_select())
            .load(conn)?,
        revisions: revisions::table
            .filter(revisions::editor_id.eq(user_id))
            .order(revisions::id)
            .limit(MAX_ROWS)
            .select(RevisionsRow::as_select())
            .load(conn)?,
        votes: votes::table
            .filter(votes::voter_id.eq(user_id))
            .order(votes::id)
            .limit(MAX_ROWS)
            .select(VotesRow::as_select())
            .load(conn)?,
        close_votes: close_votes::table
            .filter(close_votes::voter_id.eq(user_id))
            .order(close_votes::question_id)
            .limit(MAX_ROWS)
            .select(CloseVotesRow::as_select())
            .load(conn)?,
        flags_raised: flags::table
            .filter(flags::reporter_id.eq(user_id))
            .order(flags::id)
            .limit(MAX_ROWS)
            .select(FlagsRow::as_select())
            .load(conn)?,
        follows: follows::table
            .filter(follows::user_id.eq(user_id))
            .order(follows::question_id)
            .limit(MAX_ROWS)
            .select(FollowsRow::as_select())
            .load(conn)?,
        notifications: notifications::table
            .filter(notifications::user_id.eq(user_id))
            .order(notifications::id)
            .limit(MAX_ROWS)
            .select(NotificationsRow::as_select())
            .load(conn)?,
        reputation_events: reputation_events::table
            .filter(reputation_events::user_id.eq(user_id))
            .order(reputation_events::id)
            .limit(MAX_ROWS)
            .select(ReputationEventsRow::as_select())
            .load(conn)?,
        category_reputation: user_category_stats::table
            .filter(user_category_stats::user_id.eq(user_id))
            .order(user_category_stats::category_id)
            .select(UserCategoryStatsRow::as_select())
            .load(conn)?,
        badges: badges::table
            .filter(badges::user_id.eq(user_id))
            .order(badges::id)
            .select(BadgesRow::as_select())
            .load(conn)?,
        mail_preferences: mail_preferences::table
            .find(user_id)
            .select(MailPreferencesRow::as_select())
            .first(conn)
            .optional()?,
        sessions: sessions(conn, user_id)?,
        moderation_of_account: audit_log::table
            .filter(audit_log::target_type.eq("user"))
            .filter(audit_log::target_id.eq(user_id))
            .order(audit_log::id)
            .limit(MAX_ROWS)
            .select((audit_log::action, audit_log::reason, audit_log::created_at))
            .load(conn)?,
        deflection_events: deflection_events::table
            .filter(deflection_events::user_id.eq(user_id))
            .order(deflection_events::id)
            .limit(MAX_ROWS)
            .select(DeflectionEventsRow::as_select())
            .load(conn)?,
        escalations: escalations_of(conn, user_id)?,
    })
}

/// The user's escalation choices and cases, by question.
fn escalations_of(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<EscalationRow>> {
    let theirs = questions::table.filter(questions::author_id.eq(user_id)).select(questions::id);
    let chosen: Vec<AutoRequest> = escalation_requests::table
        .filter(escalation_requests::question_id.eq_any(theirs))
        .order(escalation_requests::question_id)
        .limit(MAX_ROWS)
        .select(AutoRequest::as_select())
        .load(conn)?;
    let theirs = questions::table.filter(questions::author_id.eq(user_id)).select(questions::id);
    let cases: Vec<Escalation> = escalations::table
        .filter(escalations::question_id.eq_any(theirs))
        .order(escalations::question_id)
        .limit(MAX_ROWS)
        .select(Escalation::as_select())
        .load(conn)?;
    let choices = chosen.into_iter().map(|r| EscalationRow {
        question_id: r.question_id,
        status: None,
        service_request_id: None,
        address_string: r.address_string,
        latitude: r.latitude,
        longitude: r.longitude,
        share_email: r.share_email,
        escalate_if_unanswered: r.auto_escalate,
    });
    let cases = cases.into_iter().map(|e| EscalationRow {
        question_id: e.question_id,
        status: Some(e.status),
        service_request_id: e.service_request_id,
        address_string: e.address_string,
        latitude: e.latitude,
        longitude: e.longitude,
        share_email: e.share_email,
        escalate_if_unanswered: false,
    });
    Ok(choices.chain(cases).collect())
}

/// Refresh-token families, oldest first.
fn sessions(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<SessionRow>> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>)> = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .order(refresh_tokens::id)
        .limit(MAX_ROWS)
        .select((
            refresh_tokens::family_id,
            refresh_tokens::created_at,
            refresh_tokens::expires_at,
            refresh_tokens::revoked_at,
        ))
        .load(conn)?;
    let mut families: Vec<(String, SessionRow)> = Vec::new();
    for (family, created_at, expires_at, revoked_at) in rows {
        match families.iter_mut().find(|(f, _)| *f == family) {
            Some((_, session)) => {
                session.last_renewed_at = created_at;
                session.expires_at = expires_at;
                session.revoked_at = session.revoked_at.or(revoked_at);
            }
            None => families.push((
                family,
                SessionRow { started_at: created_at, last_renewed_at: created_at, expires_at, revoked_at },
            )),
        }
    }
    Ok(families.into_iter().map(|(_, s)| s).collect())
}

/// Replaces what identifies a person on the account with `former-resident-<id>`
/// and an address that cannot receive mail; the password is gone and every
/// token issued before dies (token version). Returns the old username and
/// email, which the caller needs to clear the login throttle.
pub fn scrub_account(conn: &mut DbConn, user_id: i64, now: NaiveDateTime) -> QueryResult<(String, String)> {
    let (username, email): (String, String) =
        users::table.find(user_id).select((users::username, users::email)).first(conn)?;
    // Registration refuses the prefix; an imported account could still hold
    // the name, and then the id is not enough.
    let mut anonymous = format!("former-resident-{user_id}");
    if super::users::username_taken(conn, &anonymous)? {
        anonymous = format!("former-resident-{user_id}-{}", uuid::Uuid::new_v4().simple());
    }
    diesel::update(users::table.find(user_id))
        .set((
            users::username.eq(&anonymous),
            users::email.eq(format!("{anonymous}@erased.invalid")),
            users::password_hash.eq(None::<String>),
            users::display_name.eq(&anonymous),
            users::bio.eq(""),
            users::area.eq(None::<String>),
            users::suspension_reason.eq(None::<String>),
            users::expert_notifications.eq(false),
            users::email_verified_at.eq(None::<NaiveDateTime>),
            users::email_undeliverable_at.eq(None::<NaiveDateTime>),
            users::token_version.eq(users::token_version + 1),
            users::erased_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((username, email))
}

/// Everything of the account that only serves the person: logins, mail
/// waiting or preferred, account tokens, notifications, follows, failed
/// logins under their name, the locations they gave for escalation.
pub fn forget_private_state(
    conn: &mut DbConn,
    user_id: i64,
    old_logins: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    super::refresh_tokens::revoke_all_for_user(conn, user_id, None, now)?;
    diesel::delete(mail_outbox::table.filter(mail_outbox::user_id.eq(user_id))).execute(conn)?;
    diesel::delete(email_tokens::table.filter(email_tokens::user_id.eq(user_id))).execute(conn)?;
    diesel::delete(mail_preferences::table.filter(mail_preferences::user_id.eq(user_id))).execute(conn)?;
    diesel::delete(notifications::table.filter(notifications::user_id.eq(user_id))).execute(conn)?;
    diesel::delete(follows::table.filter(follows::user_id.eq(user_id))).execute(conn)?;
    // Where they live and whether their email may go: the council's case
    // keeps its own copy; ours goes.
    let theirs = questions::table.filter(questions::author_id.eq(user_id)).select(questions::id);
    diesel::delete(escalation_requests::table.filter(escalation_requests::question_id.eq_any(theirs))).execute(conn)?;
    let theirs = questions::table.filter(questions::author_id.eq(user_id)).select(questions::id);
    diesel::update(escalations::table.filter(escalations::question_id.eq_any(theirs)))
        .set((
            escalations::address_string.eq(None::<String>),
            escalations::latitude.eq(None::<f64>),
            escalations::longitude.eq(None::<f64>),
            escalations::share_email.eq(false),
        ))
        .execute(conn)?;
    diesel::delete(login_failures::table.filter(login_failures::account_key.eq_any(old_logins))).execute(conn)?;
    Ok(())
}

/// Ids of the user's questions, answers and comments not yet deleted.
pub fn live_content(conn: &mut DbConn, user_id: i64) -> QueryResult<(Vec<i64>, Vec<i64>, Vec<i64>)> {
    let questions = questions::table
        .filter(questions::author_id.eq(user_id))
        .filter(questions::deleted_at.is_null())
        .select(questions::id)
        .load(conn)?;
    let answers = answers::table
        .filter(answers::author_id.eq(user_id))
        .filter(answers::deleted_at.is_null())
        .select(answers::id)
        .load(conn)?;
    let comments = comments::table
        .filter(comments::author_id.eq(user_id))
        .filter(comments::deleted_at.is_null())
        .select(comments::id)
        .load(conn)?;
    Ok((questions, answers, comments))
}
