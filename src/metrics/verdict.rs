//! Thresholds: the design's four limits, checked against a scenario's measurements.

use super::result::{ScenarioResult, ThresholdResult, Verdict};
use crate::config::LoadTestConfig;

/// Checks `result` against the thresholds of `config`.
///
/// Latency limits are strict (`p95 < limit`), rates inclusive (`error_rate <= limit`,
/// `success_rate >= limit`). Latency is the corrected response time.
pub fn evaluate(config: &LoadTestConfig, result: &ScenarioResult) -> Verdict {
    let latency = |metric: &str, limit: f64, value: f64| ThresholdResult {
        metric: metric.to_string(),
        comparison: "<".to_string(),
        limit,
        value,
        unit: "ms".to_string(),
        passed: value < limit,
    };
    let thresholds = vec![
        latency(
            "response_time p95",
            config.latency_p95_threshold_ms,
            result.response_time_ms.p95,
        ),
        latency(
            "response_time p99",
            config.latency_p99_threshold_ms,
            result.response_time_ms.p99,
        ),
        ThresholdResult {
            metric: "error_rate".to_string(),
            comparison: "<=".to_string(),
            limit: config.error_rate_threshold,
            value: result.error_rate,
            unit: "ratio".to_string(),
            passed: result.error_rate <= config.error_rate_threshold,
        },
        ThresholdResult {
            metric: "success_rate".to_string(),
            comparison: ">=".to_string(),
            limit: config.success_rate_threshold,
            value: result.success_rate,
            unit: "ratio".to_string(),
            passed: result.success_rate >= config.success_rate_threshold,
        },
    ];
    Verdict {
        passed: thresholds.iter().all(|t| t.passed),
        thresholds,
        suspect: false,
        notes: Vec::new(),
    }
}
