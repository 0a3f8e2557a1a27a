//! How the timing loop sleeps: `mio::Poll` on a `timerfd` armed at an absolute instant.
//!
//! `epoll_wait` counts its timeout in whole milliseconds, so asking `Poll` for 100 µs sleeps
//! about 1 ms. A `timerfd` armed with an absolute `CLOCK_MONOTONIC` deadline and registered
//! with the same `Poll` wakes it at the nanosecond deadline instead (plus the scheduler's
//! wake-up latency), and the `mio::Waker` registered beside it lets a stop request cut any
//! sleep short.

use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token};

use super::stop::RunStop;
use crate::base::clock::{RunClock, monotonic_ns};
use crate::base::timerfd::TimerFd;

const WAKER: Token = Token(0);
const TIMER: Token = Token(1);

/// Sleeps until an instant on the run clock, or until woken.
pub(crate) struct Sleeper {
    poll: Poll,
    events: Events,
    timer: TimerFd,
}

impl Sleeper {
    /// A sleeper whose waker is handed to `stop`, so a stop request interrupts any sleep.
    pub fn new(stop: &RunStop) -> io::Result<Sleeper> {
        let poll = Poll::new()?;
        stop.set_waker(std::sync::Arc::new(mio::Waker::new(
            poll.registry(),
            WAKER,
        )?));
        let timer = TimerFd::new()?;
        timer.register(&poll, TIMER)?;
        Ok(Sleeper {
            poll,
            events: Events::with_capacity(4),
            timer,
        })
    }

    /// Sleeps until `at_ns` on `clock`, a stop request, or (rarely) a spurious wake-up;
    /// callers re-check the time.
    pub fn sleep_until(&mut self, clock: &RunClock, at_ns: u64) -> io::Result<()> {
        let absolute = clock.absolute_ns(at_ns);
        self.timer.arm_at(absolute)?;
        // The timerfd is the real deadline; the poll timeout only guards against a lost edge.
        let remaining = absolute.saturating_sub(monotonic_ns());
        let guard = Duration::from_nanos(remaining) + Duration::from_millis(5);
        match self.poll.poll(&mut self.events, Some(guard)) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            _ => {}
        }
        self.timer.clear();
        Ok(())
    }
}
