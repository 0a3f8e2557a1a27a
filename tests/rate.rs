//! The engine holds a rate: every intended request is sent and completed.

mod common;

use openpace::TargetSpec;

#[test]
fn constant_2000_rps_noop_for_3_s_completes_6000() {
    let config = openpace::LoadTestConfig {
        target: TargetSpec::Noop,
        num_workers: 1,
        ..common::config("rate", 2000.0, 3.0)
    };
    let (_, s) = common::run(config);
    assert_eq!(
        s.requests.intended, 6000,
        "the schedule intends exactly 6000"
    );
    let completed = s.requests.completed as f64;
    assert!((completed - 6000.0).abs() <= 60.0, "completed {completed}");
    assert_eq!(s.requests.dropped, 0);
    assert_eq!(s.requests.ok, s.requests.completed);
    assert!(
        (s.achieved_rps - 2000.0).abs() <= 20.0,
        "{}",
        s.achieved_rps
    );
    // Three 1 s intervals (plus at most a short drain interval) cover every completion.
    let in_intervals: u64 = s.intervals.iter().map(|i| i.completed).sum();
    assert_eq!(in_intervals, s.requests.completed);
    assert!(s.intervals.len() >= 3, "{:?}", s.intervals.len());
}
