//! The soak's report: the trends the verdict reads, the verdict, the
//! Markdown report and the SVG chart.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::Utc;

use super::{HELD_SHARE, LOAD_SHARE, Options, RssSample, SEGMENT_SECONDS, Series, Soak, WARM_UP_SECONDS, Writes};

/// A least-squares line through (t, y): its slope (y per unit of t) and
/// the slope's standard error.
struct Fit {
    slope: f64,
    standard_error: f64,
}

fn fit(points: &[(f64, f64)]) -> Fit {
    let n = points.len() as f64;
    if n < 3.0 {
        return Fit { slope: 0.0, standard_error: f64::INFINITY };
    }
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if var == 0.0 {
        return Fit { slope: 0.0, standard_error: f64::INFINITY };
    }
    let slope = cov / var;
    let residuals: f64 = points.iter().map(|p| (p.1 - my - slope * (p.0 - mx)).powi(2)).sum();
    Fit { slope, standard_error: (residuals / (n - 2.0) / var).sqrt() }
}

/// The trend of one series after the warm-up.
#[derive(Clone, Copy)]
struct Trend {
    /// MiB per minute, and twice its standard error.
    mib_per_minute: f64,
    margin: f64,
    /// The fitted line rises by more than 2 % of the series' mean per 10
    /// minutes, and by more than the noise (the slope is over twice its
    /// standard error above zero).
    growing: bool,
}

/// Fitted on the means of 30-second windows, not on the 1-second samples:
/// the allocator returns freed pages on a timer, so single samples swing
/// by megabytes and neighbours are not independent (the standard error
/// assumes they are). Before, a rule on the raw samples' slope passed or
/// failed the same binary from one run to the next. The line runs from the
/// end of the warm-up, not from half-way: the heap wanders by a MiB or so
/// over minutes (index merges, the allocator's decay), and a five-minute
/// line through one such upswing read as a trend that the whole run did
/// not have (the 2026-11-23 runs: flat from minute 1 to 10, "+0.38 MiB/min"
/// from minute 5).
fn trend(soak: &Soak, value: impl Fn(&RssSample) -> f64) -> Trend {
    let end = soak.rss.last().map_or(0.0, |p| p.t);
    let window = SEGMENT_SECONDS as f64;
    let mut means = Vec::new();
    let mut from = WARM_UP_SECONDS.min(end / 2.0);
    while from + window <= end + 1.0 {
        let inside: Vec<f64> = soak
            .rss
            .iter()
            .filter(|p| p.t >= from && p.t < from + window)
            .map(&value)
            .filter(|v| v.is_finite())
            .collect();
        if !inside.is_empty() {
            means.push((from + window / 2.0, inside.iter().sum::<f64>() / inside.len() as f64));
        }
        from += window;
    }
    let line = fit(&means);
    let (mib_per_minute, margin) = (line.slope * 60.0, 2.0 * line.standard_error * 60.0);
    let mean = means.iter().map(|p| p.1).sum::<f64>() / means.len().max(1) as f64;
    Trend { mib_per_minute, margin, growing: mib_per_minute * 10.0 > 0.02 * mean && mib_per_minute > margin }
}

impl std::fmt::Display for Trend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:+.3} ± {:.3} MiB/min", self.mib_per_minute, self.margin)
    }
}

struct Verdict {
    errors: u64,
    heap: Trend,
    total: Trend,
    allocated: Trend,
    pass: bool,
}

/// A leak grows the heap; the verdict is on the heap (anonymous RSS), with
/// the total and the allocator's count reported beside, and on the load
/// having been held.
fn verdict(soak: &Soak) -> Verdict {
    let errors: u64 = soak.segments.iter().map(|s| s.errors).sum();
    let heap = trend(soak, |p| p.anon_mib);
    let (total, allocated) = (trend(soak, |p| p.total_mib), trend(soak, |p| p.allocated_mib));
    let held = achieved(soak) >= HELD_SHARE * soak.target;
    Verdict { errors, heap, total, allocated, pass: !heap.growing && errors == 0 && held }
}

/// The mean req/s over the segments.
fn achieved(soak: &Soak) -> f64 {
    soak.segments.iter().map(|s| s.requests_per_second).sum::<f64>() / soak.segments.len().max(1) as f64
}

pub(super) fn report(options: &Options, soaks: &[Soak], total: Duration) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Soak benchmark — {}\n", Utc::now().format("%Y-%m-%d"));
    let _ = writeln!(
        md,
        "`cargo bench --bench soak -- --size {} --minutes {}` ({} connections, {} wrk threads, loopback, \
         release build, rate limits off). A community of {} questions restored from an agora-jsonl dump; \
         a mixed workload: 45 % GET question (view counted), 20 % list by category, 17 % search, 6 % similar \
         questions, 8 % POST events, 4 % answer writes. The maximum is wrk unthrottled for 60 s after a 15 s warm-up; the soak holds \
         {:.0} % of it in {}-second segments. Whole run: {:.1} min.\n",
        options.size,
        options.minutes,
        options.connections,
        options.threads,
        options.size,
        LOAD_SHARE * 100.0,
        SEGMENT_SECONDS,
        total.as_secs_f64() / 60.0
    );
    let writes = match options.writes {
        Writes::EditAnswers => {
            "The answer writes edit 500 answers the bench user posted before the soak (PATCH; a revision, an \
             outbox row and a re-indexed question each): the community keeps its size, as a leak test needs. \
             `--growing` posts new answers instead."
        }
        Writes::NewAnswers => {
            "`--growing`: the answer writes post new answers, so the community grows through the run (the \
             answer column); memory may follow the data."
        }
        Writes::None => {
            "`--read-only`: the writes (POST events, answer writes) are left out; the reads keep their proportions."
        }
    };
    let _ = writeln!(md, "{writes}\n");
    let _ = writeln!(
        md,
        "| Backend | Maximum req/s | Target req/s | Achieved (mean) | Errors | RSS start → end (MiB) | of which heap (MiB) | allocated (MiB) | Answers restored + posted, edits | Heap slope, after 4 min | RSS slope, after 4 min | Allocated slope, after 4 min | Verdict |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---|---|---|---|---:|---:|---:|---|");
    for soak in soaks {
        let Verdict { errors, heap, total, allocated, pass } = verdict(soak);
        let achieved = achieved(soak);
        let (first, last) = (soak.rss.first(), soak.rss.last());
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.0} ({:.2}× target) | {} | {:.1} → {:.1} | {:.1} → {:.1} | {:.1} → {:.1} | {} + {} ({:+.0} %), {} edits | {} | {} | {} | {} |",
            soak.backend,
            soak.maximum,
            soak.target,
            achieved,
            achieved / soak.target,
            errors,
            first.map_or(0.0, |p| p.total_mib),
            last.map_or(0.0, |p| p.total_mib),
            first.map_or(0.0, |p| p.anon_mib),
            last.map_or(0.0, |p| p.anon_mib),
            first.map_or(0.0, |p| p.allocated_mib),
            last.map_or(0.0, |p| p.allocated_mib),
            soak.answers_restored,
            soak.answers_posted,
            100.0 * soak.answers_posted as f64 / soak.answers_restored.max(1) as f64,
            soak.answers_edited,
            heap,
            total,
            allocated,
            if pass { "pass" } else { "FAIL" }
        );
    }
    if soaks.iter().any(|s| s.analyzed) {
        let _ = writeln!(
            md,
            "\nThis PostgreSQL runs with autovacuum off (the machine's CI configuration); the bench ran `ANALYZE` on \
             its database every 60 s in place of autovacuum's autoanalyze (docs/deploy.md: keep autovacuum on)."
        );
    }
    for soak in soaks {
        let _ = writeln!(md, "\n## {} segments\n", soak.backend);
        let _ = writeln!(md, "| t (s) | req/s | p50 (ms) | p99 (ms) | errors |");
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
        for s in &soak.segments {
            let _ = writeln!(
                md,
                "| {:.0} | {:.0} | {:.2} | {:.2} | {} |",
                s.started_s, s.requests_per_second, s.p50_ms, s.p99_ms, s.errors
            );
        }
    }
    md
}

/// RSS over time (line) and the achieved rate per segment (bars), one
/// panel per backend.
pub(super) fn chart(soaks: &[Soak]) -> String {
    let (width, panel, margin) = (860.0, 260.0, 60.0);
    let height = panel * soaks.len() as f64 + 40.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    for (i, soak) in soaks.iter().enumerate() {
        let top = 20.0 + panel * i as f64;
        let plot_w = width - 2.0 * margin;
        let plot_h = panel - 70.0;
        let t_max = soak.rss.last().map_or(1.0, |p| p.t).max(1.0);
        let rss_max = soak.rss.iter().map(|p| p.total_mib).fold(1.0, f64::max) * 1.15;
        let rate_max = soak.segments.iter().map(|s| s.requests_per_second).fold(soak.maximum, f64::max) * 1.1;
        let x = |t: f64| margin + plot_w * t / t_max;
        let _ = write!(
            svg,
            r#"<text x="{margin}" y="{}" font-weight="bold">{}: RSS (orange), its heap part (purple) and the allocator's allocated bytes (green), MiB, left axis; req/s per segment (bars)</text>"#,
            top + 12.0,
            soak.backend
        );
        let base = top + 25.0 + plot_h;
        for s in &soak.segments {
            let bar_h = plot_h * s.requests_per_second / rate_max;
            let color = if s.errors > 0 { "#d62728" } else { "#c6dbef" };
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
                x(s.started_s),
                base - bar_h,
                (x(s.started_s + SEGMENT_SECONDS as f64) - x(s.started_s) - 1.0).max(1.0),
                bar_h
            );
        }
        let target_y = base - plot_h * soak.target / rate_max;
        let _ = write!(
            svg,
            r##"<line x1="{margin}" x2="{:.1}" y1="{target_y:.1}" y2="{target_y:.1}" stroke="#6baed6" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="#3182bd">target {:.0} req/s</text>"##,
            margin + plot_w,
            margin + plot_w + 4.0,
            target_y + 4.0,
            soak.target
        );
        let series: [(Series, &str); 3] =
            [(|p| p.total_mib, "#e6550d"), (|p| p.anon_mib, "#756bb1"), (|p| p.allocated_mib, "#31a354")];
        for (value, color) in series {
            let points: Vec<String> = soak
                .rss
                .iter()
                .filter(|p| value(p).is_finite())
                .map(|p| format!("{:.1},{:.1}", x(p.t), base - plot_h * value(p) / rss_max))
                .collect();
            let _ = write!(
                svg,
                r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
                points.join(" ")
            );
        }
        let _ = write!(
            svg,
            r##"<line x1="{margin}" x2="{:.1}" y1="{base:.1}" y2="{base:.1}" stroke="#333"/><line x1="{margin}" x2="{margin}" y1="{:.1}" y2="{base:.1}" stroke="#333"/>"##,
            margin + plot_w,
            base - plot_h
        );
        for k in 0..=4 {
            let mib = rss_max * f64::from(k) / 4.0;
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{mib:.0}</text>"#,
                margin - 4.0,
                base - plot_h * f64::from(k) / 4.0 + 4.0
            );
        }
        let minutes = (t_max / 60.0).ceil() as u32;
        for m in 0..=minutes {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{m} min</text>"#,
                x(f64::from(m) * 60.0).min(margin + plot_w),
                base + 16.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}
