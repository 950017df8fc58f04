//! `agora serve --demo`: a believable council community seeded into an
//! empty database, deterministically, with logins printed for each role.

use crate::clock::Clock;
use crate::domain::Role;
use crate::service::passwords;
use crate::startup::StartupError;
use crate::store::users::UserInsertForm;
use crate::store::{DbConn, users, write_transaction};

pub struct DemoLogin {
    pub role: &'static str,
    pub username: &'static str,
    pub password: &'static str,
}

/// The staff accounts of the demo, one per role, and their passwords.
const DEMO_ACCOUNTS: &[(&str, &str, &str, &[Role])] = &[
    ("admin", "council-admin", "Demo Admin", &[Role::Resident, Role::Admin]),
    ("moderator", "mod-priya", "Priya (moderator)", &[Role::Resident, Role::Moderator]),
    ("staff", "staff-waste-team", "Waste Services Team", &[Role::Resident, Role::Staff]),
    ("analyst", "analyst-omar", "Omar (contact centre)", &[Role::Resident, Role::Analyst]),
    ("resident", "jo_bloggs", "Jo Bloggs", &[Role::Resident]),
];

const DEMO_PASSWORD: &str = "demo-password-2026";

/// Seeds the demo into an empty database. Returns the logins, or `None`
/// when the database already has users (a demo never touches real data).
pub fn seed(conn: &mut DbConn, clock: &Clock) -> Result<Option<Vec<DemoLogin>>, StartupError> {
    if users::count(conn)? > 0 {
        return Ok(None);
    }
    let hash = passwords::hash(DEMO_PASSWORD).map_err(|e| e.to_string())?;
    let now = clock.now();
    let logins = write_transaction(conn, |conn| -> Result<_, diesel::result::Error> {
        let mut logins = Vec::new();
        for &(role, username, display_name, roles) in DEMO_ACCOUNTS {
            let form = UserInsertForm {
                username,
                email: &format!("{username}@demo.agora.invalid"),
                password_hash: Some(&hash),
                display_name,
                created_at: now,
                updated_at: now,
            };
            users::insert(conn, &form, roles)?;
            logins.push(DemoLogin { role, username, password: DEMO_PASSWORD });
        }
        Ok(logins)
    })?;
    Ok(Some(logins))
}
