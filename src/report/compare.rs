//! `openpace compare`'s outputs: a [`Comparison`] as text (a table per metric), JSON (the
//! struct as is) or a self-contained HTML page with both runs' percentile spectra on one
//! chart, each with its 95% band.

use std::fmt::Write;

use super::html::{page_head, spectrum};
use super::junit::escape;
use super::svg::{Chart, Series, XAxis, render};
use crate::base::units::{format_latency, format_latency_signed};
use crate::metrics::ScenarioResult;
use crate::metrics::compare::{Comparison, MetricComparison};

/// The comparison in `format` (`text`, `json` or `html`; the formats `--format` allows), as
/// `openpace compare` and `openpace ab` write it to `--out`. `a` and `b` are the runs'
/// scenarios, for the HTML page's spectra; its error says why a spectrum could not be drawn.
pub fn in_format(
    c: &Comparison,
    format: &str,
    a: &[ScenarioResult],
    b: &[ScenarioResult],
) -> Result<String, String> {
    match format {
        "json" => Ok(serde_json::to_string_pretty(c).expect("comparisons serialize") + "\n"),
        "html" => html(c, a, b),
        _ => Ok(text(c)),
    }
}

/// The comparison as text, as `openpace compare` prints it.
pub fn text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "openpace compare: A = {}, B = {}", c.a, c.b);
    if let Some(r) = &c.rounds {
        let _ = writeln!(
            out,
            "{} interleaved rounds (order seed {}): {}",
            r.count,
            r.seed,
            r.order.join(" ")
        );
    }
    for s in &c.scenarios {
        let _ = writeln!(out, "\nSCENARIO {}", s.name);
        for m in &s.metrics {
            metric_table(&mut out, m);
        }
    }
    for u in &c.unmatched {
        let _ = writeln!(out, "\nnot compared: {u}");
    }
    if !c.limits.is_empty() {
        let _ = writeln!(out);
    }
    for l in &c.limits {
        let mark = if l.failed { "FAIL" } else { "pass" };
        let _ = writeln!(
            out,
            "[{mark}] fail-if-slower {} ({}): {}",
            l.limit, l.scenario, l.detail
        );
    }
    let _ = writeln!(
        out,
        "\n[lo, hi]: 95% intervals ([n/a]: too few samples, or too short a run to bound \
         honestly). detects: the smallest\n  difference, % of A, the data could have called \
         slower or faster. Method:"
    );
    let mut line = String::from(" ");
    for word in c.method.split_whitespace() {
        if line.len() + word.len() > 90 {
            let _ = writeln!(out, "{line}");
            line = String::from(" ");
        }
        line.push(' ');
        line.push_str(word);
    }
    let _ = writeln!(out, "{line}.");
    if c.rounds.is_none() {
        let _ = writeln!(
            out,
            "  Within a run the intervals allow for slow stretches the run itself shows; a \
             condition\n  that moves only between runs needs repetitions (run --repeat N) or \
             interleaved rounds (openpace ab)."
        );
    }
    out
}

/// One metric's table: a row per percentile both runs can bound, each figure in the unit
/// that reads best; the percentiles too few samples support are named after it instead.
fn metric_table(out: &mut String, m: &MetricComparison) {
    let _ = writeln!(
        out,
        "\n{}, {} samples in A, {} in B",
        m.metric, m.count_a, m.count_b
    );
    let _ = writeln!(
        out,
        "  {:<7} {:>26} {:>26} {:>34}  {:>8}  verdict",
        "", "A [95% interval]", "B [95% interval]", "B - A [95% interval]", "detects"
    );
    let unit_ns = unit_ns(&m.unit);
    let v = |x: f64| format_latency(x * unit_ns);
    let signed = |x: f64| format_latency_signed(x * unit_ns);
    let (shown, unsupported): (Vec<_>, Vec<_>) = m
        .percentiles
        .iter()
        .partition(|p| p.difference_ci95.is_some());
    for p in shown {
        let value = |x: f64, ci: Option<[f64; 2]>| match ci {
            Some([lo, hi]) => format!("{} [{}, {}]", v(x), v(lo), v(hi)),
            None => format!("{} [n/a]", v(x)),
        };
        let diff = match p.difference_ci95 {
            Some([lo, hi]) => format!(
                "{} ({:+.1}%) [{}, {}]",
                signed(p.difference),
                p.difference_pct,
                signed(lo),
                signed(hi)
            ),
            None => format!("{} ({:+.1}%) [n/a]", signed(p.difference), p.difference_pct),
        };
        let detects = p.detectable_pct.map_or("n/a".to_string(), |d| {
            if d >= 1000.0 {
                ">1000%".to_string()
            } else {
                format!(">={d:.1}%")
            }
        });
        let _ = writeln!(
            out,
            "  {:<7} {:>26} {:>26} {:>34}  {:>8}  {}",
            p.percentile,
            value(p.a, p.a_ci95),
            value(p.b, p.b_ci95),
            diff,
            detects,
            p.verdict
        );
    }
    if !unsupported.is_empty() {
        let names: Vec<&str> = unsupported.iter().map(|p| p.percentile.as_str()).collect();
        let _ = writeln!(
            out,
            "  not shown: {}: too few samples in A or B for a 95% interval (a longer run or \
             --repeat gives them; the JSON keeps the values)",
            names.join(", ")
        );
    }
}

/// Nanoseconds per unit of a comparison's metric (`ms` or `us`).
fn unit_ns(unit: &str) -> f64 {
    match unit {
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        "ns" => 1.0,
        _ => 1e9,
    }
}

/// The comparison as a self-contained HTML page: the tables, then per scenario and metric
/// one chart with A's and B's percentile spectra and their 95% bands. `a` and `b` are the
/// runs' scenarios, for the spectra.
pub fn html(c: &Comparison, a: &[ScenarioResult], b: &[ScenarioResult]) -> Result<String, String> {
    let mut page = String::new();
    page_head(&mut page, "openpace compare", "openpace compare");
    let _ = write!(
        page,
        "<p>A = {}, B = {}</p><p>{}</p>",
        escape(&c.a),
        escape(&c.b),
        escape(&c.method)
    );
    for l in &c.limits {
        let class = if l.failed { "fail" } else { "pass" };
        let _ = write!(
            page,
            "<p class=\"{class}\">fail-if-slower {} ({}): {}</p>",
            escape(&l.limit),
            escape(&l.scenario),
            escape(&l.detail)
        );
    }
    // The pairs `compare` compared, in the same order as its scenarios.
    for (s, (sa, sb)) in c.scenarios.iter().zip(crate::metrics::compare::pairs(a, b)) {
        let _ = write!(page, "<h2>{}</h2>", escape(&s.name));
        for m in &s.metrics {
            html_table(&mut page, m);
            let chart = spectra(m, sa, sb)?;
            let _ = write!(
                page,
                "<section class=\"chart\">{}</section>",
                render(&chart)
            );
        }
    }
    page.push_str("</body></html>\n");
    Ok(page)
}

fn html_table(page: &mut String, m: &MetricComparison) {
    let _ = write!(
        page,
        "<table><tr><th>{}</th><th>A</th><th>B</th><th>B - A</th><th></th></tr>",
        escape(&m.metric)
    );
    let unit_ns = unit_ns(&m.unit);
    let v = |x: f64| format_latency(x * unit_ns);
    let ci = |c: Option<[f64; 2]>| match c {
        Some([lo, hi]) => format!(" [{}, {}]", v(lo), v(hi)),
        None => " [n/a]".to_string(),
    };
    for p in &m.percentiles {
        let class = match p.verdict.as_str() {
            "slower" => "fail",
            "faster" => "pass",
            _ => "",
        };
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}{}</td><td>{}{}</td><td>{} ({:+.1}%){}</td>\
             <td class=\"{class}\">{}</td></tr>",
            p.percentile,
            v(p.a),
            ci(p.a_ci95),
            v(p.b),
            ci(p.b_ci95),
            format_latency_signed(p.difference * unit_ns),
            p.difference_pct,
            ci(p.difference_ci95),
            escape(&p.verdict)
        );
    }
    page.push_str("</table>");
}

/// A's and B's percentile spectra of metric `m`, with their 95% bands.
fn spectra(m: &MetricComparison, a: &ScenarioResult, b: &ScenarioResult) -> Result<Chart, String> {
    use crate::metrics::honest::{Evidence, Metric, lag_factor};
    let (metric, per_unit) = match m.metric.as_str() {
        "response_time" => (Metric::Response, 1e6),
        "service_time" => (Metric::Service, 1e6),
        _ => (Metric::Dispatch, 1e3),
    };
    let series = |s: &ScenarioResult, name: &str, color: &'static str| {
        let evidence = Evidence::of(&s.histograms, &s.intervals, metric, lag_factor(s));
        let (points, band) = spectrum(evidence.total(), per_unit, Some(&evidence));
        Ok::<_, String>(Series {
            band,
            ..Series::line(name, color, points)
        })
    };
    let series = vec![series(a, "A", "#1f77b4")?, series(b, "B", "#d62728")?];
    let title = format!("{}: percentile spectrum, A against B", m.metric);
    let chart = Chart::new(title, "percentile", &m.unit, XAxis::Nines, series);
    Ok(chart.in_time_unit(per_unit).log_y())
}
