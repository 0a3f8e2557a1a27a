//! The collector: turns what workers and the timing loop recorded into intervals and totals.
//!
//! Runs on the collector thread (on the timing loop's core), never on a worker. After each interval of
//! metrics_collection_interval ends, it reads the recorder set of that interval from every
//! worker and the timing loop, takes the difference from its last reading of that set, merges
//! it into the run totals and appends a row to the time series. Histograms are merged exactly
//! (HdrHistogram addition); percentiles come from the merged counts and are never averaged.

use std::collections::BTreeMap;
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::atomic_hist::{AtomicHistogram, DeltaReader, new_histogram};
use super::encoding::encode;
use super::figures::{NS_PER_US, derive_figures, derive_row, kernel_figures, ratio};
use super::result::{
    EncodedHistograms, IntervalStats, KernelHistograms, KernelSplit, LatencySummary, NamedResult,
    NetworkIo, Overhead, RequestCounts, ScenarioResult, TlsFigures,
};
use super::spill::{Spill, Stored};
use super::stats::{
    KERNEL_COUNTS, KernelCount, KernelRecorders, NAMED_COUNTS, NamedCount, NamedRecorders, SLOTS,
    TIMER_COUNTS, TimerCount, TimerStats, WORKER_COUNTS, WorkerCount, WorkerStats,
};
use super::threshold::Progress;
use crate::schedule::RateProfile;

/// The metrics kept as histograms.
#[derive(Clone, Copy)]
enum Metric {
    Response,
    Service,
    Dispatch,
    Lateness,
}

const METRICS: [Metric; 4] = [
    Metric::Response,
    Metric::Service,
    Metric::Dispatch,
    Metric::Lateness,
];

/// What one read of one or more recorder sets gained.
struct Gain {
    views: [Histogram<u64>; 4],
    worker: [u64; WORKER_COUNTS],
    timer: [u64; TIMER_COUNTS],
    /// The kernel split's share, with `timestamps: kernel`.
    kernel: Option<KernelGain>,
}

/// What one read of the workers' kernel-timestamp recorders gained: `client_send`,
/// `wire_and_server` and `client_receive` (ns), and the split's counts.
struct KernelGain {
    views: [Histogram<u64>; 3],
    counts: [u64; KERNEL_COUNTS],
}

/// The three kernel-timestamp recorders of a worker, in [`KernelGain::views`]' order.
const KERNEL_PARTS: [fn(&KernelRecorders) -> &AtomicHistogram; 3] = [
    |k| &k.client_send,
    |k| &k.wire_and_server,
    |k| &k.client_receive,
];

/// The collector's readings of the kernel-timestamp recorders, and their totals.
struct KernelReadings {
    readers: [DeltaReader; 3],
    last_counts: [u64; KERNEL_COUNTS],
    totals: [Histogram<u64>; 3],
}

impl Gain {
    fn new(kernel: bool) -> Gain {
        Gain {
            views: std::array::from_fn(|_| new_histogram()),
            worker: [0; WORKER_COUNTS],
            timer: [0; TIMER_COUNTS],
            kernel: kernel.then(|| KernelGain {
                views: std::array::from_fn(|_| new_histogram()),
                counts: [0; KERNEL_COUNTS],
            }),
        }
    }

    fn w(&self, c: WorkerCount) -> u64 {
        self.worker[c as usize]
    }

    fn t(&self, c: TimerCount) -> u64 {
        self.timer[c as usize]
    }

    /// Empties this gain for the next reading, keeping its histograms' memory.
    fn reset(&mut self) {
        self.views.iter_mut().for_each(Histogram::reset);
        self.worker = [0; WORKER_COUNTS];
        self.timer = [0; TIMER_COUNTS];
        if let Some(k) = self.kernel.as_mut() {
            k.views.iter_mut().for_each(Histogram::reset);
            k.counts = [0; KERNEL_COUNTS];
        }
    }
}

/// Collects one scenario's recorders.
pub(crate) struct ScenarioCollector {
    workers: Vec<Arc<WorkerStats>>,
    timer: Arc<TimerStats>,
    /// Per recorder set, per metric: the last reading.
    readers: Vec<[DeltaReader; 4]>,
    last_worker: [[u64; WORKER_COUNTS]; SLOTS],
    last_timer: [[u64; TIMER_COUNTS]; SLOTS],
    totals: [Histogram<u64>; 4],
    intervals: Vec<IntervalStats>,
    /// Index of the next interval to close.
    next_interval: usize,
    measure_start_ns: u64,
    /// In the closed model the workers, not the timing loop, create requests.
    closed: bool,
    /// The rate over the run clock (warmup included); `None` for the closed model.
    profile: Option<RateProfile>,
    /// This run's share of the profile: 1/N for a shard of N, else 1.
    share: f64,
    /// Error counts by kind, read with the final reading so that they agree with it.
    kinds: BTreeMap<String, u64>,
    /// Where each interval's histogram encodings are kept until `finish` (see `spill`).
    stored: Vec<Stored>,
    spill: Spill,
    /// The gain of one reading, reused from interval to interval: four histograms of a
    /// quarter megabyte each, allocated once rather than every interval (which made the
    /// process's resident size swing by a megabyte and more from one interval to the next).
    gain: Option<Gain>,
    /// With `timestamps: kernel`.
    kernel: Option<KernelReadings>,
}

/// Facts about a scenario's run that the recorders do not hold.
pub(crate) struct RunFacts {
    /// Seconds of the measured window actually run.
    pub send_window_s: f64,
    /// When the measured window ended (the schedule's end, or the stop), run clock.
    pub window_end_ns: u64,
}

impl ScenarioCollector {
    pub fn new(
        workers: Vec<Arc<WorkerStats>>,
        timer: Arc<TimerStats>,
        measure_start_ns: u64,
        profile: Option<RateProfile>,
    ) -> ScenarioCollector {
        let closed = profile.is_none();
        let kernel = workers.iter().any(|w| w.kernel().is_some());
        ScenarioCollector {
            workers,
            timer,
            readers: (0..SLOTS)
                .map(|_| std::array::from_fn(|_| DeltaReader::new()))
                .collect(),
            last_worker: [[0; WORKER_COUNTS]; SLOTS],
            last_timer: [[0; TIMER_COUNTS]; SLOTS],
            totals: std::array::from_fn(|_| new_histogram()),
            intervals: Vec::new(),
            next_interval: 0,
            measure_start_ns,
            closed,
            profile,
            share: 1.0,
            kinds: BTreeMap::new(),
            stored: Vec::new(),
            spill: Spill::new(),
            gain: None,
            kernel: kernel.then(|| KernelReadings {
                readers: std::array::from_fn(|_| DeltaReader::new()),
                last_counts: [0; KERNEL_COUNTS],
                totals: std::array::from_fn(|_| new_histogram()),
            }),
        }
    }

    /// Counts `share` of the profile as this run's schedule (1/N for a shard of N).
    pub fn with_share(mut self, share: f64) -> ScenarioCollector {
        self.share = share;
        self
    }

    /// Adds what recorder set `slot` gained since its last reading to `gain`.
    fn read_slot(&mut self, slot: usize, gain: &mut Gain) {
        for (metric, view) in METRICS.into_iter().zip(gain.views.iter_mut()) {
            let reader = &mut self.readers[slot][metric as usize];
            match metric {
                Metric::Response => {
                    reader.read(self.workers.iter().map(|w| &w.slots[slot].response), view)
                }
                Metric::Service => {
                    reader.read(self.workers.iter().map(|w| &w.slots[slot].service), view)
                }
                Metric::Dispatch => {
                    reader.read(self.workers.iter().map(|w| &w.slots[slot].dispatch), view)
                }
                Metric::Lateness => reader.read([&self.timer.slots[slot].lateness], view),
            };
        }
        let mut worker = [0; WORKER_COUNTS];
        for w in &self.workers {
            for (sum, c) in worker.iter_mut().zip(w.slots[slot].counts.read()) {
                *sum += c;
            }
        }
        let timer = self.timer.slots[slot].counts.read();
        for (g, (now, last)) in gain
            .worker
            .iter_mut()
            .zip(worker.iter().zip(&self.last_worker[slot]))
        {
            *g += now - last;
        }
        for (g, (now, last)) in gain
            .timer
            .iter_mut()
            .zip(timer.iter().zip(&self.last_timer[slot]))
        {
            *g += now - last;
        }
        self.last_worker[slot] = worker;
        self.last_timer[slot] = timer;
    }

    /// Adds what the workers' kernel-timestamp recorders gained since the last reading to
    /// `gain` (they are cumulative, not one set per interval: a request ending as an interval
    /// closes may count in the next).
    fn read_kernel(&mut self, gain: &mut Gain) {
        let (Some(k), Some(g)) = (self.kernel.as_mut(), gain.kernel.as_mut()) else {
            return;
        };
        let parts: Vec<&KernelRecorders> = self.workers.iter().filter_map(|w| w.kernel()).collect();
        for ((reader, view), pick) in k.readers.iter_mut().zip(&mut g.views).zip(KERNEL_PARTS) {
            reader.read(parts.iter().map(|r| pick(r)), view);
        }
        let mut now = [0; KERNEL_COUNTS];
        for r in &parts {
            for (sum, c) in now.iter_mut().zip(r.counts.read()) {
                *sum += c;
            }
        }
        for (g, (now, last)) in g.counts.iter_mut().zip(now.iter().zip(&k.last_counts)) {
            *g += now - last;
        }
        k.last_counts = now;
    }

    /// Closes the next interval, `[start_ns, end_ns)` on the run clock, which has ended.
    pub fn close_interval(&mut self, start_ns: u64, end_ns: u64) {
        let mut gain = self.take_gain();
        self.read_slot(self.next_interval % SLOTS, &mut gain);
        self.read_kernel(&mut gain);
        self.next_interval += 1;
        self.push_row(start_ns, end_ns, &gain);
        self.gain = Some(gain);
    }

    /// The reading gain, empty: the one kept from the last interval, or a new one.
    fn take_gain(&mut self) -> Gain {
        let kernel = self.kernel.is_some();
        let mut gain = self.gain.take().unwrap_or_else(|| Gain::new(kernel));
        gain.reset();
        gain
    }

    /// The latest row of the time series.
    pub fn last_interval(&self) -> Option<&IntervalStats> {
        self.intervals.last()
    }

    /// The histograms of the interval closed last (response, service, dispatch, timer
    /// lateness; ns), while the next is not closed: a row keeps only their encodings, and
    /// those go to the spill file.
    pub fn last_histograms(&self) -> Option<&[Histogram<u64>; 4]> {
        self.gain.as_ref().map(|g| &g.views)
    }

    /// Error counts by kind so far, every worker's summed (for the live metrics).
    pub fn error_kinds_so_far(&self) -> BTreeMap<String, u64> {
        error_kinds(&self.workers)
    }

    /// What has been measured so far, for thresholds that may no longer be able to pass.
    pub fn progress(&self, planned: u64) -> Progress<'_> {
        let sum = |f: fn(&IntervalStats) -> u64| self.intervals.iter().map(f).sum();
        let [response, service, dispatch, lateness] = &self.totals;
        Progress {
            planned,
            errors: sum(|i| i.errors),
            timeouts: sum(|i| i.timeouts),
            dropped: sum(|i| i.dropped),
            response,
            service,
            dispatch,
            lateness,
        }
    }

    /// Closes the last, possibly partial, interval at the end of the run: reads every set, so
    /// that values recorded after their own interval was read are counted too. Returns
    /// whether it became a row of the series (an empty sliver does not).
    ///
    /// This reading is the result, so it must agree with itself: a call that ends while it is
    /// taken (one the run stopped waiting for) could otherwise be in a histogram and not yet
    /// in the counts. Each worker's record sequence is odd while it writes a record; the
    /// reading is repeated (adding only what is new) until no sequence moved during one.
    pub fn close_last(&mut self, start_ns: u64, end_ns: u64) -> bool {
        let mut gain = self.take_gain();
        loop {
            let before: Option<Vec<u64>> =
                self.workers.iter().map(|w| w.quiet_sequence()).collect();
            let Some(before) = before else {
                // A record takes nanoseconds; its writer may have been preempted in it.
                std::thread::yield_now();
                continue;
            };
            for slot in 0..SLOTS {
                self.read_slot(slot, &mut gain);
            }
            self.read_kernel(&mut gain);
            self.kinds = error_kinds(&self.workers);
            let after: Option<Vec<u64>> = self.workers.iter().map(|w| w.quiet_sequence()).collect();
            if after.as_ref() == Some(&before) {
                break;
            }
        }
        let empty = gain.w(WorkerCount::Completed) == 0
            && gain.t(TimerCount::Sent) == 0
            && gain.w(WorkerCount::Expired) == 0;
        // A tail in which nothing was sent or completed (the drain after the last response)
        // is no interval of the test.
        let row = end_ns > start_ns && !empty;
        if row {
            self.push_row(start_ns, end_ns, &gain);
        } else {
            self.merge_totals(&gain);
        }
        self.gain = Some(gain);
        row
    }

    fn merge_totals(&mut self, gain: &Gain) {
        for (total, view) in self.totals.iter_mut().zip(&gain.views) {
            total.add(view).expect("histograms share one layout");
        }
        if let (Some(k), Some(g)) = (self.kernel.as_mut(), gain.kernel.as_ref()) {
            for (total, view) in k.totals.iter_mut().zip(&g.views) {
                total.add(view).expect("histograms share one layout");
            }
        }
    }

    fn push_row(&mut self, start_ns: u64, end_ns: u64, gain: &Gain) {
        self.merge_totals(gain);
        let seconds = end_ns.saturating_sub(start_ns) as f64 / 1e9;
        let at = |ns: u64| ns.saturating_sub(self.measure_start_ns) as f64 / 1e9;
        let sent = if self.closed {
            gain.w(WorkerCount::Taken)
        } else {
            gain.t(TimerCount::Sent)
        };
        let [response, service, dispatch, lateness] = &gain.views;
        let scheduled = self.profile.as_ref().map_or(0.0, |p| {
            self.share * (p.cumulative(end_ns as f64 / 1e9) - p.cumulative(start_ns as f64 / 1e9))
        });
        let mut row = IntervalStats {
            start_s: at(start_ns),
            end_s: at(end_ns),
            scheduled,
            sent,
            completed: gain.w(WorkerCount::Completed),
            ok: gain.w(WorkerCount::Ok),
            errors: gain.w(WorkerCount::Errors),
            timeouts: gain.w(WorkerCount::Timeouts)
                + gain.w(WorkerCount::Expired)
                + gain.t(TimerCount::Expired)
                + gain.t(TimerCount::Abandoned),
            expired: gain.w(WorkerCount::Expired) + gain.t(TimerCount::Expired),
            dropped: gain.t(TimerCount::Dropped),
            late: gain.t(TimerCount::Late),
            queued: gain.w(WorkerCount::Queued),
            worker_busy_pct: (100.0
                * ratio(
                    gain.w(WorkerCount::BusyNs) as f64,
                    end_ns.saturating_sub(start_ns) as f64 * self.workers.len() as f64,
                ))
            .min(100.0),
            ..IntervalStats::default()
        };
        derive_row(&mut row, seconds, [response, service, dispatch]);
        let mut parts = vec![
            encode(response),
            encode(service),
            encode(dispatch),
            encode(lateness),
        ];
        if let Some(k) = &gain.kernel {
            // The row keeps the summaries; its encodings go to the spill file with the others.
            let mut split = split_of(&k.views, &k.counts);
            let h = std::mem::take(&mut split.histograms);
            parts.extend([h.client_send, h.wire_and_server, h.client_receive]);
            row.kernel_timestamps = Some(split);
        }
        self.intervals.push(row);
        self.stored.push(self.spill.put(parts));
    }

    /// The final readings of every worker's and the timing loop's counts, summed.
    fn final_counts(&self) -> ([u64; WORKER_COUNTS], [u64; TIMER_COUNTS]) {
        let mut workers = [0; WORKER_COUNTS];
        for set in &self.last_worker {
            for (sum, c) in workers.iter_mut().zip(set) {
                *sum += c;
            }
        }
        let mut timer = [0; TIMER_COUNTS];
        for set in &self.last_timer {
            for (sum, c) in timer.iter_mut().zip(set) {
                *sum += c;
            }
        }
        (workers, timer)
    }

    /// Where every intended request ended up, from the final counts.
    fn request_counts(&self) -> RequestCounts {
        let (workers, timer) = self.final_counts();
        let w = |c: WorkerCount| workers[c as usize];
        let t = |c: TimerCount| timer[c as usize];
        let sent = if self.closed {
            w(WorkerCount::Taken)
        } else {
            t(TimerCount::Sent)
        };
        let completed = w(WorkerCount::Completed);
        let expired = w(WorkerCount::Expired) + t(TimerCount::Expired);
        // Requests handed over that neither ended nor expired were abandoned when the run
        // gave up on them (running past their deadline, or queued when a stop came), and so
        // were those still in the backlog at a stop.
        let abandoned =
            sent.saturating_sub(completed + w(WorkerCount::Expired)) + t(TimerCount::Abandoned);
        let dropped = t(TimerCount::Dropped);
        RequestCounts {
            intended: sent + dropped + t(TimerCount::Expired) + t(TimerCount::Abandoned),
            sent,
            completed,
            ok: w(WorkerCount::Ok),
            errors: w(WorkerCount::Errors),
            timeouts: w(WorkerCount::Timeouts) + abandoned + expired,
            retries: w(WorkerCount::Retries),
            dropped,
            backlogged: t(TimerCount::Backlogged),
            late: t(TimerCount::Late),
            queued: w(WorkerCount::Queued),
            queued_ns: w(WorkerCount::QueuedNs),
            abandoned,
            expired,
            warmup: if self.closed {
                w(WorkerCount::Warmup)
            } else {
                t(TimerCount::Warmup)
            },
            cache_hits: w(WorkerCount::CacheHits),
            fallbacks: w(WorkerCount::Fallbacks),
        }
    }

    /// Builds the scenario's result from everything collected. `result` arrives with its
    /// descriptive fields filled in; this fills in the measurements. Call after `close_last`:
    /// the counts are those of its final reading, which agree with the histograms.
    ///
    /// Also returns what went wrong reading the intervals' histograms back (nothing, as a
    /// rule), for the run's warnings.
    pub fn finish(
        self,
        facts: &RunFacts,
        mut result: ScenarioResult,
    ) -> (ScenarioResult, Vec<String>) {
        let (workers, _) = self.final_counts();
        let w = |c: WorkerCount| workers[c as usize];
        let requests = self.request_counts();
        result.send_window_s = facts.send_window_s;
        let last_end = self
            .workers
            .iter()
            .map(|w| w.last_end_ns())
            .max()
            .unwrap_or(0);
        result.drain_s = last_end.saturating_sub(facts.window_end_ns) as f64 / 1e9;
        result.requests = requests;
        result.network = NetworkIo {
            bytes_sent: w(WorkerCount::BytesSent),
            bytes_received: w(WorkerCount::BytesReceived),
            connections_opened: w(WorkerCount::Connections),
            peak_in_flight: self.workers.iter().map(|w| w.peak_in_flight()).sum(),
            connections_used: self.workers.iter().map(|w| w.connections_used()).sum(),
            busy_polled: self.workers.iter().map(|w| w.busy_polled()).sum(),
            ..result.network
        };
        result.errors_by_kind = self.kinds;
        result.overhead = Overhead {
            framework_ns: w(WorkerCount::FrameworkNs),
            response_ns: w(WorkerCount::ResponseNs),
            ..Overhead::default()
        };
        derive_figures(&mut result, &self.totals);
        if w(WorkerCount::TlsHandshakes) > 0 {
            let mut times = new_histogram();
            DeltaReader::new().read(self.workers.iter().map(|w| &w.handshake), &mut times);
            result.tls = Some(TlsFigures {
                handshakes: w(WorkerCount::TlsHandshakes),
                resumed: w(WorkerCount::TlsResumed),
                requests_with_handshake: w(WorkerCount::HandshakeInRequest),
                handshake_ms: LatencySummary::from_histogram(&times, 1e6),
                histogram: encode(&times),
            });
        }
        result.kernel_timestamps = self
            .kernel
            .as_ref()
            .map(|k| split_of(&k.totals, &k.last_counts));
        if let Some(wait) = result.wait.as_mut() {
            let mut late = new_histogram();
            DeltaReader::new().read(self.workers.iter().map(|w| &w.wake_ups), &mut late);
            let windows: Vec<_> = self
                .workers
                .iter()
                .filter_map(|w| w.spin_window())
                .collect();
            wait.spin_window_us = (!windows.is_empty()).then(|| {
                let low = windows.iter().map(|w| w.0).min().unwrap_or(0);
                let high = windows.iter().map(|w| w.1).max().unwrap_or(0);
                [low as f64 / 1e3, high as f64 / 1e3]
            });
            wait.wake_ups = late.len();
            wait.wake_lateness_us = LatencySummary::without_intervals(&late, NS_PER_US);
            wait.histogram = encode(&late);
        }
        fill_named(&self.workers, &mut result.by_name);
        result.worker_cpu_s =
            self.workers.iter().filter_map(|w| w.cpu_ns()).sum::<u64>() as f64 / 1e9;
        let mut spill = self.spill;
        result.intervals = self
            .intervals
            .into_iter()
            .zip(self.stored)
            .map(|(row, stored)| with_histograms(row, spill.take(stored)))
            .collect();
        let problems = spill.problems().to_vec();
        (result, problems)
    }
}

/// An interval row with the encodings the spill file kept for it, in the order the row put
/// them there: its four histograms, then its kernel split's three.
fn with_histograms(mut row: IntervalStats, parts: Vec<String>) -> IntervalStats {
    let mut parts = parts.into_iter();
    let mut next = || parts.next().unwrap_or_default();
    row.histograms = EncodedHistograms {
        response_time: next(),
        service_time: next(),
        dispatch_delay: next(),
        timer_lateness: next(),
    };
    if let Some(split) = row.kernel_timestamps.as_mut() {
        split.histograms = KernelHistograms {
            client_send: next(),
            wire_and_server: next(),
            client_receive: next(),
        };
    }
    row
}

/// Fills each name's counts and figures from every worker's recorders of that name.
fn fill_named(workers: &[Arc<WorkerStats>], by_name: &mut [NamedResult]) {
    for (i, named) in by_name.iter_mut().enumerate() {
        let recorders: Vec<_> = workers.iter().filter_map(|w| w.named.get(i)).collect();
        let read = |pick: fn(&NamedRecorders) -> &AtomicHistogram| {
            let mut h = new_histogram();
            DeltaReader::new().read(recorders.iter().map(|r| pick(r)), &mut h);
            h
        };
        let response = read(|r| &r.response);
        let service = read(|r| &r.service);
        let dispatch = read(|r| &r.dispatch);
        let mut counts = [0u64; NAMED_COUNTS];
        for r in &recorders {
            for (sum, c) in counts.iter_mut().zip(r.counts.read()) {
                *sum += c;
            }
        }
        named.completed = counts[NamedCount::Completed as usize];
        named.ok = counts[NamedCount::Ok as usize];
        named.errors = counts[NamedCount::Errors as usize];
        named.timeouts = counts[NamedCount::Timeouts as usize];
        named.response_time_ms = LatencySummary::from_histogram(&response, 1e6);
        named.service_time_ms = LatencySummary::from_histogram(&service, 1e6);
        named.dispatch_delay_us = LatencySummary::from_histogram(&dispatch, 1e3);
        named.histograms = EncodedHistograms {
            response_time: encode(&response),
            service_time: encode(&service),
            dispatch_delay: encode(&dispatch),
            timer_lateness: String::new(),
        };
    }
}

/// Error counts by kind over `workers`.
fn error_kinds(workers: &[Arc<WorkerStats>]) -> BTreeMap<String, u64> {
    let mut kinds = BTreeMap::new();
    for stats in workers {
        for (kind, count) in stats.error_kinds() {
            *kinds.entry(kind.to_string()).or_insert(0) += count;
        }
    }
    kinds
}

/// The kernel split of `h` (`client_send`, `wire_and_server`, `client_receive`; ns) with
/// `counts` (indexed by [`KernelCount`]).
fn split_of(h: &[Histogram<u64>; 3], counts: &[u64; KERNEL_COUNTS]) -> KernelSplit {
    let count = |c: KernelCount| counts[c as usize];
    KernelSplit {
        stamped: count(KernelCount::Stamped),
        missing_tx: count(KernelCount::MissingTx),
        missing_rx: count(KernelCount::MissingRx),
        disordered: count(KernelCount::Disordered),
        ..kernel_figures(h)
    }
}
