//! What questions, answers and comments share: who is asking, who may see
//! and change a post, the question status rule, and the JSON shapes of
//! authors and posts.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::service::privileges::{self, Privilege, Thresholds};
use crate::store::users::UserRef;
use crate::store::{DbConn, users};

/// The user making a request, as the rules need them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: i64,
    pub roles: Vec<Role>,
    pub reputation: i32,
    pub created_at: NaiveDateTime,
}

impl Caller {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Moderators and admins moderate.
    pub fn is_moderator(&self) -> bool {
        self.has_role(Role::Moderator) || self.has_role(Role::Admin)
    }

    pub fn has(&self, thresholds: &Thresholds, privilege: Privilege) -> bool {
        privileges::has(thresholds, privilege, self.reputation, &self.roles)
    }

    /// 403 unless the caller has `privilege`, naming the reputation needed.
    pub fn require(&self, thresholds: &Thresholds, privilege: Privilege) -> ApiResult<()> {
        if self.has(thresholds, privilege) {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            code: "insufficient_privilege",
            detail: format!(
                "{} needs {} reputation (you have {})",
                privilege.as_str(),
                thresholds.required(privilege),
                self.reputation
            ),
        })
    }
}

/// Whether a post can be seen: live posts by everyone, hidden ones by
/// moderators and their author, deleted ones by moderators only.
pub fn can_see(
    viewer: Option<&Caller>,
    author_id: i64,
    hidden_at: Option<NaiveDateTime>,
    deleted_at: Option<NaiveDateTime>,
) -> bool {
    let moderator = viewer.is_some_and(Caller::is_moderator);
    let author = viewer.is_some_and(|v| v.id == author_id);
    match (hidden_at, deleted_at) {
        (None, None) => true,
        (_, Some(_)) => moderator,
        (Some(_), None) => moderator || author,
    }
}

/// Editing someone's post: its author, `edit_others`, or a moderator.
pub fn require_editor(caller: &Caller, thresholds: &Thresholds, author_id: i64) -> ApiResult<()> {
    if caller.id == author_id || caller.is_moderator() || caller.has(thresholds, Privilege::EditOthers) {
        return Ok(());
    }
    Err(ApiError::forbidden("only the author, a moderator or a user with edit_others may edit this post"))
}

pub const STATUS_UNANSWERED: &str = "unanswered";
pub const STATUS_ANSWERED: &str = "answered";
pub const STATUS_SOLVED: &str = "solved";

/// API.md: solved with an accepted or a council-verified answer, answered
/// with any answer, else unanswered.
pub fn question_status(visible_answers: i64, accepted: bool, verified: bool) -> &'static str {
    if accepted || verified {
        STATUS_SOLVED
    } else if visible_answers > 0 {
        STATUS_ANSWERED
    } else {
        STATUS_UNANSWERED
    }
}

/// An author as shown beside a post.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub reputation: i32,
    /// Public roles (staff, moderator), so residents see who speaks for
    /// the council.
    pub roles: Vec<Role>,
}

/// Builds user views with public roles, loading the roles of every user
/// involved in one query.
pub struct UserViews {
    roles: HashMap<i64, Vec<Role>>,
}

impl UserViews {
    pub fn load(conn: &mut DbConn, ids: &[i64]) -> ApiResult<UserViews> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut roles: HashMap<i64, Vec<Role>> = HashMap::new();
        for (id, role) in users::public_roles(conn, &ids)? {
            roles.entry(id).or_default().push(role);
        }
        for list in roles.values_mut() {
            list.sort();
        }
        Ok(UserViews { roles })
    }

    pub fn view(&self, user: UserRef) -> UserView {
        UserView {
            roles: self.roles.get(&user.id).cloned().unwrap_or_default(),
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            reputation: user.reputation,
        }
    }
}

/// A comment as shown under a post.
#[derive(Debug, Clone, Serialize)]
pub struct CommentView {
    pub id: i64,
    pub body: String,
    pub body_html: String,
    pub author: UserView,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostType {
    Question,
    Answer,
}

impl PostType {
    pub fn as_str(self) -> &'static str {
        match self {
            PostType::Question => "question",
            PostType::Answer => "answer",
        }
    }
}
