//! What every part of openpace shares and none owns: the clock ([`clock`], and the
//! `timerfd` it sleeps on), the host ([`host`]), thin wrappers over system calls ([`sys`]),
//! units ([`units`]) and the plain enums several modules name ([`WaitMode`], [`Model`]).
//!
//! It depends on no other module of the crate; every other module may depend on it. Most of
//! the crate's `unsafe` (system calls for the clock, the timer and the host) lives here; the
//! rest of the crate denies it, but for the atomic histogram.

pub mod clock;
pub mod host;
pub mod sys;
pub(crate) mod timerfd;
pub mod units;

use serde::{Deserialize, Serialize};

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
