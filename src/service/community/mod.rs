//! The community's content: questions (asking, lists, the question page,
//! edits, follows), page views, answers and acceptance, comments, votes,
//! categories and tags, revisions, and close votes.

pub mod answers;
pub mod categories;
pub mod comments;
pub mod questions;
pub mod revisions;
pub mod views;
pub mod votes;
