//! The network worker: one thread, one `mio::Poll`, many connections.
//!
//! A worker of a network scenario owns a [`Pool`] of keep-alive connections. It takes from
//! the timing loop's channel only as many requests as it has free connections, so a request
//! that finds every connection busy waits in the shared channel for whichever worker frees
//! one first, and its response time still runs from its intended instant. A request taken
//! early (the hand-off lead) waits in the worker's short queue until its instant and is then
//! written on its connection; `start` is stamped there.
//!
//! # Waiting
//!
//! Between instants the worker waits on its poll, so that responses are read as they arrive:
//!
//! - `spin`: polls without blocking, all the time (a core of its own).
//! - `hybrid`: blocks (a `timerfd` keeps the nanosecond) until the [`SpinWindow`] before the
//!   next instant (the p99 of the wake-up lateness this worker measured, 20-500 µs), then
//!   polls without blocking. On a core shared with the timing loop or other workers it
//!   calls `sched_yield` between polls until the last 20 µs: the yield is what lets the
//!   timing loop share the worker's core, running at the worker's next poll when it wakes
//!   instead of waiting for the worker's time slice to end.
//! - `sleep`: blocks until the instant itself and never spins; the `timerfd` wake-up
//!   latency shows as dispatch delay.
//!
//! A worker with a free connection and nothing queued blocks until the timing loop wakes it
//! through its [`Wake`] (a `mio::Waker`); the timing loop only pays for that system call
//! when the worker said it is parked.
//!
//! Closed model: every connection is a caller that sends its next request when its previous
//! response ended, until the end of the run. Callers not yet started start 64 at a time
//! between looks at the poll, so that responses are read and recorded while thousands of
//! connections are still being opened.
//!
//! The worker is busy when it is not waiting on its poll (or yielding while it waits); the time
//! is counted per interval, as the in-process worker's is.
//!
//! Deadlines work as in `worker`: a request taken from the channel, or due from the worker's
//! queue, after its intended instant plus the timeout is given up without being sent and
//! counted as expired; the pool ends a request in flight at its deadline. When the run
//! abandons what is left (after a stop), the worker closes its connections and leaves.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam_channel::{Receiver, TryRecvError};

use super::stop::RunStop;
use super::window::{PROBE_SLEEP_NS, PROBES, SpinWindow};
use super::worker::{SPIN_ONLY_NS, Source};
use crate::base::WaitMode;
use crate::base::clock::{RunClock, thread_cpu_ns};
use crate::base::fault::guarded;
use crate::metrics::stats::{Call, IntervalCursor, WorkerStats};
use crate::targets::Request;
use crate::targets::net::Driver;

/// How often a worker's loop is restarted after a panic before the worker gives up.
const MAX_RESTARTS: usize = 100;

/// Closed model: callers started before the worker looks at its poll again.
const CLOSED_START_BATCH: usize = 64;

/// How the timing loop wakes a network worker that waits for requests.
pub(crate) struct Wake {
    parked: AtomicBool,
    waker: mio::Waker,
}

impl Wake {
    pub fn new(waker: mio::Waker) -> Arc<Wake> {
        Arc::new(Wake {
            parked: AtomicBool::new(false),
            waker,
        })
    }

    /// After a request was put in the channel: wakes the worker if it is parked waiting for
    /// one. Returns whether it did.
    #[inline]
    pub fn nudge(&self) -> bool {
        // Pairs with the fence in `NetWorker::park`: either the worker sees the request, or
        // this sees the worker parked.
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            let _ = self.waker.wake();
            return true;
        }
        false
    }

    /// Wakes the worker whatever it is doing (the channel was closed).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }
}

/// Everything one network worker thread needs.
pub(crate) struct NetWorker {
    pub clock: RunClock,
    pub stats: Arc<WorkerStats>,
    pub pool: Box<dyn Driver>,
    pub source: Source,
    pub warmup_ns: u64,
    pub cursor: IntervalCursor,
    pub timeout_ns: u64,
    pub stop: Arc<RunStop>,
    pub wake: Arc<Wake>,
    /// Another openpace thread (a worker, the timing loop) is pinned to this worker's core.
    pub shares_core: bool,
    /// Since when the worker has been working rather than waiting on its poll (see
    /// `waited`); set when the run begins.
    pub busy_from_ns: u64,
    /// How long before an instant it stops sleeping, in `hybrid` mode.
    pub window: SpinWindow,
}

impl NetWorker {
    /// Runs until the source is exhausted and every request has ended.
    pub fn run(mut self) {
        // Only a hybrid open-model worker spins for a window it adapts.
        let adapts = matches!(&self.source, Source::Open { wait, .. } if *wait == WaitMode::Hybrid);
        if self.pool.opens_all() {
            self.open_all();
        }
        if adapts {
            self.time_wake_ups();
        }
        while self.clock.until_origin_ns() > 0 {
            std::thread::sleep(std::time::Duration::from_nanos(
                self.clock.until_origin_ns(),
            ));
        }
        self.busy_from_ns = self.clock.now_ns();
        let source = std::mem::replace(
            &mut self.source,
            Source::Closed {
                next_seq: 0,
                stride: 1,
                end_ns: 0,
            },
        );
        // The pool catches panics in the protocol's code itself; this is the backstop for
        // one anywhere else in the loop: noted, the connections closed (what was on them is
        // abandoned), and the loop goes on.
        for _ in 0..MAX_RESTARTS {
            let ran = guarded(|| match &source {
                Source::Open { rx, wait } => self.run_open(rx, *wait),
                Source::Closed {
                    next_seq,
                    stride,
                    end_ns,
                } => self.run_closed(*next_seq, *stride, *end_ns),
            });
            match ran {
                Ok(()) => break,
                Err(what) => {
                    self.stats
                        .note_fault(format!("the worker's loop panicked ({what})"));
                    self.pool.close_all();
                }
            }
        }
        self.stats.set_pool_figures(
            self.pool.peak_in_flight() as u64,
            self.pool.used() as u64,
            self.pool.busy_polled() as u64,
        );
        if adapts {
            self.stats.set_spin_window(self.window.range_ns());
        }
        self.stats.mark_exited(thread_cpu_ns());
    }

    /// Opens every connection of the pool before the run (`connections: N`) and counts what
    /// that cost. A connection that could not be opened stays closed: its first request
    /// opens it, and fails as any request does when that fails too.
    fn open_all(&mut self) {
        self.pool.open_all();
        let slot = self.cursor.slot(self.clock.now_ns());
        for result in &self.pool.take_opened() {
            self.stats.record_opened(slot, result);
        }
    }

    /// Before the run's origin, while there is time: times [`PROBES`] sleeps on the poll, so that the spin window fits the host from the first request.
    fn time_wake_ups(&mut self) {
        for _ in 0..PROBES {
            if self.clock.until_origin_ns() < 2 * PROBE_SLEEP_NS + 2_000_000 {
                break;
            }
            if let Some(late) = self.pool.time_a_wake_up(PROBE_SLEEP_NS) {
                self.window.woke(late);
                self.stats.record_wake_up(late);
            }
        }
    }

    /// Sleeps on the poll until `until_ns` (or a response, or the timing loop's nudge), then
    /// counts how late the timer woke the worker, if it was the timer.
    fn sleep_until(&mut self, until_ns: u64) -> (u64, u64) {
        let (from, woke) = self.pool.wait(Some(until_ns), true);
        if woke >= until_ns {
            let late = woke - until_ns;
            self.window.woke(late);
            self.stats.record_wake_up(late);
        }
        (from, woke)
    }

    /// Accounts a wait on the poll from `from_ns` to `to_ns`: the worker worked from
    /// `busy_from_ns` until it began, and works again from its end.
    #[inline]
    fn waited(&mut self, (from_ns, to_ns): (u64, u64)) {
        // Warmup is not measured: only what follows it counts.
        let busy = from_ns.saturating_sub(self.busy_from_ns.max(self.warmup_ns));
        if busy > 0 {
            self.stats.add_busy(self.cursor.slot(from_ns), busy);
        }
        self.busy_from_ns = to_ns;
    }

    fn run_open(&mut self, rx: &Receiver<Request>, wait: WaitMode) {
        let mut queue: VecDeque<Request> = VecDeque::with_capacity(self.pool.free());
        let mut open = true;
        loop {
            if self.stop.abandoning() {
                self.record_done();
                return self.pool.close_all();
            }
            let now = self.clock.now_ns();
            while open && queue.len() < self.pool.free() {
                match rx.try_recv() {
                    Ok(request) if self.expire(&request, now) => {}
                    Ok(request) => queue.push_back(request),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            while let Some(&request) = queue.front() {
                if request.intended_ns > now {
                    break;
                }
                queue.pop_front();
                if !self.expire(&request, now) {
                    self.start(request);
                }
            }
            self.record_done();
            if !open && queue.is_empty() && self.pool.in_flight() == 0 {
                return;
            }
            let spin_window = match wait {
                WaitMode::Spin => u64::MAX,
                WaitMode::Hybrid => self.window.window_ns(),
                WaitMode::Sleep => 0,
            };
            let waited = match queue.front().map(|r| r.intended_ns) {
                Some(due) if due.saturating_sub(now) <= spin_window => {
                    let (from, mut to) = self.pool.wait(None, false);
                    let far = due.saturating_sub(now) > SPIN_ONLY_NS;
                    if wait == WaitMode::Hybrid && self.shares_core && far {
                        // sched_yield(2): let a thread the kernel put on this core run.
                        std::thread::yield_now();
                        to = self.clock.now_ns();
                    }
                    (from, to)
                }
                _ if wait == WaitMode::Spin => self.pool.wait(None, false),
                Some(due) => self.sleep_until(due - spin_window),
                None if open && queue.len() < self.pool.free() => self.park(rx),
                None => self.pool.wait(None, true),
            };
            self.waited(waited);
        }
    }

    /// Blocks until a request arrives (or a response, or the channel closes).
    fn park(&mut self, rx: &Receiver<Request>) -> (u64, u64) {
        self.wake.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let waited = if rx.is_empty() {
            self.pool.wait(None, true)
        } else {
            let now = self.clock.now_ns();
            (now, now)
        };
        self.wake.parked.store(false, Ordering::Relaxed);
        waited
    }

    fn run_closed(&mut self, mut next_seq: u64, stride: u64, end_ns: u64) {
        let begun = self.clock.now_ns();
        loop {
            if self.stop.abandoning() {
                self.record_done();
                return self.pool.close_all();
            }
            let now = self.clock.now_ns();
            let sending = now < end_ns && !self.stop.stopping();
            // A caller whose response ended sends again at once. Callers not yet started
            // (their connections never used, at the bottom of the free stack) start a batch
            // at a time, with a look at the poll between batches: starting 20,000 at once
            // took seconds of connects (a listener whose queue is full makes each slow), in
            // which no response was read or recorded.
            let mut fresh = 0;
            while sending && self.pool.free() > 0 {
                let since = self.pool.next_idle_since_ns().unwrap_or(0);
                if since == 0 {
                    if fresh == CLOSED_START_BATCH {
                        break;
                    }
                    fresh += 1;
                }
                let since = since.max(begun);
                self.start(Request {
                    seq: next_seq,
                    intended_ns: since,
                    sent_ns: since,
                });
                next_seq += stride;
            }
            self.record_done();
            if !sending && self.pool.in_flight() == 0 {
                return;
            }
            let more = sending && self.pool.next_idle_since_ns() == Some(0);
            let waited = self.pool.wait(None, !more);
            self.waited(waited);
        }
    }

    /// Gives up `request` if its deadline has passed by `now`; says whether it did.
    #[inline]
    fn expire(&mut self, request: &Request, now: u64) -> bool {
        if now < request.intended_ns.saturating_add(self.timeout_ns) {
            return false;
        }
        if request.intended_ns >= self.warmup_ns {
            let slot = self.cursor.slot(now);
            self.stats.record_expired(slot, request, now);
        }
        true
    }

    #[inline]
    fn start(&mut self, request: Request) {
        let start_ns = self.pool.start(request);
        if request.intended_ns >= self.warmup_ns {
            self.stats.record_taken(self.cursor.slot(start_ns));
        }
    }

    /// Records every request the pool finished, and notes the faults it caught.
    #[inline]
    fn record_done(&mut self) {
        for fault in self.pool.take_faults() {
            self.stats
                .note_fault(format!("request {}: {}", fault.seq, fault.what));
        }
        for done in self.pool.done().drain(..) {
            let slot = self.cursor.slot(done.end_ns);
            if done.request.intended_ns < self.warmup_ns {
                self.stats.record_warmup(slot, &done.result);
                continue;
            }
            let call = Call {
                request: done.request,
                start_ns: done.start_ns,
                end_ns: done.end_ns,
                result: done.result,
                retries: done.retries,
                timed_out: done.end_ns >= done.request.intended_ns.saturating_add(self.timeout_ns),
                first_byte_ns: done.first_byte_ns,
                connection: done.connection,
                stream: done.stream,
                kernel: done.kernel,
            };
            self.stats
                .record(&call, done.idle_since_ns, done.queued_ns, slot);
        }
    }
}
