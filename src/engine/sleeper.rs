//! How the timing loop sleeps: `mio::Poll` on a `timerfd` armed at an absolute instant.
//!
//! `epoll_wait` counts its timeout in whole milliseconds, so asking `Poll` for 100 µs sleeps
//! about 1 ms. A `timerfd` armed with an absolute `CLOCK_MONOTONIC` deadline and registered
//! with the same `Poll` wakes it at the nanosecond deadline instead (plus the scheduler's
//! wake-up latency), and the `mio::Waker` registered beside it lets a stop request cut any
//! sleep short.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::clock::{RunClock, monotonic_ns};
use super::stop::RunStop;

const WAKER: Token = Token(0);
const TIMER: Token = Token(1);

/// A `timerfd` on `CLOCK_MONOTONIC`, armed at absolute instants; readable once it fires.
pub(crate) struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    /// A disarmed, non-blocking timer.
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a freshly created descriptor that nothing else owns.
        Ok(TimerFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Registers the timer with `poll` under `token`.
    pub fn register(&self, poll: &Poll, token: Token) -> io::Result<()> {
        poll.registry().register(
            &mut SourceFd(&self.fd.as_raw_fd()),
            token,
            Interest::READABLE,
        )
    }

    /// Arms the timer to fire at `absolute_ns` on `CLOCK_MONOTONIC` (at once if past).
    pub fn arm_at(&self, absolute_ns: u64) -> io::Result<()> {
        // An all-zero value would disarm the timer; 1 ns after boot is long past.
        let absolute = absolute_ns.max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (absolute / 1_000_000_000) as libc::time_t,
                tv_nsec: (absolute % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: valid descriptor and fully initialised timer spec.
        let armed = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if armed != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes a pending expiry, so that the next one makes the descriptor readable again.
    pub fn clear(&self) {
        let mut expirations = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer; EAGAIN (not yet expired) is fine.
        unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                expirations.as_mut_ptr().cast(),
                expirations.len(),
            )
        };
    }
}

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
