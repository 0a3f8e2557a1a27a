//! Numbers across runs: a scenario repeated (`--repeat N`) and two configurations run in
//! interleaved rounds (`openpace ab`).
//!
//! One run's interval, however honest, cannot see a condition that moves only between runs
//! (Georges, Buytaert and Eeckhout, OOPSLA 2007; Kalibera and Jones, ISMM 2013): the interval
//! a rerun respects is across independent runs. For each percentile, each run's value (read
//! from its own histogram) is one observation; the estimate printed is the pooled histogram's
//! (every run's requests together: percentiles are never averaged), and its 95% interval is
//! `pooled ± t(N - 1) s / √N`, `s` the runs' standard deviation, with their coefficient of
//! variation beside it.
//!
//! Interleaved rounds (Abedi and Brecht, ICPE 2017, "randomized multiple interleaved trials")
//! compare A and B round by round: a drift of the host moves both sides of a round, so the
//! per-round differences `B_r - A_r` are what is averaged and bounded, `d̄ ± t(N - 1) s_d /
//! √N`. The smallest difference the rounds could have called significant is that interval's
//! half-width, and `(half-width / margin)²` times the rounds would reach a margin.

use hdrhistogram::Histogram;

use super::encoding::decode;
use super::honest::{Metric, mean_and_half_width, mean_sd};
use super::percentile::{ByPercentile, percent_text};
use super::result::{
    AcrossMetric, AcrossPercentile, Ci95, CiMethod, LatencySummary, Repeated, RepeatedRun,
    SUMMARY_QUANTILES, ScenarioResult,
};

/// `centre ± t(N - 1) s / √N` of `values`; `None` with fewer than 2.
pub fn across_interval(values: &[f64], centre: f64) -> Option<[f64; 2]> {
    let (_, half) = mean_and_half_width(values)?;
    Some([(centre - half).max(0.0), centre + half])
}

/// The runs' coefficient of variation, percent (0 with fewer than 2 or a zero mean).
pub fn cv_pct(values: &[f64]) -> f64 {
    mean_sd(values).map_or(
        0.0,
        |(mean, sd)| {
            if mean > 0.0 { 100.0 * sd / mean } else { 0.0 }
        },
    )
}

/// A metric's histogram of one run (an empty one when it does not decode).
fn histogram_of(h: &super::result::EncodedHistograms, metric: Metric) -> Histogram<u64> {
    let encoded = match metric {
        Metric::Response => &h.response_time,
        Metric::Service => &h.service_time,
        Metric::Dispatch => &h.dispatch_delay,
    };
    decode(encoded).unwrap_or_else(|_| super::atomic_hist::new_histogram())
}

/// Each run's value of quantile `q` of `metric`, in ns divided by `unit`, from the runs
/// that hold enough samples to have it (a run of 2,000 requests has no p99.99 of its own,
/// only its maximum).
pub fn run_values(rep: &Repeated, metric: Metric, q: f64, unit: f64) -> Vec<f64> {
    let enough = super::confidence::samples_needed(q);
    rep.runs
        .iter()
        .map(|r| histogram_of(&r.histograms, metric))
        .filter(|h| h.len() >= enough)
        .map(|h| h.value_at_quantile(q) as f64 / unit)
        .collect()
}

/// The values of quantile `q` of `metric` in the rounds both sides hold enough samples for,
/// in round order: (A's, B's).
pub fn paired_values(
    a: &Repeated,
    b: &Repeated,
    metric: Metric,
    q: f64,
    unit: f64,
) -> (Vec<f64>, Vec<f64>) {
    let enough = super::confidence::samples_needed(q);
    a.runs
        .iter()
        .zip(&b.runs)
        .map(|(ra, rb)| {
            (
                histogram_of(&ra.histograms, metric),
                histogram_of(&rb.histograms, metric),
            )
        })
        .filter(|(ha, hb)| ha.len() >= enough && hb.len() >= enough)
        .map(|(ha, hb)| {
            (
                ha.value_at_quantile(q) as f64 / unit,
                hb.value_at_quantile(q) as f64 / unit,
            )
        })
        .unzip()
}

/// The interval across the runs of quantile `q` of `metric` around the pooled value (ns
/// divided by `unit`).
pub fn interval(
    rep: &Repeated,
    metric: Metric,
    q: f64,
    unit: f64,
    pooled: f64,
) -> Option<[f64; 2]> {
    across_interval(&run_values(rep, metric, q, unit), pooled)
}

/// Metric name, unit and nanoseconds per unit, as the report writes them.
const METRICS: [(Metric, &str, &str, f64); 3] = [
    (Metric::Response, "response_time", "ms", 1e6),
    (Metric::Service, "service_time", "ms", 1e6),
    (Metric::Dispatch, "dispatch_delay", "us", 1e3),
];

/// One run as the repeated block keeps it.
pub fn run_of(s: &ScenarioResult, started_at_unix_s: f64, interrupted: bool) -> RepeatedRun {
    RepeatedRun {
        started_at_unix_s,
        interrupted,
        requests: s.requests,
        achieved_rps: s.achieved_rps,
        response_time_ms: s.response_time_ms,
        service_time_ms: s.service_time_ms,
        dispatch_delay_us: s.dispatch_delay_us,
        histograms: s.histograms.clone(),
    }
}

/// Gives `pooled` (the runs pooled into one scenario) its repeated block from `runs`, and
/// makes its summaries' intervals the ones across the runs.
pub fn apply(pooled: &mut ScenarioResult, runs: Vec<RepeatedRun>) {
    let mut rep = Repeated {
        runs,
        across: Vec::new(),
    };
    for (metric, name, unit_name, unit) in METRICS {
        let total = histogram_of(&pooled.histograms, metric);
        let percentiles: Vec<AcrossPercentile> = SUMMARY_QUANTILES
            .iter()
            .map(|&q| {
                let values = run_values(&rep, metric, q, unit);
                let value = total.value_at_quantile(q) as f64 / unit;
                AcrossPercentile {
                    percentile: format!("p{}", percent_text((q * 1e6).round() as u32)),
                    pooled: value,
                    ci95: across_interval(&values, value),
                    cv_pct: cv_pct(&values),
                    runs: values,
                }
            })
            .collect();
        let summary = summary_of(pooled, metric);
        if summary.count > 0 {
            summary.ci95 = Some(ci95_of(&percentiles, rep.runs.len()));
        }
        rep.across.push(AcrossMetric {
            metric: name.to_string(),
            unit: unit_name.to_string(),
            percentiles,
        });
    }
    pooled.repeated = Some(rep);
}

fn summary_of(s: &mut ScenarioResult, metric: Metric) -> &mut LatencySummary {
    match metric {
        Metric::Response => &mut s.response_time_ms,
        Metric::Service => &mut s.service_time_ms,
        Metric::Dispatch => &mut s.dispatch_delay_us,
    }
}

/// The summary intervals of the percentiles across `runs` runs.
fn ci95_of(p: &[AcrossPercentile], runs: usize) -> Ci95 {
    let intervals = ByPercentile(std::array::from_fn(|i| p.get(i).and_then(|x| x.ci95)));
    Ci95 {
        intervals,
        needs: intervals.map(|ci| ci.is_none().then_some(2)),
        method: Some(CiMethod::AcrossRuns),
        lag_factor: None,
        batches: intervals.map(|ci| ci.is_some().then_some(runs as u64)),
    }
}

/// The difference of paired rounds: mean of `b_r - a_r`, its 95% interval, and the smallest
/// difference the rounds could have called significant (the interval's half-width).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// Mean of the rounds' differences.
    pub mean: f64,
    /// Its 95% interval.
    pub ci95: [f64; 2],
    /// The interval's half-width.
    pub half_width: f64,
}

/// The paired difference of rounds whose A and B values are `a` and `b` (same length, in
/// round order); `None` with fewer than 2 rounds.
pub fn paired(a: &[f64], b: &[f64]) -> Option<Paired> {
    let d: Vec<f64> = a.iter().zip(b).map(|(a, b)| b - a).collect();
    let (mean, half) = mean_and_half_width(&d)?;
    Some(Paired {
        mean,
        ci95: [mean - half, mean + half],
        half_width: half,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    fn normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
        let (u1, u2): (f64, f64) = (rng.random(), rng.random());
        (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Rounds with a drift common to both sides (the host warming up, a neighbour coming
    /// and going): identical sides are called different at most ~5% of the time, and a 10%
    /// shift is found.
    #[test]
    fn paired_rounds_see_through_a_common_drift() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(26);
        let experiments = 1000;
        let (mut false_alarms, mut found) = (0, 0);
        for _ in 0..experiments {
            let rounds = 10;
            let (mut a, mut b, mut slower) = (Vec::new(), Vec::new(), Vec::new());
            for r in 0..rounds {
                // A drift of 30% over the rounds plus a round's own swing: both sides share
                // it; each run adds 2% noise of its own.
                let drift = 100.0 * (1.0 + 0.03 * r as f64 + 0.1 * normal(&mut rng));
                a.push(drift * (1.0 + 0.02 * normal(&mut rng)));
                b.push(drift * (1.0 + 0.02 * normal(&mut rng)));
                slower.push(drift * 1.1 * (1.0 + 0.02 * normal(&mut rng)));
            }
            let same = paired(&a, &b).unwrap();
            false_alarms += u32::from(same.ci95[0] > 0.0 || same.ci95[1] < 0.0);
            found += u32::from(paired(&a, &slower).unwrap().ci95[0] > 0.0);
        }
        eprintln!("{false_alarms} false differences and {found} of {experiments} 10% found");
        assert!(false_alarms <= 70, "{false_alarms} of {experiments}");
        assert!(found >= 950, "{found} of {experiments}");
        // Unpaired, the same drift hides the shift: the intervals of each side overlap.
        let a: Vec<f64> = (0..10).map(|r| 100.0 * (1.0 + 0.03 * r as f64)).collect();
        let b: Vec<f64> = a.iter().map(|v| v * 1.1).collect();
        let ia = across_interval(&a, 113.5).unwrap();
        let ib = across_interval(&b, 124.9).unwrap();
        assert!(ib[0] < ia[1], "{ia:?} {ib:?}");
    }

    #[test]
    fn intervals_across_runs_use_t_and_say_the_spread() {
        let runs = [10.0, 12.0, 11.0, 9.0, 13.0];
        let [lo, hi] = across_interval(&runs, 11.0).unwrap();
        // s = 1.58, t(4) = 2.776: 11 ± 1.96.
        assert!(
            (lo - 9.04).abs() < 0.01 && (hi - 12.96).abs() < 0.01,
            "{lo} {hi}"
        );
        assert!((cv_pct(&runs) - 14.37).abs() < 0.01, "{}", cv_pct(&runs));
        assert!(across_interval(&[1.0], 1.0).is_none());
    }
}
