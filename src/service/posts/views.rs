//! The JSON shapes of authors and comments as shown beside posts.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::ApiResult;
use crate::store::users::UserRef;
use crate::store::{DbConn, users};

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
