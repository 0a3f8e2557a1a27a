//! Saturation: the intervals in which openpace's own figures cannot be trusted.
//!
//! After a run, each latency interval is checked against what the run recorded about itself
//! and against the resource sample of the same interval. An interval is flagged when:
//!
//! - openpace itself stalled: its timing loop could not run for 50 ms or more (SIGSTOP, a
//!   paused VM, a long preemption); the intervals the stall covered are flagged, and requests
//!   it made late are put down to it;
//! - otherwise, requests reached workers 1 ms or more after their intended instant (the
//!   timing loop was preempted, or fell behind without being preempted);
//! - the workers were busy (in calls, and in the framework between them) 95% or more of
//!   the interval, which leaves no room for the schedule (open model only). Waiting for a
//!   request or for its instant never counts, spinning included, so a worker that spins
//!   towards its next instant is not saturated however much CPU it burns;
//! - 1% or more of the interval's requests to a network target waited for a free connection
//!   (client-side queueing: more connections would have sent them on time);
//! - the host's hypervisor stole 1% or more of the CPU;
//! - fewer requests completed than the schedule intended (beyond what may still be in
//!   flight);
//! - the host check found what makes every figure of the run suspect (`host.unfit`: the
//!   timing loop on an SMT sibling of a worker, a governor holding the clock low under a
//!   target answering within a millisecond); then every interval carries the flag.
//!
//! Flags go into the time series and are counted per interval (an interval with two reasons
//! counts once in the total and once for each reason). With them the verdict says the figures
//! are suspect, and why in words: which intervals, client-side queueing with its share and
//! remedy, framework overhead above the design's 5% with its likely cause.
//!
//! A run that did not keep its scheduled rate says so loudly, with the shortfall. The rate
//! kept is `sustained_rps`: completed requests over the window plus the drain (until the last
//! call ended), because a target that falls behind still completes everything, later, and
//! completed / window alone would hide that.

use std::collections::BTreeMap;

use super::resources::ResourceSample;
use super::result::{IntervalStats, NoteKind, RunResult, ScenarioResult, Stall};
use crate::base::Model;

/// Flag: requests handed over late while the timing thread was being preempted.
pub const TIMER_PREEMPTED: &str = "timing thread preempted";
/// Flag: requests handed over late with no preemption of the timing thread seen.
pub const TIMER_BEHIND: &str = "timing loop fell behind";
/// Flag: openpace itself could not run for 50 ms or more.
pub const STALLED: &str = "openpace stalled";
/// Flag: the workers were busy at least [`SATURATED_PCT`] of the interval.
pub const WORKER_SATURATED: &str = "workers saturated";
/// Flag: at least [`QUEUED_SHARE`] of the requests waited for a free connection.
pub const CLIENT_QUEUEING: &str = "client-side queueing";
/// Flag: the hypervisor stole at least [`STEAL_PCT`] of the host's CPU.
pub const HOST_STEAL: &str = "host steal time";
/// Flag: the host check failed in a way that matters for this run (`host.unfit` says how).
pub const HOST_UNFIT: &str = "host unfit";
/// Flag: fewer requests completed than the schedule intended.
pub const RATE_SHORT: &str = "achieved rate short of the schedule";

/// Workers busy at or above this share of an interval are saturated.
pub const SATURATED_PCT: f64 = 95.0;
/// Steal at or above this share of the host's CPU makes an interval suspect.
pub const STEAL_PCT: f64 = 1.0;
/// A run whose achieved rate is below this share of its scheduled rate fell short.
pub const SHORTFALL_RATIO: f64 = 0.99;
/// Requests that waited for a connection, as a share of those completed, that make an
/// interval (and a run) suspect.
pub const QUEUED_SHARE: f64 = 0.01;
/// Framework overhead above this share of the response time makes a run suspect: the
/// design's budget.
pub const OVERHEAD_PCT: f64 = 5.0;
/// ... unless it is below this many µs per request: then the target answers faster than
/// a hand-off between threads (a no-op), and the share says nothing about the figures.
pub const OVERHEAD_FLOOR_US: f64 = 1.0;

/// The name of the timing thread, as procfs reports it.
pub const TIMER_THREAD: &str = "openpace-timer";

/// Flags every scenario's intervals of `run` against its stalls and `samples`, and updates
/// the verdicts. The samples' times count from the first scenario's warmup end (where the
/// sampler starts); each scenario's rows from its own, so rows and samples are matched by
/// the time they share on the run clock, whatever each scenario's interval and warmup.
pub fn assess(run: &mut RunResult, samples: &[ResourceSample]) {
    let stalls = run.stalls.clone();
    let samples_from_s = run.scenarios.first().map_or(0.0, |s| s.warmup_s);
    let unfit = !run.host.unfit.is_empty();
    for scenario in &mut run.scenarios {
        assess_scenario(scenario, samples, samples_from_s, &stalls, unfit);
    }
    if let Some(longest) = stalls.iter().map(|x| x.duration_s).reduce(f64::max) {
        let total: f64 = stalls.iter().map(|x| x.duration_s).sum();
        run.warnings.push(format!(
            "openpace itself stalled {} time(s), {total:.2} s in all (the longest {longest:.2} s; \
             the first at {:.2} s on the run clock): the process was stopped (SIGSTOP), the \
             host paused it or the scheduler held it; the intervals it covered are flagged",
            stalls.len(),
            stalls[0].at_s
        ));
    }
}

fn assess_scenario(
    s: &mut ScenarioResult,
    samples: &[ResourceSample],
    samples_from_s: f64,
    stalls: &[Stall],
    unfit: bool,
) {
    let open = s.model == Model::Open;
    let in_flight = s.workers as f64;
    let warmup = s.warmup_s;
    for row in &mut s.intervals {
        // On the run clock: intervals start after their scenario's warmup.
        let (start, end) = (warmup + row.start_s, warmup + row.end_s);
        let shared = |from: f64, to: f64| (end.min(to) - start.max(from)).max(0.0);
        let overlapping: Vec<(&ResourceSample, f64)> = samples
            .iter()
            .map(|x| {
                (
                    x,
                    shared(samples_from_s + x.start_s, samples_from_s + x.end_s),
                )
            })
            .filter(|&(_, overlap)| overlap > 1e-6)
            .collect();
        let stalled = stalls
            .iter()
            .any(|x| x.at_s < end && x.at_s + x.duration_s > start);
        row.flags = interval_flags(row, &overlapping, stalled, open, in_flight);
        if unfit {
            row.flags.push(HOST_UNFIT.to_string());
        }
    }
    (s.suspect_intervals, s.suspect_reasons) = count_flags(&s.intervals);
    conclude(s);
}

/// How many intervals carry any flag, and how many carry each reason.
pub(crate) fn count_flags(intervals: &[IntervalStats]) -> (u64, BTreeMap<String, u64>) {
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut flagged = 0;
    for row in intervals {
        for flag in &row.flags {
            *reasons.entry(flag.clone()).or_insert(0) += 1;
        }
        flagged += u64::from(!row.flags.is_empty());
    }
    (flagged, reasons)
}

/// Sets a scenario's rate shortfall and its verdict's notes from its counts, flags and rates
/// (after a run, and again after `openpace merge`).
pub(crate) fn conclude(s: &mut ScenarioResult) {
    let flagged = s.suspect_intervals;
    // Calls intended near the end of the window finish after it; only a drain longer than
    // the slowest calls means requests piled up because the rate was not kept.
    let piled_up = s.drain_s * 1e3 > 4.0 * s.service_time_ms.at(0.99) + 1.0;
    s.rate_shortfall_pct = if piled_up && s.sustained_rps < SHORTFALL_RATIO * s.scheduled_rps {
        100.0 * (1.0 - s.sustained_rps / s.scheduled_rps)
    } else {
        0.0
    };
    let mut notes = Vec::new();
    if flagged > 0 {
        notes.push(suspect_note(s));
    }
    notes.extend(queueing_note(s));
    notes.extend(overhead_note(s));
    notes.extend(validity_notes(s));
    if s.rate_shortfall_pct > 0.0 {
        notes.push(format!(
            "{}: sustained {:.2} of {:.2} RPS scheduled ({:.1}% short; the last calls ended \
             {:.2}s after the window)",
            NoteKind::RateNotReached.label(),
            s.sustained_rps,
            s.scheduled_rps,
            s.rate_shortfall_pct,
            s.drain_s
        ));
    }
    // Every note but the intervals' width says a figure itself may be off.
    s.verdict.suspect = notes
        .iter()
        .any(|n| NoteKind::of(n) != Some(NoteKind::NarrowIntervals));
    s.verdict.notes = notes;
}

/// The flagged intervals in words: which (as times), how much of the run they hold, and per
/// reason what was seen in them and what would change it.
fn suspect_note(s: &ScenarioResult) -> String {
    let flagged: Vec<&IntervalStats> = s.intervals.iter().filter(|r| !r.flags.is_empty()).collect();
    let completed: u64 = s.intervals.iter().map(|r| r.completed).sum();
    let in_flagged: u64 = flagged.iter().map(|r| r.completed).sum();
    let share = 100.0 * in_flagged as f64 / completed.max(1) as f64;
    let reasons: Vec<String> = s
        .suspect_reasons
        .iter()
        .map(|(reason, n)| {
            let rows: Vec<&IntervalStats> = flagged
                .iter()
                .copied()
                .filter(|r| r.flags.iter().any(|f| f == reason))
                .collect();
            let (seen, remedy) = evidence(reason, &rows);
            format!("{reason} in {n} ({seen}; {remedy})")
        })
        .collect();
    format!(
        "{}: {} of {} intervals ({}; {share:.0}% of the measured requests) may show openpace or \
         the host rather than the target: {}",
        NoteKind::FiguresSuspect.label(),
        flagged.len(),
        s.intervals.len(),
        spans(&flagged),
        reasons.join("; ")
    )
}

/// The intervals `rows` as spans of seconds into the measured window, neighbours joined:
/// `at 2-4s, 7-8s`, the first five and how many more.
fn spans(rows: &[&IntervalStats]) -> String {
    let mut joined: Vec<(f64, f64)> = Vec::new();
    for r in rows {
        match joined.last_mut() {
            Some(last) if (r.start_s - last.1).abs() < 1e-6 => last.1 = r.end_s,
            _ => joined.push((r.start_s, r.end_s)),
        }
    }
    let shown: Vec<String> = joined
        .iter()
        .take(5)
        .map(|(a, b)| format!("{}-{}s", trim(*a), trim(*b)))
        .collect();
    let more = match joined.len().saturating_sub(5) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!("at {}{more}", shown.join(", "))
}

/// Seconds without trailing zeros: `2`, `2.5`.
fn trim(seconds: f64) -> String {
    let text = format!("{seconds:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What the intervals `rows` flagged for `reason` showed, and what would change it.
fn evidence(reason: &str, rows: &[&IntervalStats]) -> (String, &'static str) {
    let sum = |f: fn(&IntervalStats) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
    match reason {
        TIMER_PREEMPTED => (
            format!(
                "{} requests reached a worker 1 ms or more late",
                sum(|r| r.late)
            ),
            "give the timing loop a core nothing else runs on: --timer-core, isolated cores",
        ),
        TIMER_BEHIND => (
            format!(
                "{} requests reached a worker 1 ms or more late",
                sum(|r| r.late)
            ),
            "the VM or the scheduler held the timing loop back: a quieter host or core \
             (--timer-core), --repeat to average such spells in",
        ),
        STALLED => (
            "openpace could not run for 50 ms or more".to_string(),
            "the process was stopped or the host paused it: run again",
        ),
        WORKER_SATURATED => (
            format!(
                "workers busy up to {:.0}% of the interval",
                rows.iter().map(|r| r.worker_busy_pct).fold(0.0, f64::max)
            ),
            "more workers (--workers) on more cores (--worker-cores)",
        ),
        CLIENT_QUEUEING => (
            format!(
                "{:.1}% of their requests waited for a free connection",
                100.0 * sum(|r| r.queued) as f64 / sum(|r| r.completed).max(1) as f64
            ),
            "more connections (--connections)",
        ),
        HOST_STEAL => (
            format!("the hypervisor took {STEAL_PCT}% or more of the CPU"),
            "a dedicated host, or --repeat to average such spells in",
        ),
        RATE_SHORT => (
            format!(
                "{:.0} fewer requests completed than scheduled",
                rows.iter()
                    .map(|r| (r.scheduled - r.completed as f64).max(0.0))
                    .sum::<f64>()
            ),
            "the target or the workers could not keep up: a lower rate or more workers",
        ),
        HOST_UNFIT => (
            "the host check found what moves every figure (the report's host.unfit)".to_string(),
            "change what `openpace host` lists, or move the timing loop and workers to other \
             cores",
        ),
        _ => (String::from("flagged"), "see the time series' flags"),
    }
}

/// Each failed validity check in words, with what it means for the figures.
fn validity_notes(s: &ScenarioResult) -> Vec<String> {
    let Some(v) = &s.validity else {
        return Vec::new();
    };
    let label = NoteKind::Validity.label();
    let mut notes = Vec::new();
    if let Some(t) = v.stationarity.as_ref().filter(|t| !t.passed) {
        notes.push(format!(
            "{label}: latency drifts: the median response time moved {:+.1}% over the window \
             (Mann-Kendall p = {:.1e}): a warmup too short, a leak or a throttle; the \
             percentiles mix what came before and after",
            t.drift_pct, t.p_value
        ));
    }
    if let Some(d) = v.independence.as_ref().filter(|d| !d.passed) {
        let last = d.lags.last().copied().unwrap_or_default();
        notes.push(format!(
            "{}: response times stay correlated {} requests apart (Spearman rho {:.2}): \
             intervals that assumed independent samples would be about {:.0}x too narrow, so \
             the printed ones allow for it (batch means, effective sample size); the host's \
             state drifting does this, and what drifts between runs needs --repeat or \
             `openpace ab`",
            NoteKind::NarrowIntervals.label(),
            last.lag,
            last.rho,
            d.narrow_by
        ));
    }
    if let Some(a) = v.arrivals.as_ref().filter(|a| !a.passed) {
        let why = match a.p_value {
            Some(p) if p < 0.001 => format!(
                "their gaps are not those of a Poisson process at the scheduled rate \
                 (Anderson-Darling A² = {:.1} over {} gaps, p = {p:.1e})",
                a.anderson_darling.unwrap_or(0.0),
                a.gaps
            ),
            _ => format!(
                "1% of them left more than {:.0} µs after their instants, over two mean gaps \
                 ({:.0} µs)",
                a.late_p99_us, a.mean_gap_us
            ),
        };
        notes.push(format!(
            "{label}: arrivals: the requests did not leave as the {} pattern says: {why}; the \
             target saw another load than the one scheduled",
            a.process
        ));
    }
    notes
}

/// Whether [`QUEUED_SHARE`] or more of the scenario's requests waited for a free connection.
pub fn client_queued(s: &ScenarioResult) -> bool {
    let q = &s.requests;
    q.queued > 0 && q.queued as f64 >= QUEUED_SHARE * q.completed.max(1) as f64
}

/// Client-side queueing in words, when requests waited for a free connection.
fn queueing_note(s: &ScenarioResult) -> Option<String> {
    if !client_queued(s) {
        return None;
    }
    let q = &s.requests;
    let completed = q.completed.max(1) as f64;
    let limit = s.network.connections_limit;
    let remedy = if s.network.connections_auto {
        format!("all {limit} connections of --connections auto were busy; raise --connections")
    } else {
        format!("all {limit} connection(s) were busy; raise --connections")
    };
    Some(format!(
        "{}: {:.1}% of requests waited for a free connection (mean wait {}), response p50 {}; \
         {remedy}",
        NoteKind::ClientQueueing.label(),
        100.0 * q.queued as f64 / completed,
        ms(q.queued_ns as f64 / q.queued as f64 / 1e6),
        ms(s.response_time_ms.at(0.5)),
    ))
}

/// Framework overhead above the design's budget in words, with its likely cause.
fn overhead_note(s: &ScenarioResult) -> Option<String> {
    let o = &s.overhead;
    if s.overhead_pct <= OVERHEAD_PCT || o.per_request_us < OVERHEAD_FLOOR_US {
        return None;
    }
    let cores = s.worker_cores.len();
    let cause = if cores > 0 && s.workers > cores {
        format!(
            "{} workers take turns on {cores} core(s), so a request often waits for a time \
             slice; try --workers {cores}",
            s.workers
        )
    } else if let Some(cause) = tail_held(s).or_else(|| woken_late(s)) {
        cause
    } else if s.timer_lateness_us.avg > 0.5 * o.per_request_us {
        format!(
            "the timing loop handed requests over late (mean {:.1} µs); see timer_lateness",
            s.timer_lateness_us.avg
        )
    } else {
        format!(
            "hand-off to the workers and their wake-up (dispatch delay mean {:.1} µs); --wait \
             spin trades a core for it",
            s.dispatch_delay_us.avg
        )
    };
    Some(format!(
        "{}: {:.1}% of the response time ({:.2} µs of {:.2} µs per request), \
         above the design's {OVERHEAD_PCT}%: {cause}",
        NoteKind::FrameworkOverhead.label(),
        s.overhead_pct,
        o.per_request_us,
        o.response_us
    ))
}

/// When sleeping network workers woke later than their spin window covered: the host's
/// wake-ups in words, and the one flag that removes them.
fn woken_late(s: &ScenarioResult) -> Option<String> {
    let wait = s.wait.as_ref().filter(|w| w.wake_ups > 0)?;
    let window_us = wait.spin_window_us.map_or(0.0, |[_, high]| high);
    let l = &wait.wake_lateness_us;
    if l.max <= window_us {
        return None;
    }
    let d = &s.dispatch_delay_us;
    Some(format!(
        "this host woke sleeping workers {} late at p99 and {} at most, past the spin \
         window ({}, adapted to that p99 and capped), so requests due then started late \
         (dispatch delay mean {:.1} µs, p50 {:.1} µs, max {}): the design's 5% is out of reach \
         here without spinning; --wait spin removes the wake-ups for a core per worker{}",
        ms(l.at(0.99) / 1e3),
        ms(l.max / 1e3),
        ms(window_us / 1e3),
        d.avg,
        d.at(0.5),
        ms(d.max / 1e3),
        if l.max >= 1e3 {
            " (not the host's pauses of milliseconds, which hold a spinning thread too: a \
             longer run or --repeat averages them in)"
        } else {
            ""
        },
    ))
}

/// When the slowest 1% of requests make the overhead: 99% started within the budget, a few
/// waited milliseconds while the host held openpace's threads (a preempted core, stolen CPU),
/// which no flag of openpace's removes; said with what would make the figure hold.
fn tail_held(s: &ScenarioResult) -> Option<String> {
    let d = &s.dispatch_delay_us;
    let budget_us = OVERHEAD_PCT / 100.0 * s.overhead.response_us;
    if budget_us <= 0.0 || d.at(0.99) > budget_us || d.max < 10.0 * budget_us {
        return None;
    }
    Some(format!(
        "99% of requests started within {:.1} µs of their instants, but a few waited up to {} \
         (dispatch delay mean {:.1} µs): the host held openpace's threads for that long (a \
         preempted core or stolen CPU; see the flags and RESOURCE METRICS), which no flag of \
         openpace's removes here; a longer run or --repeat averages such spells in, isolated \
         cores keep them out",
        d.at(0.99),
        ms(d.max / 1e3),
        d.avg,
    ))
}

/// Milliseconds for a note: µs below 1 ms, s above 1 s.
fn ms(value: f64) -> String {
    if value < 1.0 {
        format!("{:.0} µs", value * 1e3)
    } else if value < 1e3 {
        format!("{value:.1} ms")
    } else {
        format!("{:.2} s", value / 1e3)
    }
}

/// The flags of one interval `row`, given the resource samples that share time with it (each
/// with the seconds it shares), whether a stall covered it, the model and the requests that
/// may be in flight at its end.
fn interval_flags(
    row: &IntervalStats,
    samples: &[(&ResourceSample, f64)],
    stalled: bool,
    open: bool,
    in_flight: f64,
) -> Vec<String> {
    let mut flags = Vec::new();
    if stalled {
        // Whatever was late in it, the stall made late.
        flags.push(STALLED.to_string());
    } else if row.late > 0 {
        let preempted = samples.iter().any(|(x, _)| {
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
    if open && row.worker_busy_pct >= SATURATED_PCT {
        flags.push(WORKER_SATURATED.to_string());
    }
    if open && row.queued > 0 && row.queued as f64 >= QUEUED_SHARE * row.completed as f64 {
        flags.push(CLIENT_QUEUEING.to_string());
    }
    if steal_pct(samples).is_some_and(|steal| steal >= STEAL_PCT) {
        flags.push(HOST_STEAL.to_string());
    }
    if row.scheduled > 0.0 && (row.completed as f64) < SHORTFALL_RATIO * row.scheduled - in_flight {
        flags.push(RATE_SHORT.to_string());
    }
    flags
}

/// Host steal over `samples`, weighted by the time each shares with the interval; `None`
/// when none measured it.
fn steal_pct(samples: &[(&ResourceSample, f64)]) -> Option<f64> {
    let measured: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|(x, overlap)| Some((x.host.as_ref()?.total.steal_pct, *overlap)))
        .collect();
    let time: f64 = measured.iter().map(|(_, t)| t).sum();
    (time > 0.0).then(|| measured.iter().map(|(steal, t)| steal * t).sum::<f64>() / time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::resources::{CoreSample, HostSample, ThreadSample};
    use crate::metrics::result::{LatencySummary, WaitFigures};

    fn row(scheduled: f64, completed: u64, late: u64, busy: f64, queued: u64) -> IntervalStats {
        IntervalStats {
            start_s: 0.0,
            end_s: 1.0,
            scheduled,
            completed,
            late,
            worker_busy_pct: busy,
            queued,
            ..IntervalStats::default()
        }
    }

    fn sample(timer_preempted: bool, worker_cpu: f64, steal: f64) -> ResourceSample {
        ResourceSample {
            start_s: 0.0,
            end_s: 1.0,
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

    fn flags(r: IntervalStats, x: ResourceSample, stalled: bool, open: bool) -> Vec<String> {
        interval_flags(&r, &[(&x, 1.0)], stalled, open, 2.0)
    }

    #[test]
    fn each_cause_flags_its_interval() {
        let quiet = || sample(false, 10.0, 0.0);
        assert!(flags(row(100.0, 100, 0, 50.0, 0), quiet(), false, true).is_empty());
        let late = row(100.0, 100, 3, 50.0, 0);
        assert_eq!(
            flags(late.clone(), sample(true, 10.0, 0.0), false, true),
            [TIMER_PREEMPTED]
        );
        assert_eq!(flags(late.clone(), quiet(), false, true), [TIMER_BEHIND]);
        // A stall explains the late requests of the intervals it covers.
        assert_eq!(flags(late, quiet(), true, true), [STALLED]);
        assert_eq!(
            flags(row(100.0, 100, 0, 50.0, 0), quiet(), true, true),
            [STALLED]
        );
        assert_eq!(
            flags(row(100.0, 100, 0, 96.0, 0), quiet(), false, true),
            [WORKER_SATURATED]
        );
        // Busy is what counts, not CPU: a worker spinning for its instants burns a core.
        assert!(
            flags(
                row(100.0, 100, 0, 10.0, 0),
                sample(false, 100.0, 0.0),
                false,
                true
            )
            .is_empty()
        );
        // Closed-loop callers are busy by design.
        assert!(flags(row(0.0, 100, 0, 100.0, 0), quiet(), false, false).is_empty());
        assert_eq!(
            flags(
                row(100.0, 100, 0, 10.0, 0),
                sample(false, 10.0, 2.5),
                false,
                true
            ),
            [HOST_STEAL]
        );
        // 1 of 100 waited for a connection: 1%, flagged; none of 100 is not.
        assert_eq!(
            flags(row(100.0, 100, 0, 10.0, 1), quiet(), false, true),
            [CLIENT_QUEUEING]
        );
        // 97 completed of 100 scheduled is within 99% less the 2 that may be in flight...
        assert!(flags(row(100.0, 97, 0, 10.0, 0), quiet(), false, true).is_empty());
        // ... 90 is not.
        assert_eq!(
            flags(row(100.0, 90, 0, 10.0, 0), quiet(), false, true),
            [RATE_SHORT]
        );
    }

    /// Issue 13: the sampler took the first scenario's interval and rows were matched to
    /// samples by exact start time, so a scenario with another interval (or warmup) got no
    /// sample-based flags at all.
    #[test]
    fn scenarios_with_their_own_interval_and_warmup_meet_the_samples_by_time() {
        // Every 0.5 s from the first scenario's warmup end (1 s on the run clock); the host
        // lost 4% to steal in [1.0, 1.5) of that time.
        let samples: Vec<ResourceSample> = (0..4)
            .map(|k| ResourceSample {
                start_s: f64::from(k) * 0.5,
                end_s: f64::from(k + 1) * 0.5,
                ..sample(false, 10.0, if k == 2 { 4.0 } else { 0.0 })
            })
            .collect();
        let rows = |step: f64, n: u32| -> Vec<IntervalStats> {
            (0..n)
                .map(|k| IntervalStats {
                    start_s: f64::from(k) * step,
                    end_s: f64::from(k + 1) * step,
                    ..row(100.0, 100, 0, 10.0, 0)
                })
                .collect()
        };
        let mut scenarios = [
            ScenarioResult {
                warmup_s: 1.0,
                intervals: rows(0.5, 4),
                ..scenario()
            },
            ScenarioResult {
                warmup_s: 1.5,
                intervals: rows(1.0, 2),
                ..scenario()
            },
        ];
        // As `assess` does: the samples count from the first scenario's warmup end.
        for s in &mut scenarios {
            assess_scenario(s, &samples, 1.0, &[], false);
        }
        let flags = |j: usize| -> Vec<Vec<String>> {
            scenarios[j]
                .intervals
                .iter()
                .map(|r| r.flags.clone())
                .collect()
        };
        let none = Vec::<String>::new;
        assert_eq!(flags(0), [none(), none(), vec![HOST_STEAL.into()], none()]);
        // [0, 1) of the second is [0.5, 1.5) of the samples' time: 2% steal over it.
        assert_eq!(flags(1), [vec![HOST_STEAL.to_string()], none()]);
        assert_eq!(scenarios[1].suspect_intervals, 1);
    }

    #[test]
    fn a_host_unfit_for_the_run_flags_every_interval_and_says_what_to_change() {
        let mut s = ScenarioResult {
            intervals: vec![row(100.0, 100, 0, 10.0, 0); 3],
            ..scenario()
        };
        assess_scenario(&mut s, &[], 0.0, &[], true);
        assert_eq!(s.suspect_intervals, 3);
        assert_eq!(s.suspect_reasons.get(HOST_UNFIT), Some(&3));
        let note = suspect_note(&s);
        assert!(note.contains("openpace host"), "{note}");
        assess_scenario(&mut s, &[], 0.0, &[], false);
        assert_eq!(s.suspect_intervals, 0);
    }

    #[test]
    fn counts_never_exceed_the_intervals() {
        let mut rows = vec![row(100.0, 100, 0, 0.0, 0); 3];
        rows[0].flags = vec![STALLED.into(), RATE_SHORT.into()];
        rows[2].flags = vec![STALLED.into()];
        let (flagged, reasons) = count_flags(&rows);
        assert_eq!(flagged, 2);
        assert_eq!(reasons[STALLED], 2);
        assert_eq!(reasons[RATE_SHORT], 1);
    }

    /// Issue 29 point 1: the suspect note says which intervals (as spans of seconds), how
    /// much of the run they hold, what each reason saw in them and what to change.
    #[test]
    fn the_suspect_note_says_where_what_how_much_and_what_to_change() {
        let mut s = scenario();
        s.intervals = (0..10)
            .map(|i| IntervalStats {
                start_s: f64::from(i),
                end_s: f64::from(i + 1),
                ..row(100.0, 100, 0, 10.0, 0)
            })
            .collect();
        for i in [2, 3] {
            s.intervals[i].flags = vec![TIMER_BEHIND.into()];
            s.intervals[i].late = 30;
        }
        s.intervals[7].flags = vec![HOST_STEAL.into(), WORKER_SATURATED.into()];
        s.intervals[7].worker_busy_pct = 97.0;
        (s.suspect_intervals, s.suspect_reasons) = count_flags(&s.intervals);
        conclude(&mut s);
        let note = &s.verdict.notes[0];
        assert!(
            note.starts_with("FIGURES SUSPECT: 3 of 10 intervals (at 2-4s, 7-8s; 30% of"),
            "{note}"
        );
        for part in [
            "timing loop fell behind in 2 (60 requests reached a worker 1 ms or more late;",
            "--timer-core",
            "host steal time in 1 (",
            "--repeat",
            "workers saturated in 1 (workers busy up to 97% of the interval; more workers",
        ] {
            assert!(note.contains(part), "{part}: {note}");
        }
        assert!(s.verdict.suspect);
    }

    fn scenario() -> ScenarioResult {
        let mut s = ScenarioResult::default();
        s.requests.completed = 1000;
        s
    }

    /// Issue 14: correlated samples make the intervals too narrow, which is said, but only a
    /// drift (or a wrong arrival process) makes the run suspect.
    #[test]
    fn narrow_intervals_are_said_and_only_a_drift_makes_the_run_suspect() {
        use crate::metrics::validity::{Independence, LagCorrelation, Stationarity, Validity};
        let mut s = scenario();
        s.validity = Some(Validity {
            independence: Some(Independence {
                lags: vec![LagCorrelation {
                    lag: 100,
                    pairs: 1000,
                    rho: 0.4,
                }],
                independent_from: None,
                passed: false,
                narrow_by: 9.0,
            }),
            ..Validity::default()
        });
        conclude(&mut s);
        assert!(!s.verdict.suspect, "{:?}", s.verdict.notes);
        assert!(s.verdict.notes[0].starts_with("INTERVALS TOO NARROW"));
        assert!(s.verdict.notes[0].contains("about 9x too narrow"));
        s.validity.as_mut().unwrap().stationarity = Some(Stationarity {
            groups: 100,
            p_value: 1e-9,
            drift_pct: 40.0,
            passed: false,
        });
        conclude(&mut s);
        assert!(s.verdict.suspect);
        assert!(
            s.verdict
                .notes
                .iter()
                .any(|n| n.starts_with("NOT VALID: latency drifts"))
        );
    }

    #[test]
    fn queueing_and_overhead_are_said_in_words() {
        let mut s = scenario();
        assert!(queueing_note(&s).is_none());
        s.requests.queued = 370;
        s.requests.queued_ns = 370 * 2_700_000_000;
        *s.response_time_ms.percentiles.at_mut(0.5) = 2_700.0;
        s.network.connections_limit = 1;
        let note = queueing_note(&s).unwrap();
        assert!(
            note.starts_with("CLIENT-SIDE QUEUEING: 37.0% of requests waited"),
            "{note}"
        );
        assert!(note.contains("mean wait 2.70 s") && note.contains("raise --connections"));

        assert!(overhead_note(&s).is_none());
        s.overhead_pct = 20.0;
        s.overhead.per_request_us = 20.0;
        s.workers = 8;
        s.worker_cores = vec![1];
        let note = overhead_note(&s).unwrap();
        assert!(note.contains("8 workers take turns on 1 core(s)"), "{note}");
        // A no-op's overhead is all of its response time, and says nothing.
        s.overhead.per_request_us = 0.3;
        assert!(overhead_note(&s).is_none());

        // Network workers that slept past their instants: the wake-ups are named.
        s.overhead.per_request_us = 20.0;
        s.workers = 1;
        s.dispatch_delay_us.avg = 20.0;
        s.dispatch_delay_us.max = 1_500.0;
        let mut late = LatencySummary {
            max: 1_480.0,
            ..LatencySummary::default()
        };
        *late.percentiles.at_mut(0.99) = 104.0;
        s.wait = Some(WaitFigures {
            handoff_lead_us: 5_000.0,
            spin_window_us: Some([20.0, 118.0]),
            wake_ups: 400,
            wake_lateness_us: late,
            histogram: String::new(),
        });
        let note = overhead_note(&s).unwrap();
        assert!(
            note.contains("woke sleeping workers 104 µs late at p99 and 1.5 ms at most")
                && note.contains("spin window (118 µs")
                && note.contains("--wait spin"),
            "{note}"
        );
        // Wake-ups the window covered, and a p99 past the budget, leave the usual words.
        s.wait.as_mut().unwrap().wake_lateness_us.max = 100.0;
        s.overhead.response_us = 118.0;
        *s.dispatch_delay_us.percentiles.at_mut(0.99) = 15.0;
        assert!(
            overhead_note(&s)
                .unwrap()
                .contains("hand-off to the workers")
        );

        // A tail of milliseconds behind a p99 within budget: the host held the threads.
        s.overhead.response_us = 50.0;
        *s.dispatch_delay_us.percentiles.at_mut(0.99) = 1.5;
        s.dispatch_delay_us.max = 10_084.0;
        let note = overhead_note(&s).unwrap();
        assert!(
            note.contains("99% of requests started within 1.5 µs")
                && note.contains("waited up to 10.1 ms")
                && note.contains("--repeat"),
            "{note}"
        );
    }
}
