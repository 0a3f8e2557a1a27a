//! The collector thread's part of a run: collect intervals, decide when the run is over, and
//! assemble the [`RunResult`]. It runs on the timing loop's core, so that its brief work once
//! per interval delays a hand-off (absorbed by the hand-off lead) rather than a call.
//!
//! While requests are being sent it sleeps until the next interval boundary or the end of
//! sending. Afterwards it waits for calls still running, checking every few milliseconds: the
//! run is over when every worker has ended, or, once the last deadline has passed (the end of
//! the schedule plus the request timeout: every request is done or expired by then), when
//! every worker still running is inside a call the target has not returned from. A worker
//! that is neither gets [`LATE_LEAVE`] more, then is abandoned. A stop request (at any moment,
//! the drain included) gives calls in flight [`STOP_GRACE`] and then abandons the rest; a
//! second one or an abort abandons at once. Whatever was still running or queued then is
//! counted as timed out (abandoned); nothing measured before is lost, because the recorders
//! are read, not handed over.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::precise::PreciseRun;
use super::seconds_to_ns;
use super::stop::{RunStop, STOP_GRACE};
use super::timer::TimerOutcome;
use super::watch::{Outlets, Watch};
use crate::base::clock::{RunClock, thread_cpu_ns};
use crate::base::{Model, WaitMode};
use crate::config::{DEFAULTS_SAID, LoadTestConfig};
use crate::metrics::collector::{RunFacts, ScenarioCollector};
use crate::metrics::result::{
    Alert, CLOSED_LOOP_LABEL, CORRECTED_LABEL, FrameworkCpu, HostInfo, NamedResult, NetworkIo,
    Resources, RunResult, SCHEMA_VERSION, ScenarioResult, Stall, WaitFigures,
};
use crate::metrics::stats::{TimerStats, WorkerStats};
use crate::metrics::validity::{self, Validity};
use crate::metrics::verdict;
use crate::monitor::ProcessUsage;

/// How often the end of a run is checked once sending has ended.
const DRAIN_POLL: Duration = Duration::from_millis(5);
/// After abandoning, how long workers get to notice and leave before the result is read.
const LEAVE_WAIT: Duration = Duration::from_millis(200);
/// After the last deadline, how long a worker that is not inside a call may take to leave.
const LATE_LEAVE: Duration = Duration::from_secs(1);
/// How long after an interval ends its recorder set is read: a value is recorded a few
/// hundred nanoseconds after its timestamp, so this leaves ample time for stragglers.
const GRACE_NS: u64 = 2_000_000;

/// One scenario as the collector sees it.
pub(crate) struct ScenarioRun {
    pub config: LoadTestConfig,
    pub target_name: String,
    pub seed: u64,
    pub warmup_ns: u64,
    pub end_ns: u64,
    pub workers: Vec<Arc<WorkerStats>>,
    pub worker_cores: Vec<usize>,
    pub timer_stats: Arc<TimerStats>,
    /// The share of the schedule this run sends: 1/N for a shard of N, else 1.
    pub share: f64,
    /// Its precision targets, when it runs until precise (`end_ns` is then that of
    /// `max_duration`, and the schedule may end sooner).
    pub precise: Option<PreciseRun>,
    /// The workers keep one block of the schedule in every `sample_every` in send order.
    pub sample_every: u64,
    /// For network workers that sleep between instants (open model, `hybrid` or `sleep`):
    /// the hand-off lead their lane gave them.
    pub net_lead_ns: Option<u64>,
}

impl ScenarioRun {
    fn interval_ns(&self) -> u64 {
        seconds_to_ns(self.config.metrics_collection_interval)
    }

    /// By when every request of the scenario is done or past its deadline: the end of the
    /// schedule plus the request timeout.
    fn last_deadline_ns(&self) -> u64 {
        self.scheduled_end_ns()
            .saturating_add(seconds_to_ns(self.config.request_timeout_seconds))
    }

    /// Where the schedule ends: `end_ns`, or sooner once a run until precise was.
    fn scheduled_end_ns(&self) -> u64 {
        let limit = self
            .precise
            .as_ref()
            .map_or(u64::MAX, |p| p.end_limit.load(Ordering::Relaxed));
        self.end_ns.min(limit)
    }
}

/// Run-wide facts the collector needs.
pub(crate) struct Supervisor {
    pub clock: RunClock,
    pub stop: Arc<RunStop>,
    pub wait: WaitMode,
    pub timer_core: Option<usize>,
    pub allowed_cores: usize,
    pub warnings: Arc<Mutex<Vec<String>>>,
}

/// Interval bookkeeping of one scenario.
struct Series {
    index: usize,
    collector: ScenarioCollector,
    last_ns: u64,
    next_ns: u64,
    interval_ns: u64,
    /// A run until precise: its targets, checked as each interval closes.
    precise: Option<PreciseRun>,
}

impl Series {
    /// When the next interval may be closed.
    fn due_ns(&self) -> u64 {
        self.next_ns + GRACE_NS
    }

    /// Closes every interval that ended (with its grace) by `now`.
    fn catch_up(&mut self, now: u64, watch: &mut Watch) {
        self.close_through(now.saturating_sub(GRACE_NS), watch);
    }

    /// Closes every interval that ended by `until_ns`, showing each to the watch.
    fn close_through(&mut self, until_ns: u64, watch: &mut Watch) {
        while self.next_ns <= until_ns {
            self.collector.close_interval(self.last_ns, self.next_ns);
            if let Some(row) = self.collector.last_interval() {
                watch.after_interval(self.index, row, self.collector.progress(0));
                watch.export(self.index, row, &self.collector);
            }
            self.last_ns = self.next_ns;
            self.next_ns += self.interval_ns;
            if let Some(p) = &mut self.precise {
                let closed = self.collector.last_histograms();
                p.after_interval(
                    (self.last_ns, self.next_ns),
                    &self.collector.progress(0),
                    closed,
                );
            }
        }
    }

    /// At the end of the run: closes the whole intervals, then the partial last one.
    fn finish(&mut self, now: u64, watch: &mut Watch) {
        self.close_through(now, watch);
        if self.collector.close_last(self.last_ns, now) {
            if let Some(row) = self.collector.last_interval() {
                watch.after_interval(self.index, row, self.collector.progress(0));
                watch.export(self.index, row, &self.collector);
            }
        }
    }
}

impl Resources {
    /// Only the figures `config` asked for (`monitor_cpu`, `monitor_memory`).
    fn only_asked(self, config: &LoadTestConfig) -> Resources {
        let keep = |asked: bool, v: Option<f64>| v.filter(|_| asked);
        Resources {
            cpu_user_s: keep(config.monitor_cpu, self.cpu_user_s),
            cpu_system_s: keep(config.monitor_cpu, self.cpu_system_s),
            cpu_pct: keep(config.monitor_cpu, self.cpu_pct),
            max_rss_mb: keep(config.monitor_memory, self.max_rss_mb),
            ..self
        }
    }
}

impl FrameworkCpu {
    /// The timing thread's and the collector's CPU over `wall_ns`, and how the timing thread
    /// was scheduled.
    fn of(timer: &TimerOutcome, collector_ns: u64, wall_ns: u64) -> FrameworkCpu {
        let timer_ns = timer.cpu_ns;
        FrameworkCpu {
            timer_realtime: timer.realtime,
            timer_cpu_s: timer_ns as f64 / 1e9,
            timer_cpu_pct: 100.0 * timer_ns as f64 / wall_ns as f64,
            collector_cpu_s: collector_ns as f64 / 1e9,
            collector_cpu_pct: 100.0 * collector_ns as f64 / wall_ns as f64,
            ..FrameworkCpu::default()
        }
    }
}

/// A collector and its interval bookkeeping for each scenario.
fn start_series(scenarios: &[ScenarioRun]) -> Vec<Series> {
    scenarios
        .iter()
        .enumerate()
        .map(|(index, s)| Series {
            index,
            collector: ScenarioCollector::new(
                s.workers.clone(),
                s.timer_stats.clone(),
                s.warmup_ns,
                (s.config.model == Model::Open)
                    .then(|| s.config.rate_profile().with_warmup(s.config.warmup_seconds)),
            )
            .with_share(s.share),
            last_ns: s.warmup_ns,
            next_ns: s.warmup_ns + s.interval_ns(),
            interval_ns: s.interval_ns(),
            precise: s.precise.clone().map(|p| PreciseRun {
                workers: s.workers.clone(),
                ..p
            }),
        })
        .collect()
}

/// Each scenario's result, from its collector: its send window (to the end of the schedule,
/// or the stop), alerts and verdict; also what went wrong reading interval histograms back.
/// Sets `interrupted` when a scenario stopped before its schedule's end.
fn scenario_results(
    scenarios: &[ScenarioRun],
    series: Vec<Series>,
    timer: &TimerOutcome,
    stop_seen_ns: Option<u64>,
    alerts: &[Vec<Alert>],
    interrupted: &mut bool,
) -> (Vec<ScenarioResult>, Vec<String>) {
    let mut results = Vec::new();
    let mut spill_problems = Vec::new();
    for (run, s) in scenarios.iter().zip(series) {
        // Sending ended at the schedule's end, or earlier at a stop.
        let end_ns = run.scheduled_end_ns();
        let stopped = match run.config.model {
            Model::Open if timer.interrupted => timer.stopped_at_ns,
            Model::Closed => stop_seen_ns.unwrap_or(end_ns),
            Model::Open => end_ns,
        }
        .min(end_ns);
        *interrupted |= stopped < end_ns;
        let facts = RunFacts {
            send_window_s: stopped.saturating_sub(run.warmup_ns) as f64 / 1e9,
            window_end_ns: stopped,
        };
        let precision = s.precise.as_ref().map(|p| {
            p.outcome(
                run.warmup_ns,
                run.config.duration_seconds,
                &s.collector.progress(0),
            )
        });
        let (mut result, problems) = s.collector.finish(&facts, describe(run));
        if let Some(outcome) = precision {
            // The window it ran, not the longest it could have.
            result.duration_s = result.send_window_s;
            result.precision = Some(outcome);
        }
        spill_problems.extend(problems);
        result.validity = Some(validity(run));
        // The intervals a rerun respects need the lag correlations the check just measured.
        crate::metrics::honest::apply_scenario(&mut result);
        result.alerts = alerts.get(results.len()).cloned().unwrap_or_default();
        result.verdict = verdict::evaluate(&run.config.thresholds(), &result);
        mark_defaults(&mut result, &run.config);
        results.push(result);
    }
    (results, spill_problems)
}

impl Supervisor {
    /// Collects until the run is over and returns its result.
    pub fn collect(
        self,
        scenarios: Vec<ScenarioRun>,
        timer_done: Receiver<TimerOutcome>,
        mut watch: Watch,
    ) -> (RunResult, Outlets) {
        let usage_start = ProcessUsage::now();
        let cpu_start = thread_cpu_ns();
        let started_at_unix_s = crate::base::clock::unix_now();
        let mut series = start_series(&scenarios);

        // While sending: wake at each interval boundary or when the timing loop ends.
        let timer = loop {
            let now = self.clock.now_ns();
            series.iter_mut().for_each(|s| s.catch_up(now, &mut watch));
            watch.tick(now);
            let next = series.iter().map(|s| s.due_ns()).min().unwrap_or(now);
            let wait = Duration::from_nanos(next.saturating_sub(now))
                .min(watch.tick_every())
                .max(Duration::from_millis(1));
            match timer_done.recv_timeout(wait) {
                Ok(outcome) => break Some(outcome),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break None,
            }
        };
        let stop_seen_ns = self.wait_for_workers(&scenarios, &mut series, &mut watch);
        let now = self.clock.now_ns();
        series.iter_mut().for_each(|s| s.finish(now, &mut watch));
        let (alerts, aborted, outlets) = watch.finish();
        let timer = timer.unwrap_or(TimerOutcome {
            interrupted: true,
            stopped_at_ns: now,
            ..TimerOutcome::default()
        });
        let wall_ns = now.max(1);
        let usage = ProcessUsage::now().since(&usage_start, wall_ns);
        let collector_cpu_ns = thread_cpu_ns() - cpu_start;

        // A stop that came after sending ended (during the drain) interrupts the run too.
        let mut interrupted = timer.interrupted || self.stop.stopping();
        let (results, spill_problems) = scenario_results(
            &scenarios,
            series,
            &timer,
            stop_seen_ns,
            &alerts,
            &mut interrupted,
        );
        let resources = usage.only_asked(&scenarios[0].config);
        let mut warnings = self.warnings.lock().map(|w| w.clone()).unwrap_or_default();
        warnings.extend(spill_problems);
        warnings.extend(faults(&scenarios));
        let result = RunResult {
            schema_version: SCHEMA_VERSION,
            tool: format!("openpace {}", env!("CARGO_PKG_VERSION")),
            interrupted,
            aborted,
            passed: results.iter().all(|r| r.verdict.passed),
            started_at_unix_s,
            wall_seconds: wall_ns as f64 / 1e9,
            wait_mode: self.wait,
            timer_core: self.timer_core,
            host: HostInfo::local(self.allowed_cores),
            framework_cpu: FrameworkCpu::of(&timer, collector_cpu_ns, wall_ns),
            resources,
            warnings,
            scenarios: results,
            origin_unix_s: 0.0,
            clock: Default::default(),
            shard: None,
            merged: None,
            request_log: None,
            stalls: timer
                .stalls
                .iter()
                .map(|&(from, to)| Stall::between(from, to))
                .collect(),
        };
        (result, outlets)
    }

    /// Waits, after sending has ended, until no call worth waiting for is left. Returns when
    /// a stop request was first seen, if one was.
    fn wait_for_workers(
        &self,
        scenarios: &[ScenarioRun],
        series: &mut [Series],
        watch: &mut Watch,
    ) -> Option<u64> {
        let grace_ns = STOP_GRACE.as_nanos() as u64;
        let last_deadline = scenarios
            .iter()
            .map(ScenarioRun::last_deadline_ns)
            .max()
            .unwrap_or(0);
        let give_up = last_deadline.saturating_add(LATE_LEAVE.as_nanos() as u64);
        let mut stop_seen = None;
        loop {
            let now = self.clock.now_ns();
            if stop_seen.is_none() && self.stop.stopping() {
                stop_seen = Some(now);
            }
            series.iter_mut().for_each(|s| s.catch_up(now, watch));
            watch.tick(now);
            let (live, stuck) = live_and_stuck(scenarios, now);
            if live == 0 || live == stuck {
                return stop_seen;
            }
            let grace_over = stop_seen.is_some_and(|at| now.saturating_sub(at) >= grace_ns);
            let at_once = self.stop.abandoning() || self.stop.second_request();
            if grace_over || at_once || now >= give_up {
                self.stop.abandon();
                break;
            }
            std::thread::sleep(DRAIN_POLL);
        }
        // Workers see the abandon at their next request or poll and leave; those inside a
        // call stay until it returns, and what they record then is not part of the result.
        let until = self.clock.now_ns() + LEAVE_WAIT.as_nanos() as u64;
        while self.clock.now_ns() < until {
            let leaving = scenarios
                .iter()
                .flat_map(|run| &run.workers)
                .filter(|w| !w.has_exited() && w.busy_until().is_none())
                .count();
            if leaving == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        stop_seen
    }
}

/// Each panic of openpace's own code a worker caught, in words, naming the worker.
fn faults(scenarios: &[ScenarioRun]) -> Vec<String> {
    let mut out = Vec::new();
    for (index, run) in scenarios.iter().enumerate() {
        for (i, worker) in run.workers.iter().enumerate() {
            for fault in worker.faults() {
                out.push(format!(
                    "openpace fault in worker openpace-w{index}.{i} of \"{}\": {fault}; the \
                     request counts as an error of kind `internal`, the worker lived on, and \
                     the run exits 3. This is a bug in openpace: please report it with the \
                     target's reply",
                    run.config.name
                ));
            }
        }
    }
    out
}

/// Workers still running, and how many of them are stuck: inside a call after the last
/// deadline of their scenario, when nothing they could still record belongs to the run.
fn live_and_stuck(scenarios: &[ScenarioRun], now: u64) -> (usize, usize) {
    let mut live = 0;
    let mut stuck = 0;
    for run in scenarios {
        let over = now > run.last_deadline_ns();
        for w in run.workers.iter().filter(|w| !w.has_exited()) {
            live += 1;
            if over && w.busy_until().is_some() {
                stuck += 1;
            }
        }
    }
    (live, stuck)
}

/// A result with the scenario's descriptive fields filled in and the measurements empty.
/// The validity checks on what the scenario's workers sampled in send order.
fn validity(run: &ScenarioRun) -> Validity {
    let (mut entries, mut overflow) = (Vec::new(), 0);
    for w in &run.workers {
        let (mine, lost) = w.sampled();
        entries.extend(mine);
        overflow += lost;
    }
    let c = &run.config;
    let profile = c.rate_profile().with_warmup(c.warmup_seconds);
    let context = validity::Context {
        profile: (c.model == Model::Open).then_some(&profile),
        arrival: c.arrival,
        stride: (1.0 / run.share).round().max(1.0) as u64,
        every: run.sample_every,
    };
    validity::check(entries, overflow, &context)
}

/// Notes which of the scenario's rate and design limits are defaults no file or flag set
/// (the design's limits are the first thresholds, in [`DEFAULTS_SAID`]'s order after the
/// rate).
fn mark_defaults(result: &mut ScenarioResult, config: &LoadTestConfig) {
    let defaulted = |field: &str| config.defaulted.iter().any(|d| d == field);
    result.target_rps_default = defaulted(DEFAULTS_SAID[0]);
    for (t, field) in result
        .verdict
        .thresholds
        .iter_mut()
        .zip(&DEFAULTS_SAID[1..])
    {
        t.default = defaulted(field);
    }
}

fn describe(run: &ScenarioRun) -> ScenarioResult {
    let c = &run.config;
    ScenarioResult {
        name: c.name.clone(),
        description: c.description.clone(),
        pattern: c.load_pattern,
        schedule: c.schedule_fingerprint(),
        rates: c.rates_text(),
        arrival: c.arrival,
        model: c.model,
        corrected: c.model == Model::Open,
        measurement: match c.model {
            Model::Open => CORRECTED_LABEL,
            Model::Closed => CLOSED_LOOP_LABEL,
        }
        .to_string(),
        target: run.target_name.clone(),
        seed: run.seed,
        duration_s: c.duration_seconds,
        warmup_s: c.warmup_seconds,
        send_window_s: 0.0,
        workers: run.workers.len(),
        worker_cores: run.worker_cores.clone(),
        target_rps: c.target_rps,
        target_rps_default: false,
        scheduled_rps: 0.0,
        achieved_rps: 0.0,
        sustained_rps: 0.0,
        drain_s: 0.0,
        requests: Default::default(),
        errors_by_kind: Default::default(),
        network: NetworkIo {
            connections_limit: c.connections().unwrap_or(0) as u64,
            connections_auto: c.connections_auto(),
            busy_poll_us: u64::from(c.busy_poll_us),
            ..NetworkIo::default()
        },
        success_rate: 0.0,
        error_rate: 0.0,
        cache_hit_rate: 0.0,
        fallback_rate: 0.0,
        response_time_ms: Default::default(),
        service_time_ms: Default::default(),
        dispatch_delay_us: Default::default(),
        timer_lateness_us: Default::default(),
        overhead_pct: 0.0,
        overhead: Default::default(),
        worker_cpu_s: 0.0,
        intervals: Vec::new(),
        alerts: Vec::new(),
        suspect_intervals: 0,
        suspect_reasons: Default::default(),
        rate_shortfall_pct: 0.0,
        histograms: Default::default(),
        validity: None,
        by_name: c
            .target
            .request_names()
            .iter()
            .map(|name| NamedResult {
                name: name.clone(),
                ..NamedResult::default()
            })
            .collect(),
        tls: None,
        kernel_timestamps: None,
        wait: run.net_lead_ns.map(|lead| WaitFigures {
            handoff_lead_us: lead as f64 / 1e3,
            ..WaitFigures::default()
        }),
        precision: None,
        repeated: None,
        verdict: Default::default(),
    }
}
