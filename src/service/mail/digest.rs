//! The digest: once a day or once an ISO week, what the resident chose to
//! hear about in a digest (unread notifications of `digest` kinds) and the
//! unanswered questions asked in the categories of the questions they
//! follow. Nothing new, no mail.
//!
//! Each pass looks at every reachable user at most once a day: a `day:`
//! row in `digests_sent` is written for everyone it looks at (whether or
//! not a digest goes out), and a `week:` row for weekly readers once a
//! week. Both are claimed with an insert that only one node can win, so two
//! nodes never send the same digest.

use chrono::{Datelike, Duration, NaiveDateTime};

use super::compose::{self, Story};
use super::preferences::{self, DigestFrequency, Mode, Topic};
use super::{DigestPayload, MailKind, enqueue, reachable};
use crate::error::ApiResult;
use crate::service::Context;
use crate::store::mail::Recipient;
use crate::store::{self, DbConn, write_transaction};

/// At most this many items of each part in one digest.
const MAX_ITEMS: i64 = 50;
/// Users looked at per step of a pass (a query and a transaction each).
pub const USERS_PER_STEP: i64 = 200;

/// What a digest for `user_id` over [since, until) would say.
pub struct DigestContent {
    pub stories: Vec<Story>,
    pub unanswered: Vec<(i64, String)>,
}

pub fn content(
    conn: &mut DbConn,
    ctx: &Context,
    user_id: i64,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> ApiResult<DigestContent> {
    let settings = preferences::load(conn, user_id)?;
    let mut stories = Vec::new();
    for (n, _, _) in store::notifications::unread_between(conn, user_id, since, until, MAX_ITEMS)? {
        let asker = match n.question_id {
            Some(id) => store::questions::find(conn, id)?.map(|q| q.author_id),
            None => None,
        };
        let Some(topic) = Topic::of_notification(&n.kind, asker == Some(user_id)) else { continue };
        if settings.mode(topic) != Mode::Digest {
            continue;
        }
        if let Some(story) = compose::story(conn, ctx, &n, topic)? {
            stories.push(story);
        }
    }
    let unanswered = store::mail::unanswered_in_followed_categories(conn, user_id, since, until, MAX_ITEMS)?;
    Ok(DigestContent { stories, unanswered })
}

/// The period keys of `now`: its UTC day and its ISO week.
pub fn periods(now: NaiveDateTime) -> (String, String) {
    let week = now.date().iso_week();
    (format!("day:{}", now.date()), format!("week:{}-W{:02}", week.year(), week.week()))
}

/// Where a day's digest pass has got to: users are looked at in id order.
#[derive(Debug, Default)]
pub struct Cursor {
    day: String,
    after: i64,
}

/// What one step of a pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub enqueued: usize,
    /// No user is left to look at today.
    pub finished: bool,
}

/// Enqueues the digests that are due, in one go; returns how many.
pub fn run(conn: &mut DbConn, ctx: &Context) -> ApiResult<usize> {
    let mut cursor = Cursor::default();
    let mut enqueued = 0;
    loop {
        let step = step(conn, ctx, &mut cursor, USERS_PER_STEP)?;
        enqueued += step.enqueued;
        if step.finished {
            return Ok(enqueued);
        }
    }
}

/// Looks at the next `users` users of today's pass. The sender takes a
/// pass a step at a time between its deliveries: a community's first pass
/// of the day looks at every user (84 s for 25,000 on PostgreSQL here), and
/// in one go it held up both the mail due meanwhile and the node's
/// shutdown.
pub fn step(conn: &mut DbConn, ctx: &Context, cursor: &mut Cursor, users: i64) -> ApiResult<Step> {
    let now = ctx.now();
    let (day, week) = periods(now);
    if cursor.day != day {
        // A new pass, or a new day in the middle of one: from the first user.
        *cursor = Cursor { day: day.clone(), after: 0 };
    }
    let batch = store::mail::digest_candidates(conn, &day, cursor.after, users)?;
    let mut enqueued = 0;
    for recipient in &batch {
        if one_user(conn, ctx, recipient, &day, &week, now)? {
            enqueued += 1;
        }
        cursor.after = recipient.id;
    }
    let finished = (batch.len() as i64) < users;
    if finished {
        // The next pass starts from the first user again, so that one
        // who verified an address since is looked at then.
        *cursor = Cursor::default();
    }
    Ok(Step { enqueued, finished })
}

fn one_user(
    conn: &mut DbConn,
    ctx: &Context,
    recipient: &Recipient,
    day: &str,
    week: &str,
    now: NaiveDateTime,
) -> ApiResult<bool> {
    write_transaction(conn, |conn| {
        if !store::mail::record_digest(conn, recipient.id, day, now)? || !reachable(recipient, now) {
            return Ok(false);
        }
        let (period, prefix, length) = match preferences::load(conn, recipient.id)?.digest {
            DigestFrequency::Off => return Ok(false),
            DigestFrequency::Daily => (day, "day:", Duration::days(1)),
            DigestFrequency::Weekly => {
                if !store::mail::record_digest(conn, recipient.id, week, now)? {
                    return Ok(false);
                }
                (week, "week:", Duration::days(7))
            }
        };
        let since = store::mail::last_digest_before(conn, recipient.id, prefix, period)?.unwrap_or(now - length);
        let content = content(conn, ctx, recipient.id, since, now)?;
        if content.stories.is_empty() && content.unanswered.is_empty() {
            return Ok(false);
        }
        enqueue(conn, recipient.id, MailKind::Digest, None, None, &DigestPayload { since, until: now }, now)?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_the_utc_day_and_the_iso_week() {
        let at = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap().and_hms_opt(9, 0, 0).unwrap();
        // 1 January 2027 is a Friday of ISO week 53 of 2026.
        assert_eq!(periods(at), ("day:2027-01-01".to_owned(), "week:2026-W53".to_owned()));
    }
}
