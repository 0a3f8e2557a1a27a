//! `openpace calibrate` in a short mode, and a run printed beside its floors.

mod common;

use common::openpace;

use openpace::calibrate::CalibrationReport;

#[test]
fn a_short_calibration_gives_a_complete_report_that_runs_compare_against() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calibration.json");
    let out = openpace(&[
        "calibrate",
        "--duration",
        "2s",
        "--modes",
        "hybrid,sleep",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "CALIBRATION of",
        "hybrid mode",
        "sleep mode",
        "highest noop rate",
        "spin:10us",
        "a network worker's wake-ups (hybrid)",
        "floor:",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let report: CalibrationReport =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(report.modes.len(), 2);
    assert!(report.clock_read_ns > 0.0 && report.record_ns > 0.0);
    // The search's shape, not the host's speed: a busy box (CI compiling beside it) can hold
    // less than 1M RPS of noop. The highest rate held is the highest probe that held, and
    // every probe above it failed.
    let held = report.rate_search.iter().filter(|p| p.held).map(|p| p.rate);
    assert_eq!(
        report.max_noop_rps,
        held.fold(0.0, f64::max),
        "{:?}",
        report.rate_search
    );
    assert!(
        report
            .rate_search
            .iter()
            .all(|p| p.held == (p.rate <= report.max_noop_rps)),
        "{:?}",
        report.rate_search
    );
    assert_eq!(report.spin_error.len(), 3);
    assert_eq!(report.expected_overhead.len(), 3);
    assert!(!report.host.kernel.is_empty() && report.host.cores >= 1);
    for mode in &report.modes {
        assert!(mode.timer_lateness_us.count > 0 && mode.hand_off_us.count > 0);
    }
    // Hybrid was calibrated: a network worker's timed sleeps, its window, the floor they set.
    let wake = report.wake_ups.as_ref().expect("hybrid measures wake-ups");
    assert!(
        wake.sleeps >= 50 && wake.lateness_us.count == wake.sleeps,
        "{wake:?}"
    );
    assert!((20.0..=500.0).contains(&wake.spin_window_us), "{wake:?}");
    assert!(
        wake.floor_us >= 0.0 && wake.floor_us <= wake.lateness_us.max,
        "{wake:?}"
    );
    // A spin:1ms target overshoots by microseconds, not milliseconds.
    assert!(report.spin_error[2].p50_error_us < 500.0);

    let out = openpace(&[
        "run",
        "--target",
        "noop",
        "--rate",
        "200",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--wait",
        "hybrid",
        "--out",
        "none",
        "--calibration",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CALIBRATED FLOORS (hybrid mode"), "{text}");
    assert!(text.contains("this host's calibrated floor"), "{text}");
}

#[test]
fn calibrate_rejects_bad_flags_naming_them() {
    for (args, needle) in [
        (
            vec!["calibrate", "--modes", "turbo"],
            "flag --modes: modes = turbo",
        ),
        (
            vec!["calibrate", "--timer-core", "999"],
            "flag --timer-core",
        ),
        (vec!["calibrate", "--duration", "0s"], "flag --duration"),
        (
            vec!["run", "--calibration", "/no/such/calibration.json"],
            "cannot read",
        ),
    ] {
        let out = openpace(&args);
        let message = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {message}");
        assert!(
            message.contains(needle),
            "{args:?}: {needle} not in {message}"
        );
    }
}
