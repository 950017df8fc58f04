//! Access tokens (JWT, HS256, 15 minutes) and refresh tokens (random 256
//! bits, stored only as a SHA-256 hash).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::Role;
use crate::error::ApiError;

pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
pub const REFRESH_TOKEN_TTL_DAYS: i64 = 30;
const ISSUER: &str = "agora";

/// The claims of an access token. `tv` is the user's token version at
/// issue: bumping it (password change, suspension) kills the token. `sid`
/// names the login (refresh-token family) the token belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub roles: Vec<Role>,
    pub tv: i32,
    pub sid: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// The signing keys, made once from the secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        TokenKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    pub fn issue(
        &self,
        user_id: i64,
        roles: &[Role],
        token_version: i32,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let claims = AccessClaims {
            sub: user_id.to_string(),
            roles: roles.to_vec(),
            tv: token_version,
            sid: session_id.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + ACCESS_TOKEN_TTL_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Checks signature, algorithm (HS256 only, so `alg: none` fails),
    /// issuer and expiry with no leeway, against both the system clock and
    /// the service clock.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, ApiError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| unauthorized())?;
        if data.claims.exp <= now.timestamp() {
            return Err(unauthorized());
        }
        Ok(data.claims)
    }
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("the access token is invalid or expired".to_owned())
}

/// A new opaque refresh token and the hash under which it is stored.
pub fn new_refresh_token() -> Result<(String, String), ApiError> {
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let hash = hash_refresh_token(&token);
    Ok((token, hash))
}

pub fn hash_refresh_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(bytes)
}

/// A keyed hash: HMAC-SHA256 under a key derived from the server secret
/// and a label, for values that must stay comparable but stop naming
/// anyone (retention's pseudonyms). Every node of a deployment derives the
/// same key.
#[derive(Clone)]
pub struct KeyedHash {
    key: Vec<u8>,
}

impl KeyedHash {
    pub fn new(secret: &[u8], label: &str) -> KeyedHash {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        KeyedHash { key: mac.finalize().into_bytes().to_vec() }
    }

    /// The value's bucket in 0..n, uniform and unpredictable without the
    /// secret.
    pub fn bucket(&self, value: &[u8], n: u32) -> u32 {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(value);
        let bytes = mac.finalize().into_bytes();
        let head = u64::from_be_bytes(bytes[..8].try_into().expect("eight bytes"));
        (head % u64::from(n.max(1))) as u32
    }

    /// 128 bits of the HMAC of the parts (each length-prefixed, so parts
    /// cannot run into each other), base64url: 22 characters.
    pub fn digest(&self, parts: &[&[u8]]) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
    }
}

/// A random identifier for a refresh-token family.
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_expire() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let token = keys.issue(7, &[Role::Resident], 3, "s", now).unwrap();
        let claims = keys.verify(&token, now).unwrap();
        assert_eq!((claims.sub.as_str(), claims.tv), ("7", 3));
        let later = now + chrono::Duration::seconds(ACCESS_TOKEN_TTL_SECS);
        assert!(keys.verify(&token, later).is_err());
        let other = TokenKeys::new(b"another secret of thirty-two bytes!");
        assert!(other.verify(&token, now).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_refresh_token(&a), hash_a);
        assert_ne!(a, hash_a);
    }
}
