//! Votes to close a question, one per user and question.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::close_votes;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = close_votes)]
pub struct CloseVote {
    pub question_id: i64,
    pub voter_id: i64,
    pub reason: String,
    pub duplicate_of: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// The question's votes, oldest first.
pub fn for_question(conn: &mut DbConn, question_id: i64) -> QueryResult<Vec<CloseVote>> {
    close_votes::table
        .filter(close_votes::question_id.eq(question_id))
        .order((close_votes::created_at.asc(), close_votes::voter_id.asc()))
        .select(CloseVote::as_select())
        .load(conn)
}

/// Casts or changes a voter's vote (its time stays that of the first cast,
/// so changing a reason does not move a vote to the back).
pub fn upsert(conn: &mut DbConn, vote: &CloseVote) -> QueryResult<()> {
    let changed = diesel::update(close_votes::table.find((vote.question_id, vote.voter_id)))
        .set((close_votes::reason.eq(&vote.reason), close_votes::duplicate_of.eq(vote.duplicate_of)))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(close_votes::table)
            .values((
                close_votes::question_id.eq(vote.question_id),
                close_votes::voter_id.eq(vote.voter_id),
                close_votes::reason.eq(&vote.reason),
                close_votes::duplicate_of.eq(vote.duplicate_of),
                close_votes::created_at.eq(vote.created_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Retracts a voter's vote; says whether there was one.
pub fn delete(conn: &mut DbConn, question_id: i64, voter_id: i64) -> QueryResult<bool> {
    diesel::delete(close_votes::table.find((question_id, voter_id))).execute(conn).map(|n| n > 0)
}

/// Clears a question's votes (it was reopened: closing again takes a fresh
/// set of votes).
pub fn clear(conn: &mut DbConn, question_id: i64) -> QueryResult<usize> {
    diesel::delete(close_votes::table.filter(close_votes::question_id.eq(question_id))).execute(conn)
}
