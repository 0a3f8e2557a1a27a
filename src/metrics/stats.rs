//! Per-thread recording: what workers and the timing loop write on the hot path.
//!
//! Each worker owns a [`WorkerStats`] and the timing loop one [`TimerStats`] per scenario.
//! Every field has exactly one writer, so updates are relaxed loads and stores; the collector
//! reads them at any time (see `atomic_hist` for why nothing is ever handed over).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::atomic_hist::AtomicHistogram;
use crate::target::{CallResult, ErrorKind, Request, Tags};

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// A fixed set of counters indexed by an enum.
pub(crate) struct Counters<const N: usize>([AtomicU64; N]);

impl<const N: usize> Counters<N> {
    fn new() -> Self {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }

    #[inline]
    fn add(&self, index: usize, n: u64) {
        bump(&self.0[index], n);
    }

    /// Current values, in index order.
    pub fn read(&self) -> [u64; N] {
        std::array::from_fn(|i| self.0[i].load(Relaxed))
    }
}

/// Worker counters, indexing [`WorkerStats::counts`].
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub(crate) enum WorkerCount {
    /// Measured requests a worker took up (from the queue, or made itself when closed).
    Taken,
    /// Measured requests whose call ended (any outcome).
    Completed,
    /// ... that succeeded within the timeout.
    Ok,
    /// ... that failed (after any retries).
    Errors,
    /// ... whose call took longer than the request timeout.
    Timeouts,
    /// Extra attempts made after failures.
    Retries,
    /// Completed requests tagged as cache hits.
    CacheHits,
    /// Completed requests tagged as fallbacks.
    Fallbacks,
    /// Warmup requests completed (not recorded).
    Warmup,
    /// Sum over requests of the time the framework added (timer lateness, hand-off,
    /// bookkeeping), in ns.
    FrameworkNs,
    /// Sum over requests of the response time, in ns.
    ResponseNs,
}

/// Number of [`WorkerCount`]s.
pub(crate) const WORKER_COUNTS: usize = 11;

/// Up to this many distinct error kinds are counted by name per worker; more go to "other".
const KIND_SLOTS: usize = 16;

/// What one worker measured; written by that worker only.
pub struct WorkerStats {
    /// end - intended: what a user saw, corrected for coordinated omission.
    pub response: AtomicHistogram,
    /// end - start: what the target took.
    pub service: AtomicHistogram,
    /// start - intended: timer lateness + hand-off + queueing.
    pub dispatch: AtomicHistogram,
    pub(crate) counts: Counters<WORKER_COUNTS>,
    kind_names: [OnceLock<&'static str>; KIND_SLOTS],
    kind_counts: Counters<KIND_SLOTS>,
    other_kinds: AtomicU64,
    /// `start_ns + 1` of the call in progress, 0 when idle.
    busy_since: AtomicU64,
    exited: AtomicBool,
    cpu_ns: AtomicU64,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats::new()
    }
}

impl WorkerStats {
    /// Empty stats.
    pub fn new() -> WorkerStats {
        WorkerStats {
            response: AtomicHistogram::new(),
            service: AtomicHistogram::new(),
            dispatch: AtomicHistogram::new(),
            counts: Counters::new(),
            kind_names: std::array::from_fn(|_| OnceLock::new()),
            kind_counts: Counters::new(),
            other_kinds: AtomicU64::new(0),
            busy_since: AtomicU64::new(0),
            exited: AtomicBool::new(false),
            cpu_ns: AtomicU64::new(0),
        }
    }

    /// Marks a call as started at `start_ns`.
    #[inline]
    pub(crate) fn set_busy(&self, start_ns: u64) {
        self.busy_since.store(start_ns + 1, Relaxed);
    }

    /// Marks the call as finished.
    #[inline]
    pub(crate) fn set_idle(&self) {
        self.busy_since.store(0, Relaxed);
    }

    /// When the call in progress started, if one is.
    pub(crate) fn busy_since(&self) -> Option<u64> {
        match self.busy_since.load(Relaxed) {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// Counts a measured request as taken up, before its call starts.
    #[inline]
    pub(crate) fn record_taken(&self) {
        self.counts.add(WorkerCount::Taken as usize, 1);
    }

    /// Records a warmup request: counted, not measured.
    #[inline]
    pub(crate) fn record_warmup(&self) {
        self.counts.add(WorkerCount::Warmup as usize, 1);
    }

    /// Records one measured request. `idle_since_ns` is when this worker finished its previous
    /// request: time the request waited before that was spent queueing behind the target, time
    /// after it is the framework's.
    #[inline]
    pub(crate) fn record(&self, call: &Call, idle_since_ns: u64) {
        let Call {
            request,
            start_ns,
            end_ns,
            result,
            retries,
            timed_out,
        } = *call;
        let response = end_ns.saturating_sub(request.intended_ns);
        self.response.record(response);
        self.service.record(end_ns.saturating_sub(start_ns));
        self.dispatch
            .record(start_ns.saturating_sub(request.intended_ns));
        let timer_lateness = request.sent_ns.saturating_sub(request.intended_ns);
        let hand_off = start_ns.saturating_sub(request.sent_ns.max(idle_since_ns));
        self.counts
            .add(WorkerCount::FrameworkNs as usize, timer_lateness + hand_off);
        self.counts.add(WorkerCount::ResponseNs as usize, response);
        self.counts.add(WorkerCount::Completed as usize, 1);
        self.counts.add(WorkerCount::Retries as usize, retries as u64);
        match (timed_out, result.error) {
            (true, _) => self.counts.add(WorkerCount::Timeouts as usize, 1),
            (false, None) => self.counts.add(WorkerCount::Ok as usize, 1),
            (false, Some(kind)) => {
                self.counts.add(WorkerCount::Errors as usize, 1);
                self.count_kind(kind);
            }
        }
        if result.tags.contains(Tags::CACHE_HIT) {
            self.counts.add(WorkerCount::CacheHits as usize, 1);
        }
        if result.tags.contains(Tags::FALLBACK) {
            self.counts.add(WorkerCount::Fallbacks as usize, 1);
        }
    }

    fn count_kind(&self, kind: ErrorKind) {
        for (slot, name) in self.kind_names.iter().enumerate() {
            let known = *name.get_or_init(|| kind.name());
            if known == kind.name() {
                self.kind_counts.add(slot, 1);
                return;
            }
        }
        bump(&self.other_kinds, 1);
    }

    /// Error counts by kind name so far (kinds beyond the first 16 are summed as "other").
    pub(crate) fn error_kinds(&self) -> Vec<(&'static str, u64)> {
        let counts = self.kind_counts.read();
        let mut kinds: Vec<(&'static str, u64)> = self
            .kind_names
            .iter()
            .zip(counts)
            .filter_map(|(name, count)| name.get().map(|n| (*n, count)))
            .collect();
        let other = self.other_kinds.load(Relaxed);
        if other > 0 {
            kinds.push(("other", other));
        }
        kinds
    }

    /// Called by the worker as it ends, with the CPU time its thread used.
    pub(crate) fn mark_exited(&self, cpu_ns: u64) {
        self.cpu_ns.store(cpu_ns, Relaxed);
        self.exited.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the worker has ended.
    pub(crate) fn has_exited(&self) -> bool {
        self.exited.load(std::sync::atomic::Ordering::Acquire)
    }

    /// CPU time of the worker's thread, known once it has ended.
    pub(crate) fn cpu_ns(&self) -> Option<u64> {
        self.has_exited().then(|| self.cpu_ns.load(Relaxed))
    }
}

/// One finished call, as the worker saw it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub request: Request,
    pub start_ns: u64,
    pub end_ns: u64,
    pub result: CallResult,
    pub retries: u32,
    pub timed_out: bool,
}

/// Timing-loop counters, indexing [`TimerStats::counts`].
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub(crate) enum TimerCount {
    /// Measured requests handed to the workers' queue.
    Sent,
    /// Measured requests that found the queue full and waited in the backlog.
    Backlogged,
    /// Measured requests dropped because the backlog was full too (or never sent at the end).
    Dropped,
    /// Measured requests sent 1 ms or more after their intended instant.
    Late,
    /// Warmup requests handed over or dropped.
    Warmup,
}

/// Number of [`TimerCount`]s.
pub(crate) const TIMER_COUNTS: usize = 5;

/// A request is late when the timing loop sends it this long after its intended instant.
pub const LATE_NS: u64 = 1_000_000;

/// What the timing loop measured for one scenario; written by the timing thread only.
pub struct TimerStats {
    /// sent - intended, for measured requests: how late the timing loop was.
    pub lateness: AtomicHistogram,
    pub(crate) counts: Counters<TIMER_COUNTS>,
}

impl Default for TimerStats {
    fn default() -> Self {
        TimerStats::new()
    }
}

impl TimerStats {
    /// Empty stats.
    pub fn new() -> TimerStats {
        TimerStats {
            lateness: AtomicHistogram::new(),
            counts: Counters::new(),
        }
    }

    #[inline]
    pub(crate) fn add(&self, count: TimerCount, n: u64) {
        self.counts.add(count as usize, n);
    }

    /// Records the instant a measured request left the timing loop.
    #[inline]
    pub(crate) fn record_lateness(&self, lateness_ns: u64) {
        self.lateness.record(lateness_ns);
        if lateness_ns >= LATE_NS {
            self.add(TimerCount::Late, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(result: CallResult, timed_out: bool) -> Call {
        Call {
            request: Request {
                seq: 0,
                intended_ns: 1_000,
                sent_ns: 1_500,
            },
            start_ns: 4_000,
            end_ns: 10_000,
            result,
            retries: 1,
            timed_out,
        }
    }

    #[test]
    fn a_call_is_recorded_in_all_three_views() {
        let stats = WorkerStats::new();
        // The worker was busy until 3_000: 1_500..3_000 was queueing, 3_000..4_000 overhead.
        stats.record(&call(CallResult::ok(), false), 3_000);
        let c = stats.counts.read();
        assert_eq!(c[WorkerCount::Completed as usize], 1);
        assert_eq!(c[WorkerCount::Ok as usize], 1);
        assert_eq!(c[WorkerCount::Retries as usize], 1);
        assert_eq!(c[WorkerCount::ResponseNs as usize], 9_000);
        assert_eq!(c[WorkerCount::FrameworkNs as usize], 500 + 1_000);
    }

    #[test]
    fn outcomes_and_kinds_are_counted_apart() {
        let stats = WorkerStats::new();
        stats.record(&call(CallResult::error(ErrorKind::PANIC), false), 0);
        stats.record(&call(CallResult::error(ErrorKind::new("db")), false), 0);
        stats.record(&call(CallResult::error(ErrorKind::PANIC), false), 0);
        stats.record(&call(CallResult::ok(), true), 0);
        let c = stats.counts.read();
        assert_eq!(c[WorkerCount::Errors as usize], 3);
        assert_eq!(c[WorkerCount::Timeouts as usize], 1);
        assert_eq!(c[WorkerCount::Ok as usize], 0);
        assert_eq!(stats.error_kinds(), vec![("panic", 2), ("db", 1)]);
    }

    #[test]
    fn more_kinds_than_slots_spill_into_other() {
        let stats = WorkerStats::new();
        const NAMES: [&str; 18] = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
            "r",
        ];
        for name in NAMES {
            stats.count_kind(ErrorKind::new(name));
        }
        let kinds = stats.error_kinds();
        assert_eq!(kinds.len(), 17);
        assert_eq!(kinds.last(), Some(&("other", 2)));
    }
}
