//! Is run B different from run A? Each percentile of the response time, service time and
//! dispatch delay, side by side with both 95% intervals, the difference with its own 95%
//! interval, and a verdict: `faster`, `slower`, `no significant difference`, or `too few
//! samples` when either run cannot bound the percentile.
//!
//! The difference's interval is MOVER (method of variance estimates recovery, Zou and Donner
//! 2008): with point estimates `a`, `b` and their intervals `[a_lo, a_hi]`, `[b_lo, b_hi]`
//! from two independent runs, `b - a` lies in `[d - sqrt((b - b_lo)² + (a_hi - a)²), d +
//! sqrt((b_hi - b)² + (a - a_lo)²)]`. It is as sound as the two intervals (distribution-free
//! order statistics read from the histograms, see [`confidence`](super::confidence)) and narrower than asking
//! them not to overlap, which would test at about the 99.5% level. B is slower when the
//! whole interval is above 0, faster when it is below.
//!
//! Each run's interval is the one a rerun respects ([`honest`]): the order-statistic interval
//! joined with batch means over the run's intervals and the effective sample size from its lag
//! correlations, so that requests that are not independent do not make two runs of one
//! system look different. A percentile either run cannot bound honestly (too short a run) is
//! `too few samples`. Each row also says the smallest difference the data could have called
//! significant (`detectable_pct`), so that `no significant difference` comes with what it
//! could have seen.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::encoding::decode;
use super::honest;
use super::percentile::PERCENTILES;
use super::percentile::{parse_percent, percent_text};
use super::repeated;
use super::result::ScenarioResult;

/// What a comparison of two runs found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Run A's name (its file).
    pub a: String,
    /// Run B's name (its file).
    pub b: String,
    /// How the verdicts were reached, in words.
    pub method: String,
    /// One per scenario found in both runs.
    pub scenarios: Vec<ScenarioComparison>,
    /// Scenarios found in only one of the runs.
    pub unmatched: Vec<String>,
    /// Each `--fail-if-slower` limit and whether B broke it.
    pub limits: Vec<LimitCheck>,
    /// For interleaved rounds (`openpace ab`): how they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<Rounds>,
}

/// How the rounds of `openpace ab` ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rounds {
    /// Rounds run to the end (both sides).
    pub count: u32,
    /// The seed the order was drawn from.
    pub seed: u64,
    /// Each round's order, `AB` or `BA`.
    pub order: Vec<String>,
    /// Where each run's report was written, in the order they ran.
    pub reports: Vec<String>,
}

/// One scenario of both runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioComparison {
    /// Its name in A (and B, unless both runs have one scenario each).
    pub name: String,
    /// Response time, service time and dispatch delay.
    pub metrics: Vec<MetricComparison>,
}

/// One latency metric of a scenario in both runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// `response_time`, `service_time` or `dispatch_delay`.
    pub metric: String,
    /// `ms` or `us`.
    pub unit: String,
    /// Samples in A.
    pub count_a: u64,
    /// Samples in B.
    pub count_b: u64,
    /// Each percentile compared.
    pub percentiles: Vec<PercentileComparison>,
}

/// One percentile in both runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PercentileComparison {
    /// `p99.9`.
    pub percentile: String,
    /// A's value.
    pub a: f64,
    /// B's value.
    pub b: f64,
    /// A's 95% interval (`null`: too few samples).
    pub a_ci95: Option<[f64; 2]>,
    /// B's 95% interval.
    pub b_ci95: Option<[f64; 2]>,
    /// `b - a`.
    pub difference: f64,
    /// `100 (b - a) / a`.
    pub difference_pct: f64,
    /// The 95% interval of `b - a` (`null` when either run has no interval).
    pub difference_ci95: Option<[f64; 2]>,
    /// The smallest difference, percent of A's value, these intervals would have called
    /// slower or faster (the larger of the two): `null` without intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectable_pct: Option<f64>,
    /// `faster`, `slower`, `no significant difference` or `too few samples`.
    pub verdict: String,
}

/// A `--fail-if-slower` limit such as `p99 > 5%`: B fails it when it is significantly
/// slower than A (the difference's whole 95% interval is above 0) and slower by more than
/// the margin (the difference is above `margin` of A's value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowerLimit {
    /// As written.
    pub text: String,
    /// `response_time`, `service_time` or `dispatch_delay`.
    pub metric: String,
    ppm: u32,
    /// The margin, percent of A's value.
    pub margin_pct: f64,
}

/// A limit and what B did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitCheck {
    /// The limit as written.
    pub limit: String,
    /// The scenario it was checked in.
    pub scenario: String,
    /// True when B is significantly slower than A, and by more than the margin.
    pub failed: bool,
    /// What was found, in words.
    pub detail: String,
}

/// The three metrics compared: name, unit, nanoseconds per unit, and where the histogram is.
const METRICS: [(&str, &str, f64); 3] = [
    ("response_time", "ms", 1e6),
    ("service_time", "ms", 1e6),
    ("dispatch_delay", "us", 1e3),
];

fn encoded(s: &ScenarioResult, metric: &str) -> String {
    match metric {
        "response_time" => s.histograms.response_time.clone(),
        "service_time" => s.histograms.service_time.clone(),
        _ => s.histograms.dispatch_delay.clone(),
    }
}

impl SlowerLimit {
    /// Parses `[METRIC] pN > X%` (METRIC `response`, `service` or `dispatch`, with or
    /// without `_time`/`_delay`; `response` when left out).
    pub fn parse(text: &str) -> Result<SlowerLimit, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (metric, rest) = match words.as_slice() {
            [stat, ">", margin] => ("response", [*stat, *margin]),
            [metric, stat, ">", margin] => (*metric, [*stat, *margin]),
            _ => return Err("the form is `[METRIC] pN > X%`, e.g. `p99 > 5%`".to_string()),
        };
        let metric = match metric {
            "response" | "response_time" => "response_time",
            "service" | "service_time" => "service_time",
            "dispatch" | "dispatch_delay" => "dispatch_delay",
            other => {
                return Err(format!(
                    "`{other}` is not a metric: response, service or dispatch"
                ));
            }
        };
        let ppm = rest[0]
            .strip_prefix('p')
            .and_then(parse_percent)
            .ok_or_else(|| {
                format!(
                    "`{}` is not a percentile: p followed by a number above 0 and below 100",
                    rest[0]
                )
            })?;
        let margin_pct = rest[1]
            .strip_suffix('%')
            .and_then(|m| m.parse::<f64>().ok())
            .filter(|m| m.is_finite() && (0.0..=1000.0).contains(m))
            .ok_or_else(|| {
                format!(
                    "`{}` is not a margin: a percentage from 0% to 1000%",
                    rest[1]
                )
            })?;
        Ok(SlowerLimit {
            text: text.to_string(),
            metric: metric.to_string(),
            ppm,
            margin_pct,
        })
    }
}

/// Compares the scenarios of run `b` with those of run `a` (each named by its file),
/// checking `limits`. Scenarios are paired by name, or as they are when each run has
/// exactly one.
pub fn compare(
    a: (&str, &[ScenarioResult]),
    b: (&str, &[ScenarioResult]),
    limits: &[SlowerLimit],
) -> Result<Comparison, String> {
    compare_with(a, b, limits, false)
}

/// Compares the two sides of interleaved rounds (`openpace ab`): each side is its runs
/// pooled, whose `repeated` blocks hold the rounds in order; every percentile is judged on the
/// rounds' paired differences (see [`repeated`]).
pub fn rounds(
    a: (&str, &[ScenarioResult]),
    b: (&str, &[ScenarioResult]),
    limits: &[SlowerLimit],
) -> Result<Comparison, String> {
    compare_with(a, b, limits, true)
}

fn compare_with(
    (a_name, a): (&str, &[ScenarioResult]),
    (b_name, b): (&str, &[ScenarioResult]),
    limits: &[SlowerLimit],
    pair_rounds: bool,
) -> Result<Comparison, String> {
    let pairs = pairs(a, b);
    // Whatever no pair holds, on either side.
    let alone = |runs: &[ScenarioResult], side: usize, name: &str| -> Vec<String> {
        runs.iter()
            .filter(|s| !pairs.iter().any(|p| std::ptr::eq([p.0, p.1][side], *s)))
            .map(|s| format!("{} (only in {name})", s.name))
            .collect()
    };
    let mut unmatched = alone(a, 0, a_name);
    unmatched.extend(alone(b, 1, b_name));
    let mut scenarios = Vec::new();
    let mut checks = Vec::new();
    let mut paired = false;
    for (sa, sb) in pairs {
        let extra: Vec<u32> = limits.iter().map(|l| l.ppm).collect();
        let rounds = sa.repeated.as_ref().zip(sb.repeated.as_ref());
        let rounds = rounds.filter(|(ra, rb)| pair_rounds && ra.runs.len() == rb.runs.len());
        paired |= rounds.is_some();
        let compared = scenario(sa, sb, &extra, rounds)?;
        for limit in limits {
            checks.push(check(limit, &compared));
        }
        scenarios.push(compared);
    }
    Ok(Comparison {
        a: a_name.to_string(),
        b: b_name.to_string(),
        method: if paired { PAIRED } else { METHOD }.to_string(),
        scenarios,
        unmatched,
        limits: checks,
        rounds: None,
    })
}

/// [`Comparison::method`] of interleaved rounds.
const PAIRED: &str = "interleaved rounds, paired: per percentile, each round's B minus A (a \
drift of the host moves both sides of a round), their mean with a t interval over the rounds; \
slower or faster when it excludes 0. Each side's interval is across its runs";

/// Row of quantile `ppm` of `metric` for paired rounds: A's and B's pooled values and their
/// intervals across the runs, the mean of the rounds' differences and its interval.
fn paired_row(
    (sa, ra): (&ScenarioResult, &super::result::Repeated),
    (sb, rb): (&ScenarioResult, &super::result::Repeated),
    metric: honest::Metric,
    ppm: u32,
    per_unit: f64,
) -> PercentileComparison {
    let q = f64::from(ppm) / 1e6;
    let pooled = |s: &ScenarioResult| {
        let encoded = match metric {
            honest::Metric::Response => &s.histograms.response_time,
            honest::Metric::Service => &s.histograms.service_time,
            honest::Metric::Dispatch => &s.histograms.dispatch_delay,
        };
        decode(encoded).map_or(0.0, |h| h.value_at_quantile(q) as f64 / per_unit)
    };
    let (a, b) = (pooled(sa), pooled(sb));
    let (va, vb) = repeated::paired_values(ra, rb, metric, q, per_unit);
    let mean_a = if va.is_empty() {
        a
    } else {
        va.iter().sum::<f64>() / va.len() as f64
    };
    let found = repeated::paired(&va, &vb);
    let pct = |x: f64| {
        if mean_a > 0.0 {
            100.0 * x / mean_a
        } else {
            0.0
        }
    };
    judged(PercentileComparison {
        percentile: format!("p{}", percent_text(ppm)),
        a,
        b,
        a_ci95: repeated::across_interval(&va, a),
        b_ci95: repeated::across_interval(&vb, b),
        difference: found.map_or(b - a, |p| p.mean),
        difference_pct: pct(found.map_or(b - a, |p| p.mean)),
        difference_ci95: found.map(|p| p.ci95),
        detectable_pct: found.filter(|_| mean_a > 0.0).map(|p| pct(p.half_width)),
        verdict: String::new(),
    })
}

/// The scenarios of `a` and `b` compared with each other: the two as they are when each run
/// has exactly one, else those of the same name, in `a`'s order.
pub fn pairs<'r>(
    a: &'r [ScenarioResult],
    b: &'r [ScenarioResult],
) -> Vec<(&'r ScenarioResult, &'r ScenarioResult)> {
    if let ([sa], [sb]) = (a, b) {
        return vec![(sa, sb)];
    }
    a.iter()
        .filter_map(|sa| Some((sa, b.iter().find(|sb| sb.name == sa.name)?)))
        .collect()
}

/// [`Comparison::method`].
const METHOD: &str = "per percentile: each run's 95% interval allowing for dependence between \
requests (order statistics joined with batch means over the run's intervals and the effective \
sample size from its lag correlations); the interval of the difference by MOVER (Zou and \
Donner 2008); slower or faster when that interval excludes 0";

fn scenario(
    a: &ScenarioResult,
    b: &ScenarioResult,
    extra_ppm: &[u32],
    rounds: Option<(&super::result::Repeated, &super::result::Repeated)>,
) -> Result<ScenarioComparison, String> {
    let mut ppms: Vec<u32> = PERCENTILES.iter().map(|p| p.ppm).collect();
    for &ppm in extra_ppm {
        if !ppms.contains(&ppm) {
            ppms.push(ppm);
        }
    }
    ppms.sort_unstable();
    let mut metrics = Vec::new();
    for ((metric, unit, per_unit), which) in METRICS.into_iter().zip(honest::Metric::ALL) {
        let read = |s: &ScenarioResult| {
            decode(&encoded(s, metric)).map_err(|e| format!("{}: {metric}: {e}", s.name))?;
            Ok::<_, String>(honest::Evidence::of(
                &s.histograms,
                &s.intervals,
                which,
                honest::lag_factor(s),
            ))
        };
        let (ea, eb) = (read(a)?, read(b)?);
        metrics.push(MetricComparison {
            metric: metric.to_string(),
            unit: unit.to_string(),
            count_a: ea.total().len(),
            count_b: eb.total().len(),
            percentiles: ppms
                .iter()
                .map(|&ppm| match rounds {
                    Some((ra, rb)) => paired_row((a, ra), (b, rb), which, ppm, per_unit),
                    None => percentile((a, &ea), (b, &eb), which, ppm, per_unit),
                })
                .collect(),
        });
    }
    Ok(ScenarioComparison {
        name: a.name.clone(),
        metrics,
    })
}

/// A run's interval of quantile `q`: across its runs when it was repeated, else the one a
/// rerun respects.
fn side_interval(
    s: &ScenarioResult,
    e: &honest::Evidence,
    metric: honest::Metric,
    q: f64,
    per_unit: f64,
) -> Option<[f64; 2]> {
    match &s.repeated {
        Some(rep) => {
            let pooled = e.total().value_at_quantile(q) as f64 / per_unit;
            repeated::interval(rep, metric, q, per_unit, pooled)
        }
        None => e.interval(q, per_unit).interval,
    }
}

fn percentile(
    (sa, ea): (&ScenarioResult, &honest::Evidence),
    (sb, eb): (&ScenarioResult, &honest::Evidence),
    metric: honest::Metric,
    ppm: u32,
    per_unit: f64,
) -> PercentileComparison {
    let q = f64::from(ppm) / 1e6;
    let value = |h: &Histogram<u64>| h.value_at_quantile(q) as f64 / per_unit;
    let (a, b) = (value(ea.total()), value(eb.total()));
    let a_ci95 = side_interval(sa, ea, metric, q, per_unit);
    let b_ci95 = side_interval(sb, eb, metric, q, per_unit);
    let difference = b - a;
    // The smallest differences these intervals would call slower (up) or faster (down).
    let reach = a_ci95.zip(b_ci95).map(|([a_lo, a_hi], [b_lo, b_hi])| {
        [(b - b_lo).hypot(a_hi - a), (b_hi - b).hypot(a - a_lo)]
    });
    let difference_ci95 = reach.map(|[up, down]| [difference - up, difference + down]);
    judged(PercentileComparison {
        percentile: format!("p{}", percent_text(ppm)),
        a,
        b,
        a_ci95,
        b_ci95,
        difference,
        difference_pct: if a > 0.0 { 100.0 * difference / a } else { 0.0 },
        difference_ci95,
        detectable_pct: reach
            .filter(|_| a > 0.0)
            .map(|[up, down]| 100.0 * up.max(down) / a),
        verdict: String::new(),
    })
}

/// The row with its verdict, from its difference's interval.
pub fn judged(mut p: PercentileComparison) -> PercentileComparison {
    p.verdict = match p.difference_ci95 {
        None => "too few samples",
        Some([lo, _]) if lo > 0.0 => "slower",
        Some([_, hi]) if hi < 0.0 => "faster",
        Some(_) => "no significant difference",
    }
    .to_string();
    p
}

/// Where the data could not have seen a difference as small as the margin: what it could see
/// and how much more data would see the margin (an interval narrows as one over the square
/// root of the data: a longer run, more repetitions or more rounds).
pub fn reach_note(detectable_pct: Option<f64>, margin_pct: f64) -> String {
    match detectable_pct {
        Some(d) if margin_pct > 0.0 && d > margin_pct => format!(
            "; could detect only >= {d:.1}%: about {:.0} times as much data (a longer run, or \
             more repetitions or rounds) would detect {margin_pct}%",
            ((d / margin_pct).powi(2)).ceil()
        ),
        _ => String::new(),
    }
}

fn check(limit: &SlowerLimit, s: &ScenarioComparison) -> LimitCheck {
    let name = format!("p{}", percent_text(limit.ppm));
    let row = s
        .metrics
        .iter()
        .find(|m| m.metric == limit.metric)
        .and_then(|m| m.percentiles.iter().find(|p| p.percentile == name));
    let (failed, detail) = match row {
        Some(p) => match p.difference_ci95 {
            None => (false, "too few samples to tell".to_string()),
            Some([lo, hi]) => {
                let pct = |x: f64| if p.a > 0.0 { 100.0 * x / p.a } else { 0.0 };
                let failed = p.verdict == "slower" && p.difference_pct > limit.margin_pct;
                (
                    failed,
                    format!(
                        "B {} by {:+.2}% [{:+.2}%, {:+.2}%]{}{}",
                        if failed { "is slower" } else { "differs" },
                        p.difference_pct,
                        pct(lo),
                        pct(hi),
                        if failed {
                            String::new()
                        } else {
                            format!(": {}", p.verdict)
                        },
                        reach_note(p.detectable_pct, limit.margin_pct)
                    ),
                )
            }
        },
        None => (false, "not measured".to_string()),
    };
    LimitCheck {
        limit: limit.text.clone(),
        scenario: s.name.clone(),
        failed,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::atomic_hist::new_histogram;
    use crate::metrics::encoding::encode;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    /// A run of `n` exponential service times of mean `mean_ns`.
    fn run(mean_ns: f64, n: u64, seed: u64) -> Vec<ScenarioResult> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut h = new_histogram();
        for _ in 0..n {
            let u: f64 = rng.random();
            h.record((-mean_ns * (1.0 - u).ln()) as u64 + 1).unwrap();
        }
        let mut s = ScenarioResult::default();
        s.histograms.response_time = encode(&h);
        s.histograms.service_time = encode(&h);
        s.histograms.dispatch_delay = encode(&new_histogram());
        // Independent samples, and the run's own check says so.
        s.validity = Some(crate::metrics::validity::Validity {
            independence: Some(crate::metrics::validity::Independence {
                narrow_by: 1.0,
                passed: true,
                ..Default::default()
            }),
            ..Default::default()
        });
        vec![s]
    }

    fn verdict<'a>(c: &'a Comparison, metric: &str, p: &str) -> &'a str {
        let m = c.scenarios[0]
            .metrics
            .iter()
            .find(|m| m.metric == metric)
            .unwrap();
        &m.percentiles
            .iter()
            .find(|x| x.percentile == p)
            .unwrap()
            .verdict
    }

    #[test]
    fn ten_percent_slower_is_found_and_a_second_sample_of_the_same_is_not() {
        let a = run(200_000.0, 10_000, 1);
        let slower = run(220_000.0, 10_000, 2);
        let limits = [
            SlowerLimit::parse("p50 > 5%").unwrap(),
            SlowerLimit::parse("p50 > 20%").unwrap(),
        ];
        let c = compare(("a", &a), ("b", &slower), &limits).unwrap();
        for p in ["p50", "p90"] {
            assert_eq!(verdict(&c, "service_time", p), "slower", "{c:#?}");
        }
        assert_eq!(verdict(&c, "service_time", "p99.99"), "too few samples");
        assert!(c.limits[0].failed && !c.limits[1].failed, "{:?}", c.limits);
        let back = compare(("b", &slower), ("a", &a), &[]).unwrap();
        assert_eq!(verdict(&back, "service_time", "p50"), "faster");
        // Another sample of the same distribution: no difference at any percentile (seed
        // picked at random once; the test is deterministic).
        let same = run(200_000.0, 10_000, 3);
        let c = compare(("a", &a), ("same", &same), &limits).unwrap();
        for p in ["p50", "p90", "p95", "p99", "p99.9"] {
            assert_eq!(
                verdict(&c, "response_time", p),
                "no significant difference",
                "{p}"
            );
        }
        assert!(!c.limits[0].failed);
        // Dispatch delays recorded nowhere: nothing to tell.
        assert_eq!(verdict(&c, "dispatch_delay", "p50"), "too few samples");
    }

    /// Soundness: two samples of one distribution are called different at most about 5% of
    /// the time (here: at most 10% of 200 pairs, for p50, p90 and p99), and a 10% slowdown
    /// is found most of the time at 10,000 samples.
    #[test]
    fn false_differences_are_rare_and_real_ones_are_found() {
        for p in ["p50", "p90", "p99"] {
            let (mut false_alarms, mut found) = (0, 0);
            for rep in 0..200 {
                let a = run(200_000.0, 2_000, 1_000 + 3 * rep);
                let same = run(200_000.0, 2_000, 1_001 + 3 * rep);
                let c = compare(("a", &a), ("same", &same), &[]).unwrap();
                false_alarms +=
                    u32::from(verdict(&c, "service_time", p) != "no significant difference");
                if rep < 20 {
                    let a = run(200_000.0, 10_000, 1_002 + 3 * rep);
                    let slower = run(220_000.0, 10_000, 5_000 + rep);
                    let c = compare(("a", &a), ("slower", &slower), &[]).unwrap();
                    found += u32::from(verdict(&c, "service_time", p) == "slower");
                }
            }
            eprintln!(
                "{p}: {false_alarms} false differences of 200, 10% slower found {found} of 20"
            );
            assert!(false_alarms <= 20, "{p}: {false_alarms} of 200");
            if p != "p99" {
                assert!(found >= 15, "{p}: found {found} of 20");
            }
        }
    }

    #[test]
    fn limits_parse_or_say_what_is_wrong() {
        let l = SlowerLimit::parse("service p99.9 > 2.5%").unwrap();
        assert_eq!(
            (l.metric.as_str(), l.ppm, l.margin_pct),
            ("service_time", 999_000, 2.5)
        );
        assert_eq!(
            SlowerLimit::parse("p99 > 5%").unwrap().metric,
            "response_time"
        );
        for (bad, why) in [
            ("p99 < 5%", "the form"),
            ("p99 > 5", "not a margin"),
            ("p100 > 5%", "not a percentile"),
            ("latency p99 > 5%", "not a metric"),
            ("p99 > -1%", "not a margin"),
        ] {
            let e = SlowerLimit::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
