//! The HTML report: one self-contained page (no scripts, fonts, styles or images to load).
//!
//! At the top, the run's verdict and, per scenario, a summary table and the thresholds. Then
//! one chart per section: response and service time percentiles over time; scheduled
//! against achieved rate; the percentile spectrum on the "nines" axis, corrected (response)
//! against uncorrected (service); dispatch delay over time; with kernel timestamps, the
//! median and p99 of each part of the service time's split over time; the error and success
//! rates and the faults per interval when there were faults or thresholds on them; and the
//! process's CPU and memory over time when they were sampled.
//!
//! Every threshold is drawn on the chart of its metric, as its limit and as the series of
//! its statistic over time (a `response p99.9` threshold adds a p99.9 line), each value the
//! one its alert judges; those with no series over time are listed. Every chart over time
//! shares one time axis, warmup included and shaded; suspect intervals are shaded, in each
//! legend and listed with their reasons under the charts. Times read in the unit their size
//! calls for (µs, ms, s).

use std::fmt::Write;

use super::junit::escape;
use super::svg::{Chart, HLine, Series, Shade, ShadeKind, XAxis, render};
use crate::metrics::encoding::decode;
use crate::metrics::percentile::PERCENTILES;
use crate::metrics::result::{KernelSplit, ThresholdResult};
use crate::metrics::threshold::Threshold;
use crate::metrics::{LatencySummary, RunResult, ScenarioResult};

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;\
padding:0 16px;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:32px}table{border-collapse:collapse;\
margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}\
td:first-child,th:first-child{text-align:left}.pass{color:#176b2c;font-weight:600}\
.fail{color:#b00020;font-weight:600}.inconclusive{color:#8a5a00;font-weight:600}.note{color:#b00020}.banner{font-size:18px;padding:8px 12px;\
border-radius:4px;display:inline-block}.banner.pass{background:#e5f5e8}.banner.fail{background:\
#fde8ea}svg.chart{display:block;width:100%;height:auto;font:14px sans-serif;margin:12px 0}\
.t{font-size:16px;font-weight:600}.grid{stroke:#e6e6e6}\
.frame{fill:none;stroke:#999}.xl{text-anchor:middle;fill:#555}.yl{text-anchor:end;fill:#555}\
.xt,.yt{text-anchor:middle;fill:#333}.line{fill:none;stroke-width:2}.dash{stroke-width:1.2;\
stroke-dasharray:4 3}.limit{stroke-width:1.4;stroke-dasharray:6 4}.ll{text-anchor:end}\
.lg{fill:#333}.band{fill:#f2c94c;opacity:.35}.warm{fill:#9e9e9e;opacity:.18}\
.legend{color:#444}.swatch{display:inline-block;width:18px;height:12px;vertical-align:middle}\
.swatch.band{background:#f2c94c;opacity:.6}ul.suspect{margin-top:0;color:#444}";

/// Opens a page: its `title`, the style, and the `heading` above everything.
pub(super) fn page_head(page: &mut String, title: &str, heading: &str) {
    let _ = write!(
        page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}\
         </title><style>{STYLE}</style></head><body><h1>{}</h1>",
        escape(title),
        escape(heading)
    );
}

/// The page for a run.
pub fn html(result: &RunResult) -> Result<String, String> {
    let mut page = String::new();
    let title = result
        .scenarios
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    page_head(
        &mut page,
        &format!("openpace: {title}"),
        &format!("openpace report: {title}"),
    );
    let (class, verdict) = if result.passed {
        ("pass", "PASSED")
    } else {
        ("fail", "FAILED")
    };
    let _ = write!(
        page,
        "<p class=\"banner {class}\">{verdict}{}</p><p>{} &middot; started {} UTC &middot; \
         {:.2} s &middot; wait mode {:?} &middot; {} on {} cores</p>",
        if result.interrupted {
            " &mdash; interrupted before the schedule ended"
        } else {
            ""
        },
        escape(&result.tool),
        utc(result.started_at_unix_s),
        result.wall_seconds,
        result.wait_mode,
        escape(&result.host.hostname),
        result.host.cores
    );
    for warning in &result.warnings {
        let _ = write!(page, "<p class=\"note\">warning: {}</p>", escape(warning));
    }
    let axis = TimeAxis::of(result);
    for (index, s) in result.scenarios.iter().enumerate() {
        summary_section(&mut page, s);
        for chart in scenario_charts(s, index, axis)? {
            let _ = write!(
                page,
                "<section class=\"chart\">{}</section>",
                render(&chart)
            );
        }
        chart_notes(&mut page, s);
    }
    for chart in resource_charts(result, axis) {
        let _ = write!(
            page,
            "<section class=\"chart\">{}</section>",
            render(&chart)
        );
    }
    page.push_str("</body></html>\n");
    Ok(page)
}

fn summary_section(page: &mut String, s: &ScenarioResult) {
    let (class, verdict) = if s.verdict.passed {
        ("pass", "PASSED")
    } else {
        ("fail", "FAILED")
    };
    let _ = write!(
        page,
        "<section class=\"summary\"><h2>{} &mdash; <span class=\"{class}\">{verdict}</span></h2>\
         <p>{} &middot; {} &middot; target {} &middot; {} worker(s) &middot; {}</p><table>",
        escape(&s.name),
        s.pattern.name(),
        s.arrival.name(),
        escape(&s.target),
        s.workers,
        escape(&s.measurement)
    );
    for (name, value) in figure_rows(s) {
        let _ = write!(page, "<tr><td>{name}</td><td>{value}</td></tr>");
    }
    page.push_str("</table><table><tr><th></th><th>avg</th>");
    for p in PERCENTILES {
        let _ = write!(page, "<th>{}</th>", p.label());
    }
    page.push_str("<th>max</th></tr>");
    for (name, l) in [
        ("response time, ms (corrected)", &s.response_time_ms),
        ("service time, ms", &s.service_time_ms),
        ("dispatch delay, µs", &s.dispatch_delay_us),
    ] {
        let _ = write!(page, "<tr><td>{name}</td><td>{:.3}</td>", l.avg);
        for (i, value) in l.percentiles.0.iter().enumerate() {
            // A report from before intervals: the figures alone, as it was.
            let cell = match l.ci95.map(|ci| (ci.intervals.0[i], ci.needs.0[i])) {
                None => format!("{value:.3}"),
                Some((Some([lo, hi]), _)) => {
                    format!("{value:.3}<br><small>[{lo:.3}, {hi:.3}]</small>")
                }
                Some((None, needs)) => format!(
                    "n/a<br><small>needs &ge; {} samples</small>",
                    needs.unwrap_or(0)
                ),
            };
            let _ = write!(page, "<td>{cell}</td>");
        }
        let _ = write!(page, "<td>{:.3}</td></tr>", l.max);
    }
    threshold_table(page, s);
    page.push_str("</table>");
    validity_table(page, s);
    by_name_table(page, s);
    if let Some(p) = &s.precision {
        let targets: Vec<String> = p.targets.iter().map(|t| t.to_string()).collect();
        let (class, what) = match p.reached_at_s {
            Some(at) => ("pass", format!("reached after {at:.1} s")),
            None => ("fail", format!("NOT REACHED in {:.1} s", s.send_window_s)),
        };
        let _ = write!(
            page,
            "<p>precision {}: <span class=\"{class}\">{what}</span> (ran {:.1} s)</p>",
            escape(&targets.join(", ")),
            s.send_window_s
        );
    }
    for note in &s.verdict.notes {
        let _ = write!(page, "<p class=\"note\">{}</p>", escape(note));
    }
    page.push_str("</section>");
}

/// A request set's names, a row each: counts and the three latencies' p50 / p99 / max
/// (nothing without a set).
fn by_name_table(page: &mut String, s: &ScenarioResult) {
    if s.by_name.is_empty() {
        return;
    }
    page.push_str(
        "<table><tr><th>request set: name</th><th>completed</th><th>ok</th><th>errors</th>\
         <th>timeouts</th><th>response ms p50 / p99 / max</th><th>service ms p50 / p99 / max</th>\
         <th>dispatch µs p50 / p99 / max</th></tr>",
    );
    for n in &s.by_name {
        let three =
            |l: &LatencySummary| format!("{:.3} / {:.3} / {:.3}", l.at(0.5), l.at(0.99), l.max);
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            escape(&n.name),
            n.completed,
            n.ok,
            n.errors,
            n.timeouts,
            three(&n.response_time_ms),
            three(&n.service_time_ms),
            three(&n.dispatch_delay_us)
        );
    }
    page.push_str("</table>");
}

/// The validity checks, a row each (nothing for a report without them).
fn validity_table(page: &mut String, s: &ScenarioResult) {
    let Some(v) = &s.validity else { return };
    let _ = write!(
        page,
        "<table><tr><th>validity ({} requests sampled in send order)</th><th></th><th></th>\
         </tr>",
        v.sampled
    );
    for (name, passed, detail) in super::text::validity_rows(v) {
        let (class, mark) = if passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{mark}</td></tr>",
            escape(&name),
            escape(&detail)
        );
    }
    for why in &v.not_checked {
        let _ = write!(
            page,
            "<tr><td colspan=\"3\">not checked: {}</td></tr>",
            escape(why)
        );
    }
    page.push_str("</table>");
}

/// The summary table's rows: rates, counts, shares, overhead.
fn figure_rows(s: &ScenarioResult) -> [(&'static str, String); 6] {
    let r = &s.requests;
    [
        (
            "rate (RPS): scheduled / achieved / sustained",
            format!(
                "{:.2} / {:.2} / {:.2}",
                s.scheduled_rps, s.achieved_rps, s.sustained_rps
            ),
        ),
        (
            "requests: intended / completed / ok",
            format!("{} / {} / {}", r.intended, r.completed, r.ok),
        ),
        (
            "errors / timeouts (expired, abandoned) / dropped / late",
            format!(
                "{} / {} ({}, {}) / {} / {}",
                r.errors, r.timeouts, r.expired, r.abandoned, r.dropped, r.late
            ),
        ),
        (
            "success rate / error rate",
            format!(
                "{:.2}% / {:.2}%",
                100.0 * s.success_rate,
                100.0 * s.error_rate
            ),
        ),
        (
            "cache hit rate / fallback rate",
            format!(
                "{:.2}% / {:.2}%",
                100.0 * s.cache_hit_rate,
                100.0 * s.fallback_rate
            ),
        ),
        (
            "framework overhead",
            format!(
                "{:.4}% ({:.2} µs per request)",
                s.overhead_pct, s.overhead.per_request_us
            ),
        ),
    ]
}

/// Each threshold with what was measured, pass or fail.
fn threshold_table(page: &mut String, s: &ScenarioResult) {
    page.push_str("</table><table><tr><th>threshold</th><th>measured</th><th></th></tr>");
    for t in &s.verdict.thresholds {
        let (class, mark) = match t.outcome() {
            "pass" => ("pass", "pass"),
            "fail" => ("fail", "FAIL"),
            _ => ("inconclusive", "inconclusive"),
        };
        let interval = t.ci95.map_or(String::new(), |[lo, hi]| {
            let end = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.4}"));
            format!(" [{}, {}]", end(lo), end(hi))
        });
        let _ = write!(
            page,
            "<tr><td>{} {} {} {}</td><td>{:.4} {}{interval}</td><td class=\"{class}\">{mark}</td></tr>",
            escape(&t.metric),
            escape(&t.comparison),
            t.limit,
            escape(&t.unit),
            t.value,
            escape(&t.unit)
        );
    }
}

/// The time axis every chart over time of a page shares: from the earliest warmup to the
/// last interval or resource sample, so that a moment sits at one x on every chart.
#[derive(Clone, Copy)]
struct TimeAxis {
    from: f64,
    to: f64,
}

impl TimeAxis {
    fn of(result: &RunResult) -> TimeAxis {
        let (mut from, mut to) = (0.0f64, 0.0f64);
        for s in &result.scenarios {
            from = from.min(-s.warmup_s);
            to = to.max(s.duration_s);
            for i in &s.intervals {
                (from, to) = (from.min(i.start_s), to.max(i.end_s));
            }
        }
        for x in &result.resources.monitor.samples {
            (from, to) = (from.min(x.start_s), to.max(x.end_s));
        }
        TimeAxis {
            from,
            to: if to > from { to } else { from + 1.0 },
        }
    }

    /// A chart over this axis: `series` against seconds, with `shades`.
    fn chart(
        &self,
        title: String,
        y_label: &str,
        series: Vec<Series>,
        shades: Vec<Shade>,
    ) -> Chart {
        Chart {
            shades,
            x_range: Some((self.from, self.to)),
            ..Chart::new(
                title,
                "seconds into the measured window (negative: warmup)",
                y_label,
                XAxis::Linear,
                series,
            )
        }
    }
}

impl TimeAxis {
    /// A chart of scenario `s` over this axis, its warmup and suspect intervals shaded, with
    /// the thresholds that live on it (`home`).
    fn scenario_chart(
        &self,
        title: String,
        y_label: &str,
        series: Vec<Series>,
        s: &ScenarioResult,
        home: Home,
    ) -> Chart {
        let mut chart = self.chart(title, y_label, series, shades(s));
        draw_thresholds(&mut chart, s, home);
        chart
    }
}

/// The shaded ranges of a scenario's charts over time: its warmup and each suspect
/// interval.
fn shades(s: &ScenarioResult) -> Vec<Shade> {
    let warmup = (s.warmup_s > 0.0).then_some(Shade {
        from: -s.warmup_s,
        to: 0.0,
        kind: ShadeKind::Warmup,
    });
    let suspect = s
        .intervals
        .iter()
        .filter(|i| !i.flags.is_empty())
        .map(|i| Shade {
            from: i.start_s,
            to: i.end_s,
            kind: ShadeKind::Suspect,
        });
    warmup.into_iter().chain(suspect).collect()
}

fn over_time(
    s: &ScenarioResult,
    value: impl Fn(&crate::metrics::IntervalStats) -> f64,
) -> Vec<(f64, f64)> {
    s.intervals
        .iter()
        .map(|i| ((i.start_s + i.end_s) / 2.0, value(i)))
        .collect()
}

/// The charted percentiles of a latency over time (the percentile table's rows with a
/// colour) with their 95% bands, and the max (dashed, underneath: at low rates it is the
/// p99), in the summary's unit.
fn percentile_series(
    s: &ScenarioResult,
    pick: fn(&crate::metrics::IntervalStats) -> &LatencySummary,
) -> Vec<Series> {
    let mut lines: Vec<Series> = PERCENTILES
        .iter()
        .enumerate()
        .filter_map(|(row, p)| Some((row, p, p.chart?)))
        .map(|(row, p, color)| Series {
            // Each interval's 95% band, where the interval has one.
            band: s
                .intervals
                .iter()
                .filter_map(|i| {
                    let [lo, hi] = pick(i).ci95?.intervals.0[row]?;
                    Some(((i.start_s + i.end_s) / 2.0, lo, hi))
                })
                .collect(),
            ..Series::line(
                p.label(),
                color,
                over_time(s, |i| pick(i).percentiles.0[row]),
            )
        })
        .collect();
    lines.push(Series {
        dashed: true,
        ..Series::line("max", "#7f7f7f", over_time(s, |i| pick(i).max))
    });
    lines
}

/// The chart of a scenario a threshold is drawn on, by its metric.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Home {
    Response,
    Service,
    Dispatch,
    Rate,
    Shares,
    Faults,
}

impl Home {
    /// Where `t` is drawn; `None` for a threshold with no time series (the whole run's
    /// overhead, timer lateness, cache and fallback rates, and a request set's names).
    fn of(t: &ThresholdResult) -> Option<Home> {
        if t.metric.contains('{') {
            return None;
        }
        Some(match t.metric.split(' ').next().unwrap_or("") {
            "response_time" => Home::Response,
            "service_time" => Home::Service,
            "dispatch_delay" => Home::Dispatch,
            "achieved_rate" | "sustained_rate" => Home::Rate,
            "error_rate" | "success_rate" => Home::Shares,
            "errors" | "timeouts" | "dropped" => Home::Faults,
            _ => return None,
        })
    }

    /// The factor from a threshold's unit to the chart's: nanoseconds for the latencies,
    /// percent for the shares, the unit itself otherwise.
    fn factor(self, unit: &str) -> f64 {
        match (self, unit) {
            (Home::Response | Home::Service | Home::Dispatch, "ns") => 1.0,
            (Home::Response | Home::Service | Home::Dispatch, "us") => 1e3,
            (Home::Response | Home::Service | Home::Dispatch, "s") => 1e9,
            (Home::Response | Home::Service | Home::Dispatch, _) => 1e6,
            (Home::Shares, "ratio") => 100.0,
            _ => 1.0,
        }
    }
}

/// The colours of the series thresholds add, in turn.
const ADDED_COLORS: [&str; 4] = ["#ff7f0e", "#17becf", "#e377c2", "#bcbd22"];

/// Adds to `chart` every threshold of `s` that lives there: its limit as a line and, when
/// the chart lacks it, the series of its statistic over time (a p99.9, a success rate),
/// each value as the alerts judge it.
fn draw_thresholds(chart: &mut Chart, s: &ScenarioResult, home: Home) {
    let mut added = 0;
    for t in s
        .verdict
        .thresholds
        .iter()
        .filter(|t| Home::of(t) == Some(home))
    {
        let k = home.factor(&t.unit);
        let stat = t
            .metric
            .split_once(' ')
            .map_or(t.metric.as_str(), |(_, stat)| stat);
        let stat = stat.replace('_', " ");
        chart.hlines.push(HLine {
            y: t.limit * k,
            label: format!("{stat} {} {} {}", t.comparison, t.limit, t.unit),
            color: "#b00020",
        });
        if chart.series.iter().any(|x| x.name == stat) {
            continue;
        }
        let Ok(threshold) = Threshold::parse(&t.text) else {
            continue;
        };
        let points: Vec<(f64, f64)> = s
            .intervals
            .iter()
            .filter_map(|i| {
                let value = threshold.evaluate_interval(i)?.value;
                Some(((i.start_s + i.end_s) / 2.0, value * k))
            })
            .collect();
        if !points.is_empty() {
            let color = ADDED_COLORS[added % ADDED_COLORS.len()];
            added += 1;
            chart.series.push(Series::line(stat, color, points));
        }
    }
}

fn scenario_charts(s: &ScenarioResult, index: usize, axis: TimeAxis) -> Result<Vec<Chart>, String> {
    let name = |what: &str| {
        if index == 0 {
            what.to_string()
        } else {
            format!("{what} ({})", s.name)
        }
    };
    // Latencies in ns, to be shown in the unit their size calls for.
    let in_ns = |mut series: Vec<Series>, per_unit: f64| -> Vec<Series> {
        series.iter_mut().for_each(|x| x.scale(per_unit));
        series
    };
    let latency = |title: &str, series: Vec<Series>, home: Home| {
        axis.scenario_chart(name(title), "ns", series, s, home)
            .in_time_unit(1.0)
            .log_y()
    };
    let mut charts = vec![
        latency(
            "Response time over time (corrected)",
            in_ns(percentile_series(s, |i| &i.response_time_ms), 1e6),
            Home::Response,
        ),
        latency(
            "Service time over time (uncorrected)",
            in_ns(percentile_series(s, |i| &i.service_time_ms), 1e6),
            Home::Service,
        ),
        rate_chart(s, axis, name("Scheduled and achieved rate")),
        Chart::new(
            name("Percentile spectrum"),
            "percentile",
            "ms",
            XAxis::Nines,
            vec![
                Series::line(
                    "response (corrected)",
                    "#d62728",
                    nines(&s.histograms.response_time)?,
                ),
                Series::line(
                    "service (uncorrected)",
                    "#1f77b4",
                    nines(&s.histograms.service_time)?,
                ),
            ],
        )
        .in_time_unit(1e6)
        .log_y(),
        latency(
            "Dispatch delay over time",
            in_ns(percentile_series(s, |i| &i.dispatch_delay_us), 1e3),
            Home::Dispatch,
        ),
    ];
    charts.extend(kernel_chart(
        s,
        axis,
        name("Service time split by kernel timestamps"),
    ));
    charts.extend(fault_charts(s, axis, &name));
    Ok(charts)
}

/// With kernel timestamps: the median and p99 of each part of the service time's split over
/// time (in ns, shown in the unit their size calls for). No thresholds live there.
fn kernel_chart(s: &ScenarioResult, axis: TimeAxis, title: String) -> Option<Chart> {
    s.intervals.iter().find(|i| i.kernel_timestamps.is_some())?;
    type Part = fn(&KernelSplit) -> &LatencySummary;
    let parts: [(&str, Part, [&'static str; 2]); 3] = [
        ("client send", |k| &k.client_send_us, ["#2ca02c", "#98df8a"]),
        (
            "wire and server",
            |k| &k.wire_and_server_us,
            ["#1f77b4", "#aec7e8"],
        ),
        (
            "client receive",
            |k| &k.client_receive_us,
            ["#d62728", "#ff9896"],
        ),
    ];
    let mut series = Vec::new();
    for (label, part, colors) in parts {
        for (q, color, key) in [(0.5, colors[0], "p50"), (0.99, colors[1], "p99")] {
            let points = s
                .intervals
                .iter()
                .filter_map(|i| {
                    let k = i.kernel_timestamps.as_ref().filter(|k| k.stamped > 0)?;
                    Some(((i.start_s + i.end_s) / 2.0, part(k).at(q) * 1e3))
                })
                .collect();
            series.push(Series::line(format!("{label} {key}"), color, points));
        }
    }
    Some(
        axis.chart(title, "ns", series, shades(s))
            .in_time_unit(1.0)
            .log_y(),
    )
}

/// Scheduled against achieved rate, with the rate thresholds.
fn rate_chart(s: &ScenarioResult, axis: TimeAxis, title: String) -> Chart {
    let series = vec![
        Series::line(
            "scheduled",
            "#7f7f7f",
            over_time(s, |i| i.scheduled / (i.end_s - i.start_s).max(1e-9)),
        ),
        // Named as an achieved_rate threshold names its statistic, which it is.
        Series::line("achieved rate", "#1f77b4", over_time(s, |i| i.achieved_rps)),
    ];
    axis.scenario_chart(title, "requests per second", series, s, Home::Rate)
}

/// The share of requests that failed (and succeeded, with a success-rate threshold), and
/// the faults per interval with a count threshold: each chart when the run had faults or a
/// threshold on them.
fn fault_charts(s: &ScenarioResult, axis: TimeAxis, name: &dyn Fn(&str) -> String) -> Vec<Chart> {
    let has = |home: Home| {
        s.verdict
            .thresholds
            .iter()
            .any(|t| Home::of(t) == Some(home))
    };
    let r = &s.requests;
    let faults = r.errors + r.timeouts + r.dropped > 0;
    let mut charts = Vec::new();
    if faults || has(Home::Shares) {
        // The share as an error_rate threshold's alerts judge it (none for an interval in
        // which no request ended).
        let judge = Threshold::parse("error_rate <= 100%").expect("a valid threshold");
        let share = s
            .intervals
            .iter()
            .filter_map(|i| {
                Some((
                    (i.start_s + i.end_s) / 2.0,
                    judge.evaluate_interval(i)?.value,
                ))
            })
            .collect();
        let series = vec![Series::line("error rate", "#d62728", share)];
        let title = name("Error and success rate (% of requests ended)");
        charts.push(axis.scenario_chart(title, "%", series, s, Home::Shares));
    }
    if has(Home::Faults) {
        let series = vec![
            Series::line("errors", "#d62728", over_time(s, |i| i.errors as f64)),
            Series::line("timeouts", "#9467bd", over_time(s, |i| i.timeouts as f64)),
            Series::line("dropped", "#8c564b", over_time(s, |i| i.dropped as f64)),
        ];
        let title = name("Faults per interval");
        charts.push(axis.scenario_chart(title, "requests", series, s, Home::Faults));
    }
    charts
}

/// Under a scenario's charts: what the shading marks, each suspect interval with why, and
/// the thresholds no chart draws (judged on the whole run only).
fn chart_notes(page: &mut String, s: &ScenarioResult) {
    let suspect: Vec<&crate::metrics::IntervalStats> =
        s.intervals.iter().filter(|i| !i.flags.is_empty()).collect();
    if !suspect.is_empty() {
        let _ = write!(
            page,
            "<p class=\"legend\"><span class=\"swatch band\"></span> Suspect intervals, shaded \
             on the charts over time ({} of {}): openpace's own figures may be off there.</p>\
             <ul class=\"suspect\">",
            suspect.len(),
            s.intervals.len()
        );
        for i in suspect {
            let _ = write!(
                page,
                "<li>{:.1}&ndash;{:.1} s: {}</li>",
                i.start_s,
                i.end_s,
                escape(&i.flags.join("; "))
            );
        }
        page.push_str("</ul>");
    }
    let undrawn: Vec<String> = s
        .verdict
        .thresholds
        .iter()
        .filter(|t| Home::of(t).is_none())
        .map(|t| format!("{} {} {} {}", t.metric, t.comparison, t.limit, t.unit))
        .collect();
    if !undrawn.is_empty() {
        let _ = write!(
            page,
            "<p class=\"legend\">Judged on the whole run only (no series over time): {}</p>",
            escape(&undrawn.join("; "))
        );
    }
}

/// (nines, ms) points of an encoded histogram: x = -log10(1 - q), up to the nines the
/// count can resolve (log10 of the count, at most six).
fn nines(encoded: &str) -> Result<Vec<(f64, f64)>, String> {
    Ok(spectrum(&decode(encoded)?, 1e6, None).0)
}

/// A percentile spectrum's points `(x, value)` and its band `(x, lo, hi)`.
pub(super) type Spectrum = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// The percentile spectrum of `h` on the "nines" axis (x is `-log10(1 - q)`), in `h`'s
/// units divided by `unit`, up to the nines its count can show; with the run's `evidence`,
/// also each point's 95% interval where the run has one (the one a rerun respects: see
/// [`honest`](crate::metrics::honest)).
pub(super) fn spectrum(
    h: &hdrhistogram::Histogram<u64>,
    unit: f64,
    evidence: Option<&crate::metrics::honest::Evidence>,
) -> Spectrum {
    let top = (h.len().max(10) as f64).log10().ceil().min(6.0);
    let cap = 1.0 - 10f64.powf(-top);
    let mut points = Vec::new();
    let mut bands = Vec::new();
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to().min(cap);
        let x = -(1.0 - q).log10();
        points.push((x, h.highest_equivalent(v.value_iterated_to()) as f64 / unit));
        if let Some([lo, hi]) = evidence.and_then(|e| e.interval(q, unit).interval) {
            bands.push((x, lo, hi));
        }
    }
    (points, bands)
}

fn resource_charts(result: &RunResult, axis: TimeAxis) -> Vec<Chart> {
    let samples = &result.resources.monitor.samples;
    let at = |x: &crate::metrics::resources::ResourceSample| (x.start_s + x.end_s) / 2.0;
    let process: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|x| Some((at(x), x.process.cpu_user_pct? + x.process.cpu_system_pct?)))
        .collect();
    let memory: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|x| Some((at(x), x.process.rss_mb?)))
        .collect();
    // The warmup of the first scenario, which the samples' clock counts from.
    let warmup: Vec<Shade> = result
        .scenarios
        .first()
        .map(shades)
        .unwrap_or_default()
        .into_iter()
        .filter(|x| x.kind == ShadeKind::Warmup)
        .collect();
    let mut charts = Vec::new();
    if !process.is_empty() {
        let host = samples
            .iter()
            .filter_map(|x| Some((at(x), x.host.as_ref()?.total.cpu_pct)))
            .collect();
        let series = vec![
            Series::line("openpace (% of 1 core)", "#1f77b4", process),
            Series::line("host (% of all cores)", "#7f7f7f", host),
        ];
        charts.push(axis.chart("CPU over time".into(), "%", series, warmup.clone()));
    }
    if !memory.is_empty() {
        let series = vec![Series::line("openpace RSS", "#9467bd", memory)];
        charts.push(axis.chart("Memory over time".into(), "MB", series, warmup));
    }
    charts
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), by the civil-from-days algorithm.
fn utc(unix_s: f64) -> String {
    let secs = unix_s.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_000_000.0), "2026-11-18 11:06:40");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00");
    }
}
