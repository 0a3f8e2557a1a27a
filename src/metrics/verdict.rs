//! Thresholds: the design's four limits and any others, checked against a scenario's
//! measurements.

use super::result::{ScenarioResult, ThresholdResult, Verdict};
use super::threshold::Threshold;
use crate::config::LoadTestConfig;

/// Every threshold of a scenario: the design's four (latency limits strict, rates
/// inclusive), then the extra ones.
pub fn thresholds(config: &LoadTestConfig) -> Vec<Threshold> {
    let design = [
        format!("response p95 < {}ms", config.latency_p95_threshold_ms),
        format!("response p99 < {}ms", config.latency_p99_threshold_ms),
        format!("error_rate <= {}", config.error_rate_threshold),
        format!("success_rate >= {}", config.success_rate_threshold),
    ];
    design
        .iter()
        .map(|text| Threshold::parse(text).expect("validated limits always parse"))
        .chain(config.thresholds.iter().cloned())
        .collect()
}

/// Checks `result` against every threshold of `config`.
pub fn evaluate(config: &LoadTestConfig, result: &ScenarioResult) -> Verdict {
    let thresholds: Vec<_> = thresholds(config)
        .iter()
        .map(|t| t.evaluate(result))
        .collect();
    Verdict::of(thresholds)
}

impl Verdict {
    /// The verdict of these threshold results, before any notes: passed when all passed.
    pub fn of(thresholds: Vec<ThresholdResult>) -> Verdict {
        Verdict {
            passed: thresholds.iter().all(|t| t.passed),
            thresholds,
            suspect: false,
            notes: Vec::new(),
        }
    }
}
