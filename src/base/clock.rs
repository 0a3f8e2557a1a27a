//! The run's clock: nanoseconds since the run's origin on `CLOCK_MONOTONIC`.
//!
//! Every instant the engine handles is a `u64` offset in nanoseconds from one origin, so that
//! the schedule, the timer wheel and the recorders all speak the same unit and none of them
//! touches `Instant` arithmetic. This is the one place that reads the system clock. It reads
//! `CLOCK_MONOTONIC` directly (the clock behind `std::time::Instant` on Linux) because the
//! timing loop also arms a `timerfd` with absolute deadlines on that clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Nanoseconds on `CLOCK_MONOTONIC` since an arbitrary, fixed point (boot, on Linux).
pub(crate) fn monotonic_ns() -> u64 {
    read_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time consumed by the calling thread, in nanoseconds.
pub(crate) fn thread_cpu_ns() -> u64 {
    read_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// One reading of `clock` in nanoseconds.
#[inline(always)]
fn read_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks read here (CLOCK_MONOTONIC,
    // CLOCK_THREAD_CPUTIME_ID) exist on every Linux since 2.6.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A copyable clock whose readings are nanoseconds since the run's origin.
///
/// Readings taken before the origin saturate to 0, so a thread that starts early simply sees
/// the run as not yet begun.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    origin_ns: u64,
}

impl RunClock {
    /// A clock whose origin lies `delay` from now.
    pub fn starting_in(delay: Duration) -> RunClock {
        RunClock {
            origin_ns: monotonic_ns() + delay.as_nanos() as u64,
        }
    }

    /// Nanoseconds since the origin (0 before it).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        monotonic_ns().saturating_sub(self.origin_ns)
    }

    /// Nanoseconds from now until the origin; 0 once it has passed.
    pub fn until_origin_ns(&self) -> u64 {
        self.origin_ns.saturating_sub(monotonic_ns())
    }

    /// The absolute `CLOCK_MONOTONIC` reading of an offset from the origin.
    pub(crate) fn absolute_ns(&self, offset_ns: u64) -> u64 {
        self.origin_ns + offset_ns
    }
}

/// The clock a run's wall-clock instants come from, and how far it can be trusted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Where wall-clock instants come from.
    pub source: String,
    /// Whether the kernel says the clock is synchronized (NTP or PTP discipline), if it says.
    pub synchronized: Option<bool>,
    /// The kernel's estimate of the clock's maximum error, in µs, if it has one.
    pub max_error_us: Option<f64>,
}

/// The realtime clock and its discipline, as the kernel reports them (`adjtimex`).
pub fn clock_info() -> ClockInfo {
    // SAFETY: a zeroed timex with modes 0 only reads the kernel's state.
    let (state, timex) = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        (libc::adjtimex(&mut t), t)
    };
    let source = "CLOCK_REALTIME for the start instant; CLOCK_MONOTONIC from there".to_string();
    if state < 0 {
        return ClockInfo {
            source,
            synchronized: None,
            max_error_us: None,
        };
    }
    ClockInfo {
        source,
        synchronized: Some(state != libc::TIME_ERROR && timex.status & libc::STA_UNSYNC == 0),
        max_error_us: Some(timex.maxerror as f64),
    }
}

/// The realtime clock in Unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
