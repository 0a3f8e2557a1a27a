//! The adaptive spin window: how long before an instant a network worker stops sleeping on
//! its poll and polls without blocking (`hybrid` mode).
//!
//! A worker that sleeps until an instant wakes late by the host's wake-up latency (the
//! `timerfd` firing, the scheduler putting the thread back on its core). On the project's
//! 2-core VM that latency is 28 µs at best, 60 µs at the median and 105 µs at p99
//! (`openpace calibrate`, hybrid mode), so the fixed 50 µs window the worker had woke it after
//! most instants: against nginx at 1,000 RPS, dispatch delay p50 13 µs and framework overhead
//! 8-21% of a 150 µs response. On a quiet bare-metal host the same wake-up takes a few µs, and
//! a fixed window spins for nothing.
//!
//! So the worker times every wake-up it asked the timer for, and spins for the p99 of what it
//! has seen lately: at least [`FLOOR_NS`], at most [`CAP_NS`], so that a host whose wake-ups
//! are milliseconds late costs at most half a millisecond of spinning per instant, never a
//! core. Before the run's origin it times a few sleeps of a millisecond ([`PROBES`]) so that the first
//! requests already have a window that fits the host; after that the estimate is remade after
//! 8, 16, 32 and then every 64 wake-ups, from counts that are halved each time (old wake-ups
//! fade: a host that turns quiet gets a shorter window a few hundred wake-ups later). The run's
//! report says which window it used (`wait.spin_window_us`) and the wake-ups it measured.
//!
//! The counts sit in log buckets, 8 to an octave (12.5% wide), from 1 µs to 4 ms: no
//! allocation, one bucket increment per wake-up.

/// The shortest window: below it a spin costs less than the clock reads around it.
pub(crate) const FLOOR_NS: u64 = 20_000;
/// The longest window: at 1,000 RPS a worker then spins at most half of its core.
pub(crate) const CAP_NS: u64 = 500_000;
/// The window before anything was measured (the fixed window the worker had before).
pub(crate) const INITIAL_NS: u64 = 50_000;
/// Which share of wake-ups the window should cover.
const QUANTILE: f64 = 0.99;
/// Sleeps timed before the run's origin.
pub(crate) const PROBES: usize = 12;
/// How long each of them sleeps. Long enough to let the core go idle as it does between a
/// low rate's instants: with probes of 200 µs, a 10 RPS run of `tools/bench-overhead.sh` on
/// this VM started from a 45 µs window while its 100 ms sleeps woke 194 µs late at p99, and
/// its first requests came past the window (overhead 7.4%).
pub(crate) const PROBE_SLEEP_NS: u64 = 1_000_000;
/// Wake-ups between estimates once warmed up.
const EPOCH: u32 = 64;
/// Sub-buckets per octave.
const SUB: usize = 8;
/// Buckets: 1.024 µs units, exact below 8 units, then 8 per octave up to 2^12 units (4.2 ms);
/// later wake-ups count in the last.
const BUCKETS: usize = (12 - 2) * SUB + SUB;

/// A worker's spin window, remade from the wake-up latencies it measures.
#[derive(Clone, Debug)]
pub(crate) struct SpinWindow {
    counts: [u32; BUCKETS],
    /// Wake-ups since the last estimate.
    since: u32,
    /// Wake-ups before the next estimate.
    due: u32,
    window_ns: u64,
    /// The shortest and longest window estimated so far (`None` before the first estimate).
    range: Option<(u64, u64)>,
}

impl Default for SpinWindow {
    fn default() -> Self {
        SpinWindow::new()
    }
}

impl SpinWindow {
    /// A window of [`INITIAL_NS`] until wake-ups are measured.
    pub fn new() -> SpinWindow {
        SpinWindow {
            counts: [0; BUCKETS],
            since: 0,
            due: 8,
            window_ns: INITIAL_NS,
            range: None,
        }
    }

    /// How long before an instant to stop sleeping.
    #[inline]
    pub fn window_ns(&self) -> u64 {
        self.window_ns
    }

    /// The shortest and longest window used so far: those estimated, or the initial one
    /// before any was.
    pub fn range_ns(&self) -> (u64, u64) {
        self.range.unwrap_or((self.window_ns, self.window_ns))
    }

    /// Counts a wake-up that came `late_ns` after the instant it was asked for; remakes the
    /// window when enough have been counted.
    #[inline]
    pub fn woke(&mut self, late_ns: u64) {
        self.counts[bucket(late_ns)] += 1;
        self.since += 1;
        if self.since >= self.due {
            self.estimate();
        }
    }

    /// Sets the window to the [`QUANTILE`] of the counted wake-ups (clamped), then halves the
    /// counts so that older wake-ups weigh less in the next estimate.
    fn estimate(&mut self) {
        let total: u64 = self.counts.iter().map(|&c| c as u64).sum();
        let rank = ((total as f64 * QUANTILE).ceil() as u64).max(1);
        let mut seen = 0;
        let mut at = BUCKETS - 1;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                at = b;
                break;
            }
        }
        self.window_ns = upper_ns(at).clamp(FLOOR_NS, CAP_NS);
        let (low, high) = self.range.unwrap_or((self.window_ns, self.window_ns));
        self.range = Some((low.min(self.window_ns), high.max(self.window_ns)));
        for c in &mut self.counts {
            *c /= 2;
        }
        self.since = 0;
        self.due = (self.due * 2).min(EPOCH);
    }
}

/// The bucket of a latency.
#[inline]
fn bucket(late_ns: u64) -> usize {
    let v = late_ns >> 10;
    if v < SUB as u64 {
        return v as usize;
    }
    let octave = 63 - v.leading_zeros() as usize;
    let sub = ((v >> (octave - 3)) & (SUB as u64 - 1)) as usize;
    ((octave - 2) * SUB + sub).min(BUCKETS - 1)
}

/// The upper bound (exclusive) of a bucket, in ns.
fn upper_ns(b: usize) -> u64 {
    if b < SUB {
        return (b as u64 + 1) << 10;
    }
    let (octave, sub) = (b / SUB + 2, (b % SUB) as u64);
    ((SUB as u64 + sub + 1) << (octave - 3)) << 10
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window fed `n` wake-ups, `late(i)` ns late each.
    fn fed(n: usize, late: impl Fn(usize) -> u64) -> SpinWindow {
        let mut w = SpinWindow::new();
        for i in 0..n {
            w.woke(late(i));
        }
        w
    }

    #[test]
    fn buckets_hold_their_values_within_an_eighth() {
        for late in [
            0, 1_000, 7_000, 8_192, 20_000, 60_000, 105_000, 499_000, 4_000_000,
        ] {
            let b = bucket(late);
            assert!(upper_ns(b) > late, "{late} -> {b}");
            assert!(upper_ns(b) as f64 <= (late as f64 * 1.125).max(1024.0) + 1024.0);
            assert!(b == 0 || upper_ns(b - 1) <= late, "{late} -> {b}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn a_vm_that_wakes_60_us_late_gets_a_window_past_its_p99() {
        // 60 µs at the median, 1 in 50 at 105 µs: the window covers the slow ones.
        let w = fed(500, |i| {
            if i % 50 == 7 {
                105_000
            } else {
                55_000 + (i as u64 % 10) * 1_000
            }
        });
        assert!(
            (105_000..=120_000).contains(&w.window_ns()),
            "{}",
            w.window_ns()
        );
    }

    #[test]
    fn a_quiet_host_spins_no_longer_than_the_floor() {
        let w = fed(100, |_| 3_000);
        assert_eq!(w.window_ns(), FLOOR_NS);
    }

    #[test]
    fn a_host_late_by_milliseconds_is_capped() {
        let w = fed(100, |_| 3_000_000);
        assert_eq!(w.window_ns(), CAP_NS);
    }

    #[test]
    fn the_window_follows_a_host_that_turns_quiet() {
        let mut w = fed(200, |_| 300_000);
        assert!(w.window_ns() >= 300_000);
        for _ in 0..1_000 {
            w.woke(10_000);
        }
        assert!(w.window_ns() <= 12_000.max(FLOOR_NS), "{}", w.window_ns());
        assert_eq!(w.range_ns(), (FLOOR_NS, w.range_ns().1));
        assert!(w.range_ns().1 >= 300_000);
    }

    #[test]
    fn the_first_estimate_comes_after_eight_wake_ups() {
        let w = fed(7, |_| 200_000);
        assert_eq!(w.window_ns(), INITIAL_NS);
        let w = fed(8, |_| 200_000);
        assert!(
            (200_000..=230_000).contains(&w.window_ns()),
            "{}",
            w.window_ns()
        );
    }

    #[test]
    fn one_wake_up_in_a_thousand_does_not_move_the_window() {
        let w = fed(2_000, |i| if i % 1_000 == 999 { 2_000_000 } else { 40_000 });
        assert!(w.window_ns() < 50_000, "{}", w.window_ns());
    }
}
