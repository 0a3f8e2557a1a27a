//! Each load pattern end to end, warmup, timeouts, retries, panics, hung calls, several
//! scenarios at once, the closed model and stopping. Counts are checked exactly against the
//! schedule; times only within generous bounds.

mod common;

use std::time::{Duration, Instant};

use openpace::{
    Arrival, CallResult, ErrorKind, LoadPattern, LoadTestConfig, LoadTestRunner, Model, Request,
    RunConfig, RunSettings, Stage, TargetSpec, target,
};

fn sleep_target(ms: u64) -> TargetSpec {
    TargetSpec::Sleep(Duration::from_millis(ms))
}

/// Runs `config`, checks that every scheduled request was sent and completed, and returns the
/// completions per interval (recorded by completion time, so exact up to calls that straddle
/// an interval's end).
fn run_pattern(config: LoadTestConfig, expected: u64) -> Vec<u64> {
    assert_eq!(common::scheduled(&config), expected, "the schedule itself");
    let (_, s) = common::run(config);
    assert_eq!(s.requests.intended, expected);
    assert_eq!(s.requests.completed, expected);
    assert_eq!(s.requests.ok, expected);
    assert_eq!(s.requests.dropped, 0);
    s.intervals.iter().map(|i| i.completed).collect()
}

#[test]
fn ramp_up_rises_from_min_to_max_then_holds() {
    // 50 -> 250 RPS over 2 s (300 requests), then 250 RPS for 1 s.
    let config = LoadTestConfig {
        load_pattern: LoadPattern::RampUp,
        min_rps: 50.0,
        max_rps: 250.0,
        ramp_up_duration: 2.0,
        target: sleep_target(1),
        ..common::config("ramp", 100.0, 3.0)
    };
    let sent = run_pattern(config, 550);
    // Per second: integral over [0,1) = 100, [1,2) = 200, [2,3) = 250 (+-2 for boundary timing).
    for (got, want) in sent.iter().zip([100, 200, 250]) {
        assert!(got.abs_diff(want) <= 3, "{sent:?}");
    }
}

#[test]
fn spike_bursts_at_the_spike_rate() {
    // Base 50 RPS; bursts of 300 RPS in [1.0, 1.5) and [2.0, 2.5).
    let config = LoadTestConfig {
        load_pattern: LoadPattern::Spike,
        spike_rps: 300.0,
        spike_duration: 0.5,
        metrics_collection_interval: 0.5,
        target: sleep_target(1),
        ..common::config("spike", 50.0, 3.0)
    };
    let sent = run_pattern(config, 400);
    for (got, want) in sent.iter().zip([25, 25, 150, 25, 150, 25]) {
        assert!(got.abs_diff(want) <= 3, "{sent:?}");
    }
}

#[test]
fn step_runs_quarter_half_full_half() {
    let config = LoadTestConfig {
        load_pattern: LoadPattern::Step,
        metrics_collection_interval: 0.5,
        target: sleep_target(1),
        ..common::config("step", 400.0, 2.0)
    };
    let sent = run_pattern(config, 450);
    for (got, want) in sent.iter().zip([50, 100, 200, 100]) {
        assert!(got.abs_diff(want) <= 3, "{sent:?}");
    }
}

#[test]
fn stages_follow_their_rates() {
    let config = LoadTestConfig {
        load_pattern: LoadPattern::Stages,
        start_rps: 0.0,
        stages: vec![
            Stage {
                duration: 1.0,
                target_rps: 200.0,
            },
            Stage {
                duration: 1.0,
                target_rps: 200.0,
            },
            Stage {
                duration: 1.0,
                target_rps: 0.0,
            },
        ],
        target: sleep_target(1),
        ..common::config("stages", 1.0, 3.0)
    };
    let sent = run_pattern(config, 400);
    for (got, want) in sent.iter().zip([100, 200, 100]) {
        assert!(got.abs_diff(want) <= 3, "{sent:?}");
    }
}

#[test]
fn poisson_arrivals_follow_the_seeded_schedule() {
    let config = LoadTestConfig {
        arrival: Arrival::Poisson,
        seed: Some(7),
        target: TargetSpec::Noop,
        ..common::config("poisson", 500.0, 2.0)
    };
    let expected = common::scheduled(&config);
    assert!(expected.abs_diff(1000) < 150, "{expected}");
    run_pattern(config, expected);
}

#[test]
fn warmup_is_sent_but_not_measured() {
    let config = LoadTestConfig {
        warmup_seconds: 1.0,
        target: sleep_target(1),
        ..common::config("warmup", 200.0, 1.0)
    };
    let (_, s) = common::run(config);
    assert_eq!(s.requests.warmup, 200);
    assert_eq!(s.requests.intended, 200);
    assert_eq!(s.response_time_ms.count, 200);
    // The time series starts at the end of warmup.
    assert_eq!(s.intervals[0].start_s, 0.0);
    assert_eq!(s.intervals.iter().map(|i| i.completed).sum::<u64>(), 200);
}

#[test]
fn calls_longer_than_the_timeout_count_as_timeouts() {
    let config = LoadTestConfig {
        request_timeout_seconds: 0.02,
        target: sleep_target(50),
        ..common::config("timeouts", 20.0, 1.0)
    };
    let (result, s) = common::run(config);
    assert_eq!(s.requests.timeouts, 20);
    assert_eq!(s.requests.ok, 0);
    assert_eq!(s.error_rate, 1.0);
    assert!(!s.verdict.passed && !result.passed);
}

#[test]
fn failures_are_retried_at_once_and_timed_from_the_first_intended_instant() {
    // Each request fails on its first attempt (after 2 ms) and succeeds on the second.
    let flaky = target::factory(|_| {
        let mut last_seq = u64::MAX;
        move |req: &Request| {
            std::thread::sleep(Duration::from_millis(2));
            if req.seq != last_seq {
                last_seq = req.seq;
                return CallResult::error(ErrorKind::FAILED);
            }
            CallResult::ok()
        }
    });
    let config = LoadTestConfig {
        max_retries: 2,
        ..common::config("retries", 100.0, 1.0)
    };
    let (_, s) = common::run_with(config, flaky);
    assert_eq!(s.requests.ok, 100);
    assert_eq!(s.requests.retries, 100);
    assert_eq!(s.requests.errors, 0);
    // Both attempts are inside the response time: at least 4 ms.
    assert!(s.response_time_ms.min >= 4.0, "{}", s.response_time_ms.min);
}

#[test]
fn exhausted_retries_count_one_error_per_request() {
    let failing = target::factory(|_| |_: &Request| CallResult::error(ErrorKind::new("db_down")));
    let config = LoadTestConfig {
        max_retries: 2,
        ..common::config("failing", 100.0, 1.0)
    };
    let (_, s) = common::run_with(config, failing);
    assert_eq!(s.requests.errors, 100);
    assert_eq!(s.requests.retries, 200);
    assert_eq!(s.errors_by_kind.get("db_down"), Some(&100));
}

#[test]
fn a_panicking_target_is_counted_and_the_worker_lives_on() {
    let panicky = target::factory(|_| {
        |req: &Request| {
            if req.seq % 3 == 0 {
                panic!("target bug on request {}", req.seq);
            }
            CallResult::ok()
        }
    });
    let config = LoadTestConfig {
        max_retries: 0,
        num_workers: 1,
        ..common::config("panics", 300.0, 1.0)
    };
    let (_, s) = common::run_with(config, panicky);
    assert_eq!(s.requests.completed, 300);
    assert_eq!(s.errors_by_kind.get("panic"), Some(&100));
    assert_eq!(s.requests.ok, 200);
}

#[test]
fn a_hung_call_does_not_hold_the_run_open() {
    // Request 5 never returns (for an hour); its timeout is 0.3 s.
    let hanging = target::factory(|_| {
        |req: &Request| {
            if req.seq == 5 {
                std::thread::sleep(Duration::from_secs(3600));
            }
            std::thread::sleep(Duration::from_millis(1));
            CallResult::ok()
        }
    });
    let config = LoadTestConfig {
        request_timeout_seconds: 0.3,
        ..common::config("hang", 50.0, 1.0)
    };
    let started = Instant::now();
    let (_, s) = common::run_with(config, hanging);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.requests.abandoned, 1);
    assert_eq!(s.requests.timeouts, 1);
    assert_eq!(s.requests.ok, 49);
    assert_eq!(s.requests.intended, 50);
}

#[test]
fn several_scenarios_run_at_once_each_with_its_own_results() {
    let a = LoadTestConfig {
        target: sleep_target(2),
        ..common::config("steady", 100.0, 1.5)
    };
    let b = LoadTestConfig {
        load_pattern: LoadPattern::RampUp,
        min_rps: 0.0,
        max_rps: 400.0,
        ramp_up_duration: 1.0,
        target: TargetSpec::Spin(Duration::from_micros(100)),
        latency_p95_threshold_ms: 0.001,
        ..common::config("ramping", 1.0, 1.5)
    };
    let run = RunConfig {
        run: RunSettings::default(),
        scenarios: vec![a, b],
        origins: Vec::new(),
    };
    let _turn = common::serial();
    let result = LoadTestRunner::from_run_config(run).unwrap().run().unwrap();
    let [a, b] = &result.scenarios[..] else {
        panic!("two scenarios expected")
    };
    assert_eq!((a.name.as_str(), b.name.as_str()), ("steady", "ramping"));
    assert_eq!(a.requests.completed, 150);
    // 0 -> 400 over 1 s is 200 requests, then 400 RPS for 0.5 s is 200 more.
    assert_eq!(b.requests.completed, 400);
    assert!(a.service_time_ms.at(0.5) >= 2.0 && b.service_time_ms.at(0.5) < 1.0);
    // b's impossible p95 limit fails b alone, and with it the run.
    assert!(a.verdict.passed && !b.verdict.passed && !result.passed);
}

#[test]
fn the_closed_model_is_labelled_uncorrected() {
    let config = LoadTestConfig {
        model: Model::Closed,
        concurrency: Some(2),
        target: sleep_target(5),
        ..common::config("closed", 1.0, 1.0)
    };
    let (_, s) = common::run(config);
    assert!(!s.corrected);
    assert!(s.measurement.starts_with("closed loop, not corrected"));
    assert_eq!(s.workers, 2);
    // Two callers of a ~5 ms call for 1 s: a little under 400 requests.
    assert!(
        (250..=400).contains(&s.requests.completed),
        "{}",
        s.requests.completed
    );
    assert_eq!(s.requests.intended, s.requests.completed);
    // Without a schedule, response time is service time plus the worker's own loop.
    assert!(s.response_time_ms.at(0.5) - s.service_time_ms.at(0.5) < 0.5);
}

#[test]
fn a_stop_request_ends_sending_and_keeps_what_was_measured() {
    let config = LoadTestConfig {
        target: sleep_target(1),
        ..common::config("stopped", 200.0, 30.0)
    };
    let _turn = common::serial();
    let runner = LoadTestRunner::new(config).unwrap();
    let stop = runner.stop_handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        stop.stop();
    });
    let started = Instant::now();
    let result = runner.run().unwrap();
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let s = &result.scenarios[0];
    assert!(result.interrupted);
    assert!(
        (200..=400).contains(&s.requests.intended),
        "{}",
        s.requests.intended
    );
    assert_eq!(s.requests.completed, s.requests.intended);
    assert!(
        s.send_window_s > 1.0 && s.send_window_s < 2.0,
        "{}",
        s.send_window_s
    );
}

/// Issue 14: a target with a known distribution, so figures can be checked against truth.
/// `spin:exp:200us` busy-waits an exponential time (median 200 us x ln 2 = 138.6 us, p90
/// 200 us x ln 10 = 460.5 us); the service time is that busy time (plus any preemption on a
/// busy machine, hence the generous upper bound).
#[test]
fn an_exponential_spin_target_has_its_analytic_quantiles() {
    let target = TargetSpec::parse("spin:exp:200us").unwrap();
    assert_eq!(target.to_string(), "spin:exp:200us");
    let config = LoadTestConfig {
        target,
        seed: Some(3),
        ..common::config("exponential", 1000.0, 3.0)
    };
    let (_, s) = common::run(config);
    assert_eq!(s.requests.ok, 3000);
    let (p50, p90) = (
        s.service_time_ms.at(0.5) * 1e3,
        s.service_time_ms.at(0.9) * 1e3,
    );
    let (true_p50, true_p90) = (200.0 * 2f64.ln(), 200.0 * 10f64.ln());
    assert!(
        (0.9 * true_p50..1.5 * true_p50).contains(&p50),
        "p50 {p50:.1} us, analytic {true_p50:.1}"
    );
    assert!(
        (0.9 * true_p90..1.5 * true_p90).contains(&p90),
        "p90 {p90:.1} us, analytic {true_p90:.1}"
    );
}
