//! 95% intervals that account for dependence between requests: what a run's own time series
//! says about how much a percentile could move, not only the binomial noise of `n`
//! independent samples ([`confidence`]).
//!
//! Requests to a real server are not independent: a slow stretch (a garbage collection, a
//! preempted worker, a cache that went cold) makes many neighbours slow together, so the
//! order-statistic interval, which assumes independence, is too narrow, often by ten times,
//! and another run's estimate falls outside it. Two remedies, each used where the run allows,
//! joined into one interval (their hull, never narrower than the order-statistic interval):
//!
//! - **Batch means** (sectioning; Schmeiser 1982, and for quantiles Alexopoulos et al.): the
//!   measured window's whole intervals are grouped into consecutive batches, each closed as
//!   soon as it holds `10 / (1 - q)` requests, so that each batch can estimate the percentile
//!   on its own (a partial last interval and a batch left short are dropped; at a constant
//!   rate every batch is the same number of intervals). With at least [`MIN_BATCHES`] batches the interval is
//!   `q̂ ± t(B - 1) · s / √B`, `s` the standard deviation of the batches' estimates and `q̂`
//!   the whole run's. It holds whatever the dependence, as long as it fades within a batch.
//! - **Effective sample size**: from the lag correlations the validity check measured, the
//!   samples count as `n / f²` independent ones (`f` its `narrow_by`), and the order-statistic
//!   ranks are taken for that many and scaled back to `n`; where so few have no ranks for the
//!   percentile, the order-statistic interval is widened `f` times about the estimate.
//!
//! When neither is available (fewer than [`MIN_BATCHES`] batches and no lag correlations, or
//! correlations that leave too few effective samples) there is no interval: `n/a (needs a
//! longer run)` rather than a number that only looks precise. When the lag correlations say
//! the samples are independent (`f` at most [`INDEPENDENT`]), the order-statistic interval
//! stands alone.
//!
//! What no within-run interval can cover is a condition that moves between runs and stays
//! put within one (a host that runs warmer today): for that, repetitions (`--repeat`) and
//! interleaved rounds (`openpace ab`). Nothing here is on the hot path.

use hdrhistogram::Histogram;

use super::confidence;
use super::encoding::decode;
use super::percentile::ByPercentile;
use super::result::{
    Ci95, CiMethod, IntervalStats, LatencySummary, SUMMARY_QUANTILES, ScenarioResult,
};

/// The fewest batches a batch-means interval is made from.
pub const MIN_BATCHES: usize = 5;
/// A lag-correlation factor at most this counts as independent samples.
pub const INDEPENDENT: f64 = 1.05;

/// Student's t, 97.5th percentile, for 1 to 30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Student's t 97.5th percentile for `df` degrees of freedom (a table to 30, then the
/// Cornish-Fisher expansion, within 0.001).
pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        1..=30 => T975[df - 1],
        _ => {
            let z = 1.959_963_984_540_054_f64;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Mean and sample standard deviation of `values` (`None` with fewer than 2).
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, var.sqrt()))
}

/// Mean of `values` and the half-width of its 95% interval, `t(N - 1) s / √N`, for the means
/// of batches, of runs and of paired rounds alike (`None` with fewer than 2).
pub fn mean_and_half_width(values: &[f64]) -> Option<(f64, f64)> {
    let (mean, sd) = mean_sd(values)?;
    Some((
        mean,
        t975(values.len() - 1) * sd / (values.len() as f64).sqrt(),
    ))
}

/// Which metric of a scenario: its total and interval histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// end − intended.
    Response,
    /// end − start.
    Service,
    /// start − intended.
    Dispatch,
}

impl Metric {
    /// The three, in report order.
    pub const ALL: [Metric; 3] = [Metric::Response, Metric::Service, Metric::Dispatch];

    fn encoded(self, h: &super::result::EncodedHistograms) -> &str {
        match self {
            Metric::Response => &h.response_time,
            Metric::Service => &h.service_time,
            Metric::Dispatch => &h.dispatch_delay,
        }
    }
}

/// What the intervals of one metric are made from: the run's histogram (ns), its whole
/// intervals' histograms in time order, and the lag-correlation factor if known.
pub struct Evidence {
    total: Histogram<u64>,
    intervals: Vec<Histogram<u64>>,
    lag_factor: Option<f64>,
}

/// One interval, with how it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Honest {
    /// `[low, high]` in the unit asked for; `None`: no interval (see `needs`).
    pub interval: Option<[f64; 2]>,
    /// The batches of the batch-means part, when there was one.
    pub batches: Option<u64>,
    /// Without an interval, about how many samples would give one.
    pub needs: Option<u64>,
}

impl Evidence {
    /// The evidence of `metric` in a scenario's saved histograms: its total, its whole
    /// intervals (a partial last one left out: shorter than 90% of the longest), and the
    /// lag-correlation factor `lag_factor` (`None` when unknown). Histograms that do not
    /// decode count as absent.
    pub fn of(
        total: &super::result::EncodedHistograms,
        intervals: &[IntervalStats],
        metric: Metric,
        lag_factor: Option<f64>,
    ) -> Evidence {
        let longest = intervals
            .iter()
            .map(|r| r.end_s - r.start_s)
            .fold(0.0, f64::max);
        let intervals = intervals
            .iter()
            .filter(|r| r.end_s - r.start_s >= 0.9 * longest)
            .filter_map(|r| decode(metric.encoded(&r.histograms)).ok())
            .collect();
        Evidence {
            total: decode(metric.encoded(total))
                .unwrap_or_else(|_| super::atomic_hist::new_histogram()),
            intervals,
            lag_factor,
        }
    }

    /// Evidence from histograms already decoded (tests, simulations).
    pub fn from_parts(
        total: Histogram<u64>,
        intervals: Vec<Histogram<u64>>,
        lag_factor: Option<f64>,
    ) -> Evidence {
        Evidence {
            total,
            intervals,
            lag_factor,
        }
    }

    /// The run's histogram.
    pub fn total(&self) -> &Histogram<u64> {
        &self.total
    }

    /// The 95% interval of quantile `q` (0..1), in ns divided by `unit`; see the module doc.
    pub fn interval(&self, q: f64, unit: f64) -> Honest {
        let n = self.total.len();
        let floor = confidence::interval(&self.total, q, unit);
        let batch = self.batch_means(q, unit);
        let ess = self.lag_factor.and_then(|f| self.effective(q, unit, f));
        let independent = self.lag_factor.is_some_and(|f| f <= INDEPENDENT);
        let Some(floor) = floor.filter(|_| batch.is_some() || ess.is_some() || independent) else {
            return Honest {
                needs: Some(self.needs(q).max(n + 1)),
                ..Honest::default()
            };
        };
        let mut hull = floor;
        for [lo, hi] in [batch.map(|(b, _)| b), ess].into_iter().flatten() {
            hull = [hull[0].min(lo), hull[1].max(hi)];
        }
        Honest {
            interval: Some(hull),
            batches: batch.map(|(_, b)| b),
            needs: None,
        }
    }

    /// About how many samples an interval of `q` needs: by batches, or by the effective
    /// sample size where the lag correlations are known (whichever is fewer), and never fewer
    /// than the order statistics need.
    fn needs(&self, q: f64) -> u64 {
        let plain = confidence::samples_needed(q);
        let by_batches = MIN_BATCHES as u64 * per_batch(q);
        let need = match self.lag_factor {
            Some(f) => by_batches.min((plain as f64 * f.max(1.0).powi(2)).ceil() as u64),
            None => by_batches,
        };
        need.max(plain)
    }

    /// The batch-means interval of `q` and its batch count, when there are enough batches.
    fn batch_means(&self, q: f64, unit: f64) -> Option<([f64; 2], u64)> {
        let mut batches = Batcher::new(q);
        for h in &self.intervals {
            batches.add(h);
        }
        batches.interval(&self.total, unit)
    }

    /// The order-statistic interval for `n / factor²` effective samples, its ranks scaled
    /// back to the run's `n`; where so few effective samples have no ranks for `q` (the
    /// interval would run past the data), the order-statistic interval widened `factor` times
    /// about the estimate, which is what the factor measures.
    fn effective(&self, q: f64, unit: f64, factor: f64) -> Option<[f64; 2]> {
        let n = self.total.len();
        let scale = factor.max(1.0).powi(2);
        let n_eff = (n as f64 / scale).floor() as u64;
        let Some((j, k)) = confidence::ranks(n_eff, q) else {
            let [lo, hi] = confidence::interval(&self.total, q, unit)?;
            let centre = self.total.value_at_quantile(q) as f64 / unit;
            return Some([
                (centre - factor * (centre - lo)).max(0.0),
                centre + factor * (hi - centre),
            ]);
        };
        let up = |rank: u64, round: fn(f64) -> f64| {
            (round(rank as f64 * n as f64 / n_eff as f64) as u64).clamp(1, n)
        };
        confidence::at_ranks(&self.total, up(j, f64::floor), up(k, f64::ceil), unit)
    }
}

/// Batches of consecutive intervals for one quantile, built as the intervals come: the run's
/// own intervals at its end, or a run until precise interval by interval.
#[derive(Clone, Debug)]
pub struct Batcher {
    q: f64,
    need: u64,
    current: Option<Histogram<u64>>,
    /// Each closed batch's estimate of the quantile (ns).
    estimates: Vec<f64>,
}

impl Batcher {
    /// No batch yet, for quantile `q`.
    pub fn new(q: f64) -> Batcher {
        Batcher {
            q,
            need: per_batch(q),
            current: None,
            estimates: Vec::new(),
        }
    }

    /// Adds the next interval's histogram (ns); a batch closes once it holds enough.
    pub fn add(&mut self, interval: &Histogram<u64>) {
        let merged = match self.current.as_mut() {
            None => {
                self.current = Some(interval.clone());
                true
            }
            Some(h) => h.add(interval).is_ok(),
        };
        let full = self.current.as_ref().is_some_and(|h| h.len() >= self.need);
        if merged && full {
            if let Some(h) = self.current.take() {
                self.estimates.push(h.value_at_quantile(self.q) as f64);
            }
        }
    }

    /// Batches closed so far.
    pub fn batches(&self) -> usize {
        self.estimates.len()
    }

    /// `q̂ ± t(B - 1) s / √B` around `total`'s quantile, in ns divided by `unit`, with `B`;
    /// `None` with fewer than [`MIN_BATCHES`] batches.
    pub fn interval(&self, total: &Histogram<u64>, unit: f64) -> Option<([f64; 2], u64)> {
        let b = self.estimates.len();
        if b < MIN_BATCHES {
            return None;
        }
        let (_, half) = mean_and_half_width(&self.estimates)?;
        let half = half / unit;
        let centre = total.value_at_quantile(self.q) as f64 / unit;
        Some(([(centre - half).max(0.0), centre + half], b as u64))
    }
}

/// The requests a batch needs to estimate quantile `q` on its own: ten beyond it.
fn per_batch(q: f64) -> u64 {
    (10.0 / (1.0 - q).max(1e-9)).ceil() as u64
}

/// A scenario's lag-correlation factor: from its validity check, or (a merged report, whose
/// shards' checks stayed with them) the one its intervals were made with; `None` without
/// either.
pub fn lag_factor(s: &ScenarioResult) -> Option<f64> {
    s.validity
        .as_ref()
        .and_then(|v| v.independence.as_ref())
        .map(|i| i.narrow_by)
        .or_else(|| s.response_time_ms.ci95.and_then(|c| c.lag_factor))
        .filter(|f| *f >= 1.0)
}

/// Gives a scenario's response, service and dispatch summaries their dependence-aware
/// intervals, from its run histograms, its intervals and its validity check.
pub fn apply_scenario(s: &mut ScenarioResult) {
    let lag = lag_factor(s);
    apply_scenario_with(s, lag);
}

/// [`apply_scenario`] with the lag-correlation factor given: a merge passes the largest of
/// its shards' (each shard's requests are as dependent as a whole run's).
pub fn apply_scenario_with(s: &mut ScenarioResult, lag: Option<f64>) {
    for (metric, unit) in [
        (Metric::Response, 1e6),
        (Metric::Service, 1e6),
        (Metric::Dispatch, 1e3),
    ] {
        let evidence = Evidence::of(&s.histograms, &s.intervals, metric, lag);
        let summary = match metric {
            Metric::Response => &mut s.response_time_ms,
            Metric::Service => &mut s.service_time_ms,
            Metric::Dispatch => &mut s.dispatch_delay_us,
        };
        apply(summary, &evidence, unit);
    }
}

/// The summary's intervals made again from the evidence: each of its percentiles' interval,
/// batches and needs, the method said in `method`.
pub fn summary_intervals(evidence: &Evidence, unit: f64) -> Ci95 {
    let found = SUMMARY_QUANTILES.map(|q| evidence.interval(q, unit));
    let each = |get: fn(&Honest) -> Option<u64>| ByPercentile(found.each_ref().map(get));
    Ci95 {
        intervals: ByPercentile(found.each_ref().map(|h| h.interval)),
        needs: each(|h| h.needs),
        method: Some(CiMethod::DependenceAware),
        lag_factor: evidence.lag_factor,
        batches: each(|h| h.batches),
    }
}

/// Gives a summary the intervals of its evidence (nothing when it has no samples).
pub fn apply(summary: &mut LatencySummary, evidence: &Evidence, unit: f64) {
    if summary.count > 0 {
        summary.ci95 = Some(summary_intervals(evidence, unit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::atomic_hist::new_histogram;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    /// An AR(1) series of `n` log-normal-ish latencies (ns) with lag-1 correlation `rho`
    /// in the log, cut into `intervals` histograms of equal length, and the whole.
    fn ar1(n: usize, rho: f64, intervals: usize, rng: &mut Xoshiro256PlusPlus) -> Evidence {
        let mut x = 0.0f64;
        let per = n / intervals;
        let mut parts: Vec<Histogram<u64>> = (0..intervals).map(|_| new_histogram()).collect();
        let mut total = new_histogram();
        let noise = (1.0 - rho * rho).sqrt();
        for i in 0..per * intervals {
            // A standard normal from two uniforms (Box-Muller).
            let (u1, u2): (f64, f64) = (rng.random(), rng.random());
            let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            x = rho * x + noise * z;
            let v = (100_000.0 * (0.5 * x).exp()) as u64 + 1;
            parts[i / per].record(v).unwrap();
            total.record(v).unwrap();
        }
        Evidence::from_parts(total, parts, None)
    }

    /// The true quantile of the series above: the log-normal's, since x is N(0, 1).
    fn truth(q: f64) -> f64 {
        // The normal quantile, by bisection on erf's complement through the CDF.
        let (mut lo, mut hi) = (-8.0f64, 8.0f64);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if normal_cdf(mid) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        100_000.0 * (0.5 * lo).exp()
    }

    fn normal_cdf(x: f64) -> f64 {
        // Abramowitz and Stegun 26.2.17, within 7.5e-8.
        let t = 1.0 / (1.0 + 0.231_641_9 * x.abs());
        let poly = t
            * (0.319_381_530
                + t * (-0.356_563_782
                    + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
        let tail = (-x * x / 2.0).exp() / (std::f64::consts::TAU).sqrt() * poly;
        if x >= 0.0 { 1.0 - tail } else { tail }
    }

    /// On correlated series the order-statistic interval misses the truth far more than 5%
    /// of the time; the dependence-aware one holds it in 90-99% of repetitions. On
    /// independent series it is not much wider.
    #[test]
    fn dependence_aware_intervals_cover_the_truth_where_order_statistics_do_not() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(26);
        let repetitions = 200;
        for rho in [0.5f64, 0.9] {
            for q in [0.5, 0.9, 0.99] {
                let (mut honest, mut plain) = (0, 0);
                for _ in 0..repetitions {
                    let e = ar1(40_000, rho, 20, &mut rng);
                    let t = truth(q);
                    let [lo, hi] = e.interval(q, 1.0).interval.unwrap();
                    honest += u32::from(lo <= t && t <= hi);
                    let [lo, hi] = confidence::interval(e.total(), q, 1.0).unwrap();
                    plain += u32::from(lo <= t && t <= hi);
                }
                eprintln!(
                    "rho {rho}, q {q}: dependence-aware {honest}, order statistics {plain} of \
                     {repetitions}"
                );
                assert!((180..=198).contains(&honest), "rho {rho} q {q}: {honest}");
                if rho == 0.9 {
                    assert!(
                        plain < 160,
                        "rho {rho} q {q}: order statistics held {plain}"
                    );
                }
            }
        }
        // Independent samples: about the order-statistic interval's width.
        let mut ratio = Vec::new();
        for _ in 0..50 {
            let e = ar1(40_000, 0.0, 20, &mut rng);
            let [lo, hi] = e.interval(0.5, 1.0).interval.unwrap();
            let [a, b] = confidence::interval(e.total(), 0.5, 1.0).unwrap();
            ratio.push((hi - lo) / (b - a));
        }
        ratio.sort_by(f64::total_cmp);
        eprintln!(
            "iid: width against order statistics, median {:.2}",
            ratio[25]
        );
        assert!(ratio[25] < 1.6, "median width ratio {}", ratio[25]);
    }

    #[test]
    fn too_few_batches_and_no_lag_correlations_give_no_interval() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let e = ar1(4_000, 0.5, 4, &mut rng);
        let h = e.interval(0.5, 1.0);
        assert!(h.interval.is_none() && h.needs.is_some(), "{h:?}");
        // Known to be independent: the order statistics stand.
        let e = Evidence::from_parts(e.total, e.intervals, Some(1.0));
        assert!(e.interval(0.5, 1.0).interval.is_some());
        // Correlated: the effective sample size widens them.
        let plain = confidence::interval(e.total(), 0.5, 1.0).unwrap();
        let e = Evidence::from_parts(e.total, e.intervals, Some(3.0));
        let [lo, hi] = e.interval(0.5, 1.0).interval.unwrap();
        assert!(hi - lo > 2.0 * (plain[1] - plain[0]), "{lo} {hi} {plain:?}");
        // A p99.99 with nowhere near enough samples: how many it would need.
        let far = e.interval(0.9999, 1.0);
        assert!(far.interval.is_none() && far.needs.unwrap() > 36_887);
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        assert_eq!(t975(4), 2.776);
        assert!((t975(40) - 2.021).abs() < 0.001, "{}", t975(40));
        assert!((t975(120) - 1.980).abs() < 0.001, "{}", t975(120));
        assert!(t975(0).is_infinite());
    }
}
