//! The worker loop: take a request, call the target, record.
//!
//! One loop serves every mode. Where requests come from is a [`Source`]: the timing loop's
//! channel (open model) or the worker itself, right after its previous call (closed model).
//! How an idle worker waits is the [`WaitMode`]: spinning on `try_recv` (`spin`), spinning for
//! a short while and then blocking (`hybrid`), or blocking at once (`sleep`). A blocked worker
//! pays a futex wake-up (tens of µs at the tail) on its next request; that cost shows up in
//! dispatch delay, not hidden.
//!
//! The timing loop may hand a request over shortly before its intended instant (the hand-off
//! lead, see `timer`); the worker then spins until the instant, so that `start` is stamped
//! on time however long its own wake-up took.
//!
//! A worker counts its busy time: from a call's start to the moment it next waits (for a
//! request, or for an instant), so calls and the framework between them, never the waits,
//! spins included. Each call's share is counted in the interval it ends in.
//!
//! Per request the worker reads the clock twice (start, end), calls the target inside
//! `catch_unwind`, retries failures at once up to `max_retries`, and records into its own
//! [`WorkerStats`]: no allocation, lock or formatting.
//!
//! # Deadlines
//!
//! A request's deadline is its intended instant plus the request timeout: the time a user
//! would wait for it. One that a worker takes after its deadline (it waited behind slow calls)
//! is given up without a call and counted as expired; a call that ends at or after it is a
//! timeout, whatever it returned; retries stop at it. So however slow the target, a run's
//! queue empties by the end of the schedule plus the timeout. A call in progress cannot be
//! interrupted (it is the target's own code); the collector stops waiting for it once its
//! deadline has passed.

use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};

use super::stop::RunStop;
use crate::base::WaitMode;
use crate::base::clock::{RunClock, thread_cpu_ns};
use crate::metrics::stats::{Call, IntervalCursor, WorkerStats};
use crate::targets::{CallResult, ErrorKind, Request, Target};

/// In hybrid mode, how long an idle worker spins before it blocks.
const HYBRID_SPIN_NS: u64 = 50_000;
/// Outside spin mode, how long before its instant a worker stops yielding and just spins.
pub(crate) const SPIN_ONLY_NS: u64 = 20_000;

/// Where a worker's requests come from.
pub(crate) enum Source {
    /// The timing loop's channel; ends when the channel is closed and empty.
    Open {
        rx: Receiver<Request>,
        wait: WaitMode,
    },
    /// The worker makes its own: the next request is intended when the previous one ended.
    /// Worker `i` of `n` numbers its requests `i, i + n, i + 2n, ...`.
    Closed {
        next_seq: u64,
        stride: u64,
        end_ns: u64,
    },
}

/// Everything one worker thread needs.
pub(crate) struct Worker {
    pub clock: RunClock,
    pub stats: Arc<WorkerStats>,
    pub target: Box<dyn Target>,
    pub source: Source,
    pub warmup_ns: u64,
    /// Places each record in the recorder set of its interval.
    pub cursor: IntervalCursor,
    pub timeout_ns: u64,
    pub max_retries: u32,
    pub stop: Arc<RunStop>,
    /// Another openpace thread (a worker, the timing loop) is pinned to this worker's core.
    pub shares_core: bool,
}

impl Worker {
    /// Runs until the source is exhausted.
    pub fn run(mut self) {
        while self.clock.until_origin_ns() > 0 && matches!(self.source, Source::Closed { .. }) {
            std::thread::sleep(std::time::Duration::from_nanos(
                self.clock.until_origin_ns(),
            ));
        }
        let mut idle_since = self.clock.now_ns();
        // Since when the worker has been working (calls and the framework between them),
        // `None` while it waits for a request or its instant.
        let mut busy_from = None;
        while let Some((request, waited_from)) = self.next_request(idle_since) {
            if let Some(at) = waited_from {
                self.end_busy(&mut busy_from, at);
            }
            if self.stop.abandoning() {
                break;
            }
            let measured = request.intended_ns >= self.warmup_ns;
            let deadline_ns = request.intended_ns.saturating_add(self.timeout_ns);
            // Returns at once, with the time, for a request taken after its instant.
            let (start_ns, spun_from) = self.await_instant(request.intended_ns);
            if let Some(at) = spun_from {
                self.end_busy(&mut busy_from, at);
            }
            if start_ns >= deadline_ns {
                if measured {
                    let slot = self.cursor.slot(start_ns);
                    self.stats.record_expired(slot, &request, start_ns);
                }
                continue;
            }
            busy_from.get_or_insert(start_ns);
            self.stats.set_busy(deadline_ns);
            if measured {
                self.stats.record_taken(self.cursor.slot(start_ns));
            }
            let (result, retries) = self.call(&request, deadline_ns);
            let end_ns = self.clock.now_ns();
            self.stats.set_idle();
            let slot = self.cursor.slot(end_ns);
            if measured {
                let call = Call {
                    request,
                    start_ns,
                    end_ns,
                    result,
                    retries,
                    timed_out: end_ns >= deadline_ns,
                    first_byte_ns: 0,
                    connection: 0,
                    stream: 0,
                    kernel: None,
                };
                self.stats.record(&call, idle_since, 0, slot);
            } else {
                self.stats.record_warmup(slot, &result);
            }
            // Busy time is counted call by call, so that it lands in the intervals it fills.
            if let Some(from) = busy_from.replace(end_ns) {
                let busy = end_ns.saturating_sub(from.max(self.warmup_ns));
                self.stats.add_busy(slot, busy);
            }
            idle_since = end_ns;
        }
        self.stats.mark_exited(thread_cpu_ns());
    }

    /// Ends a stretch of work at `at_ns` and counts it (what follows the warmup).
    #[inline]
    fn end_busy(&mut self, busy_from: &mut Option<u64>, at_ns: u64) {
        if let Some(from) = busy_from.take() {
            let busy = at_ns.saturating_sub(from.max(self.warmup_ns));
            if busy > 0 {
                self.stats.add_busy(self.cursor.slot(at_ns), busy);
            }
        }
    }

    /// The next request, or `None` when there are no more, with the time the worker began
    /// to wait for it if it had to. `idle_since` is when the previous call ended, which is
    /// when a closed-loop caller sends its next request.
    #[inline]
    fn next_request(&mut self, idle_since: u64) -> Option<(Request, Option<u64>)> {
        match &mut self.source {
            Source::Open { rx, wait } => receive(rx, *wait, &self.clock),
            Source::Closed {
                next_seq,
                stride,
                end_ns,
            } => {
                if idle_since >= *end_ns || self.stop.stopping() {
                    return None;
                }
                let request = Request {
                    seq: *next_seq,
                    intended_ns: idle_since,
                    sent_ns: idle_since,
                };
                *next_seq += *stride;
                Some((request, None))
            }
        }
    }

    /// Spins until the clock reads `intended_ns` and returns the reading, the call's start,
    /// with the first reading if it was early (the worker waited from then on).
    ///
    /// Outside `spin` mode, on a core shared with other openpace threads, the spin yields the
    /// core between clock reads until the last
    /// [`SPIN_ONLY_NS`]. Workers often outnumber cores, and a worker spinning towards its
    /// instant would otherwise hold its core for a whole time slice while another worker on
    /// it, whose instant has come, waits: with 10 workers on one core at 2,000 RPS that put
    /// 28 ms into the p99 of a no-op target. The last stretch is a plain spin, because a
    /// yield costs a system call and so blurs the start stamp (yielding to the end took the
    /// hybrid dispatch delay p99 from 0.03 to 2 µs on a core of its own).
    ///
    /// Against computing neighbours (the default scenario's 8 extractor workers on one core at
    /// 355 RPS, near the core's capacity; three alternating rounds each), yielding gave
    /// service p50 3.4-3.7 ms and response p50 7-9 ms, p95 43-45 ms; spinning, as before,
    /// service p50 17-19 ms (calls time-sliced with spinners), response p50 19-20 ms, p95
    /// 39-43 ms; sleeping until 100 µs before the instant (`clock_nanosleep`, no timer slack)
    /// was worst: service p50 31 ms, response p95 97-170 ms.
    #[inline]
    fn await_instant(&self, intended_ns: u64) -> (u64, Option<u64>) {
        let share = self.shares_core
            && !matches!(
                self.source,
                Source::Open {
                    wait: WaitMode::Spin,
                    ..
                }
            );
        let first = self.clock.now_ns();
        if first >= intended_ns {
            return (first, None);
        }
        loop {
            let now = self.clock.now_ns();
            if now >= intended_ns {
                return (now, Some(first));
            }
            if share && intended_ns - now > SPIN_ONLY_NS {
                // sched_yield(2): let a thread the kernel put on this core run.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Calls the target, retrying failures at once while attempts remain and the deadline
    /// has not passed.
    #[inline]
    fn call(&mut self, request: &Request, deadline_ns: u64) -> (CallResult, u32) {
        let mut retries = 0;
        loop {
            let result = match crate::base::fault::guarded(|| self.target.call(request)) {
                Ok(result) => result,
                Err(message) => {
                    super::report_target_panic(&message);
                    CallResult::error(ErrorKind::PANIC)
                }
            };
            // The clock is read again only when a retry is possible.
            if result.is_ok()
                || retries == self.max_retries
                || self.stop.abandoning()
                || self.clock.now_ns() >= deadline_ns
            {
                return (result, retries);
            }
            retries += 1;
        }
    }
}

/// Takes the next request from the channel, waiting as the mode says; with it, the time
/// the wait began if the channel was empty.
#[inline]
fn receive(
    rx: &Receiver<Request>,
    wait: WaitMode,
    clock: &RunClock,
) -> Option<(Request, Option<u64>)> {
    match rx.try_recv() {
        Ok(request) => return Some((request, None)),
        Err(TryRecvError::Disconnected) => return None,
        Err(TryRecvError::Empty) => {}
    }
    let waited_from = clock.now_ns();
    let spin_until = match wait {
        WaitMode::Spin => u64::MAX,
        WaitMode::Hybrid => waited_from + HYBRID_SPIN_NS,
        WaitMode::Sleep => 0,
    };
    loop {
        match rx.try_recv() {
            Ok(request) => return Some((request, Some(waited_from))),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if wait != WaitMode::Spin && clock.now_ns() >= spin_until {
            return rx.recv().ok().map(|request| (request, Some(waited_from)));
        }
        std::hint::spin_loop();
    }
}
