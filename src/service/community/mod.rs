//! The community's content: questions (asking, lists, the question page,
//! edits, follows and views), answers and acceptance, comments, votes,
//! categories and tags, revisions, and close votes.

pub mod answers;
pub mod categories;
pub mod comments;
pub mod questions;
pub mod revisions;
pub mod votes;
