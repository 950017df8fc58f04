//! Privileges earned by reputation (the thresholds are the settings'
//! `privileges`; docs/architecture.md, "Where each rule lives").
//! Every endpoint that needs one asks `has` here; nothing else compares
//! reputation with a threshold.

use serde::{Deserialize, Serialize};

use crate::domain::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    Ask,
    Answer,
    VoteUp,
    Flag,
    Comment,
    VoteDown,
    CreateTag,
    CloseVote,
    EditOthers,
}

impl Privilege {
    pub const ALL: [Privilege; 9] = [
        Privilege::Ask,
        Privilege::Answer,
        Privilege::VoteUp,
        Privilege::Flag,
        Privilege::Comment,
        Privilege::VoteDown,
        Privilege::CreateTag,
        Privilege::CloseVote,
        Privilege::EditOthers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Ask => "ask",
            Privilege::Answer => "answer",
            Privilege::VoteUp => "vote_up",
            Privilege::Flag => "flag",
            Privilege::Comment => "comment",
            Privilege::VoteDown => "vote_down",
            Privilege::CreateTag => "create_tag",
            Privilege::CloseVote => "close_vote",
            Privilege::EditOthers => "edit_others",
        }
    }
}

/// Reputation needed for each privilege.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub ask: i32,
    pub answer: i32,
    pub vote_up: i32,
    pub flag: i32,
    pub comment: i32,
    pub vote_down: i32,
    pub create_tag: i32,
    pub close_vote: i32,
    pub edit_others: i32,
}

impl Default for Thresholds {
    /// The defaults for a small civic site.
    fn default() -> Self {
        Thresholds {
            ask: 1,
            answer: 1,
            vote_up: 15,
            flag: 15,
            comment: 50,
            vote_down: 125,
            create_tag: 150,
            close_vote: 500,
            edit_others: 1000,
        }
    }
}

impl Thresholds {
    pub fn required(&self, privilege: Privilege) -> i32 {
        match privilege {
            Privilege::Ask => self.ask,
            Privilege::Answer => self.answer,
            Privilege::VoteUp => self.vote_up,
            Privilege::Flag => self.flag,
            Privilege::Comment => self.comment,
            Privilege::VoteDown => self.vote_down,
            Privilege::CreateTag => self.create_tag,
            Privilege::CloseVote => self.close_vote,
            Privilege::EditOthers => self.edit_others,
        }
    }
}

/// Whether someone with this reputation and these roles has `privilege`.
/// Moderators and admins have every privilege.
pub fn has(thresholds: &Thresholds, privilege: Privilege, reputation: i32, roles: &[Role]) -> bool {
    roles.iter().any(|r| matches!(r, Role::Moderator | Role::Admin)) || reputation >= thresholds.required(privilege)
}

/// Every privilege held, in the order of `Privilege::ALL`.
pub fn held(thresholds: &Thresholds, reputation: i32, roles: &[Role]) -> Vec<Privilege> {
    Privilege::ALL.into_iter().filter(|&p| has(thresholds, p, reputation, roles)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_roles() {
        let t = Thresholds::default();
        assert_eq!(held(&t, 1, &[Role::Resident]), vec![Privilege::Ask, Privilege::Answer]);
        assert!(has(&t, Privilege::VoteUp, 15, &[Role::Resident]));
        assert!(!has(&t, Privilege::VoteDown, 124, &[Role::Resident]));
        assert_eq!(held(&t, 1, &[Role::Moderator]).len(), Privilege::ALL.len());
        assert!(!has(&t, Privilege::Comment, 1, &[Role::Staff]));
    }
}
