//! Output formats: written during a run, read back, and rendered again from the saved JSON.

mod common;

use common::openpace;

use std::path::{Path, PathBuf};
use std::process::Output;

use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use openpace::metrics::encoding::decode;

/// One short run writing every format into `dir`; returns the JSON report's path.
fn run_all_formats(dir: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let json = p("run.json");
    let mut args = vec![
        "run",
        "--target",
        "sleep:2ms",
        "--rate",
        "200",
        "--duration",
        "2",
        "--warmup",
        "0.5",
        "--interval",
        "0.5",
        "--quiet",
    ];
    let files = [
        ("--out", json.clone()),
        ("--html", p("run.html")),
        ("--hgrm", p("run.hgrm")),
        ("--hlog", p("run.hlog")),
        ("--csv", p("run.csv")),
        ("--junit", p("run.xml")),
    ];
    for (flag, path) in &files {
        args.push(flag);
        args.push(path);
    }
    args.extend(extra);
    let _turn = common::serial();
    (openpace(&args), PathBuf::from(json))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_format_is_written_and_renders_again_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = run_all_formats(dir.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result =
        openpace::report::load_result(&json, openpace::base::input::MAX_INPUT_BYTES).unwrap();
    let s = &result.scenarios[0];

    // .hgrm: the distribution ends with every count, and its p99 row is the JSON's p99.
    let hgrm = read(&dir.path().join("run.hgrm"));
    let rows: Vec<Vec<f64>> = hgrm
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.last().unwrap()[2] as u64, s.response_time_ms.count);
    // Every row's value is where the JSON histogram's count reaches the row's TotalCount.
    let response = decode(&s.histograms.response_time).unwrap();
    for row in &rows {
        // Integer arithmetic: the first bucket at which the running count reaches TotalCount.
        let mut running = 0;
        let reached = response
            .iter_recorded()
            .find(|v| {
                running += v.count_since_last_iteration();
                running >= row[2] as u64
            })
            .unwrap();
        let expected = response.highest_equivalent(reached.value_iterated_to()) as f64 / 1e6;
        assert!((row[0] - expected).abs() < 0.0015, "{row:?} vs {expected}");
    }
    let p99_row = rows.iter().find(|r| r[1] >= 0.99).unwrap();
    assert!(p99_row[0] >= s.response_time_ms.at(0.99) - 0.0015);
    for extra in ["run.service.hgrm", "run.dispatch.hgrm"] {
        assert!(read(&dir.path().join(extra)).contains("Total count"));
    }

    // .hlog: per tag, the intervals add up to the run totals; per interval, to the series.
    let hlog = read(&dir.path().join("run.hlog"));
    let mut response_total = 0;
    let mut per_interval = Vec::new();
    for entry in IntervalLogIterator::new(hlog.as_bytes()) {
        if let Ok(LogEntry::Interval(h)) = entry {
            let bytes = base64_decode(h.encoded_histogram());
            let histogram: hdrhistogram::Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap();
            if h.tag().map(|t| t.as_str()) == Some("response") {
                response_total += histogram.len();
                per_interval.push(histogram.len());
            }
        }
    }
    assert_eq!(response_total, s.response_time_ms.count);
    let series: Vec<u64> = s.intervals.iter().map(|i| i.completed).collect();
    assert_eq!(per_interval, series);

    // CSV: a header and a row per interval.
    let csv = read(&dir.path().join("run.csv"));
    assert_eq!(csv.lines().count(), 1 + s.intervals.len());

    // HTML: nothing to load from a network, one chart per chart section.
    let html = read(&dir.path().join("run.html"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    let charts = html.matches("<section class=\"chart\">").count();
    assert_eq!(html.matches("<svg").count(), charts);
    // Response, service, rate, spectrum, dispatch, error and success rate (the default
    // thresholds include both), CPU and memory.
    assert_eq!(charts, 8);
    assert!(html.contains("PASSED"));
    // Issue 29 point 11: the latency charts' legend in percentile order, the max last.
    let legend: Vec<&str> = html
        .split("class=\"lg\">")
        .skip(1)
        .take(6)
        .map(|rest| rest.split('<').next().unwrap())
        .collect();
    assert_eq!(
        legend,
        ["p50", "p90", "p95", "p99", "p99.9", "max"],
        "{html}"
    );

    // Rendering again from the JSON gives the same bytes, format by format.
    for (format, name) in [
        ("json", "run.json"),
        ("html", "run.html"),
        ("hgrm", "run.hgrm"),
        ("hlog", "run.hlog"),
        ("csv", "run.csv"),
        ("junit", "run.xml"),
    ] {
        let again = dir.path().join(format!("again-{name}"));
        let out = openpace(&[
            "report",
            json.to_str().unwrap(),
            "--format",
            format,
            "--out",
            again.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            read(&again) == read(&dir.path().join(name)),
            "{format} renders differently"
        );
    }
    let text = openpace(&["report", json.to_str().unwrap(), "--format", "text"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("LOAD TEST SUMMARY"));
    // The run-total histogram in the JSON is the sum of the intervals'.
    let total = decode(&s.histograms.response_time).unwrap();
    assert_eq!(total.len(), per_interval.iter().sum::<u64>());
}

#[test]
fn junit_lists_each_threshold_and_fails_the_failed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = run_all_formats(dir.path(), &["--set", "latency_p95_threshold_ms=1"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = read(&dir.path().join("run.xml"));
    assert!(well_formed(&xml), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 4);
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(xml.contains("failures=\"1\""));
    assert!(xml.contains("name=\"response_time p95 &lt; 1 ms\""));
}

#[test]
fn an_unwritable_output_stops_the_run_before_it_starts() {
    let out = openpace(&[
        "run",
        "--target",
        "noop",
        "--rate",
        "10",
        "--duration",
        "30",
        "--out",
        "none",
        "--html",
        "/no/such/dir/report.html",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty(), "nothing ran");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/dir/report.html"));
}

#[test]
fn report_rejects_a_file_that_is_not_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.json");
    std::fs::write(&bogus, "{\"not\": \"a result\"}").unwrap();
    let out = openpace(&["report", bogus.to_str().unwrap(), "--format", "html"]);
    assert_eq!(out.status.code(), Some(2));
    let out = openpace(&["report", bogus.to_str().unwrap(), "--format", "pdf"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("format = pdf"));
}

/// Tags open and close in order; attributes are quoted.
fn well_formed(xml: &str) -> bool {
    let mut stack: Vec<String> = Vec::new();
    let body = xml.split_once("?>").map_or(xml, |(_, rest)| rest);
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            return false;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        if tag.matches('"').count() % 2 != 0 {
            return false;
        }
        let name = tag
            .trim_start_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or("");
        let name = name.trim_end_matches('/');
        if tag.starts_with('/') {
            if stack.pop().as_deref() != Some(name) {
                return false;
            }
        } else if !tag.ends_with('/') {
            stack.push(name.to_string());
        }
    }
    stack.is_empty()
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Issue 14: every percentile comes with its 95% interval, in the text and the JSON; one the
/// samples are too few for is `n/a` with the samples it needs, never a number that only looks
/// precise.
#[test]
fn percentiles_carry_their_95_percent_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let _turn = common::serial();
    let out = openpace(&[
        "run",
        "--target",
        "spin:exp:100us",
        "--rate",
        "500",
        "--duration",
        "2",
        "--out",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // 1,000 samples: a p99 needs 368, a p99.9 3,688.
    assert!(
        text.contains("  P99.9: n/a (needs >= 3688 samples)"),
        "{text}"
    );
    let line = text.lines().find(|l| l.starts_with("  P50: ")).unwrap();
    assert!(line.contains(" [") && line.ends_with(']'), "{line}");
    let r: serde_json::Value = serde_json::from_str(&read(&json)).unwrap();
    let l = &r["scenarios"][0]["service_time_ms"];
    for (p, ci) in [("p50", "p50"), ("p90", "p90"), ("p99", "p99")] {
        let value = l[p].as_f64().unwrap();
        let [lo, hi] = [
            l["ci95"][ci][0].as_f64().unwrap(),
            l["ci95"][ci][1].as_f64().unwrap(),
        ];
        assert!(
            lo <= value && value <= hi,
            "{p} {value} not in [{lo}, {hi}]"
        );
    }
    assert!(l["ci95"]["p99_9"].is_null());
    assert_eq!(l["ci95"]["needs"]["p99_9"], 3688);
    // The HTML report: intervals in the table, bands on the charts over time.
    let result = openpace::report::read_json(&read(&json)).unwrap();
    let html = &openpace::report::render_files(&result, openpace::ReportFormat::Html).unwrap()[0].1;
    assert!(html.contains("<small>[") && html.contains("needs &ge; 3688 samples"));
    assert!(html.contains("<polygon") && html.contains("fill-opacity=\"0.15\""));
}

/// Issue 27: every output reads the percentile table: each row is in the JSON summaries (its
/// key), the text summary and the HTML table (its label), and each `series` row in the CSV
/// header and the interval lines; a saved report reads back with every row's value.
#[test]
fn every_output_shows_every_row_of_the_percentile_table() {
    use openpace::metrics::percentile::PERCENTILES;
    use openpace::report::{csv, read_json, render_files, summary, to_json};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/single");
    let result = read_json(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    let json = to_json(&result);
    let text = summary(&result);
    let html = render_files(&result, openpace::ReportFormat::Html).unwrap()[0]
        .1
        .clone();
    let header = csv::header();
    let s = &result.scenarios[0];
    for (p, value) in s.response_time_ms.percentiles.iter() {
        assert!(json.contains(&format!("\"{}\": ", p.key)), "{}", p.key);
        let label = p.label();
        assert!(
            text.contains(&format!("{}: ", label.to_uppercase())),
            "{label}"
        );
        assert!(html.contains(&format!("<th>{label}</th>")), "{label}");
        assert!(value > 0.0, "{label} read back as {value}");
        if p.series {
            assert!(
                header.contains(&format!("response_{}_ms", p.key)),
                "{label}"
            );
            assert!(text.contains(&format!("{label} ")), "{label}");
        }
    }
    assert_eq!(
        s.response_time_ms.percentiles.iter().count(),
        PERCENTILES.len()
    );
}
