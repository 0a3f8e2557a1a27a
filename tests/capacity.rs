//! Capacity search on a target whose capacity is known: one worker busy-waiting 2 ms per
//! call serves at most 500 calls a second.

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
            "2000",
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
    // Every step is in the table, the bounds first.
    assert_eq!(report.steps[0].rate, 100.0);
    assert_eq!(report.steps[1].rate, 2000.0);
    assert!(report.steps.len() >= 5);
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
