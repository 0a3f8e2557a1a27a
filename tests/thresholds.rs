//! Extra thresholds, alerts, notifications, live progress and abort_on_fail, through the binary.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn openpace(args: &[&str]) -> Output {
    let _turn = common::serial();
    Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A 2 s run of a 2 ms target at 100 RPS with 0.5 s intervals, plus `extra` flags.
fn run(extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--target",
        "sleep:2ms",
        "--rate",
        "100",
        "--duration",
        "2",
        "--warmup",
        "0",
        "--interval",
        "0.5",
    ];
    args.extend(extra);
    openpace(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn extra_thresholds_join_the_verdict_and_set_the_exit_code() {
    let passing = run(&[
        "--out",
        "none",
        "--threshold",
        "response p99.9 < 100ms",
        "--threshold",
        "achieved_rate >= 0.99 * target",
        "--threshold",
        "dispatch_delay p99 < 50ms",
    ]);
    assert_eq!(passing.status.code(), Some(0), "{}", stderr(&passing));
    let summary = String::from_utf8_lossy(&passing.stdout);
    assert!(summary.contains("[pass] response_time p95 "), "{summary}");
    assert!(summary.contains("[pass] achieved_rate"), "{summary}");
    // 200 samples cannot bound a p99.9 from above (that takes 3,688): well under its limit,
    // it is still not a pass, only inconclusive, which exits 0 unless --strict.
    assert!(
        summary.contains("[inconclusive] response_time p99.9 "),
        "{summary}"
    );
    // So are the design's p99 and the dispatch p99 (368 samples each).
    assert!(
        summary.contains("VERDICT: PASSED, 3 inconclusive"),
        "{summary}"
    );
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let strict = run(&[
        "--out",
        "none",
        "--strict",
        "--threshold",
        "response p99.9 < 100ms",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    // JUnit shows an inconclusive threshold as a skipped case, with its interval.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\" skipped=\"2\""), "{xml}");
    assert!(
        xml.contains("<skipped message=\"inconclusive: response_time p99.9 was "),
        "{xml}"
    );
    // A lower bound is enough to fail: most of 200 samples of 2 ms lie above 1 ms.
    let failing = run(&["--out", "none", "--threshold", "response p99.9 < 1ms"]);
    assert_eq!(failing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failing.stdout).contains("[FAIL] response_time p99.9"));
}

#[test]
fn breaching_intervals_alert_on_stderr_in_the_report_and_to_the_notify_command() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let log = dir.path().join("notes.jsonl");
    let notify = format!("cat >> {}", log.display());
    let out = run(&[
        "--out",
        json.to_str().unwrap(),
        "--threshold",
        "response p50 < 1ms",
        "--notify-cmd",
        &notify,
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Every interval breaches: an alert line each, in the report too.
    let alerts = stderr(&out).matches("openpace ALERT").count();
    assert!(alerts >= 4, "{}", stderr(&out));
    let result = common::read_json(&json);
    assert_eq!(
        result["scenarios"][0]["alerts"].as_array().unwrap().len(),
        alerts
    );
    // The notify command saw each alert and then the verdict, each as one JSON line.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON"))
        .collect();
    assert_eq!(lines.len(), alerts + 1);
    assert!(
        lines[..alerts]
            .iter()
            .all(|l| l["type"] == "alert" && l["metric"] == "response_time p50")
    );
    assert_eq!(lines[alerts]["type"], "verdict");
    assert_eq!(lines[alerts]["passed"], false);
}

#[test]
fn a_hanging_or_failing_notify_command_neither_stalls_nor_breaks_the_run() {
    let started = Instant::now();
    let out = run(&[
        "--out",
        "none",
        "--threshold",
        "response p50 < 1ms",
        "--notify-cmd",
        "sleep 30",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("notify command"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["--out", "none", "--notify-cmd", "exit 7"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("notify command failed"));
}

#[test]
fn progress_is_one_line_per_interval_and_nothing_when_quiet() {
    let out = run(&["--out", "none"]);
    let progress: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('[') && !l.starts_with("[warmup]"))
        .map(String::from)
        .collect();
    assert!((3..=5).contains(&progress.len()), "{progress:?}");
    assert!(progress[0].contains("100 of 100 RPS") && progress[0].contains("p99"));
    let quiet = run(&["--out", "none", "--quiet"]);
    assert!(quiet.stderr.is_empty() && quiet.stdout.is_empty());
}

#[test]
fn abort_on_fail_stops_as_soon_as_a_threshold_cannot_pass() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let started = Instant::now();
    let out = openpace(&[
        "run",
        "--target",
        "sleep:2ms",
        "--rate",
        "100",
        "--duration",
        "30",
        "--warmup",
        "0",
        "--interval",
        "0.5",
        "--quiet",
        "--out",
        json.to_str().unwrap(),
        "--threshold",
        "response max < 1ms",
        "--abort-on-fail",
    ]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    let result = common::read_json(&json);
    assert!(
        result["aborted"]
            .as_str()
            .unwrap()
            .contains("response max < 1ms")
    );
    assert!(result["scenarios"][0]["send_window_s"].as_f64().unwrap() < 5.0);
}

/// Issue 14: `response p99.9 < X` was checked against p99.99 and showed its value. The
/// threshold's value is the p99.9 of the same run's JSON, and a percentile outside the
/// summary's (p75) is read from the run's histogram.
#[test]
fn a_named_percentile_is_the_one_checked_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    // 10,000 requests, so that p99.9 (the 10th largest) and p99.99 (the largest) differ.
    let out = openpace(&[
        "run",
        "--target",
        "spin:20us",
        "--rate",
        "5000",
        "--duration",
        "2",
        "--quiet",
        "--out",
        json.to_str().unwrap(),
        "--threshold",
        "response p99.9 < 1000ms",
        "--threshold",
        "response p75 < 1000ms",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = common::read_json(&json);
    let s = &r["scenarios"][0];
    let thresholds = s["verdict"]["thresholds"].as_array().unwrap();
    let value_of = |metric: &str| {
        thresholds
            .iter()
            .find(|t| t["metric"] == metric)
            .unwrap_or_else(|| panic!("{metric} in {thresholds:?}"))["value"]
            .as_f64()
            .unwrap()
    };
    let (shown, p99_9) = (
        value_of("response_time p99.9"),
        s["response_time_ms"]["p99_9"].as_f64().unwrap(),
    );
    let p99_99 = s["response_time_ms"]["p99_99"].as_f64().unwrap();
    assert!(
        (shown - p99_9).abs() <= 1e-9 * p99_9,
        "shown {shown}, p99.9 {p99_9}, p99.99 {p99_99}"
    );
    // Its interval is the summary's, and it lies wholly under the limit: a pass.
    let t = thresholds
        .iter()
        .find(|t| t["metric"] == "response_time p99.9")
        .unwrap();
    assert_eq!(t["ci95"], s["response_time_ms"]["ci95"]["p99_9"], "{t}");
    assert!(
        t.get("inconclusive").is_none() && t["passed"] == true,
        "{t}"
    );
    let p75 = value_of("response_time p75");
    let (p50, p90) = (
        s["response_time_ms"]["p50"].as_f64().unwrap(),
        s["response_time_ms"]["p90"].as_f64().unwrap(),
    );
    assert!(
        p50 <= p75 && p75 <= p90,
        "p50 {p50} <= p75 {p75} <= p90 {p90}"
    );
}
