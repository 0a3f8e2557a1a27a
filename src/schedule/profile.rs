//! Rate profiles: a request rate as a piecewise-linear function of time.
//!
//! Every load pattern (constant, ramp-up, spike, step, stages) is a list of segments, each with
//! a rate that is constant or changes linearly. The profile answers two questions exactly:
//! how many requests are due by time `t` (the integral of the rate, `cumulative`), and at
//! what time the `n`-th request is due (its inverse, `time_of`). Nothing here reads a clock.

/// One stretch of time over which the rate changes linearly from `rate_start` to `rate_end`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    start_s: f64,
    end_s: f64,
    rate_start: f64,
    rate_end: f64,
    /// Requests due before `start_s`: the integral of the rate over all earlier segments.
    due_before: f64,
}

impl Segment {
    fn len_s(&self) -> f64 {
        self.end_s - self.start_s
    }

    /// Requests due within this segment.
    fn due_within(&self) -> f64 {
        0.5 * (self.rate_start + self.rate_end) * self.len_s()
    }

    /// Requests due from the segment's start until `tau` seconds into it.
    fn due_until(&self, tau: f64) -> f64 {
        let slope = (self.rate_end - self.rate_start) / self.len_s();
        self.rate_start * tau + 0.5 * slope * tau * tau
    }

    /// Seconds into the segment at which `due` requests have become due (0 <= due <= due_within).
    ///
    /// Solves `rate_start * tau + slope / 2 * tau^2 = due` in the form
    /// `tau = 2 due / (rate_start + sqrt(rate_start^2 + 2 slope due))`, which stays exact for a
    /// constant rate (slope 0), finite for a ramp from zero, and avoids cancellation.
    fn time_for(&self, due: f64) -> f64 {
        if due <= 0.0 {
            return 0.0;
        }
        let slope = (self.rate_end - self.rate_start) / self.len_s();
        let root = (self.rate_start * self.rate_start + 2.0 * slope * due)
            .max(0.0)
            .sqrt();
        (2.0 * due / (self.rate_start + root)).min(self.len_s())
    }
}

/// A request rate over time, from 0 to `duration_s`, built from linear segments.
#[derive(Clone, Debug, PartialEq)]
pub struct RateProfile {
    segments: Vec<Segment>,
}

impl RateProfile {
    fn empty() -> RateProfile {
        RateProfile {
            segments: Vec::new(),
        }
    }

    /// Appends `len_s` seconds during which the rate moves linearly from `from` to `to`.
    fn push(&mut self, len_s: f64, from: f64, to: f64) {
        if len_s <= 0.0 {
            return;
        }
        let (start_s, due_before) = match self.segments.last() {
            Some(last) => (last.end_s, last.due_before + last.due_within()),
            None => (0.0, 0.0),
        };
        self.segments.push(Segment {
            start_s,
            end_s: start_s + len_s,
            rate_start: from,
            rate_end: to,
            due_before,
        });
    }

    /// `rate` requests per second for `duration_s`.
    pub fn constant(rate: f64, duration_s: f64) -> RateProfile {
        let mut p = RateProfile::empty();
        p.push(duration_s, rate, rate);
        p
    }

    /// Rises linearly from `min_rps` to `max_rps` over `ramp_s`, then holds `max_rps` until
    /// `duration_s`.
    pub fn ramp_up(min_rps: f64, max_rps: f64, ramp_s: f64, duration_s: f64) -> RateProfile {
        let mut p = RateProfile::empty();
        let ramp_s = ramp_s.min(duration_s);
        p.push(ramp_s, min_rps, max_rps);
        p.push(duration_s - ramp_s, max_rps, max_rps);
        p
    }

    /// `base_rps`, with bursts of `spike_rps` lasting `spike_s`: the first burst starts at
    /// `2 * spike_s` and one more starts every `2 * spike_s` after that.
    pub fn spike(base_rps: f64, spike_rps: f64, spike_s: f64, duration_s: f64) -> RateProfile {
        let mut p = RateProfile::empty();
        let mut t = 0.0;
        let mut next_burst = 2.0 * spike_s;
        while t < duration_s {
            let quiet = (next_burst - t).min(duration_s - t);
            p.push(quiet, base_rps, base_rps);
            t += quiet;
            let burst = spike_s.min(duration_s - t);
            p.push(burst, spike_rps, spike_rps);
            t += burst;
            next_burst += 2.0 * spike_s;
        }
        p
    }

    /// Four equal steps at `target / 4`, `target / 2`, `target` and `target / 2`.
    pub fn step(target_rps: f64, duration_s: f64) -> RateProfile {
        let mut p = RateProfile::empty();
        for share in [0.25, 0.5, 1.0, 0.5] {
            p.push(duration_s / 4.0, target_rps * share, target_rps * share);
        }
        p
    }

    /// Stages: starting at `start_rps`, each stage moves linearly to its rate over its duration.
    pub fn stages(start_rps: f64, stages: &[(f64, f64)]) -> RateProfile {
        let mut p = RateProfile::empty();
        let mut from = start_rps;
        for &(len_s, to) in stages {
            p.push(len_s, from, to);
            from = to;
        }
        p
    }

    /// This profile preceded by `warmup_s` seconds at its starting rate.
    pub fn with_warmup(&self, warmup_s: f64) -> RateProfile {
        let mut p = RateProfile::empty();
        let start_rate = self.rate_at(0.0);
        p.push(warmup_s, start_rate, start_rate);
        for s in &self.segments {
            p.push(s.len_s(), s.rate_start, s.rate_end);
        }
        p
    }

    /// Length of the profile in seconds.
    pub fn duration_s(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.end_s)
    }

    /// The rate at time `t_s` (the later segment's rate at a boundary).
    pub fn rate_at(&self, t_s: f64) -> f64 {
        match self.segments.iter().find(|s| t_s < s.end_s) {
            Some(s) => {
                let tau = (t_s - s.start_s).max(0.0);
                s.rate_start + (s.rate_end - s.rate_start) * tau / s.len_s()
            }
            None => self.segments.last().map_or(0.0, |s| s.rate_end),
        }
    }

    /// The highest rate anywhere in the profile.
    pub fn peak_rps(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.rate_start.max(s.rate_end))
            .fold(0.0, f64::max)
    }

    /// Requests due in `[0, t_s)`: the integral of the rate.
    pub fn cumulative(&self, t_s: f64) -> f64 {
        match self.segments.iter().find(|s| t_s < s.end_s) {
            Some(s) => s.due_before + s.due_until((t_s - s.start_s).max(0.0)),
            None => self.total(),
        }
    }

    /// Requests due over the whole profile.
    pub fn total(&self) -> f64 {
        self.segments
            .last()
            .map_or(0.0, |s| s.due_before + s.due_within())
    }

    /// Seconds at which `due` requests have become due, searching from segment `*cursor` on and
    /// leaving the cursor at the segment found, so that walking increasing values of `due` costs
    /// O(1) each. `None` once `due` reaches the total.
    pub(crate) fn time_of(&self, due: f64, cursor: &mut usize) -> Option<f64> {
        while let Some(s) = self.segments.get(*cursor) {
            let end = s.due_before + s.due_within();
            if due < end {
                return Some(s.start_s + s.time_for(due - s.due_before));
            }
            *cursor += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time_of(p: &RateProfile, due: f64) -> Option<f64> {
        p.time_of(due, &mut 0)
    }

    #[test]
    fn constant_rate_places_requests_evenly() {
        let p = RateProfile::constant(50.0, 120.0);
        assert_eq!(p.total(), 6000.0);
        assert_eq!(time_of(&p, 0.0), Some(0.0));
        assert_eq!(time_of(&p, 1.0), Some(0.02));
        assert_eq!(time_of(&p, 5999.0), Some(119.98));
        assert_eq!(time_of(&p, 6000.0), None);
    }

    #[test]
    fn ramp_up_integrates_linearly_then_holds() {
        // 10 -> 30 RPS over 10 s is 200 requests, then 30 RPS for 5 s is 150 more.
        let p = RateProfile::ramp_up(10.0, 30.0, 10.0, 15.0);
        assert!((p.cumulative(10.0) - 200.0).abs() < 1e-9);
        assert!((p.total() - 350.0).abs() < 1e-9);
        assert!((p.rate_at(5.0) - 20.0).abs() < 1e-12);
        assert_eq!(p.rate_at(12.0), 30.0);
        // Half-way in requests (100) falls where 10t + t^2 = 100: t = -5 + sqrt(125).
        let t = time_of(&p, 100.0).unwrap();
        assert!((t - (125f64.sqrt() - 5.0)).abs() < 1e-9, "{t}");
    }

    #[test]
    fn ramp_from_zero_has_a_finite_first_gap() {
        let p = RateProfile::ramp_up(0.0, 100.0, 10.0, 10.0);
        // Rate 10 t, so t^2 * 5 = n: the first request after the one at 0 is at sqrt(1/5).
        assert_eq!(time_of(&p, 0.0), Some(0.0));
        let t = time_of(&p, 1.0).unwrap();
        assert!((t - 0.2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn spike_bursts_start_every_two_spike_durations() {
        let p = RateProfile::spike(10.0, 100.0, 2.0, 11.0);
        // base [0,4), burst [4,6), base [6,8), burst [8,10), base [10,11)
        assert_eq!(p.rate_at(3.9), 10.0);
        assert_eq!(p.rate_at(4.0), 100.0);
        assert_eq!(p.rate_at(5.9), 100.0);
        assert_eq!(p.rate_at(6.0), 10.0);
        assert_eq!(p.rate_at(8.5), 100.0);
        assert_eq!(p.rate_at(10.5), 10.0);
        assert!((p.total() - (40.0 + 200.0 + 20.0 + 200.0 + 10.0)).abs() < 1e-9);
    }

    #[test]
    fn step_uses_quarter_half_full_half_without_truncation() {
        let p = RateProfile::step(10.0, 8.0);
        assert_eq!(p.rate_at(1.0), 2.5);
        assert_eq!(p.rate_at(3.0), 5.0);
        assert_eq!(p.rate_at(5.0), 10.0);
        assert_eq!(p.rate_at(7.0), 5.0);
        assert_eq!(p.total(), 5.0 + 10.0 + 20.0 + 10.0);
        assert_eq!(p.peak_rps(), 10.0);
    }

    #[test]
    fn a_zero_rate_pauses_sending() {
        let p = RateProfile::stages(0.0, &[(1.0, 0.0), (2.0, 10.0), (1.0, 10.0)]);
        // Nothing during the first second, then a ramp 0 -> 10 over 2 s (10 requests).
        let first_after_zero = time_of(&p, 1.0).unwrap();
        assert!(first_after_zero > 1.0, "{first_after_zero}");
        assert_eq!(time_of(&p, 0.0), Some(1.0));
        assert!((p.cumulative(3.0) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn warmup_prepends_the_starting_rate() {
        let p = RateProfile::ramp_up(5.0, 50.0, 10.0, 10.0).with_warmup(2.0);
        assert_eq!(p.duration_s(), 12.0);
        assert_eq!(p.rate_at(1.0), 5.0);
        assert!((p.cumulative(2.0) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn inverse_matches_cumulative_everywhere() {
        let p = RateProfile::stages(3.0, &[(4.0, 40.0), (3.0, 7.0), (2.0, 7.0), (5.0, 0.5)]);
        let mut cursor = 0;
        let mut n = 0.0;
        while let Some(t) = p.time_of(n, &mut cursor) {
            assert!((p.cumulative(t) - n).abs() < 1e-6, "n={n} t={t}");
            n += 1.0;
        }
        assert_eq!(n, p.total().ceil());
    }
}
