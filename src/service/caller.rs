//! Who is making a request, as the rules need them: roles, reputation and
//! age of account, and the privilege checks made on them.

use chrono::NaiveDateTime;

use crate::domain::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::privileges::Thresholds;
use crate::service::privileges::{self, Privilege};

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

    /// 403 unless the caller moderates.
    pub fn require_moderator(&self) -> ApiResult<()> {
        if self.is_moderator() {
            return Ok(());
        }
        Err(ApiError::forbidden("this needs a moderator"))
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.has_role(Role::Admin) {
            return Ok(());
        }
        Err(ApiError::forbidden("this needs an admin"))
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
            code: ErrorCode::InsufficientPrivilege,
            detail: format!(
                "{} needs {} reputation (you have {})",
                privilege.as_str(),
                thresholds.required(privilege),
                self.reputation
            ),
        })
    }
}
