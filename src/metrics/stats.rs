//! Per-thread recording: what workers and the timing loop write on the hot path.
//!
//! Each worker owns a [`WorkerStats`] and the timing loop one [`TimerStats`] per scenario.
//! Every field has exactly one writer, so updates are relaxed loads and stores; the collector
//! reads them at any time (see `atomic_hist` for why nothing is ever handed over).
//!
//! Recorders come in [`SLOTS`] sets, one per interval of the time series in turn: a value is
//! recorded in the set of the interval its own timestamp falls in (`IntervalCursor`), so
//! the collector can read interval `i` from set `i % SLOTS` once it is over, and the time
//! series is exact however late the collector wakes. Sets are cumulative and never cleared;
//! a value recorded after its interval was read is picked up when its set is next read.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, Ordering::Relaxed, fence};

use super::atomic_hist::{AtomicHistogram, bump};
use super::request_log::{self, LogTap, Outcome};
use super::sample::{Entry, SampleSpec, SendOrderSample};
use crate::targets::net::KernelStamps;
use crate::targets::{CallResult, ErrorKind, Request, Tags};

/// Recorder sets per worker and per timing-loop lane: interval `i` records into set `i % SLOTS`.
pub const SLOTS: usize = 4;

/// Finds the recorder set of a timestamp; each thread keeps its own copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IntervalCursor {
    interval_ns: u64,
    /// End of the interval `slot` currently stands for.
    next_ns: u64,
    slot: usize,
}

impl IntervalCursor {
    /// Intervals of `interval_ns` starting at `start_ns` (earlier times fall in interval 0).
    pub fn new(start_ns: u64, interval_ns: u64) -> IntervalCursor {
        IntervalCursor {
            interval_ns: interval_ns.max(1),
            next_ns: start_ns + interval_ns.max(1),
            slot: 0,
        }
    }

    /// The recorder set of time `t_ns`; times must not go back by a whole interval.
    #[inline]
    pub fn slot(&mut self, t_ns: u64) -> usize {
        if t_ns >= self.next_ns {
            let passed = (t_ns - self.next_ns) / self.interval_ns + 1;
            self.next_ns += passed * self.interval_ns;
            self.slot = ((self.slot as u64 + passed) % SLOTS as u64) as usize;
        }
        self.slot
    }
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

/// Worker counters, indexing `WorkerRecorders::counts`.
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
    /// Bytes sent by network targets.
    BytesSent,
    /// Bytes received by network targets.
    BytesReceived,
    /// Connections opened by network targets.
    Connections,
    /// Measured requests given up before they started: their deadline (intended instant +
    /// request timeout) passed while they waited for a worker or a connection. Not completed,
    /// not in the histograms; counted as timeouts.
    Expired,
    /// Wall-clock time the worker spent on calls and on the framework between them, in ns:
    /// everything but waiting for its next request or instant (spin waits included in the
    /// waiting). A span counts in the interval it ends in.
    BusyNs,
    /// Measured requests of a network target that waited for a free connection: they were
    /// due (and handed over) before the connection that served them came free.
    Queued,
    /// Sum over those requests of how long they waited for it, in ns.
    QueuedNs,
    /// TLS handshakes completed, warmup included.
    TlsHandshakes,
    /// ... of which resumed an earlier session.
    TlsResumed,
    /// Measured requests whose connection was opened for them, the TLS handshake inside
    /// their service time.
    HandshakeInRequest,
}

/// Counters of one name of a request set, indexing `NamedRecorders::counts`.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub(crate) enum NamedCount {
    Completed,
    Ok,
    Errors,
    Timeouts,
}

/// Number of [`NamedCount`]s.
pub(crate) const NAMED_COUNTS: usize = 4;

/// What one worker measured of one name of a request set, for the whole run (no time series).
pub(crate) struct NamedRecorders {
    pub response: AtomicHistogram,
    pub service: AtomicHistogram,
    pub dispatch: AtomicHistogram,
    pub counts: Counters<NAMED_COUNTS>,
}

/// Number of [`WorkerCount`]s.
pub(crate) const WORKER_COUNTS: usize = 21;

/// Up to this many distinct error kinds are counted by name per worker; more go to "other".
const KIND_SLOTS: usize = 16;

/// One interval set of a worker's recorders.
pub(crate) struct WorkerRecorders {
    /// end - intended: what a user saw, corrected for coordinated omission.
    pub response: AtomicHistogram,
    /// end - start: what the target took.
    pub service: AtomicHistogram,
    /// start - intended: timer lateness + hand-off + queueing.
    pub dispatch: AtomicHistogram,
    pub counts: Counters<WORKER_COUNTS>,
}

/// What one worker measured; written by that worker only.
pub struct WorkerStats {
    pub(crate) slots: [WorkerRecorders; SLOTS],
    kind_names: [OnceLock<&'static str>; KIND_SLOTS],
    kind_counts: Counters<KIND_SLOTS>,
    other_kinds: AtomicU64,
    /// `deadline_ns + 1` of the call in progress, 0 when idle.
    busy_until: AtomicU64,
    /// Odd while a record is being written, even otherwise: lets the collector take a final
    /// reading in which every count and histogram agree (a seqlock's sequence number).
    sequence: AtomicU64,
    /// End of the latest measured call, on the run clock.
    last_end: AtomicU64,
    exited: AtomicBool,
    cpu_ns: AtomicU64,
    /// A network worker's most requests in flight at once, set as it ends.
    peak_in_flight: AtomicU64,
    connections_used: AtomicU64,
    busy_polled: AtomicU64,
    /// Some of its requests in send order, for the validity checks.
    sample: SendOrderSample,
    /// TLS handshake times, warmup included (cumulative; no time series).
    pub(crate) handshake: AtomicHistogram,
    /// How late a network worker's timed sleeps woke it, warmup and the probes before the
    /// run included (cumulative; no time series).
    pub(crate) wake_ups: AtomicHistogram,
    /// The shortest and longest spin window a network worker used, set as it ends (ns).
    spin_window: [AtomicU64; 2],
    /// Per name of a request set (empty without one).
    pub(crate) named: Box<[NamedRecorders]>,
    /// Panics of openpace's own code the worker caught, in words (at most
    /// [`MAX_FAULTS`] kept). Written only when one happens, never per request.
    faults: std::sync::Mutex<Vec<String>>,
    /// Where every measured request goes with `--log-requests`.
    log: Option<LogTap>,
    /// The kernel's split of service time, with `timestamps: kernel`.
    kernel: Option<Box<KernelRecorders>>,
}

/// A worker's kernel-timestamp split of service time: cumulative, written by the worker only
/// (inside its record, so that the final reading agrees with the counts); the collector
/// takes each interval's share as the difference from its last reading.
pub(crate) struct KernelRecorders {
    pub client_send: AtomicHistogram,
    pub wire_and_server: AtomicHistogram,
    pub client_receive: AtomicHistogram,
    pub counts: Counters<KERNEL_COUNTS>,
}

/// Counters of the kernel split, indexing `KernelRecorders::counts`: how each ok request went.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub(crate) enum KernelCount {
    /// Split into its three parts.
    Stamped,
    /// Its TX stamp did not come.
    MissingTx,
    /// No RX stamp came with its response.
    MissingRx,
    /// Both came, out of order with the worker's own instants.
    Disordered,
}

/// Number of [`KernelCount`]s.
pub(crate) const KERNEL_COUNTS: usize = 4;

impl KernelRecorders {
    /// Splits one ok request, begun at `start`, its last byte out at `tx`, its response's last
    /// segment in at `rx`, read by `end` (run clock; a stamp of 0 did not come).
    #[inline]
    fn record(&self, start: u64, stamps: KernelStamps, end: u64) {
        let (tx, rx) = (stamps.tx_ns, stamps.rx_last_ns);
        let counted = match (tx, rx) {
            (0, _) => KernelCount::MissingTx,
            (_, 0) => KernelCount::MissingRx,
            _ if start <= tx && tx <= rx && rx <= end => {
                self.client_send.record(tx - start);
                self.wire_and_server.record(rx - tx);
                self.client_receive.record(end - rx);
                KernelCount::Stamped
            }
            _ => KernelCount::Disordered,
        };
        self.counts.add(counted as usize, 1);
    }
}

/// Faults kept per worker.
const MAX_FAULTS: usize = 8;

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats::new()
    }
}

impl WorkerStats {
    /// Empty stats, sampling no request in send order.
    pub fn new() -> WorkerStats {
        WorkerStats::with_sample(SampleSpec::NONE)
    }

    /// Empty stats that keep the requests `spec` picks in send order.
    pub fn with_sample(spec: SampleSpec) -> WorkerStats {
        WorkerStats {
            slots: std::array::from_fn(|_| WorkerRecorders {
                response: AtomicHistogram::new(),
                service: AtomicHistogram::new(),
                dispatch: AtomicHistogram::new(),
                counts: Counters::new(),
            }),
            kind_names: std::array::from_fn(|_| OnceLock::new()),
            kind_counts: Counters::new(),
            other_kinds: AtomicU64::new(0),
            busy_until: AtomicU64::new(0),
            sequence: AtomicU64::new(0),
            last_end: AtomicU64::new(0),
            exited: AtomicBool::new(false),
            cpu_ns: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            connections_used: AtomicU64::new(0),
            busy_polled: AtomicU64::new(0),
            sample: SendOrderSample::new(spec),
            handshake: AtomicHistogram::new(),
            wake_ups: AtomicHistogram::new(),
            spin_window: [AtomicU64::new(0), AtomicU64::new(0)],
            named: Box::new([]),
            faults: std::sync::Mutex::new(Vec::new()),
            log: None,
            kernel: None,
        }
    }

    /// The same stats, splitting each ok request's service time by the kernel's timestamps
    /// (`timestamps: kernel`).
    pub fn with_timestamps(mut self, on: bool) -> WorkerStats {
        self.kernel = on.then(|| {
            Box::new(KernelRecorders {
                client_send: AtomicHistogram::new(),
                wire_and_server: AtomicHistogram::new(),
                client_receive: AtomicHistogram::new(),
                counts: Counters::new(),
            })
        });
        self
    }

    /// The kernel's split, with `timestamps: kernel`.
    pub(crate) fn kernel(&self) -> Option<&KernelRecorders> {
        self.kernel.as_deref()
    }

    /// The same stats, offering every measured request to `tap` (`--log-requests`).
    pub fn with_log(mut self, tap: Option<LogTap>) -> WorkerStats {
        self.log = tap;
        self
    }

    /// What the request log's tap did, if the run keeps one.
    pub(crate) fn log_counts(&self) -> Option<request_log::TapCounts> {
        self.log.as_ref().map(LogTap::counts)
    }

    /// Notes a panic of openpace's own code the worker caught (`what` says where and on which
    /// request); the request itself is recorded as an error of kind `internal`.
    pub(crate) fn note_fault(&self, what: String) {
        if let Ok(mut faults) = self.faults.lock() {
            if faults.len() < MAX_FAULTS {
                faults.push(what);
            }
        }
    }

    /// The faults noted so far.
    pub(crate) fn faults(&self) -> Vec<String> {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// The same stats, keeping results for each of `names` names of a request set.
    pub fn with_names(mut self, names: usize) -> WorkerStats {
        self.named = (0..names)
            .map(|_| NamedRecorders {
                response: AtomicHistogram::new(),
                service: AtomicHistogram::new(),
                dispatch: AtomicHistogram::new(),
                counts: Counters::new(),
            })
            .collect();
        self
    }

    /// The requests sampled in send order (in the order recorded), and how many sampled
    /// ones found the buffer full.
    pub(crate) fn sampled(&self) -> (Vec<Entry>, u64) {
        self.sample.entries()
    }

    /// Marks a call as started; it is due to end by `deadline_ns`.
    #[inline]
    pub(crate) fn set_busy(&self, deadline_ns: u64) {
        self.busy_until
            .store(deadline_ns.saturating_add(1), Relaxed);
    }

    /// Marks the call as finished.
    #[inline]
    pub(crate) fn set_idle(&self) {
        self.busy_until.store(0, Relaxed);
    }

    /// The deadline of the call in progress, if one is.
    pub(crate) fn busy_until(&self) -> Option<u64> {
        match self.busy_until.load(Relaxed) {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// Opens a record: readers that see the sequence odd, or changed, read again.
    #[inline]
    fn begin_record(&self) {
        self.sequence
            .store(self.sequence.load(Relaxed).wrapping_add(1), Relaxed);
        fence(Ordering::Release);
    }

    /// Closes a record opened by [`begin_record`](Self::begin_record).
    #[inline]
    fn end_record(&self) {
        self.sequence.store(
            self.sequence.load(Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }

    /// The record sequence number, when no record is being written.
    pub(crate) fn quiet_sequence(&self) -> Option<u64> {
        let n = self.sequence.load(Ordering::Acquire);
        (n % 2 == 0).then_some(n)
    }

    /// Counts a measured request as taken up, before its call starts.
    #[inline]
    pub(crate) fn record_taken(&self, slot: usize) {
        self.slots[slot].counts.add(WorkerCount::Taken as usize, 1);
    }

    /// Records a warmup request: counted, not measured; its network traffic is counted.
    #[inline]
    pub(crate) fn record_warmup(&self, slot: usize, result: &CallResult) {
        self.record_unmeasured(slot, result, true);
    }

    /// Counts a connection opened ahead of the run (`connections: N`): its connection and
    /// TLS handshake, not a request.
    pub(crate) fn record_opened(&self, slot: usize, result: &CallResult) {
        self.record_unmeasured(slot, result, false);
    }

    /// Counts the traffic and TLS handshake of `result`, which is not measured, and a
    /// warmup request when it was one.
    fn record_unmeasured(&self, slot: usize, result: &CallResult, warmup: bool) {
        self.begin_record();
        let counts = &self.slots[slot].counts;
        counts.add(WorkerCount::Warmup as usize, u64::from(warmup));
        count_traffic(counts, result);
        self.count_handshake(counts, result);
        self.end_record();
    }

    /// Counts and times a TLS handshake the call made.
    #[inline]
    fn count_handshake(&self, counts: &Counters<WORKER_COUNTS>, result: &CallResult) {
        if result.handshake_ns > 0 {
            self.handshake.record(result.handshake_ns);
            counts.add(WorkerCount::TlsHandshakes as usize, 1);
            if result.tags.contains(Tags::TLS_RESUMED) {
                counts.add(WorkerCount::TlsResumed as usize, 1);
            }
        }
    }

    /// Counts a measured request given up at `now_ns` before it started, its deadline passed.
    #[inline]
    pub(crate) fn record_expired(&self, slot: usize, request: &Request, now_ns: u64) {
        self.begin_record();
        self.slots[slot]
            .counts
            .add(WorkerCount::Expired as usize, 1);
        self.end_record();
        if let Some(tap) = &self.log {
            tap.offer(|| request_log::Entry {
                seq: request.seq,
                intended_ns: request.intended_ns,
                handed_ns: request.sent_ns,
                end_ns: now_ns,
                outcome: Outcome::Expired,
                ..request_log::Entry::default()
            });
        }
    }

    /// Records one measured request. `idle_since_ns` is when this worker (or, for a network
    /// target, the connection) finished its previous request: before that (or before the
    /// intended instant, if later) the request waited for the target; from then until the
    /// call started, it waited for the framework. `queued_ns` is how long a network request
    /// waited for a free connection (0: it did not).
    #[inline]
    pub(crate) fn record(&self, call: &Call, idle_since_ns: u64, queued_ns: u64, slot: usize) {
        let Call {
            request,
            start_ns,
            end_ns,
            result,
            retries,
            timed_out,
            ..
        } = *call;
        self.begin_record();
        let set = &self.slots[slot];
        self.last_end.store(end_ns, Relaxed);
        let response = end_ns.saturating_sub(request.intended_ns);
        set.response.record(response);
        set.service.record(end_ns.saturating_sub(start_ns));
        set.dispatch
            .record(start_ns.saturating_sub(request.intended_ns));
        let framework = start_ns.saturating_sub(request.intended_ns.max(idle_since_ns));
        let counts = &set.counts;
        if queued_ns > 0 {
            counts.add(WorkerCount::Queued as usize, 1);
            counts.add(WorkerCount::QueuedNs as usize, queued_ns);
        }
        counts.add(WorkerCount::FrameworkNs as usize, framework);
        counts.add(WorkerCount::ResponseNs as usize, response);
        counts.add(WorkerCount::Completed as usize, 1);
        counts.add(WorkerCount::Retries as usize, retries as u64);
        match (timed_out, result.error) {
            (true, _) => counts.add(WorkerCount::Timeouts as usize, 1),
            (false, None) => counts.add(WorkerCount::Ok as usize, 1),
            (false, Some(kind)) => {
                counts.add(WorkerCount::Errors as usize, 1);
                self.count_kind(kind);
            }
        }
        if result.tags.contains(Tags::CACHE_HIT) {
            counts.add(WorkerCount::CacheHits as usize, 1);
        }
        if result.tags.contains(Tags::FALLBACK) {
            counts.add(WorkerCount::Fallbacks as usize, 1);
        }
        count_traffic(counts, &result);
        if result.handshake_ns > 0 {
            counts.add(WorkerCount::HandshakeInRequest as usize, 1);
            self.count_handshake(counts, &result);
        }
        if let Some(named) = result.name.and_then(|n| self.named.get(usize::from(n))) {
            named.response.record(response);
            named.service.record(end_ns.saturating_sub(start_ns));
            named
                .dispatch
                .record(start_ns.saturating_sub(request.intended_ns));
            let outcome = match (timed_out, result.error) {
                (true, _) => NamedCount::Timeouts,
                (false, None) => NamedCount::Ok,
                (false, Some(_)) => NamedCount::Errors,
            };
            named.counts.add(outcome as usize, 1);
            named.counts.add(NamedCount::Completed as usize, 1);
        }
        if let (Some(k), Some(stamps)) = (&self.kernel, call.kernel) {
            if !timed_out && result.error.is_none() {
                k.record(start_ns, stamps, end_ns);
            }
        }
        self.end_record();
        self.sample
            .offer(request.seq, request.intended_ns, request.sent_ns, end_ns);
        if let Some(tap) = &self.log {
            tap.offer(|| log_entry(call));
        }
    }

    /// Adds `busy_ns` of work, ending at a time of interval set `slot`. Not part of a record:
    /// the final reading need not agree with it.
    #[inline]
    pub(crate) fn add_busy(&self, slot: usize, busy_ns: u64) {
        self.slots[slot]
            .counts
            .add(WorkerCount::BusyNs as usize, busy_ns);
    }

    /// When the latest measured call ended (0 if none did).
    pub(crate) fn last_end_ns(&self) -> u64 {
        self.last_end.load(Relaxed)
    }

    /// Counts summed over every recorder set.
    #[cfg(test)]
    pub(crate) fn total_counts(&self) -> [u64; WORKER_COUNTS] {
        sum_counts(self.slots.iter().map(|s| &s.counts))
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
        self.exited
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Called by a network worker as it ends, with its pool's peak of requests in flight,
    /// how many of its connections carried a request and how many sockets busy-polled.
    pub(crate) fn set_pool_figures(&self, peak: u64, used: u64, busy_polled: u64) {
        self.peak_in_flight.store(peak, Relaxed);
        self.connections_used.store(used, Relaxed);
        self.busy_polled.store(busy_polled, Relaxed);
    }

    /// A network worker's sockets that busy-polled (`busy_poll_us`; 0 before it ended).
    pub(crate) fn busy_polled(&self) -> u64 {
        self.busy_polled.load(Relaxed)
    }

    /// A network worker's connections that carried a request (0 before it ended).
    pub(crate) fn connections_used(&self) -> u64 {
        self.connections_used.load(Relaxed)
    }

    /// Counts a timed sleep of a network worker that woke `late_ns` after it was due.
    #[inline]
    pub(crate) fn record_wake_up(&self, late_ns: u64) {
        self.wake_ups.record(late_ns);
    }

    /// Called by a network worker as it ends, with the shortest and longest spin window it
    /// used (ns).
    pub(crate) fn set_spin_window(&self, (low, high): (u64, u64)) {
        self.spin_window[0].store(low, Relaxed);
        self.spin_window[1].store(high, Relaxed);
    }

    /// The shortest and longest spin window a network worker used; `None` before it ended or
    /// for a worker that has none.
    pub(crate) fn spin_window(&self) -> Option<(u64, u64)> {
        let high = self.spin_window[1].load(Relaxed);
        (high > 0).then(|| (self.spin_window[0].load(Relaxed), high))
    }

    /// A network worker's peak of requests in flight (0 before it ended).
    pub(crate) fn peak_in_flight(&self) -> u64 {
        self.peak_in_flight.load(Relaxed)
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

/// Adds a network target's bytes and connections to a recorder set.
#[inline]
fn count_traffic(counts: &Counters<WORKER_COUNTS>, result: &CallResult) {
    if result.bytes_sent | result.bytes_received | u64::from(result.connections) != 0 {
        counts.add(WorkerCount::BytesSent as usize, result.bytes_sent);
        counts.add(WorkerCount::BytesReceived as usize, result.bytes_received);
        counts.add(
            WorkerCount::Connections as usize,
            u64::from(result.connections),
        );
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
    /// When the first byte of the response arrived (0: none, or not a network target).
    pub first_byte_ns: u64,
    /// The worker's connection that carried it (0: none).
    pub connection: u32,
    /// Its HTTP/2 stream on that connection (0: a connection carries one request at a time).
    pub stream: u32,
    /// With kernel timestamps: its stamps on the run clock (0: missing).
    pub kernel: Option<KernelStamps>,
}

/// A call as the request log keeps it (the tap fills in weight, scenario and worker).
fn log_entry(call: &Call) -> request_log::Entry {
    let outcome = match (call.timed_out, call.result.error) {
        (true, _) => Outcome::Timeout,
        (false, None) => Outcome::Ok,
        (false, Some(kind)) => Outcome::Error(kind),
    };
    let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    request_log::Entry {
        seq: call.request.seq,
        intended_ns: call.request.intended_ns,
        handed_ns: call.request.sent_ns,
        sent_ns: call.start_ns,
        first_byte_ns: call.first_byte_ns,
        end_ns: call.end_ns,
        bytes_sent: narrow(call.result.bytes_sent),
        bytes_received: narrow(call.result.bytes_received),
        connection: call.connection,
        stream: call.stream,
        kernel_tx_ns: call.kernel.map_or(0, |k| k.tx_ns),
        kernel_rx_first_ns: call.kernel.map_or(0, |k| k.rx_first_ns),
        kernel_rx_ns: call.kernel.map_or(0, |k| k.rx_last_ns),
        outcome,
        name: call.result.name,
        ..request_log::Entry::default()
    }
}

/// Timing-loop counters, indexing `TimerRecorders::counts`.
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
    /// Measured requests whose deadline passed in the backlog: never sent, counted as
    /// timeouts.
    Expired,
    /// Measured requests still in the backlog when a stop ended the run: never sent,
    /// counted as timeouts (abandoned).
    Abandoned,
}

/// Number of [`TimerCount`]s.
pub(crate) const TIMER_COUNTS: usize = 7;

/// A request is late when the timing loop sends it this long after its intended instant.
pub const LATE_NS: u64 = 1_000_000;

/// One interval set of a lane's recorders.
pub(crate) struct TimerRecorders {
    /// sent - planned hand-off (intended - hand-off lead), for measured requests: how late
    /// the timing loop was.
    pub lateness: AtomicHistogram,
    pub counts: Counters<TIMER_COUNTS>,
}

/// What the timing loop measured for one scenario; written by the timing thread only.
pub struct TimerStats {
    pub(crate) slots: [TimerRecorders; SLOTS],
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
            slots: std::array::from_fn(|_| TimerRecorders {
                lateness: AtomicHistogram::new(),
                counts: Counters::new(),
            }),
        }
    }

    #[inline]
    pub(crate) fn add(&self, slot: usize, count: TimerCount, n: u64) {
        self.slots[slot].counts.add(count as usize, n);
    }

    /// Records how late a measured request left the timing loop: `lateness_ns` after its
    /// planned hand-off, `past_intended_ns` after its intended instant.
    #[inline]
    pub(crate) fn record_lateness(&self, slot: usize, lateness_ns: u64, past_intended_ns: u64) {
        self.slots[slot].lateness.record(lateness_ns);
        if past_intended_ns >= LATE_NS {
            self.add(slot, TimerCount::Late, 1);
        }
    }
}

#[cfg(test)]
fn sum_counts<'a, const N: usize>(sets: impl Iterator<Item = &'a Counters<N>>) -> [u64; N] {
    let mut total = [0; N];
    for set in sets {
        for (t, c) in total.iter_mut().zip(set.read()) {
            *t += c;
        }
    }
    total
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
            first_byte_ns: 0,
            connection: 0,
            stream: 0,
            kernel: None,
        }
    }

    #[test]
    fn a_call_is_recorded_in_all_three_views() {
        let stats = WorkerStats::new();
        // The worker was busy until 3_000: 1_000..3_000 was queueing, 3_000..4_000 overhead.
        stats.record(&call(CallResult::ok(), false), 3_000, 0, 0);
        let c = stats.total_counts();
        assert_eq!(c[WorkerCount::Completed as usize], 1);
        assert_eq!(c[WorkerCount::Ok as usize], 1);
        assert_eq!(c[WorkerCount::Retries as usize], 1);
        assert_eq!(c[WorkerCount::ResponseNs as usize], 9_000);
        assert_eq!(c[WorkerCount::FrameworkNs as usize], 1_000);
        // An idle worker: everything from the intended instant to the start is overhead.
        stats.record(&call(CallResult::ok(), false), 0, 0, 1);
        assert_eq!(
            stats.total_counts()[WorkerCount::FrameworkNs as usize],
            1_000 + 3_000
        );
    }

    #[test]
    fn outcomes_and_kinds_are_counted_apart() {
        let stats = WorkerStats::new();
        stats.record(&call(CallResult::error(ErrorKind::PANIC), false), 0, 0, 0);
        stats.record(
            &call(CallResult::error(ErrorKind::new("db")), false),
            0,
            0,
            1,
        );
        stats.record(&call(CallResult::error(ErrorKind::PANIC), false), 0, 0, 2);
        stats.record(&call(CallResult::ok(), true), 0, 0, 3);
        let c = stats.total_counts();
        assert_eq!(c[WorkerCount::Errors as usize], 3);
        assert_eq!(c[WorkerCount::Timeouts as usize], 1);
        assert_eq!(c[WorkerCount::Ok as usize], 0);
        assert_eq!(stats.error_kinds(), vec![("panic", 2), ("db", 1)]);
    }

    #[test]
    fn the_cursor_walks_the_slots_in_turn() {
        let mut cursor = IntervalCursor::new(1_000, 100);
        assert_eq!(cursor.slot(0), 0);
        assert_eq!(cursor.slot(1_099), 0);
        assert_eq!(cursor.slot(1_100), 1);
        assert_eq!(cursor.slot(1_250), 2);
        // Jumping seven intervals ahead wraps around.
        assert_eq!(cursor.slot(1_950), (2 + 7) % SLOTS);
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
