//! Time series of the deflection figures, bucketed by day, week or month,
//! and the same as CSV for a spreadsheet.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::{Context, Count, Period, Potential, Totals, count, day_number, metric_sums, potential};
use crate::error::ApiResult;
use crate::service::deflection::formulas::{self, Rate};
use crate::service::deflection::rollup::{self, ANY_CATEGORY};
use crate::store::DbConn;
use crate::store::deflection_reports::{self as sums, Buckets};

/// How a time series is bucketed (UTC; weeks start on Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    #[default]
    Day,
    Week,
    Month,
}

/// The first day of each bucket of the period (the first is `from`).
fn bucket_starts(from: NaiveDate, to: NaiveDate, granularity: Granularity) -> Vec<NaiveDate> {
    let mut starts = vec![from];
    let mut day = from;
    loop {
        day = match granularity {
            Granularity::Day => day + Duration::days(1),
            Granularity::Week => day + Duration::days(7 - i64::from(day.weekday().num_days_from_monday())),
            Granularity::Month => {
                let (y, m) = if day.month() == 12 { (day.year() + 1, 1) } else { (day.year(), day.month() + 1) };
                NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(to + Duration::days(1))
            }
        };
        if day > to {
            return starts;
        }
        starts.push(day);
    }
}

fn buckets_for(starts: &[NaiveDate], granularity: Granularity) -> Buckets {
    match granularity {
        Granularity::Day => Buckets::Days,
        _ => Buckets::Starting(starts.iter().map(|d| day_number(*d)).collect()),
    }
}

/// The bucket a day falls in (the last start at or before it).
fn bucket_of(starts: &[i64], day: i64) -> i64 {
    let i = starts.partition_point(|s| *s <= day);
    starts[i.saturating_sub(1)]
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub confirmed: Count,
    pub probable: Count,
    pub potential: Potential,
}

#[derive(Debug, Serialize)]
pub struct Timeseries {
    #[serde(flatten)]
    pub period: Period,
    pub granularity: Granularity,
    /// The would-have-contacted rate over the whole period, which every
    /// bucket's `potential` uses.
    pub would_have_contacted_rate: Rate,
    pub buckets: Vec<Bucket>,
}

/// Per-bucket, per-category totals of a period, and the rate the
/// potential tier uses.
struct Bucketed {
    starts: Vec<NaiveDate>,
    by_bucket: BTreeMap<(i64, String), Totals>,
    unabandoned: HashMap<(i64, String), i64>,
    would_rate: Rate,
}

fn bucketed(conn: &mut DbConn, ctx: &Context, granularity: Granularity, per_category: bool) -> ApiResult<Bucketed> {
    let starts = bucket_starts(ctx.period.from, ctx.period.to, granularity);
    let start_days: Vec<i64> = starts.iter().map(|d| day_number(*d)).collect();
    let rows = metric_sums(conn, &ctx.scope, &buckets_for(&starts, granularity))?;
    let key = |bucket: i64, cat: &str| (bucket, if per_category { cat.to_owned() } else { String::new() });
    let mut by_bucket: BTreeMap<(i64, String), Totals> = BTreeMap::new();
    let mut overall = Totals::default();
    for row in &rows {
        overall.add(row);
        if !(per_category && row.category == ANY_CATEGORY) {
            by_bucket.entry(key(row.bucket, &row.category)).or_default().add(row);
        }
    }
    let mut unabandoned = HashMap::new();
    for d in sums::unabandoned_candidates(conn, &ctx.scope)? {
        *unabandoned.entry(key(bucket_of(&start_days, d.day), &d.category)).or_default() += d.n;
    }
    let (n, yes) = overall.yes_no(rollup::WOULD_HAVE_CONTACTED);
    let would_rate = formulas::wilson(yes, n, formulas::z_for(ctx.parameters.confidence));
    Ok(Bucketed { starts, by_bucket, unabandoned, would_rate })
}

fn bucket_end(starts: &[NaiveDate], i: usize, to: NaiveDate) -> NaiveDate {
    starts.get(i + 1).map_or(to, |next| *next - Duration::days(1))
}

pub fn timeseries(conn: &mut DbConn, ctx: Context, granularity: Granularity) -> ApiResult<Timeseries> {
    let b = bucketed(conn, &ctx, granularity, false)?;
    let empty = Totals::default();
    let buckets = b
        .starts
        .iter()
        .enumerate()
        .map(|(i, start)| {
            let key = (day_number(*start), String::new());
            let totals = b.by_bucket.get(&key).unwrap_or(&empty);
            Bucket {
                start: *start,
                end: bucket_end(&b.starts, i, ctx.period.to),
                confirmed: count(totals.confirmed()),
                probable: count(totals.probable(b.unabandoned.get(&key).copied().unwrap_or(0))),
                potential: potential(totals.viewers(), &b.would_rate),
            }
        })
        .collect();
    Ok(Timeseries { period: ctx.period, granularity, would_have_contacted_rate: b.would_rate, buckets })
}

/// The CSV export: one row per bucket per category that has data in the
/// period (`(none)` for events without a category).
pub fn export_csv(conn: &mut DbConn, ctx: Context, granularity: Granularity) -> ApiResult<String> {
    let b = bucketed(conn, &ctx, granularity, true)?;
    let categories: BTreeSet<String> = b.by_bucket.keys().map(|(_, c)| c.clone()).collect();
    let p = &ctx.parameters;
    let mut out = String::from(
        "bucket_start,bucket_end,category,confirmed,probable,viewers,potential,potential_low,potential_high,\
         helpful_votes,helpful_yes,would_have_contacted_answers,would_have_contacted_yes,intents,\
         intents_tried_self_service_first,sessions,sessions_ending_helpful,cost_avoided_confirmed,\
         cost_avoided_probable,currency\n",
    );
    let empty = Totals::default();
    for (i, start) in b.starts.iter().enumerate() {
        let end = bucket_end(&b.starts, i, ctx.period.to);
        for category in &categories {
            let key = (day_number(*start), category.clone());
            let t = b.by_bucket.get(&key).unwrap_or(&empty);
            let confirmed = t.confirmed();
            let probable = t.probable(b.unabandoned.get(&key).copied().unwrap_or(0));
            let pot = potential(t.viewers(), &b.would_rate);
            let (helpful_n, helpful_yes) = t.yes_no(rollup::HELPFUL);
            let (would_n, would_yes) = t.yes_no(rollup::WOULD_HAVE_CONTACTED);
            let intents = t.get(rollup::INTENT);
            let (sessions, sessions_helpful) = t.yes_no(rollup::SESSION);
            let cost = |n: u64| formulas::priced(&formulas::exact(n), p.cost_per_contact).point;
            let label = if category.is_empty() { "(none)" } else { category.as_str() };
            out.push_str(&format!(
                "{start},{end},{},{confirmed},{probable},{},{},{},{},{helpful_n},{helpful_yes},{would_n},{would_yes},{},{},\
                 {sessions},{sessions_helpful},{:.2},{:.2},{}\n",
                csv_field(label),
                pot.viewers,
                pot.count,
                pot.low,
                pot.high,
                intents.total,
                intents.total - intents.beyond_window,
                cost(confirmed),
                cost(probable),
                csv_field(&p.currency),
            ));
        }
    }
    Ok(out)
}

/// A CSV field: quoted when needed, and never read as a formula by a
/// spreadsheet.
fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn buckets_start_on_the_period_then_on_mondays_or_firsts() {
        // 2026-11-04 is a Wednesday.
        let weeks = bucket_starts(d("2026-11-04"), d("2026-11-20"), Granularity::Week);
        assert_eq!(weeks, vec![d("2026-11-04"), d("2026-11-09"), d("2026-11-16")]);
        let months = bucket_starts(d("2026-11-20"), d("2027-01-05"), Granularity::Month);
        assert_eq!(months, vec![d("2026-11-20"), d("2026-12-01"), d("2027-01-01")]);
        assert_eq!(bucket_starts(d("2026-11-20"), d("2026-11-22"), Granularity::Day).len(), 3);
        assert_eq!(bucket_end(&months, 1, d("2027-01-05")), d("2026-12-31"));
    }

    #[test]
    fn days_map_to_their_bucket() {
        let starts = [10, 15, 22];
        assert_eq!(bucket_of(&starts, 10), 10);
        assert_eq!(bucket_of(&starts, 21), 15);
        assert_eq!(bucket_of(&starts, 40), 22);
        assert_eq!(day_number(d("1970-01-02")), 1);
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("bins"), "bins");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
