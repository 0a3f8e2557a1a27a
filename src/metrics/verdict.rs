//! Thresholds: the design's four limits and any others, checked against a scenario's
//! measurements.

use super::result::{RunResult, ScenarioResult, ThresholdResult, Verdict};
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

    /// How many thresholds are inconclusive: their 95% interval straddles the limit.
    pub fn inconclusive(&self) -> usize {
        self.thresholds.iter().filter(|t| t.inconclusive).count()
    }
}

impl RunResult {
    /// How many thresholds are inconclusive, over every scenario.
    pub fn inconclusive(&self) -> usize {
        self.scenarios
            .iter()
            .map(|s| s.verdict.inconclusive())
            .sum()
    }

    /// Whether the run's thresholds let it exit 0: none failed, and under `strict` none is
    /// inconclusive either.
    pub fn passed_under(&self, strict: bool) -> bool {
        self.passed && !(strict && self.inconclusive() > 0)
    }
}
