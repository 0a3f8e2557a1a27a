//! What every part of openpace shares and none owns: the clock ([`clock`], and the
//! `timerfd` it sleeps on), the host ([`host`], and [`host_check`]: what on it will move a measurement), thin wrappers over system calls ([`sys`]; [`tstamp`]: the kernel's socket timestamps),
//! units ([`units`]) and the plain enums several modules name ([`WaitMode`], [`Model`]).
//!
//! It depends on no other module of the crate; every other module may depend on it. Most of
//! the crate's `unsafe` (system calls for the clock, the timer and the host) lives here; the
//! rest of the crate denies it, but for the atomic histogram.

pub mod clock;
pub mod fault;
pub mod host;
pub mod host_check;
pub mod input;
pub mod json;
pub mod sys;
pub(crate) mod timerfd;
pub mod tstamp;
pub mod units;

use serde::{Deserialize, Serialize};

/// SplitMix64's increment, the golden ratio in 64 bits: `state + k * GOLDEN_GAMMA` walks a
/// SplitMix64 stream.
pub const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a well-mixed 64-bit value from a state. What every seeded
/// per-request draw (spin times, template values, request-set picks) is made of, so that a
/// value depends on the seed and the request alone, never on a generator's history.
#[inline]
pub fn mix64(state: u64) -> u64 {
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes a line to standard error and carries on whatever happens: `eprintln!` panics when
/// standard error is gone (a closed terminal after a hang-up, a closed pipe), and a progress
/// line must never cost a run its report.
pub fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `text` with every control character escaped (`\u{1b}`, `\n`), for a terminal: a name
/// read from a saved report could otherwise move the cursor or clear the screen.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| match c.is_control() {
                true => c.escape_debug().to_string(),
                false => c.to_string(),
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// How idle threads wait for their next instant or request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitMode {
    /// Busy-poll: the timing loop and idle workers never sleep. For dedicated hosts.
    Spin,
    /// Sleep until shortly before each instant, then spin (default).
    Hybrid,
    /// Never spin: sleep to each instant (about 0.1 ms later). For shared machines.
    Sleep,
}

/// Open model (a schedule) or closed loop (fixed concurrency).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Requests are sent on schedule whether or not earlier ones finished.
    #[default]
    Open,
    /// `concurrency` callers each send the next request when the last one finished. Kept for
    /// comparison: its latencies hide queueing and are labelled "closed loop, not corrected".
    Closed,
}

/// Whether the kernel stamps a network target's TCP sockets (`timestamps`, `--timestamps`),
/// splitting each request's service time into the client's send path, the wire and server,
/// and the client's receive path ([`tstamp`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timestamps {
    /// No stamps (default).
    #[default]
    Off,
    /// Software stamps: when the request left the stack for the driver, when the response
    /// entered the receive path.
    Kernel,
    /// The NIC's hardware stamps: the device that reaches the target is asked what it can
    /// stamp (ethtool's capabilities), and the run is refused with its answer.
    Hardware,
}
