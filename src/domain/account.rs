//! Account values: usernames, emails, passwords, display names and roles.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A login name: 3–32 of `[a-z0-9_.-]`. Input is case-insensitive and
/// stored lowercased, which makes uniqueness case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Names that would let someone pose as the council or the service.
const RESERVED_USERNAMES: &[&str] = &[
    "admin",
    "administrator",
    "agora",
    "council",
    "moderator",
    "mod",
    "root",
    "staff",
    "support",
    "system",
    "help",
    "official",
    "api",
    "null",
    "anonymous",
];

impl Username {
    pub fn parse(input: &str) -> Result<Username, String> {
        let name = input.trim().to_ascii_lowercase();
        let length = name.chars().count();
        if !(3..=32).contains(&length) {
            return Err("must be 3 to 32 characters".to_owned());
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
        if !name.chars().all(allowed) {
            return Err("may contain only letters, digits, '_', '.' and '-'".to_owned());
        }
        // Erased accounts are renamed former-resident-<id>.
        if RESERVED_USERNAMES.contains(&name.as_str()) || name.starts_with("former-resident") {
            return Err("is reserved".to_owned());
        }
        Ok(Username(name))
    }

    /// Accounts created by operators (`agora user create`) may take a
    /// reserved name such as `admin`.
    pub fn parse_allowing_reserved(input: &str) -> Result<Username, String> {
        match Username::parse(input) {
            Err(message) if message == "is reserved" => Ok(Username(input.trim().to_ascii_lowercase())),
            other => other,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, lowercased. Deliberately loose: the only real check of
/// an address is a message that arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Email, String> {
        let email = input.trim().to_lowercase();
        if email.len() > 254 {
            return Err("must be at most 254 characters".to_owned());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("is not an email address".to_owned());
        };
        let well_formed = !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            // What a mail server would refuse as a recipient (quotes,
            // brackets, empty labels) is refused here, not at send time.
            && email.parse::<lettre::Address>().is_ok();
        if !well_formed {
            return Err("is not an email address".to_owned());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy. Never printed.
#[derive(Clone)]
pub struct Password(String);

const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

impl Password {
    pub const MIN_CHARS: usize = 10;
    /// Bounds the work a single request can ask of argon2.
    pub const MAX_CHARS: usize = 256;

    /// Checks a new password; `username` must not be its main part.
    pub fn parse(input: &str, username: Option<&str>) -> Result<Password, String> {
        let length = input.chars().count();
        if length < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if length > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        let lowered = input.to_lowercase();
        if COMMON_PASSWORDS.lines().any(|common| common.eq_ignore_ascii_case(&lowered)) {
            return Err("is too common".to_owned());
        }
        if lowered.chars().all(|c| lowered.starts_with(c)) {
            return Err("is too easy to guess".to_owned());
        }
        if let Some(name) = username
            && lowered.contains(&name.to_lowercase())
            && length < name.len() + Self::MIN_CHARS
        {
            return Err("must not be based on the username".to_owned());
        }
        Ok(Password(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A display name: 1–64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(input: &str) -> Result<DisplayName, String> {
        super::bounded_text(input, 1, 64, false).map(DisplayName)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A role a user may hold (several at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    Staff,
    Moderator,
    Admin,
    Analyst,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Resident, Role::Staff, Role::Moderator, Role::Admin, Role::Analyst];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Staff => "staff",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(input: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == input)
            .ok_or_else(|| "must be one of resident, staff, moderator, admin, analyst".to_owned())
    }

    /// Roles shown on public profiles, so residents know who speaks for the
    /// council and who moderates. Admin and analyst stay private.
    pub fn is_public(self) -> bool {
        matches!(self, Role::Staff | Role::Moderator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse(" Alice.B ").unwrap().as_str(), "alice.b");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("bad name").is_err());
        assert!(Username::parse("élodie").is_err());
        assert!(Username::parse("admin").is_err());
        assert_eq!(Username::parse_allowing_reserved("Admin").unwrap().as_str(), "admin");
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse("Ann@Example.ORG").unwrap().as_str(), "ann@example.org");
        for bad in ["ann", "ann@", "@example.org", "ann@example", "a b@example.org", "a@b@c.org"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("correct horse battery", None).is_ok());
        assert!(Password::parse("short", None).is_err());
        assert!(Password::parse("Password123", None).is_err());
        assert!(Password::parse("qwertyuiop", None).is_err());
        assert!(Password::parse("aaaaaaaaaaaa", None).is_err());
        assert!(Password::parse("alice12345", Some("alice")).is_err());
        assert!(Password::parse(&"x1".repeat(200), None).is_err());
        assert_eq!(format!("{:?}", Password::parse("correct horse battery", None).unwrap()), "Password(<redacted>)");
    }
}
