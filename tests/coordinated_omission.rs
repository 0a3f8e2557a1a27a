//! Coordinated omission: a stalled target must show up in response time, not be hidden.
//!
//! The target answers in about 1 ms, except that every call blocks while a shared pause
//! lasts, from t = 1.0 s to t = 1.5 s of the run (like a GC pause in a server). openpace
//! drives it at 200 RPS for 4 s. A closed-loop tool would send nothing during the pause and
//! report one slow call; the truth, computed from the schedule, is:
//!
//! - a request intended at t in [1.0, 1.5) is answered at about 1.5 s, so it waited about
//!   1.5 - t: the response-time maximum is about 500 ms (the request intended at 1.000);
//! - 200 RPS x 0.5 s = 100 requests are intended during the pause, 1/8 of the 800 in the run,
//!   so p99 (the 8 slowest) lies among them, above 400 ms;
//! - those intended in [1.0, 1.4) waited more than 100 ms: 200 x 0.4 = 80 requests. The
//!   backlog drains in a few ms after 1.5 s with 8 workers, which adds at most about 3 just
//!   after 1.4 s, hence the +-5;
//! - at most 8 calls (one per worker) are themselves slow, so the service time's p99 (the
//!   792nd of 800) stays near 1 ms.

mod common;

use std::time::Duration;

use openpace::{CallResult, Request, target};

const PAUSE_START_NS: u64 = 1_000_000_000;
const PAUSE_END_NS: u64 = 1_500_000_000;

#[test]
fn a_pause_in_the_target_shows_in_response_time_but_not_service_time() {
    let paused = target::factory(|ctx| {
        let clock = ctx.clock;
        move |_: &Request| {
            let now = clock.now_ns();
            if (PAUSE_START_NS..PAUSE_END_NS).contains(&now) {
                std::thread::sleep(Duration::from_nanos(PAUSE_END_NS - now));
            }
            std::thread::sleep(Duration::from_millis(1));
            CallResult::ok()
        }
    });
    let config = openpace::LoadTestConfig {
        num_workers: 8,
        ..common::config("coordinated omission", 200.0, 4.0)
    };
    let (_, s) = common::run_with(config, paused);
    assert_eq!(s.requests.intended, 800);
    assert_eq!(s.requests.completed, 800);
    let response = s.response_time_ms;
    assert!(
        (480.0..650.0).contains(&response.max),
        "response max {} ms, truth ~500",
        response.max
    );
    assert!(
        response.at(0.99) > 400.0,
        "response p99 {} ms",
        response.at(0.99)
    );
    assert!(
        s.service_time_ms.at(0.99) < 50.0,
        "service p99 {} ms",
        s.service_time_ms.at(0.99)
    );
    // The report carries the whole histogram, so the count above 100 ms is exact.
    let histogram = openpace::metrics::encoding::decode(&s.histograms.response_time).unwrap();
    let slow: u64 = histogram
        .iter_recorded()
        .filter(|v| v.value_iterated_to() > 100_000_000)
        .map(|v| v.count_at_value())
        .sum();
    eprintln!(
        "{slow} responses above 100 ms (truth 80); response p99 {} ms",
        response.at(0.99)
    );
    assert!(
        (75..=85).contains(&slow),
        "{slow} responses above 100 ms, truth 80"
    );
    // Nothing was lost to the pause: every request was sent on schedule.
    assert_eq!(s.requests.dropped, 0);
    assert!(s.timer_lateness_us.at(0.99) < 50_000.0);
}
