//! Privacy: how long what visitors leave behind is kept as it came
//! (`retention`). The rights of signed-in users (export, erasure) live with
//! accounts and moderation; `docs/privacy.md` describes all of it for a
//! council's data-protection officer.

pub mod retention;
