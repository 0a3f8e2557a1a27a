//! The timing loop: one pinned thread that hands every request over on schedule.
//!
//! It also watches itself: a turn of the loop that comes 50 ms or more after it should have
//! (beyond a sleep it asked for) is a *stall* of openpace itself (SIGSTOP, a paused VM, a long
//! preemption); the stalls go into the result and flag the intervals they covered.
//!
//! # How it works
//!
//! Each scenario is a *lane*: its schedule, the next intended instant, a channel to its
//! workers and a backlog. A lane whose next hand-off is more than a tick away waits in the
//! [`TimerWheel`] (1 ms ticks); once its tick comes up it moves to a small *ready* list. The
//! loop then:
//!
//! 1. takes the ready lane with the earliest instant;
//! 2. if its hand-off time (the intended instant minus the mode's *hand-off lead*) has come,
//!    stamps `sent`, hands the request to the channel (or the backlog) and asks the schedule
//!    for the lane's next instant;
//! 3. otherwise waits for it: `spin` spins on the clock, `hybrid` and `sleep` sleep on
//!    `mio::Poll` with a `timerfd` armed for the exact nanosecond.
//!
//! # Why a hand-off lead
//!
//! Measured on the project's 2-core VM: waking a blocked worker (a futex wake-up) takes about
//! 32 µs at the median and a few hundred at the tail, waking the timing loop from a `timerfd`
//! about 60 µs, and core 0 (where interrupts land) stalls a spinning thread for 1-5 ms about
//! once in a thousand 10 µs deadlines, ten times as often as core 1. Sending at the intended
//! instant added the wake-ups to every request: framework overhead was 0.58% of the default
//! scenario's 20 ms responses, dispatch delay p50 71 µs. So in `hybrid` mode a request
//! leaves 1 ms early, the worker spins out the rest itself and stamps `start` within a clock
//! read of the intended instant (overhead 0.005%, dispatch delay p50 0.02 µs): the timing
//! loop's hiccups and the hand-off are absorbed unless they exceed the lead, and then they
//! show as dispatch delay. In `spin` mode workers spin anyway, so the lead is 5 ms, enough to
//! absorb core 0's stalls too (dispatch p99 at 10k RPS went from 2.2x and 15.4x a bare spin
//! loop's p99 with a 1 ms lead to 0.19x and 0.31x). `sleep` mode sends at the instant and
//! never spins.
//!
//! # Batches for network lanes
//!
//! A network scenario's workers keep time on their own polls, so its lane may hand a request
//! over up to a *batch* (0.5 ms, outside `spin` mode) before its planned hand-off. Woken at
//! one planned hand-off, the loop sends everything whose batch window has opened and sleeps
//! until the next planned hand-off: at 20,000 RPS about 2,000 wake-ups a second instead of
//! 20,000, which took the loop from 29% to 2.7% of a core on a core it shares with the
//! worker. After a request goes into a network lane's channel the loop wakes one parked
//! worker of the lane, if any said it is parked (see `net_worker`).
//!
//! # What it never does
//!
//! It never moves an intended instant. A full channel sends the request to the backlog with
//! its instant unchanged; past `max_backlog` it is counted as dropped. A backlogged request
//! whose deadline (intended instant + request timeout) passes before a worker can take it is
//! given up there, counted as a timeout (`expired`), never sent. Lateness (sent minus the
//! planned hand-off time) is recorded per scenario, so a loop that fell behind shows it.
//! Nothing here allocates, locks, prints or formats per request.
//!
//! # How it ends
//!
//! When every schedule is done the loop keeps handing backlogged requests over until the
//! backlog is empty, which their deadlines bound; then it closes the channels, so workers end
//! once they have emptied them. A stop request ends sending at once and gives up the backlog
//! (counted as abandoned).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Sender, TrySendError};

use super::net_worker::Wake;
use super::sleeper::Sleeper;
use super::stop::RunStop;
use super::wheel::TimerWheel;
use crate::base::WaitMode;
use crate::base::clock::{RunClock, thread_cpu_ns};
use crate::metrics::stats::{IntervalCursor, TimerCount, TimerStats};
use crate::schedule::Schedule;
use crate::targets::Request;

/// Width of a wheel tick.
const TICK_NS: u64 = 1_000_000;

/// How long before its intended instant a request is handed to the workers in each mode; the
/// worker waits out the rest itself (see the module doc). A network lane's workers sleep on
/// their polls until their spin window, so a long lead costs them nothing: outside `sleep`
/// mode they get the longest one, which absorbs the timing loop's late wake-ups up to 5 ms.
pub fn handoff_lead_ns(mode: WaitMode, network: bool) -> u64 {
    match mode {
        WaitMode::Spin => 5_000_000,
        WaitMode::Hybrid if network => 5_000_000,
        WaitMode::Hybrid => 1_000_000,
        WaitMode::Sleep => 0,
    }
}
/// How often a non-empty backlog is retried when nothing else wakes the loop.
const BACKLOG_RETRY_NS: u64 = 100_000;

/// One scenario as the timing loop sees it.
pub(crate) struct Lane {
    schedule: Schedule,
    tx: Option<Sender<Request>>,
    stats: Arc<TimerStats>,
    /// Which recorder set the current instant belongs to.
    cursor: IntervalCursor,
    warmup_ns: u64,
    /// A request not taken by a worker by `intended_ns + timeout_ns` is given up.
    timeout_ns: u64,
    max_backlog: usize,
    backlog: VecDeque<Request>,
    next: Option<u64>,
    /// Network workers to wake when a request arrives for them (empty for call workers).
    wakes: Vec<Arc<Wake>>,
    /// No instant at or after this is sent: where a run until precise ends its schedule
    /// (`u64::MAX` otherwise).
    end_ns: Arc<AtomicU64>,
    /// How much earlier than the lead this lane's requests may be handed over, so that one
    /// wake-up of the loop hands over a batch (network lanes; see the module doc).
    batch_ns: u64,
    /// How long before its instant a request is due to be handed over ([`handoff_lead_ns`]).
    lead_ns: u64,
}

impl Lane {
    pub fn new(
        schedule: Schedule,
        tx: Sender<Request>,
        stats: Arc<TimerStats>,
        warmup_ns: u64,
        interval_ns: u64,
        timeout_ns: u64,
        max_backlog: usize,
    ) -> Lane {
        Lane {
            schedule,
            tx: Some(tx),
            stats,
            cursor: IntervalCursor::new(warmup_ns, interval_ns),
            warmup_ns,
            timeout_ns,
            max_backlog,
            // Grown as it is used: a ring with room reserved up front would walk through all
            // of it as requests pass, and the process grow by its size over a long run even
            // when the backlog never holds more than a few.
            backlog: VecDeque::new(),
            next: None,
            wakes: Vec::new(),
            lead_ns: 0,
            end_ns: Arc::new(AtomicU64::new(u64::MAX)),
            batch_ns: 0,
        }
    }

    /// Ends the schedule at the instant `end_ns` holds when the lane gets there.
    pub fn with_end(mut self, end_ns: Arc<AtomicU64>) -> Lane {
        self.end_ns = end_ns;
        self
    }

    /// The schedule's next instant, unless the schedule was ended before it.
    #[inline]
    fn next_instant(&mut self) -> Option<u64> {
        let at = self.schedule.next_offset_ns()?;
        (at < self.end_ns.load(Ordering::Relaxed)).then_some(at)
    }

    /// Hands requests over `lead_ns` before their instants ([`handoff_lead_ns`]).
    pub fn with_lead(mut self, lead_ns: u64) -> Lane {
        self.lead_ns = lead_ns;
        self
    }

    /// Makes this a network lane: its workers are woken through `wakes`, and its requests
    /// are handed over in batches of up to `batch_ns`.
    pub fn with_network(mut self, wakes: Vec<Arc<Wake>>, batch_ns: u64) -> Lane {
        self.wakes = wakes;
        self.batch_ns = batch_ns;
        self
    }

    /// Wakes one parked network worker after a request went into the channel.
    #[inline]
    fn nudge(&self) {
        for wake in &self.wakes {
            if wake.nudge() {
                return;
            }
        }
    }

    fn measured(&self, request: &Request) -> bool {
        request.intended_ns >= self.warmup_ns
    }

    /// Counts what happened to a request, in the recorder set of `now_ns`.
    fn count(&mut self, request: &Request, count: TimerCount, now_ns: u64) {
        let slot = self.cursor.slot(now_ns);
        if self.measured(request) {
            self.stats.add(slot, count, 1);
        } else if matches!(count, TimerCount::Sent | TimerCount::Dropped) {
            self.stats.add(slot, TimerCount::Warmup, 1);
        }
    }

    /// Hands a request to the workers, or queues it behind earlier ones, or drops it.
    #[inline]
    fn hand_over(&mut self, request: Request) {
        let now = request.sent_ns;
        if self.backlog.is_empty() {
            match self.tx.as_ref().map(|tx| tx.try_send(request)) {
                Some(Ok(())) => {
                    self.nudge();
                    return self.count(&request, TimerCount::Sent, now);
                }
                Some(Err(TrySendError::Full(_))) => {}
                // No channel or no workers left: nothing can take it.
                Some(Err(TrySendError::Disconnected(_))) | None => {
                    return self.count(&request, TimerCount::Dropped, now);
                }
            }
        }
        if self.backlog.len() < self.max_backlog {
            self.count(&request, TimerCount::Backlogged, now);
            self.backlog.push_back(request);
        } else {
            self.count(&request, TimerCount::Dropped, now);
        }
    }

    /// Moves backlogged requests into the channel while it has room; gives up those whose
    /// deadline has passed.
    fn flush(&mut self, now: u64) {
        while let Some(&request) = self.backlog.front() {
            if self.expired(&request, now) {
                self.backlog.pop_front();
                self.count(&request, TimerCount::Expired, now);
                continue;
            }
            let Some(tx) = self.tx.as_ref() else { return };
            match tx.try_send(request) {
                Ok(()) => {
                    self.backlog.pop_front();
                    self.nudge();
                    self.count(&request, TimerCount::Sent, now);
                }
                Err(TrySendError::Full(_)) => return,
                Err(TrySendError::Disconnected(_)) => {
                    self.backlog.pop_front();
                    self.count(&request, TimerCount::Dropped, now);
                }
            }
        }
    }

    fn expired(&self, request: &Request, now: u64) -> bool {
        now >= request.intended_ns.saturating_add(self.timeout_ns)
    }

    /// Gives up on the backlog and closes the channel, so workers end once it is empty.
    /// What is left is counted as abandoned after a stop, else as expired (its deadline has
    /// passed) or dropped.
    fn close(&mut self, now: u64, stopped: bool) {
        while let Some(request) = self.backlog.pop_front() {
            let count = if stopped {
                TimerCount::Abandoned
            } else if self.expired(&request, now) {
                TimerCount::Expired
            } else {
                TimerCount::Dropped
            };
            self.count(&request, count, now);
        }
        self.tx = None;
        for wake in &self.wakes {
            wake.wake();
        }
    }
}

/// How the timing loop ended.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerOutcome {
    /// A stop request ended sending before the schedules did.
    pub interrupted: bool,
    /// When sending ended, on the run clock.
    pub stopped_at_ns: u64,
    /// CPU time of the timing thread.
    pub cpu_ns: u64,
    /// When the timing loop could not run for [`STALL_NS`] or more (the process was stopped,
    /// or the thread descheduled that long): (from, to) on the run clock, in order.
    pub stalls: Vec<(u64, u64)>,
    /// The timing loop ran under SCHED_FIFO (`--realtime`).
    pub realtime: bool,
}

/// A gap this long in the timing loop's running (beyond a sleep it asked for) is a stall.
pub(crate) const STALL_NS: u64 = 50_000_000;
/// Stalls kept per run; later ones extend the last.
const MAX_STALLS: usize = 1024;

/// Notes the stalls of a loop: each turn reports when it runs and until when it meant to be
/// away; a turn that comes [`STALL_NS`] or more after that is a stall.
#[derive(Default)]
struct StallWatch {
    /// The loop may legitimately not run until this instant.
    away_until_ns: u64,
    stalls: Vec<(u64, u64)>,
}

impl StallWatch {
    /// The loop runs at `now_ns`.
    #[inline]
    fn running(&mut self, now_ns: u64) {
        let from = self.away_until_ns;
        if now_ns >= from.saturating_add(STALL_NS) {
            let full = self.stalls.len() >= MAX_STALLS;
            match self.stalls.last_mut() {
                Some(last) if full => last.1 = now_ns,
                _ => self.stalls.push((from, now_ns)),
            }
        }
        self.away_until_ns = now_ns;
    }

    /// The loop is about to sleep until `at_ns`.
    #[inline]
    fn sleeping_until(&mut self, at_ns: u64) {
        self.away_until_ns = self.away_until_ns.max(at_ns);
    }
}

/// The timing loop; see the module doc.
pub(crate) struct TimingLoop {
    clock: RunClock,
    mode: WaitMode,
    /// The largest lead plus batch: how far ahead lanes must be ready.
    reach_ns: u64,
    lanes: Vec<Lane>,
    wheel: TimerWheel,
    ready: Vec<u32>,
    sleeper: Sleeper,
    stop: Arc<RunStop>,
    /// How long to keep retrying backlogs once sending has ended.
    drain_ns: u64,
    stalls: StallWatch,
}

impl TimingLoop {
    pub fn new(
        clock: RunClock,
        mode: WaitMode,
        lanes: Vec<Lane>,
        sleeper: Sleeper,
        stop: Arc<RunStop>,
        drain_ns: u64,
    ) -> TimingLoop {
        let keys = lanes.len();
        let reach_ns = lanes
            .iter()
            .map(|l| l.lead_ns + l.batch_ns)
            .max()
            .unwrap_or(0);
        TimingLoop {
            clock,
            mode,
            reach_ns,
            lanes,
            wheel: TimerWheel::new(keys),
            ready: Vec::with_capacity(keys),
            sleeper,
            stop,
            drain_ns,
            stalls: StallWatch::default(),
        }
    }

    /// Runs every lane's schedule to its end (or a stop), then drains backlogs.
    pub fn run(mut self) -> TimerOutcome {
        self.wait_for_origin();
        for lane in 0..self.lanes.len() {
            self.lanes[lane].next = self.lanes[lane].next_instant();
            self.file(lane, 0);
        }
        let interrupted = self.send_all();
        let stopped_at_ns = self.clock.now_ns();
        self.drain(stopped_at_ns);
        TimerOutcome {
            interrupted,
            stopped_at_ns,
            cpu_ns: thread_cpu_ns(),
            stalls: std::mem::take(&mut self.stalls.stalls),
            realtime: false,
        }
    }

    /// Sleeps, then spins, until the run's origin: readings before it all read 0.
    fn wait_for_origin(&mut self) {
        if self.mode != WaitMode::Spin {
            let _ = self.sleeper.sleep_until(&self.clock, 0);
        }
        while self.clock.until_origin_ns() > 0 && !self.stop.stopping() {
            std::hint::spin_loop();
        }
    }

    /// The main loop. Returns true when a stop request ended it.
    fn send_all(&mut self) -> bool {
        loop {
            if self.stop.stopping() {
                return true;
            }
            let now = self.clock.now_ns();
            self.stalls.running(now);
            let backlogged = self.flush_backlogs(now);
            self.wheel
                .advance((now + self.reach_ns) / TICK_NS, &mut self.ready);
            let mut wake = match self.earliest_ready() {
                Some((lane, earliest, _)) if earliest <= now => {
                    self.dispatch(lane, now);
                    continue;
                }
                Some((_, _, latest)) => latest,
                None => match self.wheel.next_expiration() {
                    Some(tick) => (tick * TICK_NS).saturating_sub(self.reach_ns),
                    None if backlogged => now + BACKLOG_RETRY_NS,
                    None => return false,
                },
            };
            if backlogged {
                wake = wake.min(now + BACKLOG_RETRY_NS);
            }
            self.stalls.sleeping_until(wake);
            self.wait_until(wake);
        }
    }

    /// The ready lane whose next request may be handed over first, when that is, and the
    /// latest instant by which some ready lane must hand its next request over (the planned
    /// hand-off, intended instant minus lead). A lane with a batch may hand over from
    /// `batch_ns` before its planned hand-off, so that the loop, woken at one planned hand-off,
    /// sends everything due within the batch and sleeps until the next planned one.
    #[inline]
    fn earliest_ready(&self) -> Option<(usize, u64, u64)> {
        let mut best: Option<(usize, u64, u64)> = None;
        for &lane in &self.ready {
            let l = &self.lanes[lane as usize];
            let Some(at) = l.next else { continue };
            let planned = at.saturating_sub(l.lead_ns);
            let earliest = planned.saturating_sub(l.batch_ns);
            best = Some(match best {
                None => (lane as usize, earliest, planned),
                Some((b, e, p)) if e <= earliest => (b, e, p.min(planned)),
                Some((_, _, p)) => (lane as usize, earliest, p.min(planned)),
            });
        }
        best
    }

    /// Sends the next request of `lane` now; then files the lane's next one.
    #[inline]
    fn dispatch(&mut self, lane: usize, now: u64) {
        let l = &mut self.lanes[lane];
        let Some(at) = l.next else { return };
        // The request's index in the whole schedule: unique across the shards of a campaign.
        let request = Request {
            seq: l.schedule.last_index(),
            intended_ns: at,
            sent_ns: now,
        };
        if l.measured(&request) {
            let planned = at.saturating_sub(l.lead_ns);
            let slot = l.cursor.slot(now);
            l.stats
                .record_lateness(slot, now.saturating_sub(planned), now.saturating_sub(at));
        }
        l.hand_over(request);
        l.next = l.next_instant();
        self.file(lane, now);
    }

    /// Puts a lane where its next instant belongs: ready, the wheel, or nowhere if done.
    fn file(&mut self, lane: usize, now: u64) {
        let position = self.ready.iter().position(|&l| l as usize == lane);
        let keep_ready = match self.lanes[lane].next {
            None => false,
            Some(at) => {
                at / TICK_NS <= (now + self.reach_ns) / TICK_NS
                    || !self.wheel.insert(lane as u32, at / TICK_NS)
            }
        };
        match (keep_ready, position) {
            (true, None) => self.ready.push(lane as u32),
            (false, Some(i)) => {
                self.ready.swap_remove(i);
            }
            _ => {}
        }
    }

    /// Retries every backlog; returns whether any is still non-empty.
    fn flush_backlogs(&mut self, now: u64) -> bool {
        let mut pending = false;
        for lane in &mut self.lanes {
            if !lane.backlog.is_empty() {
                lane.flush(now);
                pending |= !lane.backlog.is_empty();
            }
        }
        pending
    }

    /// Waits until the clock reads `at` (or a stop request), the way the wait mode says:
    /// spinning, or sleeping on the timerfd.
    fn wait_until(&mut self, at: u64) {
        if self.mode != WaitMode::Spin && self.sleeper.sleep_until(&self.clock, at).is_ok() {
            return;
        }
        // Spin mode, or a sleeper that failed: keep time by spinning.
        while self.clock.now_ns() < at && !self.stop.stopping() {
            std::hint::spin_loop();
        }
    }

    /// After sending ends: keeps handing backlogged requests over until none is left (their
    /// deadlines bound this; `drain_ns` is a backstop), unless a stop request ends it at
    /// once; then closes the channels.
    fn drain(&mut self, from_ns: u64) {
        let deadline = from_ns + self.drain_ns;
        loop {
            let now = self.clock.now_ns();
            if self.stop.stopping() || !self.flush_backlogs(now) || now >= deadline {
                break;
            }
            if self
                .sleeper
                .sleep_until(&self.clock, now + BACKLOG_RETRY_NS)
                .is_err()
            {
                std::thread::yield_now();
            }
        }
        let now = self.clock.now_ns();
        let stopped = self.stop.stopping();
        for lane in &mut self.lanes {
            lane.close(now, stopped);
        }
    }
}
