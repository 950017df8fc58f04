//! `column IN (ids)` as one statement whatever the number of ids.
//!
//! diesel writes `eq_any` on SQLite as `IN (?, ?, …)`, one placeholder per
//! id, and so never caches the statement: every question page prepared
//! its roles query again (5 % of the server's CPU under load,
//! bench/results/2026-12-07-profiles.md). Here SQLite reads the ids from
//! one JSON array (`json_each`) and PostgreSQL from one array, so the
//! statement text is the same for any list and stays prepared on the
//! connection. Only with `native!` (the concrete connection).

use diesel::QueryResult;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Text};
use diesel::sqlite::Sqlite;

/// `column IN (ids)`; build it with [`in_ids`].
#[derive(Debug, Clone)]
pub struct InIds<C> {
    column: C,
    ids: Vec<i64>,
    /// The ids as a JSON array, SQLite's one bound value.
    json: String,
}

/// Whether `column` (a `BIGINT`) is one of `ids`.
pub fn in_ids<C>(column: C, ids: &[i64]) -> InIds<C> {
    let json = serde_json::to_string(ids).expect("integers serialize");
    InIds { column, ids: ids.to_vec(), json }
}

impl<C: Expression<SqlType = BigInt>> Expression for InIds<C> {
    type SqlType = Bool;
}

impl<C, QS> AppearsOnTable<QS> for InIds<C>
where
    C: AppearsOnTable<QS>,
    Self: Expression,
{
}

impl<C: ValidGrouping<GB>, GB> ValidGrouping<GB> for InIds<C> {
    type IsAggregate = C::IsAggregate;
}

impl<C: QueryId> QueryId for InIds<C> {
    type QueryId = InIds<C::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = C::HAS_STATIC_QUERY_ID;
}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for InIds<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, String>(&self.json)?;
        out.push_sql("))");
        Ok(())
    }
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for InIds<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<BigInt>, Vec<i64>>(&self.ids)?;
        out.push_sql(")");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Connection, InstrumentationEvent};
    use diesel::prelude::*;

    use super::in_ids;

    diesel::table! {
        roles (id) {
            id -> BigInt,
            user_id -> BigInt,
        }
    }

    /// The rows for each list, and the SQL of every statement the
    /// connection prepared and kept.
    fn run(
        lists: &[&[i64]],
        query: impl Fn(&mut SqliteConnection, &[i64]) -> QueryResult<Vec<i64>>,
    ) -> (Vec<Vec<i64>>, Vec<String>) {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query("CREATE TABLE roles (id INTEGER PRIMARY KEY, user_id BIGINT NOT NULL)")
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query("INSERT INTO roles (user_id) VALUES (1), (2), (2), (3), (5), (8)")
            .execute(&mut conn)
            .unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        let rows = lists.iter().map(|ids| query(&mut conn, ids).unwrap()).collect();
        let cached = cached.lock().unwrap().clone();
        (rows, cached)
    }

    #[test]
    fn one_statement_is_prepared_for_lists_of_any_length() {
        let lists: [&[i64]; 4] = [&[2], &[1, 3, 8], &[5, 4, 2, 9, 1], &[7]];
        let by_list = |conn: &mut SqliteConnection, ids: &[i64]| {
            roles::table.filter(in_ids(roles::user_id, ids)).order(roles::id).select(roles::user_id).load(conn)
        };
        let (rows, cached) = run(&lists, by_list);
        assert_eq!(rows, vec![vec![2, 2], vec![1, 3, 8], vec![1, 2, 2, 5], vec![]]);
        assert_eq!(cached.len(), 1, "prepared and kept once: {cached:?}");
        assert!(cached[0].contains("json_each"), "{}", cached[0]);

        // What it replaces: diesel's `eq_any` keeps none (each is prepared
        // again), with the same rows.
        let by_eq_any = |conn: &mut SqliteConnection, ids: &[i64]| {
            roles::table.filter(roles::user_id.eq_any(ids)).order(roles::id).select(roles::user_id).load(conn)
        };
        let (same_rows, none_kept) = run(&lists, by_eq_any);
        assert_eq!(same_rows, rows);
        assert!(none_kept.is_empty(), "{none_kept:?}");
    }
}
