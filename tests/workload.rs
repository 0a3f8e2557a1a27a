//! The reference workload under load: real extractions, cache hits and fallbacks.

mod common;

use openpace::TargetSpec;
use openpace::target::features::FeaturesOptions;

#[test]
fn the_features_target_reports_cache_hits_and_fallbacks() {
    let options = FeaturesOptions {
        repeat: 0.4,
        edge: 0.15,
        ..FeaturesOptions::default()
    };
    let config = openpace::LoadTestConfig {
        target: TargetSpec::Features(options),
        num_workers: 2,
        ..common::config("features", 100.0, 2.0)
    };
    let (_, s) = common::run(config);
    assert_eq!(s.requests.completed, 200);
    assert_eq!(s.requests.ok, 200);
    // 40% repeats hit the cache (a little less at first, before there is anything to
    // repeat); two edge cases in three fall back: 15% x 2/3 = 10%.
    assert!(
        (0.25..=0.5).contains(&s.cache_hit_rate),
        "{}",
        s.cache_hit_rate
    );
    assert!(
        (0.04..=0.17).contains(&s.fallback_rate),
        "{}",
        s.fallback_rate
    );
    // A forward pass of the ensemble takes milliseconds; a cache hit microseconds.
    assert!(s.service_time_ms.max > 1.0, "{}", s.service_time_ms.max);
    assert!(s.service_time_ms.min < 0.5, "{}", s.service_time_ms.min);
}

#[test]
fn without_fallback_edge_cases_are_counted_as_errors_by_kind() {
    let options = FeaturesOptions {
        repeat: 0.0,
        edge: 0.3,
        fallback: false,
        ..FeaturesOptions::default()
    };
    let config = openpace::LoadTestConfig {
        target: TargetSpec::Features(options),
        max_retries: 0,
        ..common::config("strict features", 100.0, 1.0)
    };
    let (_, s) = common::run(config);
    let shape_errors = s
        .errors_by_kind
        .get("unsupported_shape")
        .copied()
        .unwrap_or(0);
    assert_eq!(s.requests.errors, shape_errors);
    assert!((5..=40).contains(&shape_errors), "{shape_errors}");
    assert_eq!(s.fallback_rate, 0.0);
}
