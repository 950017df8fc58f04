//! Rate-limit buckets shared by every node through the database, for
//! PostgreSQL deployments of several nodes (`http::ratelimit` keeps them in
//! memory on SQLite, one node).

use crate::error::ApiResult;
use crate::store::{DbConn, rate_limits};

/// Takes a token from the shared bucket: (allowed, tokens left).
pub fn take_shared(conn: &mut DbConn, bucket: &str, capacity: f64, rate_per_sec: f64) -> ApiResult<(bool, f64)> {
    Ok(rate_limits::take(conn, bucket, capacity, rate_per_sec)?)
}

/// Forgets idle buckets.
pub fn sweep_shared(conn: &mut DbConn) -> ApiResult<usize> {
    Ok(rate_limits::sweep(conn)?)
}
