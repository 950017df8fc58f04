//! The sums behind the deflection reports: aggregates over the daily
//! rollups (summary, time series, experiment, export), and over the derived
//! state where a report needs per-question detail.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{DbConn, MultiBackend, portable_sql};

/// What a report covers.
#[derive(Debug, Clone)]
pub struct Scope {
    /// UTC day numbers, `from_day` inclusive, `to_day` exclusive.
    pub from_day: i64,
    pub to_day: i64,
    pub window_days: i64,
    /// Unix seconds now, and how long an intent must be idle to count as
    /// abandoned.
    pub now: i64,
    pub abandon_after_secs: i64,
    pub category: Option<String>,
    /// A ward or neighbourhood, exactly as events carry it.
    pub area: Option<String>,
}

impl Scope {
    fn start_secs(&self) -> i64 {
        self.from_day * 86_400
    }

    fn end_secs(&self) -> i64 {
        self.to_day * 86_400
    }

    fn window_secs(&self) -> i64 {
        self.window_days * 86_400
    }
}

/// How rollup days are grouped.
#[derive(Debug, Clone)]
pub enum Buckets {
    /// One bucket for the whole period (keyed by its first day).
    Whole,
    /// One bucket per day.
    Days,
    /// Buckets starting on these days (ascending, the first = `from_day`).
    Starting(Vec<i64>),
}

/// Sums of one metric in one bucket and category.
#[derive(QueryableByName, Debug, Clone, Default)]
pub struct MetricSums {
    #[diesel(sql_type = BigInt)]
    pub bucket: i64,
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = Text)]
    pub metric: String,
    /// Every row.
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    /// Rows with no contact within the window (`gap > window`).
    #[diesel(sql_type = BigInt)]
    pub beyond_window: i64,
    /// Those of them whose pair is not a confirmed deflection.
    #[diesel(sql_type = BigInt)]
    pub beyond_window_unconfirmed: i64,
    /// Rows flagged yes (`gap = 1`).
    #[diesel(sql_type = BigInt)]
    pub flagged: i64,
    /// Visitor-days whose visitor had no such day earlier in the bucket:
    /// each visitor once.
    #[diesel(sql_type = BigInt)]
    pub first_in_bucket: i64,
}

type Boxed = diesel::query_builder::BoxedSqlQuery<'static, MultiBackend, diesel::query_builder::SqlQuery>;

/// The bucket's first day, as SQL over `day`, with the values it binds.
fn bucket_sql(buckets: &Buckets, from_day: i64) -> (String, Vec<i64>) {
    match buckets {
        Buckets::Whole => ("?".to_owned(), vec![from_day]),
        Buckets::Starting(starts) if starts.len() < 2 => {
            ("?".to_owned(), vec![starts.first().copied().unwrap_or(from_day)])
        }
        Buckets::Days => ("day".to_owned(), vec![]),
        Buckets::Starting(starts) => {
            let mut sql = "CASE".to_owned();
            let mut binds = Vec::new();
            for pair in starts.windows(2) {
                sql.push_str(" WHEN day < ? THEN ?");
                binds.extend([pair[1], pair[0]]);
            }
            sql.push_str(" ELSE ? END");
            binds.push(*starts.last().unwrap_or(&from_day));
            (sql, binds)
        }
    }
}

fn bind_all(mut query: Boxed, values: &[i64]) -> Boxed {
    for v in values {
        query = query.bind::<BigInt, _>(*v);
    }
    query
}

fn bind_texts(mut query: Boxed, values: &[&str]) -> Boxed {
    for v in values {
        query = query.bind::<Text, _>((*v).to_owned());
    }
    query
}

/// Binds the values of `filter_clause`.
fn bind_filters(mut query: Boxed, scope: &Scope) -> Boxed {
    for value in [&scope.category, &scope.area].into_iter().flatten() {
        query = query.bind::<Text, _>(value.clone());
    }
    query
}

/// ` AND {category} = ? AND {area} = ?`, for the filters the scope has.
fn filter_clause(scope: &Scope, category: &str, area: &str) -> String {
    let mut sql = String::new();
    if scope.category.is_some() {
        sql.push_str(&format!(" AND {category} = ?"));
    }
    if scope.area.is_some() {
        sql.push_str(&format!(" AND {area} = ?"));
    }
    sql
}

/// Metrics whose rollup rows are kept per report cell (distinct visitors)
/// rather than per derived row, and the cell the scope reads: the
/// filter's category and area, or the marker for any.
pub struct PerCell<'a> {
    pub metrics: &'a [&'a str],
    pub category: &'a str,
    pub area: &'a str,
}

/// Every metric's sums per bucket and category over the period: one
/// aggregate over the rollups, whose size depends on days, categories and
/// areas, not on the number of events. Per-row metrics sum the rows the
/// filters match; per-cell metrics read the scope's cell only.
pub fn metric_sums(
    conn: &mut DbConn,
    scope: &Scope,
    buckets: &Buckets,
    cell: &PerCell<'_>,
) -> QueryResult<Vec<MetricSums>> {
    let (bucket, bucket_binds) = bucket_sql(buckets, scope.from_day);
    let metrics = vec!["?"; cell.metrics.len()].join(", ");
    let sql = format!(
        "SELECT {bucket} AS bucket, category, metric,
                CAST(SUM(n) AS BIGINT) AS total,
                CAST(SUM(CASE WHEN gap > ? THEN n ELSE 0 END) AS BIGINT) AS beyond_window,
                CAST(SUM(CASE WHEN gap > ? AND gap2 <= ? THEN n ELSE 0 END) AS BIGINT) AS beyond_window_unconfirmed,
                CAST(SUM(CASE WHEN gap = 1 THEN n ELSE 0 END) AS BIGINT) AS flagged,
                CAST(SUM(CASE WHEN gap > day - ({bucket}) THEN n ELSE 0 END) AS BIGINT) AS first_in_bucket
         FROM deflection_rollups
         WHERE day >= ? AND day < ?
           AND ((metric IN ({metrics}) AND category = ? AND area = ?) OR (metric NOT IN ({metrics}){}))
         GROUP BY 1, 2, 3",
        filter_clause(scope, "category", "area")
    );
    let w = scope.window_days;
    let mut query = bind_all(diesel::sql_query(portable_sql(conn, &sql)).into_boxed(), &bucket_binds);
    query = bind_all(query, &[w, w, w]);
    query = bind_all(query, &bucket_binds);
    query = bind_all(query, &[scope.from_day, scope.to_day]);
    query = bind_texts(query, cell.metrics);
    query = bind_texts(query, &[cell.category, cell.area]);
    query = bind_texts(query, cell.metrics);
    bind_filters(query, scope).load(conn)
}

#[derive(QueryableByName, Debug, Clone)]
pub struct DayCount {
    #[diesel(sql_type = BigInt)]
    pub day: i64,
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Probable candidates still inside the abandonment time (the rollups
/// count them as candidates; they are not abandoned yet), by start day.
pub fn unabandoned_candidates(conn: &mut DbConn, scope: &Scope) -> QueryResult<Vec<DayCount>> {
    let sql = format!(
        "SELECT started_at / 86400 AS day, category, COUNT(*) AS n FROM deflection_intents
         WHERE started_at > ? AND started_at >= ? AND started_at < ?
           AND suggestions_shown = TRUE AND clicked_at IS NOT NULL AND submitted_at IS NULL AND confirmed_at IS NULL
           AND (first_contact_after_start_at IS NULL OR first_contact_after_start_at > started_at + ?){}
         GROUP BY 1, 2",
        filter_clause(scope, "category", "area")
    );
    let query = bind_all(
        diesel::sql_query(portable_sql(conn, &sql)).into_boxed(),
        &[scope.now - scope.abandon_after_secs, scope.start_secs(), scope.end_secs(), scope.window_secs()],
    );
    bind_filters(query, scope).load(conn)
}

#[derive(QueryableByName, Debug, Clone)]
pub struct QuestionTiers {
    #[diesel(sql_type = BigInt)]
    pub question_id: i64,
    #[diesel(sql_type = BigInt)]
    pub confirmed: i64,
    #[diesel(sql_type = BigInt)]
    pub probable: i64,
}

/// The questions with the most confirmed + probable deflections in the
/// period: confirmed pairs by the question, abandoned intents by the
/// suggestion clicked.
pub fn top_questions(conn: &mut DbConn, scope: &Scope, limit: i64) -> QueryResult<Vec<QuestionTiers>> {
    let sql = format!(
        "SELECT question_id, CAST(SUM(c) AS BIGINT) AS confirmed, CAST(SUM(p) AS BIGINT) AS probable FROM (
             SELECT question_id, 1 AS c, 0 AS p FROM deflection_pairs
             WHERE confirmed_at >= ? AND confirmed_at < ?
               AND (first_contact_after_confirm_at IS NULL OR first_contact_after_confirm_at > confirmed_at + ?){}
             UNION ALL
             SELECT clicked_question_id AS question_id, 0 AS c, 1 AS p FROM deflection_intents
             WHERE started_at >= ? AND started_at < ? AND started_at <= ?
               AND suggestions_shown = TRUE AND clicked_question_id IS NOT NULL
               AND submitted_at IS NULL AND confirmed_at IS NULL
               AND (first_contact_after_start_at IS NULL OR first_contact_after_start_at > started_at + ?){}
         ) t
         GROUP BY question_id
         ORDER BY SUM(c) + SUM(p) DESC, question_id ASC
         LIMIT ?",
        filter_clause(scope, "category", "area"),
        filter_clause(scope, "category", "area"),
    );
    let mut query = bind_all(
        diesel::sql_query(portable_sql(conn, &sql)).into_boxed(),
        &[scope.start_secs(), scope.end_secs(), scope.window_secs()],
    );
    query = bind_filters(query, scope);
    query = bind_all(
        query,
        &[scope.start_secs(), scope.end_secs(), scope.now - scope.abandon_after_secs, scope.window_secs()],
    );
    query = bind_filters(query, scope);
    query.bind::<BigInt, _>(limit).load(conn)
}

#[derive(QueryableByName, Debug, Clone)]
pub struct GapCount {
    #[diesel(sql_type = Text)]
    pub query: String,
    /// Searcher-days, whichever sources saw them.
    #[diesel(sql_type = BigInt)]
    pub searchers: i64,
    /// Of them, seen by the server (GET /search) and reported by a
    /// frontend (`search_performed`).
    #[diesel(sql_type = BigInt)]
    pub by_server: i64,
    #[diesel(sql_type = BigInt)]
    pub by_frontend: i64,
}

/// The queries of a gap kind (`zero_results`, `no_solved_result`) with the
/// most searcher-days in the period, in one report cell (`category`,
/// `area`, markers for any): a range of the table's key.
pub fn top_gaps(
    conn: &mut DbConn,
    scope: &Scope,
    kind: &str,
    cell: (&str, &str),
    limit: i64,
) -> QueryResult<Vec<GapCount>> {
    let sql = "SELECT query, COUNT(*) AS searchers,
                      CAST(SUM(CASE WHEN by_server THEN 1 ELSE 0 END) AS BIGINT) AS by_server,
                      CAST(SUM(CASE WHEN by_frontend THEN 1 ELSE 0 END) AS BIGINT) AS by_frontend
               FROM deflection_search_gaps
               WHERE kind = ? AND category = ? AND area = ? AND day >= ? AND day < ?
               GROUP BY query ORDER BY COUNT(*) DESC, query ASC LIMIT ?";
    let query = bind_texts(diesel::sql_query(portable_sql(conn, sql)).into_boxed(), &[kind, cell.0, cell.1]);
    bind_all(query, &[scope.from_day, scope.to_day, limit]).load(conn)
}

#[derive(QueryableByName, Debug, Clone)]
pub struct QuestionCount {
    #[diesel(sql_type = BigInt)]
    pub question_id: i64,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Questions where residents clicked "still need help" most (counted
/// events only).
pub fn still_need_help(conn: &mut DbConn, scope: &Scope, limit: i64) -> QueryResult<Vec<QuestionCount>> {
    let sql = format!(
        "SELECT question_id, COUNT(*) AS n FROM deflection_events
         WHERE type = 'still_need_help_clicked' AND occurred_epoch >= ? AND occurred_epoch < ?
           AND excluded = FALSE AND question_id IS NOT NULL{}
         GROUP BY question_id ORDER BY COUNT(*) DESC, question_id ASC LIMIT ?",
        filter_clause(scope, "category", "area")
    );
    let query =
        bind_all(diesel::sql_query(portable_sql(conn, &sql)).into_boxed(), &[scope.start_secs(), scope.end_secs()]);
    bind_filters(query, scope).bind::<BigInt, _>(limit).load(conn)
}

/// Titles and category slugs of questions, for reports.
pub fn question_labels(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    use super::schema::{categories, questions};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    questions::table
        .inner_join(categories::table)
        .filter(questions::id.eq_any(ids))
        .select((questions::id, questions::title, categories::slug))
        .load(conn)
}
