//! Saturation: the intervals in which openpace's own figures cannot be trusted.
//!
//! After a run, each latency interval is checked against the resource sample of the same
//! interval. An interval is flagged when requests reached workers after their intended
//! instant (the timing loop was preempted, or fell behind without being preempted), when a
//! worker thread used 95% or more of a core outside spin mode (where workers spin by design),
//! when the host's hypervisor stole 1% or more of the CPU, or when fewer requests completed
//! than the schedule intended (beyond what may still be in flight). Flags go into the time
//! series, are counted per scenario, and make the verdict say the figures are suspect.
//!
//! A run that did not keep its scheduled rate says so loudly, with the shortfall. The rate
//! kept is `sustained_rps`: completed requests over the window plus the drain (until the last
//! call ended), because a target that falls behind still completes everything, later, and
//! completed / window alone would hide that.

use std::collections::BTreeMap;

use super::result::{IntervalStats, RunResult, ScenarioResult};
use crate::config::WaitMode;
use crate::monitor::ResourceSample;

/// Flag: requests handed over late while the timing thread was being preempted.
pub const TIMER_PREEMPTED: &str = "timing thread preempted";
/// Flag: requests handed over late with no preemption of the timing thread seen.
pub const TIMER_BEHIND: &str = "timing loop fell behind";
/// Flag: a worker thread used at least [`SATURATED_PCT`] of a core.
pub const WORKER_SATURATED: &str = "worker CPU-saturated";
/// Flag: the hypervisor stole at least [`STEAL_PCT`] of the host's CPU.
pub const HOST_STEAL: &str = "host steal time";
/// Flag: fewer requests completed than the schedule intended.
pub const RATE_SHORT: &str = "achieved rate short of the schedule";

/// A worker at or above this share of a core is saturated.
pub const SATURATED_PCT: f64 = 95.0;
/// Steal at or above this share of the host's CPU makes an interval suspect.
pub const STEAL_PCT: f64 = 1.0;
/// A run whose achieved rate is below this share of its scheduled rate fell short.
pub const SHORTFALL_RATIO: f64 = 0.99;

/// The name of the timing thread, as procfs reports it.
pub const TIMER_THREAD: &str = "openpace-timer";

/// Flags every scenario's intervals of `run` against `samples` and updates the verdicts.
pub fn assess(run: &mut RunResult, samples: &[ResourceSample]) {
    let wait = run.wait_mode;
    for (index, scenario) in run.scenarios.iter_mut().enumerate() {
        assess_scenario(scenario, index, samples, wait);
    }
}

fn assess_scenario(
    s: &mut ScenarioResult,
    index: usize,
    samples: &[ResourceSample],
    wait: WaitMode,
) {
    let worker_prefix = format!("openpace-w{index}.");
    let in_flight = s.workers as f64;
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut flagged = 0;
    for row in &mut s.intervals {
        let sample = samples
            .iter()
            .find(|x| (x.start_s - row.start_s).abs() < 1e-6);
        row.flags = interval_flags(row, sample, &worker_prefix, wait, in_flight);
        for flag in &row.flags {
            *reasons.entry(flag.clone()).or_insert(0) += 1;
        }
        flagged += u64::from(!row.flags.is_empty());
    }
    s.suspect_intervals = flagged;
    s.suspect_reasons = reasons;
    conclude(s);
}

/// Sets a scenario's rate shortfall and its verdict's notes from its counts, flags and rates
/// (after a run, and again after `openpace merge`).
pub(crate) fn conclude(s: &mut ScenarioResult) {
    let flagged = s.suspect_intervals;
    // Calls intended near the end of the window finish after it; only a drain longer than
    // the slowest calls means requests piled up because the rate was not kept.
    let piled_up = s.drain_s * 1e3 > 4.0 * s.service_time_ms.p99 + 1.0;
    s.rate_shortfall_pct = if piled_up && s.sustained_rps < SHORTFALL_RATIO * s.scheduled_rps {
        100.0 * (1.0 - s.sustained_rps / s.scheduled_rps)
    } else {
        0.0
    };
    let mut notes = Vec::new();
    if flagged > 0 {
        let why: Vec<String> = s
            .suspect_reasons
            .iter()
            .map(|(reason, n)| format!("{reason}: {n}"))
            .collect();
        notes.push(format!(
            "FIGURES SUSPECT: {flagged} of {} intervals generator-limited ({})",
            s.intervals.len(),
            why.join(", ")
        ));
    }
    if s.rate_shortfall_pct > 0.0 {
        notes.push(format!(
            "TARGET RATE NOT REACHED: sustained {:.2} of {:.2} RPS scheduled ({:.1}% short; \
             the last calls ended {:.2}s after the window)",
            s.sustained_rps, s.scheduled_rps, s.rate_shortfall_pct, s.drain_s
        ));
    }
    s.verdict.suspect = !notes.is_empty();
    s.verdict.notes = notes;
}

fn interval_flags(
    row: &IntervalStats,
    sample: Option<&ResourceSample>,
    worker_prefix: &str,
    wait: WaitMode,
    in_flight: f64,
) -> Vec<String> {
    let mut flags = Vec::new();
    if row.late > 0 {
        let preempted = sample.is_some_and(|x| {
            x.threads
                .iter()
                .any(|t| t.name == TIMER_THREAD && t.involuntary_switches > 0)
        });
        flags.push(
            if preempted {
                TIMER_PREEMPTED
            } else {
                TIMER_BEHIND
            }
            .to_string(),
        );
    }
    if let Some(x) = sample {
        let saturated = wait != WaitMode::Spin
            && x.threads
                .iter()
                .any(|t| t.name.starts_with(worker_prefix) && t.cpu_pct >= SATURATED_PCT);
        if saturated {
            flags.push(WORKER_SATURATED.to_string());
        }
        if x.host
            .as_ref()
            .is_some_and(|h| h.total.steal_pct >= STEAL_PCT)
        {
            flags.push(HOST_STEAL.to_string());
        }
    }
    if row.scheduled > 0.0 && (row.completed as f64) < SHORTFALL_RATIO * row.scheduled - in_flight {
        flags.push(RATE_SHORT.to_string());
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::sample::{CoreSample, HostSample, ThreadSample};

    fn row(start_s: f64, scheduled: f64, completed: u64, late: u64) -> IntervalStats {
        IntervalStats {
            start_s,
            end_s: start_s + 1.0,
            scheduled,
            completed,
            late,
            ..IntervalStats::default()
        }
    }

    fn sample(start_s: f64, timer_preempted: bool, worker_cpu: f64, steal: f64) -> ResourceSample {
        ResourceSample {
            start_s,
            end_s: start_s + 1.0,
            threads: vec![
                ThreadSample {
                    name: TIMER_THREAD.to_string(),
                    cpu_pct: 1.0,
                    involuntary_switches: u64::from(timer_preempted),
                },
                ThreadSample {
                    name: "openpace-w0.0".to_string(),
                    cpu_pct: worker_cpu,
                    involuntary_switches: 0,
                },
            ],
            host: Some(HostSample {
                total: CoreSample {
                    steal_pct: steal,
                    ..CoreSample::default()
                },
                ..HostSample::default()
            }),
            ..ResourceSample::default()
        }
    }

    #[test]
    fn each_cause_flags_its_interval() {
        let flags = |r: IntervalStats, x: ResourceSample, wait| {
            interval_flags(&r, Some(&x), "openpace-w0.", wait, 2.0)
        };
        assert!(
            flags(
                row(0.0, 100.0, 100, 0),
                sample(0.0, true, 50.0, 0.0),
                WaitMode::Hybrid
            )
            .is_empty()
        );
        assert_eq!(
            flags(
                row(0.0, 100.0, 100, 3),
                sample(0.0, true, 50.0, 0.0),
                WaitMode::Hybrid
            ),
            [TIMER_PREEMPTED]
        );
        assert_eq!(
            flags(
                row(0.0, 100.0, 100, 3),
                sample(0.0, false, 50.0, 0.0),
                WaitMode::Hybrid
            ),
            [TIMER_BEHIND]
        );
        assert_eq!(
            flags(
                row(0.0, 100.0, 100, 0),
                sample(0.0, false, 99.0, 0.0),
                WaitMode::Hybrid
            ),
            [WORKER_SATURATED]
        );
        // Spinning workers are busy by design.
        assert!(
            flags(
                row(0.0, 100.0, 100, 0),
                sample(0.0, false, 100.0, 0.0),
                WaitMode::Spin
            )
            .is_empty()
        );
        assert_eq!(
            flags(
                row(0.0, 100.0, 100, 0),
                sample(0.0, false, 10.0, 2.5),
                WaitMode::Hybrid
            ),
            [HOST_STEAL]
        );
        // 96 completed of 100 scheduled is within 99% less the 2 that may be in flight...
        assert!(
            flags(
                row(0.0, 100.0, 97, 0),
                sample(0.0, false, 10.0, 0.0),
                WaitMode::Hybrid
            )
            .is_empty()
        );
        // ... 90 is not.
        assert_eq!(
            flags(
                row(0.0, 100.0, 90, 0),
                sample(0.0, false, 10.0, 0.0),
                WaitMode::Hybrid
            ),
            [RATE_SHORT]
        );
    }
}
