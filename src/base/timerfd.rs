//! A `timerfd` on `CLOCK_MONOTONIC`, armed at absolute instants: how the timing loop and the
//! connection pool sleep to a nanosecond deadline inside a `mio::Poll` (whose own timeout
//! counts whole milliseconds).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};

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

    /// Sleeps on `poll` (where this timer is registered as `token`) until `sleep_ns` from now
    /// and returns how late the timer woke it, in ns: the host's wake-up latency, as a thread
    /// that sleeps to an instant meets it. `None` when the timer cannot be armed or another
    /// event woke the poll first.
    pub fn time_a_sleep(
        &self,
        poll: &mut Poll,
        events: &mut mio::Events,
        token: Token,
        sleep_ns: u64,
    ) -> Option<u64> {
        let at = crate::base::clock::monotonic_ns() + sleep_ns;
        self.arm_at(at).ok()?;
        // The timer is the deadline; the timeout only guards against a lost edge.
        let guard = std::time::Duration::from_nanos(sleep_ns + 2_000_000);
        let polled = poll.poll(events, Some(guard));
        let woke = crate::base::clock::monotonic_ns();
        let by_timer = polled.is_ok() && events.iter().all(|e| e.token() == token);
        self.clear();
        (by_timer && woke >= at).then(|| woke - at)
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
