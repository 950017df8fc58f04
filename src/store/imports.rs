//! The import map: which record an importer made of each source record.

use diesel::prelude::*;

use super::DbConn;
use super::schema::import_map as im;

/// The record made of `source_id` (of `kind`, from `source`), if any.
pub fn target(conn: &mut DbConn, source: &str, kind: &str, source_id: &str) -> QueryResult<Option<i64>> {
    im::table.find((source, kind, source_id)).select(im::target_id).first(conn).optional()
}

pub fn record(conn: &mut DbConn, source: &str, kind: &str, source_id: &str, target_id: i64) -> QueryResult<()> {
    diesel::insert_into(im::table)
        .values((im::source.eq(source), im::kind.eq(kind), im::source_id.eq(source_id), im::target_id.eq(target_id)))
        .execute(conn)
        .map(|_| ())
}

/// How many records of a kind a source has produced.
pub fn count(conn: &mut DbConn, source: &str, kind: &str) -> QueryResult<i64> {
    im::table.filter(im::source.eq(source)).filter(im::kind.eq(kind)).count().get_result(conn)
}
