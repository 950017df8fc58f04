//! A question's cached state: its answer count, acceptance, council
//! verification and status, recomputed from its answers by every write
//! that can change them.

use super::question_status;
use crate::error::ApiResult;
use crate::store::questions::Question;
use crate::store::{self, DbConn};

/// Recomputes a question's cached answer count, acceptance and status from
/// its answers. Every write that can change them calls this.
pub fn refresh_state(conn: &mut DbConn, question: &Question) -> ApiResult<()> {
    let (visible, verified) = store::answers::visible_counts(conn, question.id)?;
    let accepted = match question.accepted_answer_id {
        Some(answer_id) => store::answers::find(conn, answer_id)?.filter(|a| a.deleted_at.is_none()).map(|a| a.id),
        None => None,
    };
    let status = question_status(visible, accepted.is_some(), verified > 0);
    store::questions::set_state(
        conn,
        question.id,
        &store::questions::QuestionState {
            answer_count: visible as i32,
            has_verified_answer: verified > 0,
            accepted_answer_id: accepted,
            status: status.to_owned(),
        },
    )?;
    Ok(())
}
