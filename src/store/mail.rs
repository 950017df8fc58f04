//! Mail: the outbox the sender tails, account tokens (hashed), residents'
//! mail preferences and the digests already sent.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id_list::in_ids;
use super::schema::{digests_sent, email_tokens, mail_outbox, mail_preferences, users};
use super::{DbConn, native};

/// A mail waiting (or claimed) to be sent.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct OutboxMail {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub to_address: Option<String>,
    pub notification_id: Option<i64>,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct OutboxInsertForm<'a> {
    pub user_id: i64,
    pub kind: &'a str,
    pub to_address: Option<&'a str>,
    pub notification_id: Option<i64>,
    pub payload: &'a str,
    pub status: &'a str,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn enqueue(conn: &mut DbConn, form: &OutboxInsertForm<'_>) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table).values(form).execute(conn).map(|_| ())
}

/// Claims up to `limit` due mails for this node until `lease_until`: pending
/// ones whose time has come, and ones another sender claimed but whose
/// lease lapsed (it died mid-send). Runs in the caller's write
/// transaction; on PostgreSQL rows another node is claiming are skipped,
/// so each mail is claimed by one node (SQLite has one writer anyway).
pub fn claim_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<OutboxMail>> {
    let due = mail_outbox::status
        .eq("pending")
        .and(mail_outbox::next_attempt_at.le(now))
        .or(mail_outbox::status.eq("sending").and(mail_outbox::lease_until.lt(now)));
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(c) => mail_outbox::table
            .filter(due)
            .order(mail_outbox::id.asc())
            .limit(limit)
            .select(mail_outbox::id)
            .for_update()
            .skip_locked()
            .load(c)?,
        DbConn::Sqlite(c) => {
            mail_outbox::table.filter(due).order(mail_outbox::id.asc()).limit(limit).select(mail_outbox::id).load(c)?
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One statement text whatever the batch's size, so it stays prepared.
    native!(conn, |c| {
        diesel::update(mail_outbox::table.filter(in_ids(mail_outbox::id, &ids)))
            .set((
                mail_outbox::status.eq("sending"),
                mail_outbox::lease_until.eq(lease_until),
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            ))
            .execute(c)
    })?;
    native!(conn, |c| {
        mail_outbox::table
            .filter(in_ids(mail_outbox::id, &ids))
            .order(mail_outbox::id.asc())
            .select(OutboxMail::as_select())
            .load(c)
    })
}

/// Records that a mail left (or will never leave): its final status, and
/// the payload emptied of anything secret (a token is only needed once).
pub fn finish(conn: &mut DbConn, id: i64, status: &str, error: Option<&str>, now: NaiveDateTime) -> QueryResult<()> {
    let sent_at = (status == "sent").then_some(now);
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::status.eq(status),
            mail_outbox::payload.eq("{}"),
            mail_outbox::lease_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(error),
            mail_outbox::sent_at.eq(sent_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Puts a mail back in the queue after a temporary failure.
pub fn retry_at(conn: &mut DbConn, id: i64, at: NaiveDateTime, error: &str) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::status.eq("pending"),
            mail_outbox::next_attempt_at.eq(at),
            mail_outbox::lease_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(error),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Mails by status, and when the oldest still waiting was enqueued.
pub type OutboxCounts = (Vec<(String, i64)>, Option<NaiveDateTime>);

pub fn counts(conn: &mut DbConn) -> QueryResult<OutboxCounts> {
    let by_status = mail_outbox::table
        .group_by(mail_outbox::status)
        .select((mail_outbox::status, diesel::dsl::count_star()))
        .load(conn)?;
    let oldest = mail_outbox::table
        .filter(mail_outbox::status.eq_any(["pending", "sending"]))
        .select(diesel::dsl::min(mail_outbox::created_at))
        .get_result(conn)?;
    Ok((by_status, oldest))
}

/// A user's mail-relevant state.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Recipient {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub email_verified_at: Option<NaiveDateTime>,
    pub email_undeliverable_at: Option<NaiveDateTime>,
    pub suspended_until: Option<NaiveDateTime>,
}

pub fn recipient(conn: &mut DbConn, user_id: i64) -> QueryResult<Option<Recipient>> {
    users::table.find(user_id).select(Recipient::as_select()).first(conn).optional()
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<Recipient>> {
    users::table.filter(users::email.eq(email)).select(Recipient::as_select()).first(conn).optional()
}

/// Marks `email` verified for the user, if it is still their address.
pub fn mark_verified(conn: &mut DbConn, user_id: i64, email: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(users::table.find(user_id).filter(users::email.eq(email)))
        .set((users::email_verified_at.eq(now), users::email_undeliverable_at.eq(None::<NaiveDateTime>)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Marks `email` undeliverable for the user, if it is still their address.
pub fn mark_undeliverable(conn: &mut DbConn, user_id: i64, email: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(user_id).filter(users::email.eq(email)))
        .set(users::email_undeliverable_at.eq(now))
        .execute(conn)
        .map(|_| ())
}

/// A new address: unverified, and deliverable until shown otherwise.
pub fn change_email(conn: &mut DbConn, user_id: i64, email: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::email.eq(email),
            users::email_verified_at.eq(None::<NaiveDateTime>),
            users::email_undeliverable_at.eq(None::<NaiveDateTime>),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_tokens)]
pub struct EmailToken {
    pub id: i64,
    pub user_id: i64,
    pub purpose: String,
    pub token_hash: String,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = email_tokens)]
pub struct EmailTokenInsertForm<'a> {
    pub user_id: i64,
    pub purpose: &'a str,
    pub token_hash: &'a str,
    pub email: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_token(conn: &mut DbConn, form: &EmailTokenInsertForm<'_>) -> QueryResult<()> {
    diesel::insert_into(email_tokens::table).values(form).execute(conn).map(|_| ())
}

/// The token stored under `hash` for `purpose`. Looking up by the hash of
/// what was presented means no secret is ever compared byte by byte.
pub fn find_token(conn: &mut DbConn, purpose: &str, hash: &str) -> QueryResult<Option<EmailToken>> {
    email_tokens::table
        .filter(email_tokens::token_hash.eq(hash))
        .filter(email_tokens::purpose.eq(purpose))
        .select(EmailToken::as_select())
        .first(conn)
        .optional()
}

/// Spends a token; false when another request spent it first.
pub fn use_token(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(email_tokens::table.find(id).filter(email_tokens::used_at.is_null()))
        .set(email_tokens::used_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}

/// Spends every open token of a user for `purpose` (a newer one replaces
/// them; a reset ends them all).
pub fn spend_all(conn: &mut DbConn, user_id: i64, purpose: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::user_id.eq(user_id))
            .filter(email_tokens::purpose.eq(purpose))
            .filter(email_tokens::used_at.is_null()),
    )
    .set(email_tokens::used_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

/// Tokens whose time is long past are of no use to anyone.
pub fn delete_tokens_before(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(email_tokens::table.filter(email_tokens::expires_at.lt(before))).execute(conn)
}

/// (kinds JSON, digest) of a user's stored preferences.
pub fn preferences(conn: &mut DbConn, user_id: i64) -> QueryResult<Option<(String, String)>> {
    mail_preferences::table
        .find(user_id)
        .select((mail_preferences::kinds, mail_preferences::digest))
        .first(conn)
        .optional()
}

/// Stores a user's preferences (replacing what was there). Called inside a
/// write transaction.
pub fn set_preferences(
    conn: &mut DbConn,
    user_id: i64,
    kinds: &str,
    digest: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let updated = diesel::update(mail_preferences::table.find(user_id))
        .set((
            mail_preferences::kinds.eq(kinds),
            mail_preferences::digest.eq(digest),
            mail_preferences::updated_at.eq(now),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(mail_preferences::table)
            .values((
                mail_preferences::user_id.eq(user_id),
                mail_preferences::kinds.eq(kinds),
                mail_preferences::digest.eq(digest),
                mail_preferences::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Records the digest of `period` for the user; false when one was
/// recorded already (the period's digest is sent once).
pub fn record_digest(conn: &mut DbConn, user_id: i64, period: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = super::cached_sql::cached_sql::<super::MultiBackend>(
        "INSERT INTO digests_sent (user_id, period, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind::<diesel::sql_types::BigInt, _>(user_id)
    .bind::<diesel::sql_types::Text, _>(period)
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    Ok(n == 1)
}

/// Unanswered, visible questions asked in [since, until) by others in the
/// categories of the questions the user follows: (id, title), oldest
/// first (a digest's second part).
pub fn unanswered_in_followed_categories(
    conn: &mut DbConn,
    user_id: i64,
    since: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(i64, String)>> {
    use super::schema::{follows, questions};
    let categories: Vec<i64> = follows::table
        .inner_join(questions::table.on(questions::id.eq(follows::question_id)))
        .filter(follows::user_id.eq(user_id))
        .select(questions::category_id)
        .distinct()
        .load(conn)?;
    if categories.is_empty() {
        return Ok(Vec::new());
    }
    questions::table
        .filter(questions::category_id.eq_any(categories))
        .filter(questions::status.eq("unanswered"))
        .filter(questions::hidden_at.is_null())
        .filter(questions::deleted_at.is_null())
        .filter(questions::author_id.ne(user_id))
        .filter(questions::created_at.ge(since))
        .filter(questions::created_at.lt(until))
        .order(questions::id.asc())
        .limit(limit)
        .select((questions::id, questions::title))
        .load(conn)
}

/// Users with a verified, deliverable address and no `period` row, by id
/// after `after`: who a digest pass still has to look at.
pub fn digest_candidates(conn: &mut DbConn, period: &str, after: i64, limit: i64) -> QueryResult<Vec<Recipient>> {
    let checked =
        digests_sent::table.filter(digests_sent::user_id.eq(users::id)).filter(digests_sent::period.eq(period));
    users::table
        .filter(users::id.gt(after))
        .filter(users::email_verified_at.is_not_null())
        .filter(users::email_undeliverable_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(checked)))
        .order(users::id.asc())
        .limit(limit)
        .select(Recipient::as_select())
        .load(conn)
}

/// When the user's last digest of this kind (`day:` or `week:` periods)
/// before `current` was recorded.
pub fn last_digest_before(
    conn: &mut DbConn,
    user_id: i64,
    prefix: &str,
    current: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    digests_sent::table
        .filter(digests_sent::user_id.eq(user_id))
        .filter(digests_sent::period.like(format!("{prefix}%")))
        .filter(digests_sent::period.ne(current))
        .select(diesel::dsl::max(digests_sent::sent_at))
        .get_result(conn)
}

/// Outbox rows that ended more than `before` ago are history: pruned.
pub fn prune_finished(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        mail_outbox::table
            .filter(mail_outbox::status.eq_any(["sent", "failed", "dropped"]))
            .filter(mail_outbox::created_at.lt(before)),
    )
    .execute(conn)
}
