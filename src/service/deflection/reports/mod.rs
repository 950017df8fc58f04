//! The deflection reports (openapi.yaml, tag "deflection"): summary, time series,
//! questions, gaps, experiment and CSV export. The database sums the
//! rollups; this module turns sums into tiers with `formulas`.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::ABANDON_AFTER_SECS;
use super::formulas::{self, Cost, Difference, Estimate, Rate};
use super::gaps::{NO_SOLVED_RESULT, ZERO_RESULTS};
use super::rollup::{self, ANY_AREA, ANY_CATEGORY};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::service::Caller;
use crate::service::settings::DeflectionParameters;
use crate::store::DbConn;
use crate::store::deflection_reports::{self as sums, Buckets, MetricSums, PerCell, Scope};

mod series;

pub use series::{Bucket, Granularity, Timeseries, export_csv, timeseries};

/// The longest period a report may cover, in days.
pub const MAX_PERIOD_DAYS: i64 = 732;
/// The period when none is given: the last 30 days, today included.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;

/// Reports are for analysts and admins.
pub fn require_analyst(caller: &Caller) -> ApiResult<()> {
    if caller.has_role(Role::Analyst) || caller.has_role(Role::Admin) {
        return Ok(());
    }
    Err(ApiError::forbidden("deflection reports need the analyst or admin role"))
}

/// The filters every report takes, as sent.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub from: Option<String>,
    pub to: Option<String>,
    pub category: Option<String>,
    /// A ward or neighbourhood, exactly as questions and events give it.
    pub area: Option<String>,
}

/// The period and filters a report covers, as returned.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    /// First and last day covered (UTC, inclusive).
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub category: Option<String>,
    pub area: Option<String>,
    pub window_days: i32,
    pub confidence: f64,
    /// Figures anchored on or after this day may still fall: the visitor's
    /// window for contacting the council has not closed yet.
    pub provisional_from: NaiveDate,
}

/// What a report needs: the period, its scope for SQL, the parameters.
pub struct Context {
    pub period: Period,
    pub scope: Scope,
    pub parameters: DeflectionParameters,
}

fn parse_day(field: &str, value: Option<&str>) -> ApiResult<Option<NaiveDate>> {
    value
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| ApiError::validation(field, "must be a date YYYY-MM-DD"))
        })
        .transpose()
}

/// An area filter: any area a question may have (unknown areas report
/// zeros, as areas are free text).
fn parse_area(value: &str) -> ApiResult<String> {
    crate::domain::post::parse_area(value).map_err(|message| ApiError::validation("area", &message))
}

fn day_number(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// Checks the filters and fixes the period (default: the last 30 days).
pub fn context(
    conn: &mut DbConn,
    filters: &Filters,
    parameters: DeflectionParameters,
    now: chrono::NaiveDateTime,
) -> ApiResult<Context> {
    let today = now.date();
    let to = parse_day("to", filters.to.as_deref())?.unwrap_or(today);
    let from = parse_day("from", filters.from.as_deref())?.unwrap_or(to - Duration::days(DEFAULT_PERIOD_DAYS - 1));
    if from > to {
        return Err(ApiError::validation("from", "must not be after to"));
    }
    if (to - from).num_days() + 1 > MAX_PERIOD_DAYS {
        return Err(ApiError::validation("from", &format!("a period covers at most {MAX_PERIOD_DAYS} days")));
    }
    if let Some(slug) = &filters.category
        && crate::store::categories::find_by_slug(conn, slug)?.is_none()
    {
        return Err(ApiError::validation("category", "is not a category"));
    }
    let area = filters.area.as_deref().map(parse_area).transpose()?;
    let window = i64::from(parameters.window_days);
    let scope = Scope {
        from_day: day_number(from),
        to_day: day_number(to) + 1,
        window_days: window,
        now: now.and_utc().timestamp(),
        abandon_after_secs: ABANDON_AFTER_SECS,
        category: filters.category.clone(),
        area: area.clone(),
    };
    let period = Period {
        from,
        to,
        category: filters.category.clone(),
        area,
        window_days: parameters.window_days,
        confidence: parameters.confidence,
        provisional_from: today - Duration::days(window),
    };
    Ok(Context { period, scope, parameters })
}

/// A tier counted exactly: its bounds are itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Count {
    pub count: u64,
    pub low: u64,
    pub high: u64,
}

fn count(n: u64) -> Count {
    Count { count: n, low: n, high: n }
}

/// Sums of each metric over some rows.
#[derive(Debug, Default, Clone)]
struct Totals(HashMap<String, MetricSums>);

impl Totals {
    fn add(&mut self, row: &MetricSums) {
        let sum = self.0.entry(row.metric.clone()).or_default();
        sum.total += row.total;
        sum.beyond_window += row.beyond_window;
        sum.beyond_window_unconfirmed += row.beyond_window_unconfirmed;
        sum.flagged += row.flagged;
        sum.first_in_bucket += row.first_in_bucket;
    }

    fn get(&self, metric: &str) -> MetricSums {
        self.0.get(metric).cloned().unwrap_or_default()
    }

    fn confirmed(&self) -> u64 {
        (self.get(rollup::CONFIRMED_PAIR).beyond_window + self.get(rollup::CONFIRMED_INTENT).beyond_window) as u64
    }

    fn probable(&self, unabandoned: i64) -> u64 {
        (self.get(rollup::PROBABLE).beyond_window - unabandoned).max(0) as u64
    }

    fn viewers(&self) -> u64 {
        self.get(rollup::VIEWER).beyond_window_unconfirmed as u64
    }

    /// (n, yes) of a yes/no metric.
    fn yes_no(&self, metric: &str) -> (u64, u64) {
        let s = self.get(metric);
        (s.total as u64, s.flagged as u64)
    }
}

/// `potential`: viewers who made no contact attempt within the window ×
/// the measured would-have-contacted rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Potential {
    pub count: f64,
    pub low: f64,
    pub high: f64,
    pub viewers: u64,
}

fn potential(viewers: u64, rate: &Rate) -> Potential {
    let Estimate { count, low, high } = formulas::scaled(viewers, rate);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Potential { count: round(count), low: round(low), high: round(high), viewers }
}

#[derive(Debug, Serialize)]
pub struct Visitors {
    /// Unique visitors with a self-service event in the period.
    pub self_service: u64,
    /// Unique visitors who submitted a contact in the period.
    pub submitted_contact: u64,
}

#[derive(Debug, Serialize)]
pub struct CostAvoided {
    pub confirmed: Cost,
    pub probable: Cost,
    pub currency: String,
    pub cost_per_contact: f64,
    pub cost_source: String,
    pub cost_year: i32,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub period: Period,
    pub confirmed: Count,
    pub probable: Count,
    pub potential: Potential,
    pub self_service_score: Option<f64>,
    pub visitors: Visitors,
    pub helpful_rate: Rate,
    pub would_have_contacted_rate: Rate,
    pub tried_self_service_first: Rate,
    pub sessions_ending_helpful: Rate,
    pub cost_avoided: CostAvoided,
    pub excluded: Exclusions,
}

/// Events stored but counted nowhere in the period (and cell), by reason.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Exclusions {
    /// Crawlers and automated clients (by User-Agent).
    pub bot: u64,
    /// Council staff, moderators, admins and analysts.
    pub staff: u64,
    /// People acting on their own question or answer.
    pub author: u64,
    /// `contact_*` events without the server's token for their intent.
    pub unverified_intent: u64,
    /// Beyond what one visitor or one address can plausibly send in a day.
    pub implausible: u64,
}

fn exclusions(conn: &mut DbConn, scope: &Scope) -> ApiResult<Exclusions> {
    let rows = crate::store::deflection::exclusions_in(
        conn,
        scope.from_day * 86_400,
        scope.to_day * 86_400,
        scope.category.as_deref(),
        scope.area.as_deref(),
    )?;
    let mut e = Exclusions::default();
    for (reason, n) in rows {
        let n = n.max(0) as u64;
        match reason.as_str() {
            "bot" => e.bot += n,
            "staff" => e.staff += n,
            "author" => e.author += n,
            "unverified_intent" => e.unverified_intent += n,
            "implausible" => e.implausible += n,
            _ => {}
        }
    }
    Ok(e)
}

fn totals_of(rows: &[MetricSums]) -> Totals {
    let mut totals = Totals::default();
    for row in rows {
        totals.add(row);
    }
    totals
}

/// The report cell a scope reads distinct visitors from.
fn cell_of(scope: &Scope) -> PerCell<'_> {
    PerCell {
        metrics: &rollup::PER_CELL_METRICS,
        category: scope.category.as_deref().unwrap_or(ANY_CATEGORY),
        area: scope.area.as_deref().unwrap_or(ANY_AREA),
    }
}

/// Every metric's sums over the period, per bucket.
fn metric_sums(conn: &mut DbConn, scope: &Scope, buckets: &Buckets) -> ApiResult<Vec<MetricSums>> {
    Ok(sums::metric_sums(conn, scope, buckets, &cell_of(scope))?)
}

fn unabandoned_total(conn: &mut DbConn, scope: &Scope) -> ApiResult<i64> {
    Ok(sums::unabandoned_candidates(conn, scope)?.iter().map(|d| d.n).sum())
}

pub fn summary(conn: &mut DbConn, ctx: Context) -> ApiResult<Summary> {
    let rows = metric_sums(conn, &ctx.scope, &Buckets::Whole)?;
    let totals = totals_of(&rows);
    let z = formulas::z_for(ctx.parameters.confidence);
    let rate = |(n, yes): (u64, u64)| formulas::wilson(yes, n, z);
    let would_have_contacted_rate = rate(totals.yes_no(rollup::WOULD_HAVE_CONTACTED));
    let intents = totals.get(rollup::INTENT);
    let tried_first = (intents.total - intents.beyond_window) as u64;
    let confirmed = totals.confirmed();
    let probable = totals.probable(unabandoned_total(conn, &ctx.scope)?);
    let visitors = Visitors {
        self_service: totals.get(rollup::SELF_SERVICE_VISITOR).first_in_bucket as u64,
        submitted_contact: totals.get(rollup::SUBMITTING_VISITOR).first_in_bucket as u64,
    };
    let p = &ctx.parameters;
    Ok(Summary {
        confirmed: count(confirmed),
        probable: count(probable),
        potential: potential(totals.viewers(), &would_have_contacted_rate),
        self_service_score: formulas::ratio(visitors.self_service, visitors.submitted_contact),
        visitors,
        helpful_rate: rate(totals.yes_no(rollup::HELPFUL)),
        would_have_contacted_rate,
        tried_self_service_first: formulas::wilson(tried_first, intents.total as u64, z),
        sessions_ending_helpful: rate(totals.yes_no(rollup::SESSION)),
        cost_avoided: CostAvoided {
            confirmed: formulas::priced(&formulas::exact(confirmed), p.cost_per_contact),
            probable: formulas::priced(&formulas::exact(probable), p.cost_per_contact),
            currency: p.currency.clone(),
            cost_per_contact: p.cost_per_contact,
            cost_source: p.cost_source.clone(),
            cost_year: p.cost_year,
        },
        excluded: exclusions(conn, &ctx.scope)?,
        period: ctx.period,
    })
}

#[derive(Debug, Serialize)]
pub struct QuestionRow {
    pub question_id: i64,
    pub title: Option<String>,
    pub category: Option<String>,
    pub confirmed: i64,
    pub probable: i64,
    pub deflected: i64,
}

#[derive(Debug, Serialize)]
pub struct Questions {
    #[serde(flatten)]
    pub period: Period,
    pub items: Vec<QuestionRow>,
}

pub fn questions(conn: &mut DbConn, ctx: Context, limit: i64) -> ApiResult<Questions> {
    let rows = sums::top_questions(conn, &ctx.scope, limit)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.question_id).collect();
    let labels: HashMap<i64, (String, String)> =
        sums::question_labels(conn, &ids)?.into_iter().map(|(id, title, slug)| (id, (title, slug))).collect();
    let items = rows
        .into_iter()
        .map(|r| {
            let label = labels.get(&r.question_id);
            QuestionRow {
                question_id: r.question_id,
                title: label.map(|l| l.0.clone()),
                category: label.map(|l| l.1.clone()),
                confirmed: r.confirmed,
                probable: r.probable,
                deflected: r.confirmed + r.probable,
            }
        })
        .collect();
    Ok(Questions { period: ctx.period, items })
}

/// A query residents searched for and did not find answered.
#[derive(Debug, Serialize)]
pub struct SearchGap {
    pub query: String,
    /// Searcher-days: each searcher's query once per UTC day, whichever
    /// sources saw it.
    pub count: i64,
    /// Of them, seen by the server (GET /search).
    pub server: i64,
    /// Of them, reported by a frontend (`search_performed`).
    pub frontend: i64,
}

#[derive(Debug, Serialize)]
pub struct NeedHelp {
    pub question_id: i64,
    pub title: Option<String>,
    pub category: Option<String>,
    pub count: i64,
}

#[derive(Debug, Serialize)]
pub struct Gaps {
    #[serde(flatten)]
    pub period: Period,
    pub zero_result_searches: Vec<SearchGap>,
    pub no_solved_result_searches: Vec<SearchGap>,
    pub still_need_help: Vec<NeedHelp>,
}

/// The content gaps: searches that found nothing and that found nothing
/// solved (see `gaps` for how searches are counted), and the questions
/// where residents most often still needed help.
pub fn gaps(conn: &mut DbConn, ctx: Context, limit: i64) -> ApiResult<Gaps> {
    let cell = cell_of(&ctx.scope);
    let searches = |conn: &mut DbConn, kind: &str| -> ApiResult<Vec<SearchGap>> {
        Ok(sums::top_gaps(conn, &ctx.scope, kind, (cell.category, cell.area), limit)?
            .into_iter()
            .map(|g| SearchGap { query: g.query, count: g.searchers, server: g.by_server, frontend: g.by_frontend })
            .collect())
    };
    let zero_result_searches = searches(conn, ZERO_RESULTS)?;
    let no_solved_result_searches = searches(conn, NO_SOLVED_RESULT)?;
    let needs = sums::still_need_help(conn, &ctx.scope, limit)?;
    let ids: Vec<i64> = needs.iter().map(|n| n.question_id).collect();
    let labels: HashMap<i64, (String, String)> =
        sums::question_labels(conn, &ids)?.into_iter().map(|(id, title, slug)| (id, (title, slug))).collect();
    let still_need_help = needs
        .into_iter()
        .map(|n| {
            let label = labels.get(&n.question_id);
            NeedHelp {
                question_id: n.question_id,
                title: label.map(|l| l.0.clone()),
                category: label.map(|l| l.1.clone()),
                count: n.n,
            }
        })
        .collect();
    Ok(Gaps { period: ctx.period, zero_result_searches, no_solved_result_searches, still_need_help })
}

#[derive(Debug, Serialize)]
pub struct ArmResult {
    pub arm: &'static str,
    /// Intents started in the period in this arm.
    pub intents: u64,
    /// Of them, submitted within the window.
    pub submitted: u64,
    pub submit_rate: Rate,
}

#[derive(Debug, Serialize)]
pub struct Experiment {
    #[serde(flatten)]
    pub period: Period,
    pub holdout_percent: i32,
    pub arms: Vec<ArmResult>,
    /// submit rate(holdout) − submit rate(treatment): positive means the
    /// suggestions prevent contacts.
    pub difference: Difference,
}

pub fn experiment(conn: &mut DbConn, ctx: Context) -> ApiResult<Experiment> {
    let rows = metric_sums(conn, &ctx.scope, &Buckets::Whole)?;
    let totals = totals_of(&rows);
    let z = formulas::z_for(ctx.parameters.confidence);
    let arm = |name: &'static str, metric: &str| {
        let s = totals.get(metric);
        let (intents, submitted) = (s.total as u64, (s.total - s.beyond_window) as u64);
        ArmResult { arm: name, intents, submitted, submit_rate: formulas::wilson(submitted, intents, z) }
    };
    let holdout = arm("holdout", rollup::ARM_HOLDOUT);
    let treatment = arm("treatment", rollup::ARM_TREATMENT);
    let difference = formulas::newcombe(&holdout.submit_rate, &treatment.submit_rate);
    Ok(Experiment {
        holdout_percent: ctx.parameters.holdout_percent,
        period: ctx.period,
        arms: vec![holdout, treatment],
        difference,
    })
}
