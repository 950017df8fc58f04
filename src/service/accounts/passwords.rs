//! Password hashing with argon2id at the OWASP parameters (m = 19 MiB,
//! t = 2, p = 1), argon2's defaults.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::ApiError;

/// Hashes a password into a `$argon2id$v=19$m=19456,t=2,p=1$…` PHC string.
/// CPU-bound (tens of milliseconds): call it off the async workers.
pub fn hash(password: &str) -> Result<String, ApiError> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(ApiError::internal)
}

/// A hash of a password nobody knows, verified when the account does not
/// exist (or cannot log in) so that the answer takes as long either way.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash("agora-dummy-password-never-used").unwrap_or_default());

/// Whether `password` matches `stored`. With no stored hash the dummy hash
/// is checked and the answer is always false.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(phc) => Argon2::default().verify_password(password.as_bytes(), phc).is_ok(),
        None => {
            let _ = Argon2::default().verify_password(password.as_bytes(), DUMMY_HASH.as_str());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_owasp_and_verify() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", Some(&phc)));
        assert!(!verify("wrong horse battery", Some(&phc)));
        assert!(!verify("anything", None));
        assert!(!verify("anything", Some("not a phc string")));
    }
}
