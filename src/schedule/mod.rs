//! Load patterns as pure arrival-time generators.
//!
//! A [`Schedule`] yields the *intended* send instant of request 0, 1, 2, ... as an offset in
//! nanoseconds from the run's start. It is a function of the pattern, the arrival process and
//! the seed only: it never reads a clock and never learns how long earlier requests took, so
//! the engine can fall behind without the schedule bending to hide it (the coordinated-omission
//! trap of closed-loop generators).
//!
//! The rate over time is a [`RateProfile`]; uniform arrivals put request `k` where the
//! integral of the rate reaches `k`, Poisson arrivals put it where the integral reaches the
//! sum of `k + 1` unit exponential draws (the time-rescaling construction of an inhomogeneous
//! Poisson process), so both follow every pattern exactly.

mod profile;

pub use profile::RateProfile;

/// Highest rate any field accepts, in requests per second.
pub const MAX_RPS: f64 = 100_000_000.0;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// The shape of the request rate over time (the design's four patterns plus stages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadPattern {
    /// `target_rps` for the whole duration.
    #[default]
    Constant,
    /// Linear from `min_rps` to `max_rps` over `ramp_up_duration`, then `max_rps`.
    RampUp,
    /// `target_rps` with bursts of `spike_rps` lasting `spike_duration`, the first at
    /// `2 x spike_duration` and one every `2 x spike_duration` after.
    Spike,
    /// Four equal steps at `target/4`, `target/2`, `target`, `target/2`.
    Step,
    /// A list of stages, each moving the rate linearly to its target over its duration.
    Stages,
}

impl LoadPattern {
    /// Every pattern, in the order the docs list them.
    pub const ALL: [LoadPattern; 5] = [
        LoadPattern::Constant,
        LoadPattern::RampUp,
        LoadPattern::Spike,
        LoadPattern::Step,
        LoadPattern::Stages,
    ];

    /// The name used in config files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LoadPattern::Constant => "constant",
            LoadPattern::RampUp => "ramp_up",
            LoadPattern::Spike => "spike",
            LoadPattern::Step => "step",
            LoadPattern::Stages => "stages",
        }
    }
}

/// How requests are spread within the rate: evenly, or as a Poisson process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Evenly spaced at the current rate (wrk2's and vegeta's choice).
    #[default]
    Uniform,
    /// A Poisson process with the current rate as intensity: exponential gaps, seeded.
    Poisson,
}

impl Arrival {
    /// The name used in config files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Uniform => "uniform",
            Arrival::Poisson => "poisson",
        }
    }
}

/// The intended send instants of one scenario, in nanoseconds from the run's start.
#[derive(Clone, Debug)]
pub struct Schedule {
    profile: RateProfile,
    /// Seeded generator for Poisson arrivals; `None` for uniform ones.
    poisson: Option<Xoshiro256PlusPlus>,
    /// Value of the rate's integral at which the next request is due.
    next_due: f64,
    /// Segment where the last request fell; requests only move forward.
    cursor: usize,
    /// The integral over the whole profile, less a hair so float noise adds no request.
    end_due: f64,
    /// Index in the whole schedule of the next instant computed.
    next_index: u64,
    /// Index in the whole schedule of the instant last returned.
    last_index: u64,
    /// Instants of other shards to pass over before the next one returned.
    skip: u64,
    /// Shard count: after an instant is returned, `stride - 1` others are passed over.
    stride: u64,
}

impl Schedule {
    /// A schedule following `profile` with the given arrival process. `seed` only matters for
    /// Poisson arrivals: the same seed gives the same instants.
    pub fn new(profile: RateProfile, arrival: Arrival, seed: u64) -> Schedule {
        let total = profile.total();
        let mut poisson = match arrival {
            Arrival::Uniform => None,
            Arrival::Poisson => Some(Xoshiro256PlusPlus::seed_from_u64(seed)),
        };
        let next_due = poisson.as_mut().map_or(0.0, unit_exponential);
        Schedule {
            profile,
            poisson,
            next_due,
            cursor: 0,
            end_due: total - (total * 1e-12 + 1e-9),
            next_index: 0,
            last_index: 0,
            skip: 0,
            stride: 1,
        }
    }

    /// This schedule as shard `index` of `count` sees it: the instants whose index `k` in the
    /// whole schedule has `k % count == index`. The union over the shards is the whole
    /// schedule, each instant once, for every pattern and for Poisson arrivals alike (the
    /// shards draw the same exponentials from the same seed and pass over each other's).
    pub fn sharded(mut self, index: u64, count: u64) -> Schedule {
        let count = count.max(1);
        self.skip = index % count;
        self.stride = count;
        self
    }

    /// Index in the whole (unsharded) schedule of the instant [`next_offset_ns`](Self::next_offset_ns)
    /// (Self::next_offset_ns) returned last.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The profile this schedule follows.
    pub fn profile(&self) -> &RateProfile {
        &self.profile
    }

    /// The next intended instant in nanoseconds from the start, or `None` when the pattern
    /// is over.
    #[inline]
    pub fn next_offset_ns(&mut self) -> Option<u64> {
        while self.skip > 0 {
            self.step()?;
            self.skip -= 1;
        }
        self.skip = self.stride - 1;
        self.last_index = self.next_index;
        self.step()
    }

    /// Computes the next instant of the whole schedule.
    #[inline]
    fn step(&mut self) -> Option<u64> {
        if self.next_due >= self.end_due {
            return None;
        }
        let t = self.profile.time_of(self.next_due, &mut self.cursor)?;
        self.next_due += match self.poisson.as_mut() {
            Some(rng) => unit_exponential(rng),
            None => 1.0,
        };
        self.next_index += 1;
        Some((t * 1e9).round() as u64)
    }
}

impl Iterator for Schedule {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.next_offset_ns()
    }
}

/// One draw from the exponential distribution with mean 1, by inversion.
fn unit_exponential(rng: &mut Xoshiro256PlusPlus) -> f64 {
    // random::<f64>() lies in [0, 1), so 1 - u lies in (0, 1] and its log is finite.
    let u: f64 = rng.random();
    -(1.0 - u).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(profile: RateProfile) -> Vec<u64> {
        Schedule::new(profile, Arrival::Uniform, 0).collect()
    }

    #[test]
    fn constant_50_rps_for_120_s_is_6000_sends_ending_at_119_98_s() {
        let sends = uniform(RateProfile::constant(50.0, 120.0));
        assert_eq!(sends.len(), 6000);
        assert_eq!(sends[0], 0);
        assert_eq!(sends[1], 20_000_000);
        assert_eq!(*sends.last().unwrap(), 119_980_000_000);
    }

    #[test]
    fn shards_split_the_schedule_exactly() {
        let profiles = [
            RateProfile::constant(50.0, 12.0),
            RateProfile::ramp_up(1.0, 100.0, 6.0, 12.0),
            RateProfile::step(100.0, 8.0),
            RateProfile::spike(10.0, 100.0, 1.0, 8.0),
            RateProfile::stages(5.0, &[(3.0, 80.0), (2.0, 0.0), (3.0, 40.0)]),
            RateProfile::constant(33.3, 7.0).with_warmup(1.5),
        ];
        for profile in profiles {
            for arrival in [Arrival::Uniform, Arrival::Poisson] {
                let whole: Vec<(u64, u64)> = {
                    let mut s = Schedule::new(profile.clone(), arrival, 7);
                    std::iter::from_fn(|| s.next_offset_ns().map(|t| (s.last_index(), t))).collect()
                };
                for count in [1u64, 2, 3, 7] {
                    let mut union: Vec<(u64, u64)> = (0..count)
                        .flat_map(|index| {
                            let mut s =
                                Schedule::new(profile.clone(), arrival, 7).sharded(index, count);
                            let mine: Vec<(u64, u64)> = std::iter::from_fn(|| {
                                s.next_offset_ns().map(|t| (s.last_index(), t))
                            })
                            .collect();
                            assert!(mine.iter().all(|(k, _)| k % count == index));
                            mine
                        })
                        .collect();
                    union.sort_unstable();
                    assert_eq!(union, whole, "{profile:?} {arrival:?} in {count} shards");
                }
            }
        }
    }

    #[test]
    fn fractional_rates_are_not_truncated() {
        // 2.5 RPS for 4 s: 10 sends, 400 ms apart (the sketch's int() would send 2 RPS).
        let sends = uniform(RateProfile::constant(2.5, 4.0));
        assert_eq!(sends.len(), 10);
        assert!(sends.windows(2).all(|w| w[1] - w[0] == 400_000_000));
    }

    #[test]
    fn ramp_up_counts_the_integral_exactly() {
        // 1 -> 100 RPS over 60 s, then 100 RPS for 60 s: 60 * 50.5 + 6000 = 9030 sends.
        let sends = uniform(RateProfile::ramp_up(1.0, 100.0, 60.0, 120.0));
        assert_eq!(sends.len(), 9030);
        // During the hold, sends are exactly 10 ms apart.
        let tail: Vec<_> = sends.iter().rev().take(100).collect();
        assert!(tail.windows(2).all(|w| w[0] - w[1] == 10_000_000));
    }

    #[test]
    fn step_sends_a_quarter_half_full_half() {
        let sends = uniform(RateProfile::step(100.0, 40.0));
        let per_step: Vec<usize> = (0..4)
            .map(|i| {
                let (lo, hi) = (i * 10_000_000_000u64, (i + 1) * 10_000_000_000u64);
                sends.iter().filter(|&&t| t >= lo && t < hi).count()
            })
            .collect();
        assert_eq!(per_step, vec![250, 500, 1000, 500]);
    }

    #[test]
    fn spike_sends_bursts_at_the_spike_rate() {
        // base 10 RPS, 100 RPS bursts of 5 s at [10,15) and [20,25), 30 s in all.
        let sends = uniform(RateProfile::spike(10.0, 100.0, 5.0, 30.0));
        let in_window = |lo: u64, hi: u64| {
            sends
                .iter()
                .filter(|&&t| t >= lo * 1_000_000_000 && t < hi * 1_000_000_000)
                .count()
        };
        assert_eq!(in_window(0, 10), 100);
        assert_eq!(in_window(10, 15), 500);
        assert_eq!(in_window(15, 20), 50);
        assert_eq!(in_window(20, 25), 500);
        assert_eq!(in_window(25, 30), 50);
    }

    #[test]
    fn small_step_rates_are_kept_and_a_zero_rate_pauses() {
        // target 2 RPS over 8 s: 0.5, 1, 2, 1 RPS (the sketch's 2 // 4 == 0 sent at 1 RPS).
        let sends = uniform(RateProfile::step(2.0, 8.0));
        assert_eq!(sends.len(), 1 + 2 + 4 + 2);
        assert_eq!(&sends[..2], &[0, 2_000_000_000]);
        // A stage at rate zero sends nothing at all for its duration.
        let sends = uniform(RateProfile::stages(
            0.0,
            &[(5.0, 0.0), (1.0, 0.0), (1.0, 4.0)],
        ));
        assert!(sends.iter().all(|&t| t >= 6_000_000_000), "{sends:?}");
        assert_eq!(sends.len(), 2);
    }

    #[test]
    fn instants_never_decrease() {
        let profile = RateProfile::stages(1.0, &[(3.0, 500.0), (2.0, 3.0), (4.0, 900.0)]);
        for arrival in [Arrival::Uniform, Arrival::Poisson] {
            let sends: Vec<u64> = Schedule::new(profile.clone(), arrival, 7).collect();
            assert!(sends.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn poisson_repeats_with_the_same_seed_and_differs_with_another() {
        let profile = RateProfile::constant(1000.0, 2.0);
        let a: Vec<u64> = Schedule::new(profile.clone(), Arrival::Poisson, 42).collect();
        let b: Vec<u64> = Schedule::new(profile.clone(), Arrival::Poisson, 42).collect();
        let c: Vec<u64> = Schedule::new(profile, Arrival::Poisson, 43).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn poisson_has_the_right_mean_rate_and_exponential_gaps() {
        let sends: Vec<u64> =
            Schedule::new(RateProfile::constant(1000.0, 100.0), Arrival::Poisson, 1).collect();
        // 100,000 expected; the standard deviation of a Poisson count is sqrt(100,000) ~ 316.
        assert!(
            (sends.len() as i64 - 100_000).abs() < 1600,
            "{}",
            sends.len()
        );
        // For exponential gaps with mean 1 ms, P(gap > 1 ms) = e^-1 ~ 0.368.
        let gaps = sends.windows(2).map(|w| w[1] - w[0]);
        let long = gaps.filter(|&g| g > 1_000_000).count() as f64 / sends.len() as f64;
        assert!((long - (-1f64).exp()).abs() < 0.01, "{long}");
    }

    #[test]
    fn poisson_follows_a_ramp() {
        let profile = RateProfile::ramp_up(0.0, 2000.0, 10.0, 10.0);
        let sends: Vec<u64> = Schedule::new(profile, Arrival::Poisson, 9).collect();
        let first_half = sends.iter().filter(|&&t| t < 5_000_000_000).count() as f64;
        // The integral over the first half is a quarter of the total (10,000 of 10,000 * 1).
        assert!((first_half / sends.len() as f64 - 0.25).abs() < 0.02);
    }
}
