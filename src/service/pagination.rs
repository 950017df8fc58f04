//! Cursor pagination (openapi.yaml, `limit` and `cursor`): `limit` 1–100 (default 20) and an
//! opaque cursor that carries the keyset position of the last item. Cursors
//! are signed, so a tampered one is a 400 rather than a strange page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{ApiError, ErrorCode};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// The response shape of every list.
#[derive(Debug, Serialize)]
pub struct Page<T: Serialize> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// Signs and checks cursors with a key derived from the server secret, so
/// every node of a deployment accepts the others' cursors.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

type HmacSha256 = Hmac<Sha256>;
const TAG_BYTES: usize = 12;

impl CursorCodec {
    pub fn new(secret: &[u8]) -> CursorCodec {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"agora cursor key v1");
        CursorCodec { key: mac.finalize().into_bytes().to_vec() }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// Encodes a position; `scope` (e.g. the list and its sort) is signed
    /// with it so a cursor from one list is refused by another.
    pub fn encode<T: Serialize>(&self, scope: &str, position: &T) -> String {
        let payload = serde_json::to_vec(position).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(scope.as_bytes());
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
    }

    pub fn decode<T: DeserializeOwned>(&self, scope: &str, cursor: &str) -> Result<T, ApiError> {
        let invalid =
            || ApiError::bad_request(ErrorCode::InvalidCursor, "the cursor is invalid; start again without it");
        if cursor.len() > 512 {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if tag.len() != TAG_BYTES {
            return Err(invalid());
        }
        let mut mac = self.mac();
        mac.update(scope.as_bytes());
        mac.update(&payload);
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(&tag).map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }
}

/// Validates `?limit=`: 1–100, default 20. Out of range is a 422, not a
/// silent clamp, so a client learns the bound.
pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation("limit", "must be between 1 and 100")),
    }
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says
/// whether there is more.
pub fn page<R, T: Serialize>(
    mut rows: Vec<R>,
    limit: i64,
    cursor_of: impl Fn(&R) -> String,
    view: impl FnMut(R) -> T,
) -> Page<T> {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if has_more { rows.last().map(&cursor_of) } else { None };
    Page { items: rows.into_iter().map(view).collect(), next_cursor, has_more }
}

/// A position made of a sort key and the id that breaks ties.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyPosition<K> {
    pub k: K,
    pub id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let codec = CursorCodec::new(b"secret");
        let position = KeyPosition { k: 42, id: 7 };
        let cursor = codec.encode("questions:votes", &position);
        assert_eq!(codec.decode::<KeyPosition<i32>>("questions:votes", &cursor).unwrap(), position);
        assert!(codec.decode::<KeyPosition<i32>>("questions:newest", &cursor).is_err());
        let (payload, tag) = cursor.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"k":1,"id":1}"#);
        assert!(codec.decode::<KeyPosition<i32>>("questions:votes", &format!("{forged_payload}.{tag}")).is_err());
        assert!(codec.decode::<KeyPosition<i32>>("questions:votes", payload).is_err());
        assert!(codec.decode::<KeyPosition<i32>>("questions:votes", "").is_err());
        assert!(CursorCodec::new(b"other").decode::<KeyPosition<i32>>("questions:votes", &cursor).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
    }
}
