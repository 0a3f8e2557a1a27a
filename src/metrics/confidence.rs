//! 95% confidence intervals for percentiles, distribution-free, read from a histogram.
//!
//! Among `n` samples, the number `X` that fall at or below the true quantile `q` is
//! Binomial(n, q). So the order statistics of ranks `j < k` bound the quantile with
//! probability `P(j <= X < k)`; [`ranks`] picks the narrowest such pair with at least 95%
//! (the exact binomial where `n q (1 - q)` is small, its normal approximation otherwise), and
//! [`interval`] reads the values of those ranks from the histogram, from the lowest value of
//! rank j's bucket to the highest of rank k's, so an interval is never narrower than the
//! histogram's own precision. When rank k would exceed n there are too few samples for an
//! interval (a p99.99 needs 36,887): [`samples_needed`] says how many.
//!
//! The same approach as EPFL's Lancet (USENIX ATC '19); nothing here is on the hot path.

use hdrhistogram::Histogram;

/// The standard normal's 97.5th percentile.
const Z95: f64 = 1.959_963_984_540_054;
/// Each tail of a 95% two-sided interval.
const TAIL: f64 = 0.025;
/// Above this `n q (1 - q)` the binomial is replaced by its normal approximation.
const NORMAL_FROM: f64 = 25.0;

/// The fewest samples with which quantile `q` (0..1) has a 95% interval: both of its ranks
/// must exist, which takes `max(q, 1 - q)^n <= 2.5%`.
pub fn samples_needed(q: f64) -> u64 {
    let p = q.max(1.0 - q);
    (TAIL.ln() / p.ln()).ceil() as u64
}

/// The 1-based ranks `j < k` whose order statistics bound quantile `q` with at least 95%
/// confidence among `n` samples; `None` when `n` is too small for either to exist.
pub fn ranks(n: u64, q: f64) -> Option<(u64, u64)> {
    match bound_ranks(n, q) {
        [Some(j), Some(k)] if j < k && n >= samples_needed(q) => Some((j, k)),
        _ => None,
    }
}

/// The ranks of [`ranks`], each on its own: the lower one bounds the quantile from below
/// with 97.5% confidence, the upper from above. With few samples only the side towards the
/// distribution's middle exists: 100 samples cannot put an upper bound on a p99 (that takes
/// 368) but can put a lower one, so a p99 that must stay under a limit can still be seen to
/// fail.
pub fn bound_ranks(n: u64, q: f64) -> [Option<u64>; 2] {
    if n == 0 || !(0.0..1.0).contains(&q) {
        return [None, None];
    }
    let nf = n as f64;
    let spread = nf * q * (1.0 - q);
    let [j, k] = if spread >= NORMAL_FROM {
        let half = Z95 * spread.sqrt();
        [
            Some((nf * q - half).floor() as u64),
            Some((nf * q + half).ceil() as u64 + 1),
        ]
    } else {
        exact_ranks(n, q)
    };
    [j.filter(|&j| j >= 1), k.filter(|&k| k <= n)]
}

/// [`bound_ranks`] from the exact binomial: `j` the largest with `P(X <= j - 1) <= 2.5%`,
/// `k` the smallest with `P(X <= k - 1) >= 97.5%`. Summed from the side where the
/// binomial's mass is (here `min(q, 1 - q) n` is below about 25), so no term underflows.
fn exact_ranks(n: u64, q: f64) -> [Option<u64>; 2] {
    // Y counts the samples on the rare side: Y = X when q <= 1/2, else n - X.
    let flip = q > 0.5;
    let p = if flip { 1.0 - q } else { q };
    // The CDF of Y ~ Binomial(n, p) at 0, 1, 2, ..., until it passes 97.5%.
    let mut cdf = Vec::new();
    let mut pmf = (1.0 - p).powf(n as f64);
    let mut sum = 0.0;
    for y in 0..=n {
        sum += pmf;
        cdf.push(sum);
        if sum >= 1.0 - TAIL {
            break;
        }
        pmf *= (n - y) as f64 / (y + 1) as f64 * p / (1.0 - p);
    }
    // The largest y with F(y) <= 2.5% (if any), and the smallest with F(y) >= 97.5%.
    let low = cdf.iter().rposition(|&f| f <= TAIL).map(|y| y as u64);
    let high = cdf.iter().position(|&f| f >= 1.0 - TAIL).map(|y| y as u64);
    if flip {
        // P(X <= x) = 1 - F(n - x - 1): j = n - high, k = n - low.
        [high.map(|h| n - h), low.map(|l| n - l)]
    } else {
        [low.map(|l| l + 1), high.map(|h| h + 1)]
    }
}

/// The 95% interval of quantile `q` of `h`, in `h`'s units divided by `unit`; `None` with
/// too few samples.
pub fn interval(h: &Histogram<u64>, q: f64, unit: f64) -> Option<[f64; 2]> {
    intervals(h, &[q], unit)[0]
}

/// [`interval`] for each of `qs`, in one pass over the histogram's buckets.
pub fn intervals<const N: usize>(
    h: &Histogram<u64>,
    qs: &[f64; N],
    unit: f64,
) -> [Option<[f64; 2]>; N] {
    let both: [Option<(u64, u64)>; N] = qs.map(|q| ranks(h.len(), q));
    let bounds = values_at(
        h,
        both.map(|r| r.map_or([None, None], |(j, k)| [Some(j), Some(k)])),
    );
    std::array::from_fn(|i| {
        both[i].map(|_| {
            [
                bounds[i][0].unwrap_or(0) as f64 / unit,
                bounds[i][1].unwrap_or(0) as f64 / unit,
            ]
        })
    })
}

/// The values of ranks `j <= k` of `h` (1-based; the lowest value of rank j's bucket, the
/// highest of rank k's) divided by `unit`; `None` when `h` has fewer than `k` values.
pub fn at_ranks(h: &Histogram<u64>, j: u64, k: u64, unit: f64) -> Option<[f64; 2]> {
    let [[lo, hi]] = values_at(h, [[Some(j), Some(k)]]);
    Some([lo? as f64 / unit, hi? as f64 / unit])
}

/// The 95% interval of quantile `q` of `h` one end at a time (see [`bound_ranks`]), in
/// `h`'s units divided by `unit`: `[lower, upper]`, each `None` when too few samples.
pub fn bounds(h: &Histogram<u64>, q: f64, unit: f64) -> [Option<f64>; 2] {
    let [[lo, hi]] = values_at(h, [bound_ranks(h.len(), q)]);
    [lo.map(|v| v as f64 / unit), hi.map(|v| v as f64 / unit)]
}

/// The values of the given `[lower, upper]` ranks of `h`, in one pass over its buckets:
/// the lowest value of a lower rank's bucket and the highest of an upper rank's, so an
/// interval is never narrower than the histogram's precision.
fn values_at<const N: usize>(
    h: &Histogram<u64>,
    ranks: [[Option<u64>; 2]; N],
) -> [[Option<u64>; 2]; N] {
    // Every rank asked for, in order, with where its value goes: (rank, which, upper end).
    let mut wanted: Vec<(u64, usize, usize)> = ranks
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (0..2).filter_map(move |end| r[end].map(|rank| (rank, i, end))))
        .collect();
    wanted.sort_unstable();
    let mut values = [[None; 2]; N];
    let mut next = wanted.iter().peekable();
    let mut seen = 0;
    for v in h.iter_recorded() {
        seen += v.count_since_last_iteration();
        let value = v.value_iterated_to();
        while let Some(&&(rank, i, end)) = next.peek() {
            if rank > seen {
                break;
            }
            values[i][end] = Some(if end == 1 {
                h.highest_equivalent(value)
            } else {
                h.lowest_equivalent(value)
            });
            next.next();
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn too_few_samples_have_no_interval_and_say_how_many_are_needed() {
        assert_eq!(samples_needed(0.5), 6);
        assert_eq!(samples_needed(0.99), 368);
        assert_eq!(samples_needed(0.9999), 36_887);
        assert!(ranks(5, 0.5).is_none());
        assert!(ranks(6, 0.5).is_some());
        assert!(ranks(367, 0.99).is_none());
        let (j, k) = ranks(368, 0.99).unwrap();
        assert!(j >= 1 && k <= 368 && j < k, "{j} {k}");
        // One side at a time: 100 samples bound a p99 from below only.
        assert!(matches!(bound_ranks(100, 0.99), [Some(_), None]));
        assert!(matches!(bound_ranks(100, 0.01), [None, Some(_)]));
        let [j, k] = bound_ranks(368, 0.99);
        assert_eq!((j.unwrap(), k.unwrap()), ranks(368, 0.99).unwrap());
        let (j, k) = ranks(1_000_000, 0.5).unwrap();
        assert!(j < 500_000 && k > 500_000 && k - j < 2_100, "{j} {k}");
    }

    /// Over repeated samples of a known distribution, the intervals hold the true quantile
    /// about 95% of the time (here: 90% to 99% of 200 repetitions, for every q and n).
    #[test]
    fn the_intervals_cover_the_true_quantile_about_95_percent_of_the_time() {
        let mean_ns = 1_000_000.0;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(14);
        for n in [1_000u64, 100_000] {
            for q in [0.5f64, 0.9, 0.99] {
                let truth = -mean_ns * (1.0 - q).ln();
                let repetitions = 200;
                let mut covered = 0;
                for _ in 0..repetitions {
                    let mut h = crate::metrics::atomic_hist::new_histogram();
                    for _ in 0..n {
                        let u: f64 = rng.random();
                        h.record((-mean_ns * (1.0 - u).ln()) as u64 + 1).unwrap();
                    }
                    let [lo, hi] = interval(&h, q, 1.0).unwrap();
                    covered += u32::from(lo <= truth && truth <= hi);
                }
                // Shown with `cargo test --release confidence -- --nocapture`.
                eprintln!("n {n}, q {q}: {covered} of {repetitions} intervals hold the truth");
                assert!(
                    (180..=198).contains(&covered),
                    "n {n}, q {q}: {covered} of {repetitions} intervals hold the truth"
                );
            }
        }
    }
}
