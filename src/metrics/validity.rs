//! Validity checks on every run, from the send-order sample (`sample`): is the run
//! stationary, are its samples independent, and did the requests leave as the pattern says?
//! Each is a line in the summary, a field in the JSON, and when it fails a `suspect` note
//! saying what it means. The same checks as EPFL's Lancet (USENIX ATC '19), made to run on a
//! bounded sample and to flag only what matters:
//!
//! - *Stationarity*: the sample in send order is cut into up to 256 groups; a Mann-Kendall
//!   test over the groups' median response times says whether they trend, and Sen's slope
//!   how much over the window. It fails when the trend is significant (p < 0.01) and the
//!   drift is material: more than 10% of the median and more than 1 µs.
//! - *Independence*: Spearman's rank correlation of response times `L` requests apart (lags 1,
//!   2, 5, 10, 20, 50, 100, within the sample's blocks), and the smallest lag from which on it
//!   is negligible at every lag tested (`|rho| <= max(0.1, 1.96 / sqrt(pairs))`, 0.1 being the
//!   usual bound of a "small" correlation). It fails when none is: order-statistic intervals,
//!   which assume independent samples, would be too narrow, by about `narrow_by` (the
//!   dependence-aware intervals of `honest` allow for it). (Said in a note of its own, which
//!   does not make the run suspect: see docs/measurement.md.)
//! - *Arrivals*: the instants requests left the timing loop (never before their intended
//!   ones). For Poisson arrivals, an Anderson-Darling test of up to 1,000 gaps, each rescaled
//!   by the scheduled rate (`Λ(t₂) - Λ(t₁)`, which is exponential with mean 1 for a Poisson
//!   process of any rate profile), fails when p < 0.001. For every pattern, the lateness of
//!   99% of requests must stay within two mean gaps (at least 50 µs), or the pattern the
//!   target saw was not the one scheduled.

use serde::{Deserialize, Serialize};

use super::sample::{BLOCK, Entry};
use crate::schedule::{Arrival, RateProfile};

/// What the validity checks found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Validity {
    /// Requests in the sample.
    pub sampled: u64,
    /// The sample holds one block of 128 consecutive requests in every `every` blocks.
    pub every: u64,
    /// Sampled requests that did not fit a worker's buffer (0 as a rule).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflow: u64,
    /// The trend test; `null` with too few requests.
    pub stationarity: Option<Stationarity>,
    /// The lag correlations; `null` with too few requests.
    pub independence: Option<Independence>,
    /// The arrival checks; `null` without a schedule (the closed model).
    pub arrivals: Option<Arrivals>,
    /// Checks that could not run, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Mann-Kendall over group medians.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stationarity {
    /// Groups tested.
    pub groups: u64,
    /// Two-sided p-value of a trend.
    pub p_value: f64,
    /// Sen's slope over the window, % of the median response time.
    pub drift_pct: f64,
    /// False when the trend is significant and material.
    pub passed: bool,
}

/// Spearman correlations at several lags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Independence {
    /// Each lag tested.
    pub lags: Vec<LagCorrelation>,
    /// The smallest lag at which the correlation is negligible.
    pub independent_from: Option<u64>,
    /// False when no lag up to 100 is.
    pub passed: bool,
    /// About how many times too narrow the 95% intervals are for these correlations:
    /// `sqrt(1 + 2 (rho_1 + ... + rho_100))`, the correlations between the lags tested
    /// interpolated (1 when independent from lag 1).
    #[serde(default)]
    pub narrow_by: f64,
}

/// One lag's correlation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LagCorrelation {
    /// Requests apart.
    pub lag: u64,
    /// Pairs it was computed from.
    pub pairs: u64,
    /// Spearman's rho.
    pub rho: f64,
}

/// How the requests left, against the pattern.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Arrivals {
    /// `poisson` or `uniform`.
    pub process: String,
    /// Gaps tested (Poisson).
    pub gaps: u64,
    /// Anderson-Darling statistic of the rescaled gaps against the exponential (Poisson).
    pub anderson_darling: Option<f64>,
    /// Its p-value.
    pub p_value: Option<f64>,
    /// 99th percentile of how late requests left the timing loop, µs.
    pub late_p99_us: f64,
    /// Mean gap between requests over the sample, µs.
    pub mean_gap_us: f64,
    /// False when either test fails.
    pub passed: bool,
}

/// What the checks need besides the sample.
pub struct Context<'a> {
    /// The schedule's rate profile (warmup included, on the run clock); `None` for the
    /// closed model.
    pub profile: Option<&'a RateProfile>,
    /// The arrival process.
    pub arrival: Arrival,
    /// Seq step between a shard's consecutive requests (1 unsharded).
    pub stride: u64,
    /// The sample's `every`.
    pub every: u64,
}

/// Runs every check on `entries` (any order).
pub fn check(mut entries: Vec<Entry>, overflow: u64, ctx: &Context<'_>) -> Validity {
    entries.sort_unstable();
    let mut v = Validity {
        sampled: entries.len() as u64,
        every: ctx.every,
        overflow,
        ..Validity::default()
    };
    let (times, values) = in_send_order(&entries);
    v.stationarity = stationarity(&times, &values);
    if v.stationarity.is_none() {
        v.not_checked.push(format!(
            "stationarity: {} requests sampled, it takes {MIN_TREND}",
            entries.len()
        ));
    }
    v.independence = independence(&entries, ctx.stride, &values);
    if v.independence.is_none() {
        v.not_checked
            .push("independence: fewer than 30 pairs of requests one apart".to_string());
    }
    if let Some(profile) = ctx.profile {
        let (arrivals, why) = arrivals(&entries, profile, ctx);
        v.arrivals = Some(arrivals);
        v.not_checked.extend(why);
    }
    v
}

/// The stationarity check alone, on `entries` in any order (`None`: too few).
pub fn stationarity_of(mut entries: Vec<Entry>) -> Option<Stationarity> {
    entries.sort_unstable();
    let (times, values) = in_send_order(&entries);
    stationarity(&times, &values)
}

/// Of `entries` sorted by seq: each one's intended instant (s) and response time (ns).
fn in_send_order(entries: &[Entry]) -> (Vec<f64>, Vec<f64>) {
    entries
        .iter()
        .map(|e| {
            (
                e.intended_ns as f64 / 1e9,
                e.end_ns.saturating_sub(e.intended_ns) as f64,
            )
        })
        .unzip()
}

/// A drift is material above this share of the median...
const MATERIAL_DRIFT_PCT: f64 = 10.0;
/// ... and above this many nanoseconds: a noop run's 40 ns median moving by 5 ns is a
/// significant trend (p = 1e-5 on this VM) that changes no figure anyone reads.
const MATERIAL_DRIFT_NS: f64 = 1_000.0;

/// Requests needed for the trend test (8 groups of 32).
const MIN_TREND: usize = 256;

fn stationarity(times: &[f64], values: &[f64]) -> Option<Stationarity> {
    let n = values.len();
    if n < MIN_TREND {
        return None;
    }
    let groups = (n / 32).min(256);
    let (mut t, mut m) = (Vec::with_capacity(groups), Vec::with_capacity(groups));
    for g in 0..groups {
        let range = g * n / groups..(g + 1) * n / groups;
        t.push(times[range.clone()].iter().sum::<f64>() / range.len() as f64);
        m.push(median(values[range].to_vec()));
    }
    let (z, slopes) = mann_kendall(&t, &m);
    let p_value = 2.0 * (1.0 - normal_cdf(z.abs()));
    let span = t[groups - 1] - t[0];
    let level = median(m.clone()).max(1.0);
    let drift_ns = median(slopes) * span;
    let drift_pct = 100.0 * drift_ns / level;
    Some(Stationarity {
        groups: groups as u64,
        p_value,
        drift_pct,
        passed: !(p_value < 0.01
            && drift_pct.abs() > MATERIAL_DRIFT_PCT
            && drift_ns.abs() > MATERIAL_DRIFT_NS),
    })
}

/// The Mann-Kendall statistic's z score of `y` over `t`, and the pairwise slopes (for Sen's).
fn mann_kendall(t: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    let n = y.len();
    let mut s = 0.0;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let d = y[j] - y[i];
            s += d.signum() * f64::from(u8::from(d != 0.0));
            if t[j] > t[i] {
                slopes.push(d / (t[j] - t[i]));
            }
        }
    }
    let nf = n as f64;
    let var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    let z = if s > 0.0 {
        (s - 1.0) / var.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var.sqrt()
    } else {
        0.0
    };
    (z, slopes)
}

/// A correlation no larger than this is negligible (Cohen's "small").
const NEGLIGIBLE: f64 = 0.1;

/// The lags tested, requests apart.
const LAGS: [u64; 7] = [1, 2, 5, 10, 20, 50, 100];

fn independence(entries: &[Entry], stride: u64, values: &[f64]) -> Option<Independence> {
    let mut lags = Vec::new();
    for lag in LAGS.into_iter().filter(|&l| l < BLOCK) {
        let (xs, ys) = pairs(entries, values, lag * stride.max(1));
        if xs.len() < 30 {
            continue;
        }
        lags.push(LagCorrelation {
            lag,
            pairs: xs.len() as u64,
            rho: spearman(&xs, &ys),
        });
    }
    if lags.is_empty() {
        return None;
    }
    // From the lag on which every correlation tested is negligible: one negligible lag
    // followed by a large one (0.68 at lag 20) is not independence.
    let independent_from = (0..lags.len())
        .find(|&i| lags[i..].iter().all(negligible))
        .map(|i| lags[i].lag);
    Some(Independence {
        passed: independent_from.is_some(),
        independent_from,
        narrow_by: narrow_by(&lags),
        lags,
    })
}

/// Whether a lag's correlation is too small to tell from none: `|rho| <= max(0.1, 1.96 /
/// sqrt(pairs))`.
fn negligible(l: &LagCorrelation) -> bool {
    l.rho.abs() <= (1.96 / (l.pairs as f64).sqrt()).max(NEGLIGIBLE)
}

/// [`Independence::narrow_by`]: the variance of a mean of correlated samples is
/// `1 + 2 Σ rho_k` times that of independent ones; the same factor is a fair first guess for
/// a quantile's. Counts the positive correlations up to lag 100, linearly between the lags
/// tested, each negligible one (see [`negligible`]) as 0: summed over a hundred lags, the
/// sampling noise of correlations that are not there (+-0.03) would otherwise make
/// independent samples look twice as few as they are.
fn narrow_by(lags: &[LagCorrelation]) -> f64 {
    let rho = |l: &LagCorrelation| if negligible(l) { 0.0 } else { l.rho };
    let at = |k: f64| {
        let mut prev = (0.0, lags.first().map_or(0.0, rho));
        for l in lags {
            let (x, y) = (l.lag as f64, rho(l));
            if k <= x {
                let (x0, y0) = prev;
                let t = if x > x0 { (k - x0) / (x - x0) } else { 1.0 };
                return y0 + t * (y - y0);
            }
            prev = (x, y);
        }
        0.0
    };
    let sum: f64 = (1..=100).map(|k| at(f64::from(k)).max(0.0)).sum();
    (1.0 + 2.0 * sum).sqrt()
}

/// The values of requests `apart` seqs from each other (both in the sample), as two lists.
fn pairs(entries: &[Entry], values: &[f64], apart: u64) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut j = 0;
    for (i, e) in entries.iter().enumerate() {
        let want = e.seq + apart;
        j = j.max(i);
        while j < entries.len() && entries[j].seq < want {
            j += 1;
        }
        if j < entries.len() && entries[j].seq == want {
            xs.push(values[i]);
            ys.push(values[j]);
        }
    }
    (xs, ys)
}

/// Spearman's rho: Pearson's correlation of the ranks (ties take their mean rank).
fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    let (rx, ry) = (ranks(xs), ranks(ys));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in rx.iter().zip(&ry) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        // A constant series: no correlation to speak of.
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_unstable_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean_rank;
        }
        i = j + 1;
    }
    r
}

/// Gaps the Anderson-Darling test takes at most: enough to see a wrong process, few enough
/// not to flag microseconds of hand-off jitter.
const MAX_GAPS: usize = 1_000;

fn arrivals(
    entries: &[Entry],
    profile: &RateProfile,
    ctx: &Context<'_>,
) -> (Arrivals, Vec<String>) {
    let mut why = Vec::new();
    let sent = |e: &Entry| e.sent_ns.max(e.intended_ns);
    let mut late: Vec<f64> = entries
        .iter()
        .map(|e| (sent(e) - e.intended_ns) as f64 / 1e3)
        .collect();
    late.sort_unstable_by(f64::total_cmp);
    let late_p99_us = late
        .get((late.len() * 99 / 100).min(late.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
    let gaps: Vec<(f64, f64)> = consecutive(entries, ctx.stride)
        .map(|(a, b)| (sent(a) as f64 / 1e9, sent(b) as f64 / 1e9))
        .collect();
    let mean_gap_us = if gaps.is_empty() {
        0.0
    } else {
        gaps.iter().map(|(a, b)| b - a).sum::<f64>() / gaps.len() as f64 * 1e6
    };
    let kept = late_p99_us <= (2.0 * mean_gap_us).max(50.0);
    let mut a = Arrivals {
        process: ctx.arrival.name().to_string(),
        gaps: 0,
        anderson_darling: None,
        p_value: None,
        late_p99_us,
        mean_gap_us,
        passed: kept,
    };
    if ctx.arrival == Arrival::Poisson {
        if ctx.stride > 1 {
            why.push("arrivals: a shard sends every Nth instant of the schedule, which is not a Poisson process of its own".to_string());
        } else if gaps.len() < 20 {
            why.push(format!(
                "arrivals: {} gaps sampled, the test takes 20",
                gaps.len()
            ));
        } else {
            let step = gaps.len().div_ceil(MAX_GAPS);
            let rescaled: Vec<f64> = gaps
                .iter()
                .step_by(step)
                .map(|&(a, b)| profile.cumulative(b) - profile.cumulative(a))
                .collect();
            let a2 = anderson_darling_exp1(rescaled.clone());
            let p = 1.0 - anderson_darling_cdf(a2);
            a.gaps = rescaled.len() as u64;
            a.anderson_darling = Some(a2);
            a.p_value = Some(p);
            a.passed = kept && p >= 0.001;
        }
    }
    (a, why)
}

/// Pairs of sampled requests one apart in the schedule.
fn consecutive(entries: &[Entry], stride: u64) -> impl Iterator<Item = (&Entry, &Entry)> {
    entries
        .windows(2)
        .filter(move |w| w[1].seq == w[0].seq + stride.max(1))
        .map(|w| (&w[0], &w[1]))
}

/// The Anderson-Darling statistic of `u` against the exponential with mean 1.
pub fn anderson_darling_exp1(mut u: Vec<f64>) -> f64 {
    u.sort_unstable_by(f64::total_cmp);
    let n = u.len() as f64;
    let cdf = |x: f64| (1.0 - (-x.max(0.0)).exp()).clamp(1e-300, 1.0 - 1e-16);
    let sum: f64 = (0..u.len())
        .map(|i| {
            let k = (2 * i + 1) as f64;
            k * (cdf(u[i]).ln() + (1.0 - cdf(u[u.len() - 1 - i])).ln())
        })
        .sum();
    -n - sum / n
}

/// The limiting distribution of the Anderson-Darling statistic for a fully specified
/// distribution, `P(A² <= z)` (Marsaglia and Marsaglia 2004, to within 2e-6).
pub fn anderson_darling_cdf(z: f64) -> f64 {
    if z <= 0.0 {
        0.0
    } else if z < 2.0 {
        (-1.233_714_1 / z).exp() / z.sqrt()
            * (2.000_12
                + (0.247_105
                    - (0.064_982_1 - (0.034_796_2 - (0.011_672 - 0.001_686_91 * z) * z) * z) * z)
                    * z)
    } else {
        (-(1.0776
            - (2.306_95 - (0.434_24 - (0.082_433 - (0.008_056 - 0.000_314_6 * z) * z) * z) * z)
                * z)
            .exp())
        .exp()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The standard normal CDF (via erfc, Numerical Recipes' Chebyshev fit, 1.2e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let erfc = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Schedule;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    fn entries(times_ns: &[u64], response_ns: impl Fn(usize) -> u64) -> Vec<Entry> {
        times_ns
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry {
                seq: i as u64,
                intended_ns: t,
                sent_ns: t,
                end_ns: t + response_ns(i),
            })
            .collect()
    }

    fn context(profile: &RateProfile, arrival: Arrival) -> Context<'_> {
        Context {
            profile: Some(profile),
            arrival,
            stride: 1,
            every: 1,
        }
    }

    #[test]
    fn the_normal_cdf_and_the_anderson_darling_tail_match_their_tables() {
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-6);
        // A² critical values of a fully specified distribution: 5% at 2.492, 1% at 3.857.
        assert!((anderson_darling_cdf(2.492) - 0.95).abs() < 1e-3);
        assert!((anderson_darling_cdf(3.857) - 0.99).abs() < 1e-3);
    }

    /// The schedule's own Poisson instants pass; a wrong generator fails: evenly spaced
    /// instants called Poisson, and exponential gaps at 80% of the scheduled rate.
    #[test]
    fn poisson_arrivals_pass_and_a_wrong_generator_fails() {
        let profile = RateProfile::constant(1_000.0, 20.0);
        let mut schedule = Schedule::new(profile.clone(), Arrival::Poisson, 7);
        let mut poisson = Vec::new();
        while let Some(t) = schedule.next_offset_ns() {
            poisson.push(t);
        }
        let a = check(
            entries(&poisson, |_| 1_000),
            0,
            &context(&profile, Arrival::Poisson),
        );
        let arr = a.arrivals.unwrap();
        assert!(arr.passed && arr.gaps > 900, "{arr:?}");
        let even: Vec<u64> = (0..20_000).map(|i| i * 1_000_000).collect();
        let a = check(
            entries(&even, |_| 1_000),
            0,
            &context(&profile, Arrival::Poisson),
        );
        let arr = a.arrivals.unwrap();
        assert!(!arr.passed && arr.p_value.unwrap() < 1e-6, "{arr:?}");
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut t = 0.0;
        let slow: Vec<u64> = (0..16_000)
            .map(|_| {
                let u: f64 = rng.random();
                t += -(1.0 - u).ln() / 800.0;
                (t * 1e9) as u64
            })
            .collect();
        let a = check(
            entries(&slow, |_| 1_000),
            0,
            &context(&profile, Arrival::Poisson),
        );
        assert!(!a.arrivals.unwrap().passed);
        // Uniform arrivals are judged on lateness only: evenly spaced and on time passes.
        let a = check(
            entries(&even, |_| 1_000),
            0,
            &context(&profile, Arrival::Uniform),
        );
        assert!(a.arrivals.unwrap().passed);
    }

    /// A response time that grows by 1 µs per request trends and is correlated at every
    /// lag; a steady noisy one is neither.
    #[test]
    fn a_ramp_is_not_stationary_nor_independent_and_noise_is_both() {
        let times: Vec<u64> = (0..2_000).map(|i| i * 1_000_000).collect();
        let profile = RateProfile::constant(1_000.0, 2.0);
        let ramp = check(
            entries(&times, |i| 200_000 + 1_000 * i as u64),
            0,
            &context(&profile, Arrival::Uniform),
        );
        let s = ramp.stationarity.unwrap();
        assert!(
            !s.passed && s.p_value < 1e-6 && s.drift_pct > 100.0,
            "{s:?}"
        );
        let d = ramp.independence.unwrap();
        assert!(!d.passed && d.lags[0].rho > 0.9, "{d:?}");
        // Correlation near 1 up to lag 100: sqrt(1 + 2 x ~100), about 14x.
        assert!((12.0..=14.2).contains(&d.narrow_by), "{d:?}");
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let noise: Vec<u64> = (0..2_000)
            .map(|_| 200_000 + rng.random_range(0..50_000u64))
            .collect();
        let steady = check(
            entries(&times, |i| noise[i]),
            0,
            &context(&profile, Arrival::Uniform),
        );
        assert!(steady.stationarity.unwrap().passed);
        let d = steady.independence.unwrap();
        assert_eq!(d.independent_from, Some(1), "{d:?}");
        assert!(d.narrow_by < 1.5, "{d:?}");
        // Issue 29, point 3: negligible at lags 1 to 10 but large at 20 and 100 (each
        // response time shares a part with the ones 20 and 100 requests before it) is not
        // independence, and the verdict says so.
        let parts: Vec<u64> = (0..2_100)
            .map(|_| rng.random_range(0..100_000u64))
            .collect();
        let echoed = check(
            entries(&times, |i| parts[i + 100] + parts[i + 80] + parts[i]),
            0,
            &context(&profile, Arrival::Uniform),
        );
        let d = echoed.independence.unwrap();
        let rho = |lag: u64| d.lags.iter().find(|l| l.lag == lag).unwrap().rho;
        assert!(
            rho(1).abs() < 0.1 && rho(20) > 0.2 && rho(100) > 0.2,
            "{d:?}"
        );
        assert!(!d.passed && d.independent_from.is_none(), "{d:?}");
        assert!(d.narrow_by > 1.5, "{d:?}");
        // Too few requests: said so, not guessed.
        let few = check(
            entries(&times[..100], |_| 1_000),
            0,
            &context(&profile, Arrival::Uniform),
        );
        assert!(
            few.stationarity.is_none() && few.not_checked[0].contains("256"),
            "{few:?}"
        );
    }
}
