//! Issue 26, numbers that hold when the run is repeated, through the binary: a run's
//! intervals allow for dependence (and say how), `--repeat N` reports every percentile across
//! its runs, and `openpace ab` finds a 20% difference in interleaved rounds and none between
//! identical configs. Every run is short (1-2 s) and in-process.

mod common;

use std::path::Path;

use common::{openpace, read_json, stderr};

/// A config of `spin:exp:MEAN` at 2,000 RPS for 1 s, in 0.25-s intervals.
fn config(dir: &Path, name: &str, mean: &str) -> String {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(
        &path,
        format!(
            r#"{{"name": "spin", "target": "spin:exp:{mean}", "target_rps": 2000,
                "duration_seconds": 1, "num_workers": 1, "metrics_collection_interval": 0.25}}"#
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn a_run_says_how_its_intervals_allow_for_dependence() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = openpace(&[
        "run",
        "--target",
        "spin:exp:200us",
        "-R",
        "2000",
        "-d",
        "2s",
        "--interval",
        "0.25s",
        "--workers",
        "1",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = &read_json(&report)["scenarios"][0];
    let ci = &s["response_time_ms"]["ci95"];
    assert_eq!(ci["method"], "dependence_aware", "{ci}");
    // Eight whole intervals of 500 requests: batch means for the median and the p90.
    assert_eq!(ci["batches"]["p50"], 8, "{ci}");
    let [lo, hi] = [
        ci["p50"][0].as_f64().unwrap(),
        ci["p50"][1].as_f64().unwrap(),
    ];
    let p50 = s["response_time_ms"]["p50"].as_f64().unwrap();
    assert!(lo <= p50 && p50 <= hi, "{lo} {p50} {hi}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("intervals allow for dependence"), "{text}");
}

#[test]
fn a_repeated_run_reports_each_run_and_every_percentile_across_them() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = openpace(&[
        "run",
        "--target",
        "spin:exp:200us",
        "-R",
        "2000",
        "-d",
        "1s",
        "--repeat",
        "3",
        "--threshold",
        "response p50 < 100ms",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let progress = stderr(&out);
    for i in 1..=3 {
        assert!(
            progress.contains(&format!("repetition {i}/3")),
            "{progress}"
        );
    }
    let v = read_json(&report);
    let s = &v["scenarios"][0];
    let rep = &s["repeated"];
    assert_eq!(rep["runs"].as_array().unwrap().len(), 3, "{rep}");
    // Pooled: every run's requests, over every run's window.
    assert_eq!(s["requests"]["intended"], 6000);
    assert!((s["achieved_rps"].as_f64().unwrap() - 2000.0).abs() < 100.0);
    let p50 = &rep["across"][0]["percentiles"][0];
    assert_eq!(p50["percentile"], "p50");
    assert_eq!(p50["runs"].as_array().unwrap().len(), 3);
    assert!(
        p50["ci95"].is_array() && p50["cv_pct"].as_f64().unwrap() >= 0.0,
        "{p50}"
    );
    assert_eq!(s["response_time_ms"]["ci95"]["method"], "across_runs");
    // The threshold is judged on the interval across the runs.
    let t = &s["verdict"]["thresholds"][4];
    assert_eq!(t["ci95"], s["response_time_ms"]["ci95"]["p50"], "{t}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("P50: ") && text.contains(", 3 runs ["),
        "{text}"
    );
    assert!(text.contains("run 3: 2000 completed"), "{text}");
    // Refused with a shard: repetitions run one after another on one machine.
    common::assert_rejected(
        &[
            "run", "--target", "noop", "--repeat", "2", "--shard", "0/2", "--out", "none",
        ],
        &["flag --repeat", "shard"],
    );
    common::assert_rejected(
        &["run", "--target", "noop", "--repeat", "0", "--out", "none"],
        &["repeat = 0", "1 to 1000"],
    );
}

#[test]
fn interleaved_rounds_find_a_slower_side_and_no_difference_between_equals() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, same, slower) = (
        config(d, "a", "200us"),
        config(d, "same", "200us"),
        config(d, "slower", "240us"),
    );
    let rounds_dir = d.join("rounds");
    let out = openpace(&[
        "ab",
        &a,
        &slower,
        "--rounds",
        "4",
        "--order-seed",
        "26",
        "--fail-if-slower",
        "service p50 > 5%",
        "--out-dir",
        rounds_dir.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("4 interleaved rounds (order seed 26)"),
        "{text}"
    );
    assert!(
        text.contains("[FAIL] fail-if-slower service p50 > 5%"),
        "{text}"
    );
    let progress = stderr(&out);
    assert!(progress.contains("round 4/4: A") && progress.contains("round 4/4: B"));
    for file in ["round-01-A.json", "round-04-B.json", "A.json", "B.json"] {
        assert!(rounds_dir.join(file).exists(), "{file}");
    }
    let pooled = read_json(&rounds_dir.join("B.json"));
    assert_eq!(
        pooled["scenarios"][0]["repeated"]["runs"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let json = d.join("ab.json");
    let out = openpace(&[
        "ab",
        &a,
        &same,
        "--rounds",
        "4",
        "--fail-if-slower",
        "service p50 > 10%",
        "--out-dir",
        rounds_dir.to_str().unwrap(),
        "--format",
        "json",
        "--out",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let c = read_json(&json);
    assert_eq!(c["rounds"]["count"], 4);
    // Identical sides: about 1 row in 20 may come out different by chance (a 95% interval),
    // never by much; far from the 9 of 18 a 20% difference makes.
    let rows: Vec<&serde_json::Value> = c["scenarios"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["percentiles"].as_array().unwrap())
        .collect();
    let different = rows
        .iter()
        .filter(|p| p["verdict"] == "slower" || p["verdict"] == "faster")
        .count();
    assert!(different <= 4, "{different} of {} rows: {c}", rows.len());
    let service_p50 = &c["scenarios"][0]["metrics"][1]["percentiles"][0];
    assert_eq!(service_p50["percentile"], "p50");
    assert!(service_p50["detectable_pct"].as_f64().unwrap() > 0.0);
    // A config given twice, or a bad round count, is refused before anything runs.
    common::assert_rejected(
        &["ab", &a, &same, "--rounds", "1"],
        &["--rounds", "2 to 1000"],
    );
}
