//! `--until-precise` (field `precision`), through the binary: a reachable target ends the run
//! after its minimum and before its maximum, with the interval asked for; an unreachable one
//! runs to the maximum and says so; bad targets are refused. Each run is bounded by its
//! `--max-duration` (at most 8 s).

mod common;

use common::{assert_rejected, openpace, stderr};

fn run(extra: &[&str]) -> serde_json::Value {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let mut args = vec![
        "run",
        "--target",
        "spin:exp:100us",
        "--rate",
        "2000",
        "--duration",
        "1",
        "--interval",
        "0.5",
        "--warmup",
        "0.2",
        "--quiet",
        "--out",
        json.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = openpace(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

#[test]
fn a_run_goes_on_until_its_percentiles_are_precise_and_no_longer() {
    let r = run(&["--until-precise", "service p90 +-5%", "--max-duration", "8"]);
    let s = &r["scenarios"][0];
    let p = &s["precision"];
    assert_eq!(p["reached"], true, "{p}");
    let window = s["send_window_s"].as_f64().unwrap();
    let at = p["reached_at_s"].as_f64().unwrap();
    // At least the duration, then whole intervals: the one in progress when it was reached.
    assert!(
        at >= 1.0 && window > at && window < 8.0,
        "reached {at}, ran {window}"
    );
    assert!(
        (window - (at + 0.5)).abs() < 0.01,
        "reached {at}, ran {window}"
    );
    // The report's interval has one interval more than the one that met the target: about
    // as tight (an interval's width moves a little as samples come in: 4.76% then 5.18%,
    // once).
    assert!(
        p["half_widths_at_reach_pct"][0].as_f64().unwrap() <= 5.0,
        "{p}"
    );
    assert!(p["half_widths_pct"][0].as_f64().unwrap() <= 7.5, "{p}");
    assert_eq!(r["interrupted"], false);
    assert_eq!(s["duration_s"], s["send_window_s"]);
    // Every request of the window that ran was sent and counted: nothing cut off.
    let intended = s["requests"]["intended"].as_f64().unwrap();
    assert!(
        (intended - 2000.0 * window).abs() <= 2.0,
        "{intended} in {window}s"
    );
}

#[test]
fn an_unreachable_target_runs_to_the_maximum_and_says_so() {
    let r = run(&[
        "--until-precise",
        "response p99.99 +-0.1%",
        "--max-duration",
        "2",
    ]);
    let s = &r["scenarios"][0];
    assert_eq!(s["precision"]["reached"], false, "{}", s["precision"]);
    assert!((s["send_window_s"].as_f64().unwrap() - 2.0).abs() < 0.01);
    assert_eq!(r["interrupted"], false);
}

#[test]
fn bad_targets_are_refused() {
    assert_rejected(
        &[
            "run",
            "--target",
            "noop",
            "--until-precise",
            "response p99 2%",
            "--out",
            "none",
        ],
        &["--until-precise", "precision[0]", "half-width"],
    );
    assert_rejected(
        &[
            "run",
            "--target",
            "noop",
            "--duration",
            "5",
            "--max-duration",
            "2",
            "--until-precise",
            "response p99 +-2%",
            "--out",
            "none",
        ],
        &["max_duration", "at least duration_seconds (5)"],
    );
    assert_rejected(
        &[
            "run",
            "--target",
            "noop",
            "--model",
            "closed",
            "--until-precise",
            "response p99 +-2%",
            "--out",
            "none",
        ],
        &["precision", "closed model"],
    );
}
