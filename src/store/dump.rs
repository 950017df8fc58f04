//! The JSONL dump: one struct per table with every column (but secrets),
//! and for each table a streaming export in key order and a batched import.
//! `service::dump` drives them; `docs/jsonl-format.md` documents the files.
//!
//! Left out on purpose: password hashes, refresh tokens and login failures
//! (secrets and security state), per-day view keys (personal and
//! short-lived), the search outbox and the deflection state derived from
//! the raw events and the search-gap log (both rebuilt after an import),
//! and mail's delivery state: the mail outbox (it may hold a token until
//! sent), account tokens (secrets) and the digests already sent; API keys
//! (secrets: a restored community issues new ones).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema;
use super::{DbConn, MultiBackend};

/// Rows read per query when exporting.
const PAGE: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("{table}.jsonl line {line}: {source}")]
    Json { table: String, line: u64, source: serde_json::Error },
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
    #[error("no table {0} in a dump")]
    UnknownTable(String),
}

/// `None` of the key type a function returns (for inference).
fn none_like<R, K>(_: &impl Fn(&R) -> K) -> Option<K> {
    None
}

/// Keyset condition: rows after `key` in (a, b, c) order.
macro_rules! after_key {
    ($t:ident, $k:expr, $a:ident) => {
        $t::$a.gt($k.0.clone())
    };
    ($t:ident, $k:expr, $a:ident, $b:ident) => {
        $t::$a.ge($k.0.clone()).and($t::$a.gt($k.0.clone()).or($t::$b.gt($k.1.clone())))
    };
    ($t:ident, $k:expr, $a:ident, $b:ident, $c:ident) => {
        $t::$a.ge($k.0.clone()).and(
            $t::$a
                .gt($k.0.clone())
                .or($t::$b.ge($k.1.clone()).and($t::$b.gt($k.1.clone()).or($t::$c.gt($k.2.clone())))),
        )
    };
}

macro_rules! dump_tables {
    ($( $name:literal => $table:ident as $row:ident by [$($key:ident),+] { $($(#[$attr:meta])* $field:ident : $ty:ty,)* } )*) => {
        $(
            #[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
            #[diesel(table_name = schema::$table)]
            #[serde(deny_unknown_fields)]
            pub struct $row {
                $($(#[$attr])* pub $field: $ty,)*
            }
        )*

        /// The tables of a dump, in the order they load (referenced before
        /// referencing).
        pub const TABLES: &[&str] = &[$($name),*];

        /// Writes a table's rows in key order, one JSON object per line, a
        /// page at a time; returns how many.
        pub fn export(
            conn: &mut DbConn,
            name: &str,
            out: &mut dyn FnMut(&str) -> std::io::Result<()>,
        ) -> Result<u64, DumpError> {
            match name {
                $($name => {
                    use schema::$table as t;
                    let mut count = 0u64;
                    let key_of = |r: &$row| ($(r.$key.clone(),)+);
                    let mut after = none_like(&key_of);
                    loop {
                        let mut query = t::table
                            .order(($(t::$key,)+))
                            .limit(PAGE)
                            .select($row::as_select())
                            .into_boxed::<MultiBackend>();
                        if let Some(key) = &after {
                            query = query.filter(after_key!(t, key, $($key),+));
                        }
                        let rows: Vec<$row> = query.load(conn)?;
                        for row in &rows {
                            let line = serde_json::to_string(row)
                                .map_err(|source| DumpError::Json { table: name.to_owned(), line: count, source })?;
                            out(&line)?;
                            count += 1;
                        }
                        match rows.last() {
                            Some(last) if rows.len() as i64 == PAGE => after = Some(key_of(last)),
                            _ => return Ok(count),
                        }
                    }
                })*
                other => Err(DumpError::UnknownTable(other.to_owned())),
            }
        }

        /// Inserts lines of a table's file (`first_line` numbers them for
        /// errors), in batches that fit both backends' bind limits.
        pub fn import(conn: &mut DbConn, name: &str, lines: &[String], first_line: u64) -> Result<(), DumpError> {
            match name {
                $($name => {
                    use schema::$table as t;
                    let rows = lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| serde_json::from_str::<$row>(l).map_err(|source| DumpError::Json {
                            table: name.to_owned(),
                            line: first_line + i as u64,
                            source,
                        }))
                        .collect::<Result<Vec<_>, _>>()?;
                    let columns = [$(stringify!($field)),*].len();
                    for chunk in rows.chunks((30_000 / columns).max(1)) {
                        match conn {
                            DbConn::Sqlite(c) => diesel::insert_into(t::table).values(chunk).execute(c)?,
                            DbConn::Postgres(c) => diesel::insert_into(t::table).values(chunk).execute(c)?,
                        };
                    }
                    Ok(())
                })*
                other => Err(DumpError::UnknownTable(other.to_owned())),
            }
        }

        /// (table, columns in the schema, columns in the dump) for every
        /// table: a new column must be added here too.
        pub fn coverage() -> Vec<(&'static str, usize, usize)> {
            vec![$({
                use schema::$table as t;
                let all = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&t::table.select(t::all_columns)).to_string();
                let dumped = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&t::table.select($row::as_select())).to_string();
                ($name, all.matches(',').count() + 1, dumped.matches(',').count() + 1)
            }),*]
        }
    };
}

dump_tables! {
    "users" => users as UsersRow by [id] {
        id: i64,
        username: String,
        email: String,
        display_name: String,
        bio: String,
        area: Option<String>,
        reputation: i32,
        token_version: i32,
        suspended_until: Option<NaiveDateTime>,
        suspension_reason: Option<String>,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
        accepted_answers: i32,
        expert_notifications: bool,
        // Dumps from before mail have neither.
        #[serde(default)]
        email_verified_at: Option<NaiveDateTime>,
        #[serde(default)]
        email_undeliverable_at: Option<NaiveDateTime>,
        // Dumps from before erasure have none.
        #[serde(default)]
        erased_at: Option<NaiveDateTime>,
    }
    "user_roles" => user_roles as UserRolesRow by [user_id, role] {
        user_id: i64,
        role: String,
    }
    "categories" => categories as CategoriesRow by [id] {
        id: i64,
        slug: String,
        name: String,
        description: String,
        question_count: i32,
        created_at: NaiveDateTime,
    }
    "tags" => tags as TagsRow by [id] {
        id: i64,
        name: String,
        question_count: i32,
        created_by: Option<i64>,
        created_at: NaiveDateTime,
    }
    "questions" => questions as QuestionsRow by [id] {
        id: i64,
        author_id: i64,
        category_id: i64,
        title: String,
        body: String,
        body_html: String,
        area: Option<String>,
        score: i32,
        answer_count: i32,
        view_count: i64,
        accepted_answer_id: Option<i64>,
        has_verified_answer: bool,
        status: String,
        closed_at: Option<NaiveDateTime>,
        close_reason: Option<String>,
        duplicate_of: Option<i64>,
        locked_at: Option<NaiveDateTime>,
        hidden_at: Option<NaiveDateTime>,
        deleted_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
        last_activity_at: NaiveDateTime,
    }
    "question_tags" => question_tags as QuestionTagsRow by [question_id, tag_id] {
        question_id: i64,
        tag_id: i64,
    }
    "answers" => answers as AnswersRow by [id] {
        id: i64,
        question_id: i64,
        author_id: i64,
        body: String,
        body_html: String,
        score: i32,
        verified_at: Option<NaiveDateTime>,
        verified_by: Option<i64>,
        review_by: Option<NaiveDateTime>,
        hidden_at: Option<NaiveDateTime>,
        deleted_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    "comments" => comments as CommentsRow by [id] {
        id: i64,
        question_id: i64,
        answer_id: Option<i64>,
        author_id: i64,
        body: String,
        body_html: String,
        hidden_at: Option<NaiveDateTime>,
        deleted_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
    }
    "revisions" => revisions as RevisionsRow by [id] {
        id: i64,
        post_type: String,
        post_id: i64,
        revision: i32,
        editor_id: i64,
        title: Option<String>,
        body: String,
        tags: Option<String>,
        redacted_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
    }
    "votes" => votes as VotesRow by [id] {
        id: i64,
        voter_id: i64,
        post_type: String,
        post_id: i64,
        value: i32,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    "follows" => follows as FollowsRow by [user_id, question_id] {
        user_id: i64,
        question_id: i64,
        created_at: NaiveDateTime,
    }
    "notifications" => notifications as NotificationsRow by [id] {
        id: i64,
        user_id: i64,
        kind: String,
        question_id: Option<i64>,
        answer_id: Option<i64>,
        comment_id: Option<i64>,
        actor_id: Option<i64>,
        created_at: NaiveDateTime,
        read_at: Option<NaiveDateTime>,
    }
    "reputation_events" => reputation_events as ReputationEventsRow by [id] {
        id: i64,
        user_id: i64,
        delta: i32,
        points: i32,
        reason: String,
        source_type: String,
        source_id: i64,
        post_type: Option<String>,
        post_id: Option<i64>,
        category_id: Option<i64>,
        day: String,
        reverses_id: Option<i64>,
        created_at: NaiveDateTime,
    }
    "user_category_stats" => user_category_stats as UserCategoryStatsRow by [user_id, category_id] {
        user_id: i64,
        category_id: i64,
        reputation: i32,
        accepted_answers: i32,
        solved_answers: i32,
    }
    "badges" => badges as BadgesRow by [id] {
        id: i64,
        user_id: i64,
        badge: String,
        awarded_at: NaiveDateTime,
    }
    "settings" => settings as SettingsRow by [name] {
        name: String,
        value: String,
        updated_at: NaiveDateTime,
    }
    "close_votes" => close_votes as CloseVotesRow by [question_id, voter_id] {
        question_id: i64,
        voter_id: i64,
        reason: String,
        duplicate_of: Option<i64>,
        created_at: NaiveDateTime,
    }
    "flags" => flags as FlagsRow by [id] {
        id: i64,
        reporter_id: Option<i64>,
        target_type: String,
        target_id: i64,
        question_id: i64,
        target_author_id: i64,
        reason: String,
        note: Option<String>,
        status: String,
        resolution: Option<String>,
        resolved_by: Option<i64>,
        resolution_note: Option<String>,
        resolved_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
    }
    "audit_log" => audit_log as AuditLogRow by [id] {
        id: i64,
        actor_id: Option<i64>,
        action: String,
        target_type: String,
        target_id: Option<i64>,
        reason: Option<String>,
        before_state: Option<String>,
        after_state: Option<String>,
        created_at: NaiveDateTime,
    }
    "search_gaps" => search_gaps as SearchGapsRow by [id] {
        id: i64,
        query: String,
        kind: String,
        results: i32,
        category: Option<String>,
        created_at: NaiveDateTime,
        area: Option<String>,
        visitor_id: Option<String>,
    }
    "deflection_events" => deflection_events as DeflectionEventsRow by [id] {
        id: i64,
        event_id: String,
        kind: String,
        occurred_at: NaiveDateTime,
        occurred_epoch: i64,
        received_at: NaiveDateTime,
        visitor_id: String,
        session_id: Option<String>,
        user_id: Option<i64>,
        question_id: Option<i64>,
        answer_id: Option<i64>,
        intent_id: Option<String>,
        query: Option<String>,
        result_ids: Option<String>,
        rank: Option<i32>,
        value: Option<String>,
        channel: Option<String>,
        category: Option<String>,
        question_solved: Option<bool>,
        source: String,
        excluded: bool,
        exclusion_reason: Option<String>,
        area: Option<String>,
        // Dumps from before the plausibility limits have none.
        #[serde(default)]
        address_key: Option<String>,
    }
    "experiment_arms" => experiment_arms as ExperimentArmsRow by [intent_id] {
        intent_id: String,
        arm: String,
        assigned_at: NaiveDateTime,
    }
    "mail_preferences" => mail_preferences as MailPreferencesRow by [user_id] {
        user_id: i64,
        kinds: String,
        digest: String,
        updated_at: NaiveDateTime,
    }
    "import_map" => import_map as ImportMapRow by [source, kind, source_id] {
        source: String,
        kind: String,
        source_id: String,
        target_id: i64,
    }
}

/// Runs `f` in a transaction that sees one snapshot of the database (an
/// export must not mix states).
pub fn in_snapshot<T, E: From<diesel::result::Error>>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E> {
    match conn.backend() {
        // A deferred transaction in WAL mode reads one snapshot from its
        // first read.
        super::Backend::Sqlite => conn.transaction(f),
        super::Backend::Postgres => conn.transaction(|conn| {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(conn)?;
            f(conn)
        }),
    }
}

/// Inside a restore's transaction: references are checked at commit, so
/// rows may point at rows later in the dump.
pub fn defer_references(conn: &mut DbConn) -> QueryResult<()> {
    let sql = match conn.backend() {
        super::Backend::Sqlite => "PRAGMA defer_foreign_keys = ON",
        super::Backend::Postgres => "SET CONSTRAINTS ALL DEFERRED",
    };
    diesel::sql_query(sql).execute(conn).map(|_| ())
}

/// Tables whose rows carry an `id` from a sequence.
const WITH_IDS: [&str; 15] = [
    "users",
    "categories",
    "tags",
    "questions",
    "answers",
    "comments",
    "revisions",
    "votes",
    "notifications",
    "reputation_events",
    "badges",
    "flags",
    "audit_log",
    "search_gaps",
    "deflection_events",
];

/// After rows were inserted with their own ids, the next id of each table
/// follows the largest (PostgreSQL; SQLite's AUTOINCREMENT keeps track).
pub fn reset_sequences(conn: &mut DbConn) -> QueryResult<()> {
    if conn.backend() != super::Backend::Postgres {
        return Ok(());
    }
    for table in WITH_IDS {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        );
        diesel::sql_query(sql).execute(conn)?;
    }
    Ok(())
}

/// Rows in the tables that say whether a database holds a community.
pub fn community_rows(conn: &mut DbConn) -> QueryResult<i64> {
    let users: i64 = schema::users::table.count().get_result(conn)?;
    let categories: i64 = schema::categories::table.count().get_result(conn)?;
    let events: i64 = schema::deflection_events::table.count().get_result(conn)?;
    Ok(users + categories + events)
}

/// Settings rows a fresh database may have made; a restore brings its own.
pub fn clear_settings(conn: &mut DbConn) -> QueryResult<()> {
    diesel::delete(schema::settings::table).execute(conn).map(|_| ())
}

/// Fresh planner statistics after a bulk load on PostgreSQL: without them
/// it plans for empty tables (nested loops over every question to list
/// twenty) until autovacuum gets round to it. Not on SQLite: it plans well
/// without statistics, and statistics that miss the indexes of a later
/// migration mislead it (it sorted all questions to list twenty).
pub fn analyze(conn: &mut DbConn) -> QueryResult<()> {
    match conn.backend() {
        super::Backend::Postgres => diesel::sql_query("ANALYZE").execute(conn).map(|_| ()),
        super::Backend::Sqlite => Ok(()),
    }
}
