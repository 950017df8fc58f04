//! Both migration sets must give the same tables and columns (and the same
//! nullability), so every query means the same on either backend.

use std::collections::BTreeMap;

use agora::store::{self, PoolOptions};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use super::helpers::{TestDatabase, postgres_admin_url};

type Columns = BTreeMap<String, BTreeMap<String, bool>>;

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

fn options() -> PoolOptions {
    PoolOptions::new(1, std::time::Duration::from_secs(10))
}

fn sqlite_columns() -> Columns {
    let dir = std::env::temp_dir().join(format!("agora-parity-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pool, _) = store::connect(dir.join("agora.db").to_str().unwrap(), &options()).unwrap();
    let mut conn = pool.get().unwrap();
    store::migrate(&mut conn).unwrap();
    let rows: Vec<SqliteColumn> = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" AS not_null, p.pk AS pk
         FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .unwrap();
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
    let mut columns = Columns::new();
    for row in rows {
        // SQLite lets a non-INTEGER primary key column hold NULL unless
        // declared NOT NULL; key columns are never NULL in practice.
        let nullable = row.not_null == 0 && row.pk == 0;
        columns.entry(row.table_name).or_default().insert(row.column_name, nullable);
    }
    columns
}

fn postgres_columns() -> Columns {
    let (db, url) = TestDatabase::create();
    assert!(matches!(db, TestDatabase::Postgres { .. }));
    let (pool, _) = store::connect(&url, &options()).unwrap();
    let mut conn = pool.get().unwrap();
    store::migrate(&mut conn).unwrap();
    let rows: Vec<PgColumn> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, is_nullable::text AS is_nullable
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .unwrap();
    drop(conn);
    drop(pool);
    let mut columns = Columns::new();
    for row in rows {
        columns.entry(row.table_name).or_default().insert(row.column_name, row.is_nullable == "YES");
    }
    columns
}

#[test]
fn migrations_give_the_same_tables_and_columns_on_both_backends() {
    if postgres_admin_url().is_none() {
        eprintln!("NOTICE: schema parity needs PostgreSQL; set AGORA_TEST_DATABASE_URL to run it (.ci/run does)");
        return;
    }
    let sqlite = sqlite_columns();
    let postgres = postgres_columns();
    assert!(sqlite.contains_key("users"), "{sqlite:?}");
    assert_eq!(sqlite, postgres);
}
