//! Issue 14's validity checks on real runs: a target whose latency ramps is flagged (not
//! stationary, not independent), a steady `spin:200us` run is not, and Poisson arrivals pass
//! their test. Every run is bounded (1 to 2 s).

mod common;

use openpace::TargetSpec;
use openpace::schedule::Arrival;
use openpace::{CallResult, Request, target};

/// Busy-waits `ns` nanoseconds.
fn spin(ns: u64) {
    let start = std::time::Instant::now();
    while start.elapsed().as_nanos() < u128::from(ns) {
        std::hint::spin_loop();
    }
}

#[test]
fn a_target_that_slows_by_a_microsecond_per_request_is_flagged() {
    let mut config = common::config("ramp", 400.0, 2.0);
    config.num_workers = 1;
    // 800 requests: from 50 us to 850 us.
    let ramp = target::factory(|_ctx| {
        move |req: &Request| {
            spin(50_000 + 1_000 * req.seq);
            CallResult::ok()
        }
    });
    let (_, s) = common::run_with(config, ramp);
    let v = s.validity.as_ref().expect("every run has its checks");
    assert_eq!(v.sampled, s.requests.completed, "{v:?}");
    let t = v.stationarity.as_ref().unwrap();
    assert!(!t.passed && t.drift_pct > 100.0, "{t:?}");
    assert!(!v.independence.as_ref().unwrap().passed, "{v:?}");
    let notes = s.verdict.notes.join("\n");
    assert!(s.verdict.suspect, "{notes}");
    assert!(notes.contains("NOT VALID: latency drifts"), "{notes}");
    assert!(notes.contains("correlated"), "{notes}");
}

#[test]
fn a_steady_poisson_run_passes_every_check() {
    let mut config = common::config("steady", 500.0, 2.0);
    config.target = TargetSpec::Spin(std::time::Duration::from_micros(200));
    config.arrival = Arrival::Poisson;
    config.seed = Some(11);
    config.warmup_seconds = 0.5;
    let (_, s) = common::run(config);
    let v = s.validity.as_ref().unwrap();
    let t = v.stationarity.as_ref().unwrap();
    assert!(t.passed, "{t:?}");
    let a = v.arrivals.as_ref().unwrap();
    assert!(a.passed && a.gaps > 500, "{a:?}");
    assert!(
        !s.verdict.notes.iter().any(|n| n.starts_with("NOT VALID")),
        "{:?}",
        s.verdict.notes
    );
}
