//! Hand-written SQL that stays prepared on its connection.
//!
//! diesel never caches `sql_query`: each run is parsed again (SQLite) or
//! parsed and planned again (PostgreSQL). On SQLite's write path of
//! deflection events, parsing was 8 % of the writer's time, 3 % of it a
//! fixed-text statement run for every solved view (`epoch_of`;
//! bench/results/2026-12-07-profiles.md). [`cached_sql`] is the same
//! raw SQL with `?` placeholders, each bound value written in its
//! backend's own placeholder (`?` or `$n`), and cached by its text like
//! any diesel query: one prepared statement per distinct text, so it is
//! for statements whose text is fixed (not for lists spelled out one
//! placeholder per value, nor multi-row inserts of any length: those
//! stay `sql_query`, and splitting them into chunks of fixed sizes that
//! could be cached was slower, bench/results/2026-12-07-profiles.md).

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::result::Error;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// Raw SQL with its bound values; build it with [`cached_sql`] and
/// [`CachedSql::bind`], then `load`, `get_result` or `execute` it.
pub struct CachedSql<'f, DB: Backend> {
    sql: String,
    binds: Vec<Box<dyn QueryFragment<DB> + Send + 'f>>,
}

/// `sql`, whose `?` are the placeholders (no `?` elsewhere: not in
/// literals or comments), one per [`CachedSql::bind`] in order.
pub fn cached_sql<'f, DB: Backend>(sql: impl Into<String>) -> CachedSql<'f, DB> {
    CachedSql { sql: sql.into(), binds: Vec::new() }
}

impl<'f, DB: Backend> CachedSql<'f, DB> {
    /// Binds the next placeholder.
    pub fn bind<ST, V>(mut self, value: V) -> Self
    where
        DB: HasSqlType<ST>,
        V: ToSql<ST, DB> + Send + 'f,
        ST: Send + 'f,
    {
        self.binds.push(Box::new(Bound { value, sql_type: PhantomData::<ST> }));
        self
    }
}

struct Bound<ST, V> {
    value: V,
    sql_type: PhantomData<ST>,
}

impl<ST, V, DB> QueryFragment<DB> for Bound<ST, V>
where
    DB: Backend + HasSqlType<ST>,
    V: ToSql<ST, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_bind_param::<ST, V>(&self.value)
    }
}

impl<DB: Backend> QueryFragment<DB> for CachedSql<'_, DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut rest = self.sql.as_str();
        for bind in &self.binds {
            let (head, tail) = rest.split_once('?').ok_or_else(|| miscounted(&self.sql))?;
            out.push_sql(head);
            bind.walk_ast(out.reborrow())?;
            rest = tail;
        }
        if rest.contains('?') {
            return Err(miscounted(&self.sql));
        }
        out.push_sql(rest);
        Ok(())
    }
}

fn miscounted(sql: &str) -> Error {
    Error::QueryBuilderError(format!("placeholders and bound values differ in number: {sql}").into())
}

/// Cached by its SQL text (no static query id).
impl<DB: Backend> QueryId for CachedSql<'_, DB> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend> Query for CachedSql<'_, DB> {
    type SqlType = Untyped;
}

impl<Conn, DB: Backend> RunQueryDsl<Conn> for CachedSql<'_, DB> {}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Connection, InstrumentationEvent};
    use diesel::sql_types::{BigInt, Nullable, Text};
    use diesel::{QueryableByName, SqliteConnection};

    use super::*;

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Nullable<Text>)]
        note: Option<String>,
    }

    #[test]
    fn raw_sql_is_prepared_once_and_binds_in_order() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)").execute(&mut conn).unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        for (id, note) in [(1, Some("one")), (2, None), (3, Some("three"))] {
            let inserted = cached_sql("INSERT INTO t (id, note) VALUES (?, ?)")
                .bind::<BigInt, _>(id)
                .bind::<Nullable<Text>, _>(note)
                .execute(&mut conn)
                .unwrap();
            assert_eq!(inserted, 1);
        }
        let read = |conn: &mut SqliteConnection, above: i64| -> Vec<Row> {
            cached_sql("SELECT id, note FROM t WHERE id > ? AND id < ? ORDER BY id")
                .bind::<BigInt, _>(above)
                .bind::<BigInt, _>(10)
                .load(conn)
                .unwrap()
        };
        assert_eq!(read(&mut conn, 1), vec![Row { id: 2, note: None }, Row { id: 3, note: Some("three".into()) }]);
        assert_eq!(read(&mut conn, 2).len(), 1);
        assert_eq!(cached.lock().unwrap().len(), 2, "one statement per text: {:?}", cached.lock().unwrap());

        // A placeholder without its value, or a value without its
        // placeholder, is an error, not a statement run with a gap.
        let one_short = cached_sql("SELECT id, note FROM t WHERE id > ? AND id < ?").bind::<BigInt, _>(1);
        assert!(matches!(one_short.load::<Row>(&mut conn), Err(Error::QueryBuilderError(_))));
        let one_over = cached_sql("SELECT id, note FROM t WHERE id > ?").bind::<BigInt, _>(1).bind::<BigInt, _>(2);
        assert!(matches!(one_over.load::<Row>(&mut conn), Err(Error::QueryBuilderError(_))));
    }
}
