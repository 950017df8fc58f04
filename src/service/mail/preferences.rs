//! Who wants which mail: per kind `instant`, `digest` or `off`, and how
//! often the digest comes. No stored row means the defaults below.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Context;
use crate::store::{self, DbConn, write_transaction};

/// The kinds of notification mail (`NotificationSettings` in openapi.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    AnswerOnMyQuestion,
    CommentOnMyPost,
    AnswerAccepted,
    AnswerVerified,
    FollowedQuestionActivity,
    ModeratorAction,
    ExpertNewQuestion,
    EscalationUpdate,
}

impl Topic {
    pub const ALL: [Topic; 8] = [
        Topic::AnswerOnMyQuestion,
        Topic::CommentOnMyPost,
        Topic::AnswerAccepted,
        Topic::AnswerVerified,
        Topic::FollowedQuestionActivity,
        Topic::ModeratorAction,
        Topic::ExpertNewQuestion,
        Topic::EscalationUpdate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::AnswerOnMyQuestion => "answer_on_my_question",
            Topic::CommentOnMyPost => "comment_on_my_post",
            Topic::AnswerAccepted => "answer_accepted",
            Topic::AnswerVerified => "answer_verified",
            Topic::FollowedQuestionActivity => "followed_question_activity",
            Topic::ModeratorAction => "moderator_action",
            Topic::ExpertNewQuestion => "expert_new_question",
            Topic::EscalationUpdate => "escalation_update",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What a resident gets without choosing: what is about their own
    /// posts at once, the rest of what they follow in the digest.
    pub fn default_mode(self) -> Mode {
        match self {
            Topic::FollowedQuestionActivity => Mode::Digest,
            _ => Mode::Instant,
        }
    }

    /// The mail kind of an inbox notification, for its recipient: a new
    /// answer is news of one's own question to the asker and followed
    /// activity to everyone else.
    pub fn of_notification(kind: &str, recipient_is_asker: bool) -> Option<Topic> {
        match kind {
            "answer_posted" if recipient_is_asker => Some(Topic::AnswerOnMyQuestion),
            "answer_posted" => Some(Topic::FollowedQuestionActivity),
            "comment_posted" => Some(Topic::CommentOnMyPost),
            "answer_accepted" => Some(Topic::AnswerAccepted),
            "answer_verified" => Some(Topic::AnswerVerified),
            "expert_question" => Some(Topic::ExpertNewQuestion),
            "moderator_action" => Some(Topic::ModeratorAction),
            "escalation_updated" => Some(Topic::EscalationUpdate),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Instant,
    Digest,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestFrequency {
    Daily,
    Weekly,
    Off,
}

impl DigestFrequency {
    fn as_str(self) -> &'static str {
        match self {
            DigestFrequency::Daily => "daily",
            DigestFrequency::Weekly => "weekly",
            DigestFrequency::Off => "off",
        }
    }

    fn parse(s: &str) -> DigestFrequency {
        match s {
            "daily" => DigestFrequency::Daily,
            "off" => DigestFrequency::Off,
            _ => DigestFrequency::Weekly,
        }
    }
}

/// GET/PUT /me/notification-settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    pub email: BTreeMap<Topic, Mode>,
    pub digest: DigestFrequency,
}

impl NotificationSettings {
    pub fn defaults() -> NotificationSettings {
        NotificationSettings {
            email: Topic::ALL.into_iter().map(|t| (t, t.default_mode())).collect(),
            digest: DigestFrequency::Weekly,
        }
    }

    pub fn mode(&self, topic: Topic) -> Mode {
        self.email.get(&topic).copied().unwrap_or(topic.default_mode())
    }
}

/// A user's settings: the stored choices over the defaults.
pub fn load(conn: &mut DbConn, user_id: i64) -> ApiResult<NotificationSettings> {
    let mut settings = NotificationSettings::defaults();
    if let Some((kinds, digest)) = store::mail::preferences(conn, user_id)? {
        let stored: BTreeMap<String, Mode> = serde_json::from_str(&kinds).unwrap_or_default();
        for (topic, mode) in stored {
            if let Some(topic) = Topic::parse(&topic) {
                settings.email.insert(topic, mode);
            }
        }
        settings.digest = DigestFrequency::parse(&digest);
    }
    Ok(settings)
}

/// Replaces the user's settings; kinds left out keep what they had.
pub fn update(
    conn: &mut DbConn,
    user_id: i64,
    change: &NotificationSettings,
    now: NaiveDateTime,
) -> ApiResult<NotificationSettings> {
    write_transaction(conn, |conn| {
        let mut settings = load(conn, user_id)?;
        settings.email.extend(change.email.iter().map(|(t, m)| (*t, *m)));
        settings.digest = change.digest;
        save(conn, user_id, &settings, now)?;
        Ok(settings)
    })
}

fn save(conn: &mut DbConn, user_id: i64, settings: &NotificationSettings, now: NaiveDateTime) -> ApiResult<()> {
    let kinds: BTreeMap<&str, Mode> = settings.email.iter().map(|(t, m)| (t.as_str(), *m)).collect();
    let kinds = serde_json::to_string(&kinds).map_err(ApiError::internal)?;
    store::mail::set_preferences(conn, user_id, &kinds, settings.digest.as_str(), now)?;
    Ok(())
}

/// What an unsubscribe token names: one kind, the digest, or all mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribe {
    Topic(Topic),
    Digest,
    All,
}

const UNSUBSCRIBE_SCOPE: &str = "unsubscribe";

impl Unsubscribe {
    fn as_str(self) -> &'static str {
        match self {
            Unsubscribe::Topic(topic) => topic.as_str(),
            Unsubscribe::Digest => "digest",
            Unsubscribe::All => "all",
        }
    }

    fn parse(s: &str) -> Option<Unsubscribe> {
        match s {
            "digest" => Some(Unsubscribe::Digest),
            "all" => Some(Unsubscribe::All),
            other => Topic::parse(other).map(Unsubscribe::Topic),
        }
    }
}

/// A signed token naming the user and what to stop (List-Unsubscribe).
/// It needs no storage and works without login, as RFC 8058 asks.
pub fn unsubscribe_token(ctx: &Context, user_id: i64, what: Unsubscribe) -> String {
    ctx.cursors.encode(UNSUBSCRIBE_SCOPE, &(user_id, what.as_str()))
}

/// POST /unsubscribe: turns off what the token names.
pub fn unsubscribe(conn: &mut DbConn, ctx: &Context, token: &str) -> ApiResult<()> {
    let invalid = || ApiError::bad_request(ErrorCode::InvalidToken, "the unsubscribe link is invalid");
    let (user_id, what): (i64, String) = ctx.cursors.decode(UNSUBSCRIBE_SCOPE, token).map_err(|_| invalid())?;
    let what = Unsubscribe::parse(&what).ok_or_else(invalid)?;
    if store::mail::recipient(conn, user_id)?.is_none() {
        return Err(invalid());
    }
    let now = ctx.now();
    write_transaction(conn, |conn| {
        let mut settings = load(conn, user_id)?;
        match what {
            Unsubscribe::Topic(topic) => {
                settings.email.insert(topic, Mode::Off);
            }
            Unsubscribe::Digest => settings.digest = DigestFrequency::Off,
            Unsubscribe::All => {
                settings.email = Topic::ALL.into_iter().map(|t| (t, Mode::Off)).collect();
                settings.digest = DigestFrequency::Off;
            }
        }
        save(conn, user_id, &settings, now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_news_of_ones_own_question_to_the_asker_only() {
        assert_eq!(Topic::of_notification("answer_posted", true), Some(Topic::AnswerOnMyQuestion));
        assert_eq!(Topic::of_notification("answer_posted", false), Some(Topic::FollowedQuestionActivity));
        assert_eq!(Topic::of_notification("mention", false), None);
    }

    #[test]
    fn defaults_cover_every_kind() {
        let defaults = NotificationSettings::defaults();
        assert_eq!(defaults.email.len(), Topic::ALL.len());
        assert_eq!(defaults.mode(Topic::FollowedQuestionActivity), Mode::Digest);
        assert_eq!(defaults.mode(Topic::AnswerOnMyQuestion), Mode::Instant);
    }

    #[test]
    fn unsubscribe_targets_round_trip() {
        for what in Topic::ALL.map(Unsubscribe::Topic).into_iter().chain([Unsubscribe::Digest, Unsubscribe::All]) {
            assert_eq!(Unsubscribe::parse(what.as_str()), Some(what));
        }
    }
}
