//! The HTML report read at a glance (issue 16): every threshold on the chart of its metric
//! with its statistic's series, one time axis for every chart over time with the warmup
//! shaded, suspect intervals in the legend and listed with their reasons, clean tick labels,
//! units that follow the magnitude, charts that scale to the page. The page is checked from
//! a saved result (tests/golden/single), and the default run's report is rendered in
//! headless Chromium (Debian's `chromium`, which `.ci/run` installs), which must load it
//! without a script error and draw every chart.

mod common;

use openpace::metrics::threshold::Threshold;
use openpace::{ReportFormat, RunResult};

fn golden() -> RunResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/single/result.json"
    );
    openpace::report::read_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn page(result: &RunResult) -> String {
    openpace::report::render_files(result, ReportFormat::Html).unwrap()[0]
        .1
        .clone()
}

/// Each chart's SVG, in page order.
fn charts(html: &str) -> Vec<&str> {
    html.split("<section class=\"chart\">")
        .skip(1)
        .map(|c| &c[..c.find("</section>").unwrap()])
        .collect()
}

fn title(chart: &str) -> &str {
    let start = chart.find("<title>").unwrap() + "<title>".len();
    &chart[start..start + chart[start..].find("</title>").unwrap()]
}

/// The chart titled `prefix...`.
fn chart<'a>(html: &'a str, prefix: &str) -> &'a str {
    charts(html)
        .into_iter()
        .find(|c| title(c).starts_with(prefix))
        .unwrap_or_else(|| panic!("no chart {prefix:?}"))
}

/// The contents of the chart's `<text>` elements of `class`.
fn texts(chart: &str, class: &str) -> Vec<String> {
    let marker = format!("class=\"{class}\"");
    chart
        .split("<text ")
        .skip(1)
        .filter(|t| t[..t.find('>').unwrap()].contains(&marker))
        .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].to_string())
        .collect()
}

/// Adds a threshold, judged on the scenario as a run would.
fn add_threshold(result: &mut RunResult, text: &str) {
    let s = &mut result.scenarios[0];
    let judged = Threshold::parse(text).unwrap().evaluate(s);
    s.verdict.thresholds.push(judged);
}

#[test]
fn every_threshold_is_drawn_on_its_metrics_chart_with_its_statistics_series() {
    let mut result = golden();
    for t in [
        "response p99.9 < 20ms",
        "service p99 < 50us",
        "error_rate <= 1%",
        "errors < 5",
        "timer_lateness p99 < 1ms",
    ] {
        add_threshold(&mut result, t);
    }
    let html = page(&result);
    let response = chart(&html, "Response time over time");
    // A p99.9 threshold brings its p99.9 series, beside p50, p90, p99 and the max.
    let legend = texts(response, "lg");
    for series in ["p50", "p90", "p99", "max", "p99.9", "p95"] {
        assert!(
            legend.iter().any(|l| l == series),
            "{series} not in {legend:?}"
        );
    }
    let limits = texts(response, "ll").join(" | ");
    assert!(limits.contains("p99.9 &lt; 20 ms"), "{limits}");
    // The max is dashed and drawn first, under the percentiles it would hide.
    let first_line = &response[response.find("<polyline").unwrap()..];
    assert!(first_line[..first_line.find("/>").unwrap()].contains("line dash"));
    let service = chart(&html, "Service time over time");
    assert!(texts(service, "ll").join(" ").contains("p99 &lt; 50 us"));
    let shares = chart(&html, "Error and success rate");
    assert!(
        texts(shares, "ll")
            .join(" ")
            .contains("error rate &lt;= 1 %")
    );
    assert!(texts(shares, "lg").contains(&"success rate".to_string()));
    let faults = chart(&html, "Faults per interval");
    assert!(
        texts(faults, "ll")
            .join(" ")
            .contains("errors &lt; 5 count")
    );
    // A threshold with no series over time is named as judged on the whole run.
    assert!(html.contains("Judged on the whole run only (no series over time): timer_lateness"));
}

#[test]
fn charts_over_time_share_one_axis_with_the_warmup_shaded() {
    let mut result = golden();
    result.scenarios[0].warmup_s = 1.0;
    let html = page(&result);
    let over_time: Vec<&str> = charts(&html)
        .into_iter()
        .filter(|c| texts(c, "xt")[0].starts_with("seconds into the measured window"))
        .collect();
    assert!(over_time.len() >= 5, "{}", over_time.len());
    let axis = texts(over_time[0], "xl");
    assert_eq!(axis.first().map(String::as_str), Some("-1.0"), "{axis:?}");
    for c in &over_time {
        assert_eq!(texts(c, "xl"), axis, "{}", title(c));
        assert!(c.contains("class=\"warm\"") && c.contains(">warmup (not measured)</text>"));
    }
}

#[test]
fn suspect_intervals_have_a_legend_and_a_list_with_their_reasons() {
    let mut result = golden();
    let s = &mut result.scenarios[0];
    s.intervals[1].flags = vec!["workers saturated".into(), "client-side queueing".into()];
    let (from, to) = (s.intervals[1].start_s, s.intervals[1].end_s);
    let html = page(&result);
    let response = chart(&html, "Response time over time");
    assert!(response.contains("class=\"band\"") && response.contains(">suspect interval</text>"));
    let item =
        format!("<li>{from:.1}&ndash;{to:.1} s: workers saturated; client-side queueing</li>");
    assert!(html.contains(&item), "{item} not in the page");
}

#[test]
fn ticks_read_cleanly_units_follow_the_magnitude_and_charts_scale_to_the_page() {
    let mut result = golden();
    // A dispatch delay of 10,000 µs reads as 10 ms.
    for i in &mut result.scenarios[0].intervals {
        i.dispatch_delay_us.max = 10_000.0;
    }
    let html = page(&result);
    assert_eq!(texts(chart(&html, "Dispatch delay"), "yt"), ["ms"]);
    for c in charts(&html) {
        assert!(c.starts_with("<svg viewBox=") && !c[..c.find('>').unwrap()].contains("width="));
        for class in ["xl", "yl"] {
            let labels = texts(c, class);
            if labels.iter().any(|l| l.ends_with('%')) {
                continue; // the nines axis: 90%, 99%, 99.9%
            }
            if class == "yl" && c.contains("class=\"chart logy\"") {
                // A log axis: 1, 2 and 5 times powers of ten, each with the digits it has.
                for l in &labels {
                    let lead = l.trim_start_matches(['0', '.']).chars().next();
                    assert!(
                        matches!(lead, Some('1' | '2' | '5')),
                        "{} yl: {labels:?}",
                        title(c)
                    );
                }
                continue;
            }
            // One axis, one number of decimals: 0.5, 1.0, 1.5, never 0.500, 1, 1.5.
            let decimals = |l: &String| l.split_once('.').map_or(0, |(_, d)| d.len());
            let first = decimals(&labels[0]);
            assert!(
                labels.iter().all(|l| decimals(l) == first && first <= 3),
                "{} {class}: {labels:?}",
                title(c)
            );
        }
    }
}

/// Where Debian's Chromium is, if installed.
fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// Runs Chromium headless on `page` with `args`, no network and a fresh profile.
fn headless(dir: &std::path::Path, page: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(chromium().unwrap())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,6000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// Put first in the page's head: records every script error from then on.
const LISTEN: &str = r#"<script>
var errors = [];
window.addEventListener('error', function (e) { errors.push(String(e.message)); });
</script>"#;

/// Put last in the page's body: measures every chart as the browser laid it out and writes
/// what it found, with the errors, as JSON into `<pre id="check">`.
const CHECK: &str = r#"<script>
var charts = Array.prototype.map.call(document.querySelectorAll('svg.chart'), function (svg) {
  var box = svg.getBoundingClientRect();
  var scale = box.width / svg.viewBox.baseVal.width;
  var widest = 0;
  svg.querySelectorAll('polyline').forEach(function (l) {
    widest = Math.max(widest, l.getBoundingClientRect().width);
  });
  var text = svg.querySelector('text.xl') || svg.querySelector('text');
  var font = parseFloat(getComputedStyle(text).fontSize) * scale;
  return { title: svg.querySelector('title').textContent, width: box.width,
           lines: svg.querySelectorAll('polyline').length, widest: widest, font: font };
});
var pre = document.createElement('pre');
pre.id = 'check';
pre.textContent = JSON.stringify({ errors: errors, charts: charts });
document.body.appendChild(pre);
</script>"#;

#[test]
fn chromium_draws_every_chart_of_the_default_runs_report() {
    if chromium().is_none() {
        common::missing::<()>("chromium");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    // The default scenario, short, with thresholds that add series.
    let out = {
        let _turn = common::serial();
        common::openpace(&[
            "-d",
            "3s",
            "--warmup",
            "1s",
            "--out",
            "none",
            "--quiet",
            "--html",
            html.to_str().unwrap(),
            "--threshold",
            "response p99.9 < 500ms",
        ])
    };
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        common::stderr(&out)
    );
    let checked = dir.path().join("checked.html");
    let text = std::fs::read_to_string(&html).unwrap();
    let text = text.replacen("<head>", &format!("<head>{LISTEN}"), 1);
    std::fs::write(
        &checked,
        text.replace("</body>", &format!("{CHECK}</body>")),
    )
    .unwrap();
    let dom = headless(dir.path(), &checked, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let start = dom.find("<pre id=\"check\">").expect("the check ran") + "<pre id=\"check\">".len();
    let json = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    let found: serde_json::Value = serde_json::from_str(&json.replace("&quot;", "\"")).unwrap();
    assert_eq!(found["errors"], serde_json::json!([]), "{found}");
    let charts = found["charts"].as_array().unwrap();
    assert!(charts.len() >= 7, "{found}");
    for c in charts {
        // The figures docs/formats.md quotes (`-- --nocapture` shows them).
        eprintln!(
            "{}: {} px wide, labels {} px, {} lines",
            c["title"], c["width"], c["font"], c["lines"]
        );
        // Drawn, across the page's width, with labels legible at 100% zoom.
        assert!(c["lines"].as_u64().unwrap() >= 1, "an empty chart: {c}");
        assert!(
            c["widest"].as_f64().unwrap() > 100.0,
            "a chart with no line across it: {c}"
        );
        assert!(c["width"].as_f64().unwrap() >= 1000.0, "{c}");
        assert!(c["font"].as_f64().unwrap() >= 12.0, "{c}");
    }
    // And as a picture: a PNG of the whole page.
    let png = dir.path().join("report.png");
    let shot = headless(
        dir.path(),
        &html,
        &[&format!("--screenshot={}", png.display())],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{e}: {}", common::stderr(&shot)));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 50_000,
        "{}",
        bytes.len()
    );
}
