//! Capacity search on a target whose capacity is known (one worker busy-waiting 2 ms per
//! call serves at most 500 calls a second), past an upper bound that passes (it doubles, up
//! to a cap it names), and against nginx with run's network flags.

mod common;

use std::process::Command;

use openpace::capacity::CapacityReport;

#[test]
fn the_search_finds_a_known_capacity_within_10_percent() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("capacity.json");
    let out = Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args([
            "capacity",
            "--target",
            "spin:2ms",
            "--workers",
            "1",
            "--low",
            "100",
            "--high",
            "200",
            "--step",
            "1s",
            "--warmup",
            "0.3s",
            "--quiet",
            "--out",
            out_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: CapacityReport =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    let found = report.highest_passed.expect("the lower bound passes");
    assert!(
        (found - 500.0).abs() <= 50.0,
        "found {found}: {:#?}",
        report.steps
    );
    let failed = report.first_failed.expect("the upper bound fails");
    assert!(failed > found && !report.first_failed_reasons.is_empty());
    // Every step is in the table: the bounds first, then the upper one doubled while it
    // passed (200 and 400 pass, 800 fails), then the bisection.
    let rates: Vec<f64> = report.steps.iter().map(|s| s.rate).collect();
    assert_eq!(rates[..4], [100.0, 200.0, 400.0, 800.0], "{rates:?}");
    assert!(rates.len() >= 6, "{rates:?}");
    // Issue 29, point 10: limits carry their unit, and the table says which steps' figures
    // were suspect, and why.
    let text = openpace::capacity::text(&report);
    assert!(
        text.contains("rate RPS") && text.contains("suspect"),
        "{text}"
    );
    for reason in report.steps.iter().flat_map(|s| &s.reasons) {
        if let Some((_, limit)) = reason.split_once(", limit ") {
            let words: Vec<&str> = limit.split_whitespace().collect();
            assert!(words.len() >= 3, "a limit without its unit: {reason}");
        }
    }
    for step in report.steps.iter().filter(|s| s.suspect) {
        assert!(!step.suspect_why.is_empty(), "{step:?}");
        assert!(
            text.contains(&format!("suspect at {:.1} RPS: ", step.rate)),
            "{text}"
        );
    }
}

#[test]
fn capacity_rejects_bad_bounds() {
    let out = Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args(["capacity", "--low", "500", "--high", "100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag --high"));
}

/// The doubling stops at the cap and says so, naming the flag that raises it.
#[test]
fn an_upper_bound_that_passes_doubles_up_to_the_cap() {
    let _turn = common::serial();
    let out = common::openpace(&[
        "capacity", "--target", "noop", "--low", "100", "--high", "1000", "--cap", "3000",
        "--step", "0.2s", "--warmup", "0s",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let rates: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" pass ") || l.contains(" FAIL "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(rates, ["100.0", "1000.0", "2000.0", "3000.0"], "{text}");
    assert!(
        text.contains("at least 3000.0 RPS: the cap passed (--cap 3000); raise --cap"),
        "{text}"
    );
}

/// Capacity takes run's flags: run's field flags and its network flags reach each step's
/// requests; the flags that set what capacity decides (the rate, the length, the extra
/// reports) are refused with what to use instead.
#[test]
fn capacity_takes_the_flags_run_takes() {
    let _turn = common::serial();
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let url = format!("http://{}/", nginx.addr);
    let steps = [
        "--low", "50", "--high", "100", "--cap", "100", "--step", "0.3s", "--warmup", "0s",
    ];
    let with = |extra: &[&str]| {
        let mut args = vec!["capacity", "--target", &url];
        args.extend(extra);
        args.extend(steps);
        common::openpace(&args)
    };
    let out = with(&[
        "-c",
        "2",
        "-H",
        "X-Test: 1",
        "--method",
        "GET",
        "--timeout",
        "1s",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(
        text.contains("at least 100.0 RPS: the cap passed"),
        "{text}"
    );
    // A body check no response meets fails every step: the flag reached the requests.
    let out = with(&["--expect-body-contains", "not in nginx's answer"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CAPACITY: below 50.0 RPS"), "{text}");
    for (flag, value) in [("--rate", "100"), ("-d", "5s"), ("--html", "x.html")] {
        common::assert_rejected(
            &["capacity", "--target", "noop", flag, value],
            &["not a capacity flag"],
        );
    }
}
