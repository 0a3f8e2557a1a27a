//! `openpace capacity`: up to what rate does the target still meet its thresholds?
//!
//! Runs short constant-rate steps of the scenario, each with its own warmup, and searches
//! between two bounds: first the lower bound (it must pass), then the upper; while the upper
//! passes it doubles, up to a cap (the capacity is at least the cap when that passes too),
//! then bisection on a logarithmic scale until the bracket is narrower than the precision. A step passes when every threshold passes, the schedule was
//! kept (no shortfall) and nothing was dropped. The report gives the highest rate that
//! passed, the first that failed and why, and every step.
//!
//! A stop request (Ctrl-C) ends the step under way and the search with it: the report says
//! so (`interrupted`) and keeps every step finished so far; the interrupted step is listed
//! but judges nothing.

use crate::config::{LoadTestConfig, RunConfig, RunSettings};
use crate::engine::LoadTestRunner;
use crate::engine::stop::StopHandle;
use crate::error::Error;
use crate::metrics::RunResult;
use crate::schedule::LoadPattern;
use crate::targets::TargetFactory;

pub use crate::metrics::capacity::{CapacityOptions, CapacityReport, CapacityStep, DEFAULT_CAP};
pub use crate::report::capacity::{csv, text};

/// What one step found in its run `result` at `rate`: passed, or why not. Under `strict`
/// an inconclusive threshold fails the step too.
fn step_record(rate: f64, result: &RunResult, strict: bool) -> CapacityStep {
    let s = &result.scenarios[0];
    let mut reasons: Vec<String> = s
        .verdict
        .thresholds
        .iter()
        .filter(|t| !t.passed || (strict && t.inconclusive))
        .map(|t| {
            format!(
                "{} = {:.3} {}, limit {} {} {}{}",
                t.metric,
                t.value,
                t.unit,
                t.comparison,
                t.limit,
                t.unit,
                if t.passed { " (inconclusive)" } else { "" }
            )
        })
        .collect();
    if s.rate_shortfall_pct > 0.0 {
        reasons.push(format!(
            "schedule not kept: {:.1}% short",
            s.rate_shortfall_pct
        ));
    }
    if s.requests.dropped > 0 {
        reasons.push(format!("{} requests dropped", s.requests.dropped));
    }
    if let Some(why) = &result.aborted {
        reasons.push(format!("stopped early: {why}"));
    }
    let interrupted = result.interrupted && result.aborted.is_none();
    if interrupted {
        reasons = vec!["interrupted: a stop request ended this step".to_string()];
    }
    CapacityStep {
        rate,
        passed: reasons.is_empty(),
        interrupted,
        reasons,
        achieved_rps: s.achieved_rps,
        sustained_rps: s.sustained_rps,
        p95_ms: s.response_time_ms.at(0.95),
        p99_ms: s.response_time_ms.at(0.99),
        error_rate: s.error_rate,
        suspect: s.verdict.suspect,
        suspect_why: if s.verdict.suspect {
            s.verdict.notes.clone()
        } else {
            Vec::new()
        },
    }
}

/// Searches the capacity of `base` (its pattern becomes constant). `target` replaces the
/// built-in target when given; `stop` ends the search (route signals to it to stop on
/// Ctrl-C); `progress` hears each step as it finishes.
pub fn search(
    base: &LoadTestConfig,
    settings: &RunSettings,
    target: Option<TargetFactory>,
    options: &CapacityOptions,
    stop: &StopHandle,
    mut progress: impl FnMut(&CapacityStep),
) -> Result<CapacityReport, Error> {
    options.validate()?;
    let mut steps = Vec::new();
    // Ok(Some(passed)) for a step that ran to its end, Ok(None) for one a stop cut short.
    let mut step = |rate: f64| -> Result<Option<bool>, Error> {
        if stop.requests() > 0 {
            return Ok(None);
        }
        let config = LoadTestConfig {
            load_pattern: LoadPattern::Constant,
            target_rps: rate,
            duration_seconds: options.step_s,
            warmup_seconds: options.warmup_s,
            abort_on_fail: true,
            ..base.clone()
        };
        let settings = RunSettings {
            output: None,
            ..settings.clone()
        };
        let strict = settings.strict;
        let run = RunConfig::single(config).with_settings(settings);
        let mut runner = LoadTestRunner::from_run_config(run)?.with_stop_handle(stop.clone());
        if let Some(factory) = &target {
            runner = runner.with_target(factory.clone());
        }
        let record = step_record(rate, &runner.run()?, strict);
        progress(&record);
        let outcome = (!record.interrupted).then_some(record.passed);
        steps.push(record);
        Ok(outcome)
    };
    let (passed, failed, interrupted) = bracket(&mut step, options)?;
    let first_failed_reasons = failed
        .and_then(|rate| steps.iter().find(|s| s.rate == rate))
        .map(|s| s.reasons.clone())
        .unwrap_or_default();
    Ok(CapacityReport {
        tool: format!("openpace {}", env!("CARGO_PKG_VERSION")),
        scenario: base.name.clone(),
        target: base.target.to_string(),
        options: *options,
        highest_passed: passed,
        first_failed: failed,
        first_failed_reasons,
        steps,
        interrupted,
    })
}

/// The search itself, over `step` (which runs a rate: `Some(passed)`, or `None` when a stop
/// cut it short): the lower bound, the upper doubled while it passes up to the cap, then
/// bisection. Returns the highest rate passed, the lowest failed, and whether a stop ended it.
fn bracket(
    step: &mut impl FnMut(f64) -> Result<Option<bool>, Error>,
    options: &CapacityOptions,
) -> Result<(Option<f64>, Option<f64>, bool), Error> {
    let (mut passed, mut failed) = (None, None);
    let mut interrupted = false;
    let mut runs = 1;
    match step(options.low)? {
        None => interrupted = true,
        Some(false) => failed = Some(options.low),
        Some(true) => {
            passed = Some(options.low);
            // The upper bound, then twice it while it passes, up to the cap.
            let mut upper = options.high;
            loop {
                runs += 1;
                match step(upper)? {
                    None => interrupted = true,
                    Some(true) => passed = Some(upper),
                    Some(false) => failed = Some(upper),
                }
                if interrupted
                    || failed.is_some()
                    || upper >= options.cap
                    || runs >= options.max_steps
                {
                    break;
                }
                upper = (2.0 * upper).min(options.cap);
            }
        }
    }
    while let (Some(lo), Some(hi), false) = (passed, failed, interrupted) {
        if (hi - lo) / lo <= options.precision || runs >= options.max_steps {
            break;
        }
        let middle = (lo * hi).sqrt();
        match step(middle)? {
            None => interrupted = true,
            Some(true) => passed = Some(middle),
            Some(false) => failed = Some(middle),
        }
        runs += 1;
    }
    Ok((passed, failed, interrupted))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search over a target that passes below 3,000 RPS: from --high 100 it doubles to
    /// 3,200 (the first failure), then bisects to within the precision; with --cap 1,000 it
    /// stops there, every step passed.
    #[test]
    fn the_upper_bound_doubles_until_a_failure_or_the_cap() {
        let search = |cap: f64| {
            let mut tried = Vec::new();
            let options = CapacityOptions {
                low: 10.0,
                high: 100.0,
                cap,
                ..CapacityOptions::default()
            };
            let mut step = |rate: f64| {
                tried.push(rate);
                Ok(Some(rate < 3000.0))
            };
            let found = bracket(&mut step, &options).unwrap();
            (found, tried)
        };
        let ((passed, failed, interrupted), tried) = search(DEFAULT_CAP);
        assert_eq!(
            tried[..7],
            [10.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0]
        );
        let (passed, failed) = (passed.unwrap(), failed.unwrap());
        assert!(passed < 3000.0 && failed >= 3000.0 && (failed - passed) / passed <= 0.05);
        assert!(!interrupted);
        let ((passed, failed, _), tried) = search(1000.0);
        assert_eq!(tried, [10.0, 100.0, 200.0, 400.0, 800.0, 1000.0]);
        assert_eq!((passed, failed), (Some(1000.0), None));
    }

    #[test]
    fn options_are_checked() {
        assert!(CapacityOptions::default().validate().is_ok());
        let bad = CapacityOptions {
            high: 5.0,
            ..CapacityOptions::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("--high"));
    }
}
