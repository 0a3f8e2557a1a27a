//! The collector: turns what workers and the timing loop recorded into intervals and totals.
//!
//! Runs on the calling thread, never on the timing core or a worker. Once per
//! metrics_collection_interval it reads every recorder of a scenario, takes the difference
//! from the last reading as the interval, merges it into the run totals and appends a row to
//! the time series. Histograms are merged exactly (HdrHistogram addition); percentiles are
//! computed from the merged counts and never averaged.

use std::collections::BTreeMap;
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::atomic_hist::{DeltaReader, new_histogram};
use super::result::{IntervalStats, LatencySummary, Overhead, RequestCounts, ScenarioResult};
use super::stats::{TIMER_COUNTS, TimerCount, TimerStats, WORKER_COUNTS, WorkerCount, WorkerStats};

const NS_PER_MS: f64 = 1e6;
const NS_PER_US: f64 = 1e3;

/// The metrics kept as histograms, indexing [`ScenarioCollector::totals`].
#[derive(Clone, Copy)]
enum Metric {
    Response,
    Service,
    Dispatch,
    Lateness,
}

/// Collects one scenario's recorders.
pub(crate) struct ScenarioCollector {
    workers: Vec<Arc<WorkerStats>>,
    timer: Arc<TimerStats>,
    readers: [DeltaReader; 4],
    totals: [Histogram<u64>; 4],
    last_worker: [u64; WORKER_COUNTS],
    last_timer: [u64; TIMER_COUNTS],
    intervals: Vec<IntervalStats>,
    measure_start_ns: u64,
    /// In the closed model the workers, not the timing loop, create requests.
    closed: bool,
}

/// Facts about a scenario's run that the recorders do not hold.
pub(crate) struct RunFacts {
    /// Seconds of the measured window actually run.
    pub send_window_s: f64,
}

impl ScenarioCollector {
    pub fn new(
        workers: Vec<Arc<WorkerStats>>,
        timer: Arc<TimerStats>,
        measure_start_ns: u64,
        closed: bool,
    ) -> ScenarioCollector {
        ScenarioCollector {
            workers,
            timer,
            readers: std::array::from_fn(|_| DeltaReader::new()),
            totals: std::array::from_fn(|_| new_histogram()),
            last_worker: [0; WORKER_COUNTS],
            last_timer: [0; TIMER_COUNTS],
            intervals: Vec::new(),
            measure_start_ns,
            closed,
        }
    }

    /// Requests handed to workers so far (made by the workers themselves when closed).
    fn sent(&self, workers: &[u64; WORKER_COUNTS], timer: &[u64; TIMER_COUNTS]) -> u64 {
        if self.closed {
            workers[WorkerCount::Taken as usize]
        } else {
            timer[TimerCount::Sent as usize]
        }
    }

    fn read_metric(&mut self, metric: Metric, into: &mut Histogram<u64>) {
        let reader = &mut self.readers[metric as usize];
        match metric {
            Metric::Response => reader.read(self.workers.iter().map(|w| &w.response), into),
            Metric::Service => reader.read(self.workers.iter().map(|w| &w.service), into),
            Metric::Dispatch => reader.read(self.workers.iter().map(|w| &w.dispatch), into),
            Metric::Lateness => reader.read([&self.timer.lateness], into),
        };
        self.totals[metric as usize]
            .add(&*into)
            .expect("histograms share one layout");
    }

    fn worker_counts(&self) -> [u64; WORKER_COUNTS] {
        let mut sum = [0; WORKER_COUNTS];
        for w in &self.workers {
            for (total, count) in sum.iter_mut().zip(w.counts.read()) {
                *total += count;
            }
        }
        sum
    }

    /// Closes the interval `[start_ns, end_ns)` (run clock) and appends it to the series.
    pub fn snapshot(&mut self, start_ns: u64, end_ns: u64) {
        let mut views: [Histogram<u64>; 4] = std::array::from_fn(|_| new_histogram());
        for (metric, view) in [
            Metric::Response,
            Metric::Service,
            Metric::Dispatch,
            Metric::Lateness,
        ]
        .into_iter()
        .zip(views.iter_mut())
        {
            self.read_metric(metric, view);
        }
        let workers = self.worker_counts();
        let timer = self.timer.counts.read();
        let w = |c: WorkerCount| workers[c as usize] - self.last_worker[c as usize];
        let t = |c: TimerCount| timer[c as usize] - self.last_timer[c as usize];
        let sent = self.sent(&workers, &timer) - self.sent(&self.last_worker, &self.last_timer);
        let seconds = end_ns.saturating_sub(start_ns) as f64 / 1e9;
        let at = |ns: u64| ns.saturating_sub(self.measure_start_ns) as f64 / 1e9;
        let row = IntervalStats {
            start_s: at(start_ns),
            end_s: at(end_ns),
            sent,
            completed: w(WorkerCount::Completed),
            ok: w(WorkerCount::Ok),
            errors: w(WorkerCount::Errors),
            timeouts: w(WorkerCount::Timeouts),
            dropped: t(TimerCount::Dropped),
            achieved_rps: rate(w(WorkerCount::Completed) as f64, seconds),
            response_time_ms: LatencySummary::from_histogram(&views[0], NS_PER_MS),
            service_time_ms: LatencySummary::from_histogram(&views[1], NS_PER_MS),
            dispatch_delay_us: LatencySummary::from_histogram(&views[2], NS_PER_US),
        };
        self.intervals.push(row);
        self.last_worker = workers;
        self.last_timer = timer;
    }

    /// Builds the scenario's result from everything collected. `result` arrives with its
    /// descriptive fields filled in; this fills in the measurements.
    pub fn finish(self, facts: &RunFacts, mut result: ScenarioResult) -> ScenarioResult {
        let workers = self.worker_counts();
        let timer = self.timer.counts.read();
        let w = |c: WorkerCount| workers[c as usize];
        let t = |c: TimerCount| timer[c as usize];
        // Requests handed over but never finished were abandoned when the run gave up on
        // them: still running past their timeout, or queued behind such calls.
        let sent = self.sent(&workers, &timer);
        let completed = w(WorkerCount::Completed);
        let abandoned = sent.saturating_sub(completed);
        let dropped = t(TimerCount::Dropped);
        let requests = RequestCounts {
            intended: sent + dropped,
            sent,
            completed,
            ok: w(WorkerCount::Ok),
            errors: w(WorkerCount::Errors),
            timeouts: w(WorkerCount::Timeouts) + abandoned,
            retries: w(WorkerCount::Retries),
            dropped,
            backlogged: t(TimerCount::Backlogged),
            late: t(TimerCount::Late),
            abandoned,
            warmup: if self.closed {
                w(WorkerCount::Warmup)
            } else {
                t(TimerCount::Warmup)
            },
        };
        let mut errors_by_kind = BTreeMap::new();
        for stats in &self.workers {
            for (kind, count) in stats.error_kinds() {
                *errors_by_kind.entry(kind.to_string()).or_insert(0) += count;
            }
        }
        let intended = requests.intended as f64;
        let framework_ns = w(WorkerCount::FrameworkNs) as f64;
        let response_ns = w(WorkerCount::ResponseNs) as f64;
        result.send_window_s = facts.send_window_s;
        result.scheduled_rps = rate(intended, facts.send_window_s);
        result.achieved_rps = rate(completed as f64, facts.send_window_s);
        result.success_rate = ratio(requests.ok as f64, intended);
        result.error_rate = ratio(
            (requests.errors + requests.timeouts + requests.dropped) as f64,
            intended,
        );
        result.cache_hit_rate = ratio(w(WorkerCount::CacheHits) as f64, completed as f64);
        result.fallback_rate = ratio(w(WorkerCount::Fallbacks) as f64, completed as f64);
        result.requests = requests;
        result.errors_by_kind = errors_by_kind;
        let [response, service, dispatch, lateness] = &self.totals;
        result.response_time_ms = LatencySummary::from_histogram(response, NS_PER_MS);
        result.service_time_ms = LatencySummary::from_histogram(service, NS_PER_MS);
        result.dispatch_delay_us = LatencySummary::from_histogram(dispatch, NS_PER_US);
        result.timer_lateness_us = LatencySummary::from_histogram(lateness, NS_PER_US);
        result.overhead_pct = 100.0 * ratio(framework_ns, response_ns);
        result.overhead = Overhead {
            per_request_us: ratio(framework_ns, completed as f64) / NS_PER_US,
            response_us: ratio(response_ns, completed as f64) / NS_PER_US,
        };
        result.intervals = self.intervals;
        result
    }
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

fn rate(count: f64, seconds: f64) -> f64 {
    ratio(count, seconds)
}
