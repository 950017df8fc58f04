//! The personal-data export (GET /me/export): everything held about the
//! caller in one JSON document, for a subject-access request or for moving
//! elsewhere. `docs/privacy.md` says what each part is and why it is kept.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::service::Context;
use crate::service::accounts::api_keys::{self, ApiKeyView};
use crate::service::accounts::{self, Me};
use crate::store::personal_data::{self, Held};
use crate::store::{DbConn, dump, users};

#[derive(Debug, Serialize)]
pub struct Export {
    pub format: &'static str,
    #[serde(with = "rfc3339")]
    pub exported_at: NaiveDateTime,
    pub profile: Me,
    pub api_keys: Vec<ApiKeyView>,
    #[serde(flatten)]
    pub held: Held,
    /// Kinds cut at `personal_data::MAX_ROWS` rows (ask the council for the
    /// rest).
    pub truncated: Vec<&'static str>,
}

/// Reads everything from one snapshot, so the parts agree.
pub fn export(conn: &mut DbConn, ctx: &Context, user_id: i64) -> ApiResult<Export> {
    let now = ctx.clock.now();
    let rules = ctx.rules(conn)?;
    dump::in_snapshot(conn, |conn| -> ApiResult<Export> {
        let user = users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        let roles = users::roles(conn, user_id)?;
        let keys = crate::store::api_keys::all_of_user(conn, user_id)?;
        let held = personal_data::held(conn, user_id)?;
        let truncated = truncated(&held);
        Ok(Export {
            format: "agora-personal-data-v1",
            exported_at: now,
            profile: accounts::me_view(&rules.privileges, user, roles),
            api_keys: keys.into_iter().map(api_keys::ApiKeyView::from).collect(),
            held,
            truncated,
        })
    })
}

fn truncated(held: &Held) -> Vec<&'static str> {
    let full = |n: usize| n as i64 >= personal_data::MAX_ROWS;
    [
        ("questions", held.questions.len()),
        ("answers", held.answers.len()),
        ("comments", held.comments.len()),
        ("revisions", held.revisions.len()),
        ("votes", held.votes.len()),
        ("notifications", held.notifications.len()),
        ("reputation_events", held.reputation_events.len()),
        ("deflection_events", held.deflection_events.len()),
    ]
    .into_iter()
    .filter(|(_, n)| full(*n))
    .map(|(kind, _)| kind)
    .collect()
}
