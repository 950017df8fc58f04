//! The community's rules, held in the `settings` table and changed by
//! admins: reputation points and the daily cap, privilege thresholds, the
//! expert rule, new-account limits, deflection parameters, search synonyms,
//! the daily vote limit and self-acceptance delay, and the moderation
//! numbers (flags that hide a post, votes that close a question). Defaults are
//! openapi.yaml's `SiteSettings`. Every rule reads its numbers from here and nowhere else.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, FieldError};
use crate::service::audit;
use crate::service::privileges::Thresholds;
use crate::store::schema::settings;
use crate::store::{DbConn, write_transaction};

/// Points of the reputation table and the daily cap on votes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReputationPoints {
    pub question_upvoted: i32,
    pub answer_upvoted: i32,
    pub post_downvoted: i32,
    pub downvoted_an_answer: i32,
    pub answer_accepted: i32,
    pub accepted_an_answer: i32,
    pub answer_verified: i32,
    pub removed_as_spam: i32,
    /// At most this much per user per UTC day from votes.
    pub daily_vote_cap: i32,
}

impl Default for ReputationPoints {
    fn default() -> Self {
        ReputationPoints {
            question_upvoted: 10,
            answer_upvoted: 10,
            post_downvoted: -2,
            downvoted_an_answer: -1,
            answer_accepted: 15,
            accepted_an_answer: 2,
            answer_verified: 15,
            removed_as_spam: -100,
            daily_vote_cap: 200,
        }
    }
}

/// Who is an expert in a category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertRule {
    /// Accepted or council-verified answers in the category.
    pub min_solved_answers: i32,
    /// Reputation earned in the category.
    pub min_category_reputation: i32,
}

impl Default for ExpertRule {
    fn default() -> Self {
        ExpertRule { min_solved_answers: 5, min_category_reputation: 50 }
    }
}

/// Limits on accounts that are both new and low in reputation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccountLimits {
    /// Below this reputation…
    pub below_reputation: i32,
    /// …and younger than this, an account is new.
    pub younger_than_hours: i32,
    pub questions_per_hour: i32,
    pub answers_per_hour: i32,
    pub links_per_post: i32,
}

impl Default for NewAccountLimits {
    fn default() -> Self {
        NewAccountLimits {
            below_reputation: 15,
            younger_than_hours: 24,
            questions_per_hour: 3,
            answers_per_hour: 10,
            links_per_post: 2,
        }
    }
}

/// Parameters of the deflection reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeflectionParameters {
    pub window_days: i32,
    pub confidence: f64,
    pub cost_per_contact: f64,
    pub currency: String,
    pub cost_source: String,
    pub cost_year: i32,
    pub holdout_percent: i32,
    /// A visitor with more intents and surveyed questions than this in a
    /// UTC day is implausible: all of that day's confirming events move to
    /// `excluded.implausible`.
    #[serde(default = "default_per_visitor_day")]
    pub plausible_per_visitor_day: i32,
    /// An address from which more visitors than this confirm or contact in
    /// a UTC day is implausible, likewise (offices and libraries share
    /// addresses: leave room for them).
    #[serde(default = "default_visitors_per_address_day")]
    pub plausible_visitors_per_address_day: i32,
}

fn default_per_visitor_day() -> i32 {
    20
}

fn default_visitors_per_address_day() -> i32 {
    50
}

impl Default for DeflectionParameters {
    fn default() -> Self {
        DeflectionParameters {
            window_days: 7,
            confidence: 0.95,
            cost_per_contact: 3.39,
            currency: "USD".to_owned(),
            cost_source: "Median cost of a 311 call across 15 US cities".to_owned(),
            cost_year: 2009,
            holdout_percent: 0,
            plausible_per_visitor_day: default_per_visitor_day(),
            plausible_visitors_per_address_day: default_visitors_per_address_day(),
        }
    }
}

/// The pace of ordinary participation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunityRules {
    /// Votes a user may cast per UTC day (moderators and admins too: the
    /// limit is against scripted voting, not a privilege).
    pub daily_votes: i32,
    /// An asker may accept their own answer this many hours after asking,
    /// so others have a chance to answer first.
    pub self_accept_after_hours: i32,
}

impl Default for CommunityRules {
    fn default() -> Self {
        CommunityRules { daily_votes: 40, self_accept_after_hours: 48 }
    }
}

/// The numbers of community moderation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModerationRules {
    /// Spam or abuse flags from this many distinct users hide a post until
    /// a moderator reviews it.
    pub auto_hide_flags: i32,
    /// Close votes from this many users with the `close_vote` privilege
    /// close a question (a moderator closes alone).
    pub close_votes: i32,
}

impl Default for ModerationRules {
    fn default() -> Self {
        ModerationRules { auto_hide_flags: 3, close_votes: 3 }
    }
}

/// Search tuning that belongs to the council, not the code.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Groups of terms that find each other, added to the built-in council
    /// list (e.g. `["wheelie bin", "green bin"]`).
    pub synonyms: Vec<Vec<String>>,
}

/// Where mail links point: templates with `{token}` (or `{id}` for a
/// question). A template starting with `/` is on this server, after
/// `AGORA_PUBLIC_URL`; a council's own frontend gives full `https://` URLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkTemplates {
    pub question: String,
    pub verify_email: String,
    pub reset_password: String,
    pub unsubscribe: String,
}

impl Default for LinkTemplates {
    fn default() -> Self {
        LinkTemplates {
            question: "/questions/{id}".to_owned(),
            verify_email: "/account/verify?token={token}".to_owned(),
            reset_password: "/account/reset?token={token}".to_owned(),
            unsubscribe: "/account/unsubscribe?token={token}".to_owned(),
        }
    }
}

impl LinkTemplates {
    /// Each template with the placeholder it needs, for validation.
    fn each(&self) -> [(&'static str, &str, &'static str); 4] {
        [
            ("links.question", &self.question, "{id}"),
            ("links.verify_email", &self.verify_email, "{token}"),
            ("links.reset_password", &self.reset_password, "{token}"),
            ("links.unsubscribe", &self.unsubscribe, "{token}"),
        ]
    }
}

/// How long personal data of visitors is kept as it came
/// (`privacy::retention`, docs/privacy.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// A visitor id is replaced by a keyed hash once the visitor has sent
    /// nothing for this many days.
    pub visitor_id_days: i32,
    /// Search text (the content-gap log, `search_performed` queries) is
    /// deleted this many days after the search.
    pub search_text_days: i32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { visitor_id_days: 400, search_text_days: 90 }
    }
}

/// The council's Open311 GeoReport v2 endpoint (`service::escalation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open311Settings {
    /// The base URL (`…/open311/v2`); unset: escalation is off.
    pub endpoint: Option<String>,
    pub api_key: Option<String>,
    pub jurisdiction_id: Option<String>,
    /// Questions asked with `escalate_if_unanswered` are escalated when
    /// still unanswered this many hours after they were asked.
    pub auto_escalate_after_hours: i32,
    /// How often open cases are polled for their status.
    pub poll_minutes: i32,
    /// Whether the asker's email goes with a case (only when they agreed).
    pub share_email: bool,
}

impl Default for Open311Settings {
    fn default() -> Self {
        Open311Settings {
            endpoint: None,
            api_key: None,
            jurisdiction_id: None,
            auto_escalate_after_hours: 48,
            poll_minutes: 15,
            share_email: false,
        }
    }
}

/// The whole settings document (GET/PUT /admin/settings).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSettings {
    pub reputation: ReputationPoints,
    pub privileges: Thresholds,
    pub experts: ExpertRule,
    pub new_accounts: NewAccountLimits,
    pub deflection: DeflectionParameters,
    #[serde(default)]
    pub search: SearchSettings,
    #[serde(default)]
    pub community: CommunityRules,
    #[serde(default)]
    pub moderation: ModerationRules,
    #[serde(default)]
    pub links: LinkTemplates,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub open311: Open311Settings,
}

impl SiteSettings {
    /// Checks every number; all problems are reported at once.
    pub fn validate(&self) -> ApiResult<()> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, field: &str, message: &str| {
            if !ok {
                errors.push(FieldError::new(field, message));
            }
        };
        let r = &self.reputation;
        for (field, value) in [
            ("reputation.question_upvoted", r.question_upvoted),
            ("reputation.answer_upvoted", r.answer_upvoted),
            ("reputation.answer_accepted", r.answer_accepted),
            ("reputation.accepted_an_answer", r.accepted_an_answer),
            ("reputation.answer_verified", r.answer_verified),
            ("reputation.daily_vote_cap", r.daily_vote_cap),
        ] {
            check((0..=10_000).contains(&value), field, "must be 0 to 10000");
        }
        for (field, value) in [
            ("reputation.post_downvoted", r.post_downvoted),
            ("reputation.downvoted_an_answer", r.downvoted_an_answer),
            ("reputation.removed_as_spam", r.removed_as_spam),
        ] {
            check((-10_000..=0).contains(&value), field, "must be -10000 to 0");
        }
        let p = &self.privileges;
        for (field, value) in [
            ("privileges.ask", p.ask),
            ("privileges.answer", p.answer),
            ("privileges.vote_up", p.vote_up),
            ("privileges.flag", p.flag),
            ("privileges.comment", p.comment),
            ("privileges.vote_down", p.vote_down),
            ("privileges.create_tag", p.create_tag),
            ("privileges.close_vote", p.close_vote),
            ("privileges.edit_others", p.edit_others),
        ] {
            check((1..=1_000_000).contains(&value), field, "must be 1 to 1000000");
        }
        let e = &self.experts;
        check((1..=10_000).contains(&e.min_solved_answers), "experts.min_solved_answers", "must be 1 to 10000");
        check(
            (0..=1_000_000).contains(&e.min_category_reputation),
            "experts.min_category_reputation",
            "must be 0 to 1000000",
        );
        let n = &self.new_accounts;
        check((1..=1_000_000).contains(&n.below_reputation), "new_accounts.below_reputation", "must be 1 to 1000000");
        check((0..=8760).contains(&n.younger_than_hours), "new_accounts.younger_than_hours", "must be 0 to 8760");
        check((1..=1000).contains(&n.questions_per_hour), "new_accounts.questions_per_hour", "must be 1 to 1000");
        check((1..=1000).contains(&n.answers_per_hour), "new_accounts.answers_per_hour", "must be 1 to 1000");
        check((0..=100).contains(&n.links_per_post), "new_accounts.links_per_post", "must be 0 to 100");
        let o = &self.open311;
        check(
            (1..=720).contains(&o.auto_escalate_after_hours),
            "open311.auto_escalate_after_hours",
            "must be 1 to 720",
        );
        check((1..=1440).contains(&o.poll_minutes), "open311.poll_minutes", "must be 1 to 1440");
        if let Some(endpoint) = &o.endpoint {
            let web = endpoint.starts_with("https://") || endpoint.starts_with("http://");
            check(
                web && endpoint.len() <= 2048,
                "open311.endpoint",
                "must be an http(s) URL of at most 2048 characters",
            );
        }
        for (field, value) in [("open311.api_key", &o.api_key), ("open311.jurisdiction_id", &o.jurisdiction_id)] {
            check(value.as_ref().is_none_or(|v| v.len() <= 500), field, "must be at most 500 characters");
        }
        let d = &self.deflection;
        check((1..=90).contains(&d.window_days), "deflection.window_days", "must be 1 to 90");
        check(d.confidence > 0.5 && d.confidence < 1.0, "deflection.confidence", "must be between 0.5 and 1");
        check(
            d.cost_per_contact.is_finite() && d.cost_per_contact >= 0.0,
            "deflection.cost_per_contact",
            "must be 0 or more",
        );
        check(
            d.currency.len() == 3 && d.currency.chars().all(|c| c.is_ascii_uppercase()),
            "deflection.currency",
            "must be an ISO 4217 code",
        );
        check(
            (1..=200).contains(&d.cost_source.trim().chars().count()),
            "deflection.cost_source",
            "must say where the cost comes from",
        );
        check((1900..=2200).contains(&d.cost_year), "deflection.cost_year", "must be a year");
        check((0..=50).contains(&d.holdout_percent), "deflection.holdout_percent", "must be 0 to 50");
        check(
            (1..=10_000).contains(&d.plausible_per_visitor_day),
            "deflection.plausible_per_visitor_day",
            "must be 1 to 10000",
        );
        check(
            (1..=1_000_000).contains(&d.plausible_visitors_per_address_day),
            "deflection.plausible_visitors_per_address_day",
            "must be 1 to 1000000",
        );
        let c = &self.community;
        check((1..=10_000).contains(&c.daily_votes), "community.daily_votes", "must be 1 to 10000");
        check(
            (0..=8760).contains(&c.self_accept_after_hours),
            "community.self_accept_after_hours",
            "must be 0 to 8760",
        );
        let m = &self.moderation;
        check((1..=100).contains(&m.auto_hide_flags), "moderation.auto_hide_flags", "must be 1 to 100");
        check((1..=100).contains(&m.close_votes), "moderation.close_votes", "must be 1 to 100");
        let groups = &self.search.synonyms;
        check(groups.len() <= 500, "search.synonyms", "at most 500 groups");
        let group_ok = |g: &Vec<String>| {
            (2..=20).contains(&g.len()) && g.iter().all(|t| (1..=60).contains(&t.trim().chars().count()))
        };
        check(groups.iter().all(group_ok), "search.synonyms", "each group needs 2 to 20 terms of 1 to 60 characters");
        for (field, template, placeholder) in self.links.each() {
            let placed =
                template.starts_with('/') || template.starts_with("https://") || template.starts_with("http://");
            let clean = !template.chars().any(|c| c.is_control() || c.is_whitespace());
            check(
                placed && clean && template.len() <= 500 && template.contains(placeholder),
                field,
                "must be a path or an http(s) URL of at most 500 characters with its placeholder",
            );
        }
        let t = &self.retention;
        // Events up to 30 days old may still arrive for a visitor.
        check((31..=3650).contains(&t.visitor_id_days), "retention.visitor_id_days", "must be 31 to 3650");
        check((1..=3650).contains(&t.search_text_days), "retention.search_text_days", "must be 1 to 3650");
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }
}

const SETTINGS_KEY: &str = "site";

/// Reads the stored settings (defaults when none were ever saved; a stored
/// document missing a newer section takes that section's defaults).
pub fn load(conn: &mut DbConn) -> ApiResult<SiteSettings> {
    let stored: Option<String> = settings::table.find(SETTINGS_KEY).select(settings::value).first(conn).optional()?;
    match stored {
        None => Ok(SiteSettings::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("stored settings: {e}"))),
    }
}

/// An admin's change: stored, and recorded in the audit log with the
/// document before and after.
pub fn change(conn: &mut DbConn, admin_id: i64, new: &SiteSettings, now: NaiveDateTime) -> ApiResult<()> {
    new.validate()?;
    write_transaction(conn, |conn| {
        let before = load(conn)?;
        store_document(conn, new, now)?;
        let json = |s: &SiteSettings| serde_json::to_value(s).map_err(ApiError::internal);
        audit::record(
            conn,
            audit::Action {
                actor_id: Some(admin_id),
                action: "update_settings",
                target_type: "settings",
                target_id: None,
                reason: None,
                before: Some(json(&before)?),
                after: Some(json(new)?),
                at: now,
            },
        )
    })
}

fn store_document(conn: &mut DbConn, new: &SiteSettings, now: NaiveDateTime) -> ApiResult<()> {
    let text = serde_json::to_string(new).map_err(ApiError::internal)?;
    let updated = diesel::update(settings::table.find(SETTINGS_KEY))
        .set((settings::value.eq(&text), settings::updated_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(settings::table)
            .values((settings::name.eq(SETTINGS_KEY), settings::value.eq(&text), settings::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// The settings as a node sees them: re-read at most every few seconds, so
/// a change made on one node reaches the others quickly without a query
/// on every request; a change made on this node applies at once.
pub struct SettingsCache {
    current: RwLock<(Arc<SiteSettings>, Option<Instant>)>,
    max_age: Duration,
}

impl SettingsCache {
    pub fn new(max_age: Duration) -> SettingsCache {
        SettingsCache { current: RwLock::new((Arc::new(SiteSettings::default()), None)), max_age }
    }

    /// The cached settings if they are fresh enough.
    pub fn fresh(&self) -> Option<Arc<SiteSettings>> {
        let guard = self.current.read().ok()?;
        match &*guard {
            (settings, Some(read_at)) if read_at.elapsed() < self.max_age => Some(settings.clone()),
            _ => None,
        }
    }

    /// The current settings, reading the table if the copy is stale.
    pub fn get(&self, conn: &mut DbConn) -> ApiResult<Arc<SiteSettings>> {
        if let Some(settings) = self.fresh() {
            return Ok(settings);
        }
        let fresh = Arc::new(load(conn)?);
        self.set(fresh.clone());
        Ok(fresh)
    }

    pub fn set(&self, settings: Arc<SiteSettings>) {
        if let Ok(mut guard) = self.current.write() {
            *guard = (settings, Some(Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(SiteSettings::default().validate().is_ok());
        let mut bad = SiteSettings::default();
        bad.reputation.post_downvoted = 5;
        bad.privileges.vote_up = 0;
        bad.deflection.confidence = 1.5;
        match bad.validate() {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["reputation.post_downvoted", "privileges.vote_up", "deflection.confidence"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
