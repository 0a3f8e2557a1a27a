//! What `openpace capacity` found: the search's options, each step and the bracket, as the
//! report layer renders them (`report::capacity`) and `--out` writes them as JSON.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Origin};

/// Bounds, step length and precision of the search.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityOptions {
    /// Lowest rate tried (RPS).
    pub low: f64,
    /// First upper rate tried (RPS); while it passes, the search doubles it.
    pub high: f64,
    /// The highest rate the doubling goes to (RPS).
    #[serde(default = "default_cap")]
    pub cap: f64,
    /// Measured seconds per step.
    pub step_s: f64,
    /// Warmup seconds per step.
    pub warmup_s: f64,
    /// Stop when the bracket is narrower than this share of its lower end.
    pub precision: f64,
    /// Give up after this many steps.
    pub max_steps: usize,
}

/// How far the doubling past `--high` goes unless told: a million requests a second, beyond
/// what one host's network targets answer and within what the engine schedules.
pub const DEFAULT_CAP: f64 = 1_000_000.0;

fn default_cap() -> f64 {
    DEFAULT_CAP
}

impl Default for CapacityOptions {
    fn default() -> Self {
        CapacityOptions {
            low: 10.0,
            high: 10_000.0,
            cap: DEFAULT_CAP,
            step_s: 10.0,
            warmup_s: 2.0,
            precision: 0.05,
            max_steps: 20,
        }
    }
}

impl CapacityOptions {
    /// Checks the options, naming the flag at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |flag: &str, value: f64, allowed: &str| {
            Err(ConfigError::invalid(
                &Origin::Flag(flag.to_string()),
                flag.trim_start_matches('-'),
                value,
                allowed,
            ))
        };
        if !(self.low > 0.0 && self.low.is_finite()) {
            return bad("--low", self.low, "a rate greater than 0");
        }
        if !(self.high > self.low && self.high <= crate::schedule::MAX_RPS) {
            return bad("--high", self.high, "a rate above --low, at most 100000000");
        }
        if !(self.cap >= self.high && self.cap <= crate::schedule::MAX_RPS) {
            return bad(
                "--cap",
                self.cap,
                "a rate at least --high, at most 100000000",
            );
        }
        if !(self.step_s >= 0.1 && self.step_s <= 3600.0) {
            return bad("--step", self.step_s, "0.1 to 3600 seconds");
        }
        if !(self.warmup_s >= 0.0 && self.warmup_s <= 3600.0) {
            return bad("--warmup", self.warmup_s, "0 to 3600 seconds");
        }
        if !(self.precision > 0.0 && self.precision < 1.0) {
            return bad(
                "--precision",
                self.precision,
                "a share between 0 and 1, e.g. 0.05",
            );
        }
        Ok(())
    }
}

/// One step of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityStep {
    /// Scheduled rate.
    pub rate: f64,
    /// Whether it met every threshold, kept the schedule and dropped nothing.
    pub passed: bool,
    /// Why not, when it did not.
    pub reasons: Vec<String>,
    /// Completed / window.
    pub achieved_rps: f64,
    /// Completed / (window + drain).
    pub sustained_rps: f64,
    /// Response-time p95, ms.
    pub p95_ms: f64,
    /// Response-time p99, ms.
    pub p99_ms: f64,
    /// (errors + timeouts + dropped) / intended.
    pub error_rate: f64,
    /// openpace's own figures were suspect in some interval.
    pub suspect: bool,
    /// Why they were (the run's notes on its own figures: host pauses, a late timing loop,
    /// shared cores, ...); empty when they were not.
    #[serde(default)]
    pub suspect_why: Vec<String>,
    /// A stop request ended this step early: it neither passed nor failed.
    #[serde(default)]
    pub interrupted: bool,
}

/// The result of a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    /// `openpace <version>`.
    pub tool: String,
    /// The scenario searched.
    pub scenario: String,
    /// Its target.
    pub target: String,
    /// The search's options.
    pub options: CapacityOptions,
    /// The highest rate that passed (`None`: not even the lower bound).
    pub highest_passed: Option<f64>,
    /// The lowest rate that failed (`None`: not even the upper bound).
    pub first_failed: Option<f64>,
    /// Why it failed.
    pub first_failed_reasons: Vec<String>,
    /// Every step, in the order run.
    pub steps: Vec<CapacityStep>,
    /// A stop request ended the search early: the bracket is what it had found by then.
    #[serde(default)]
    pub interrupted: bool,
}
