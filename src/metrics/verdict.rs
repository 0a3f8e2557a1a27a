//! Thresholds: the design's four limits and any others, checked against a scenario's
//! measurements.

use super::result::{ScenarioResult, ThresholdResult, Verdict};
use super::threshold::Threshold;

/// Checks `result` against every threshold of its scenario (`LoadTestConfig::thresholds`).
pub fn evaluate(thresholds: &[Threshold], result: &ScenarioResult) -> Verdict {
    let thresholds: Vec<_> = thresholds.iter().map(|t| t.evaluate(result)).collect();
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
