//! Is run B different from run A? Each percentile of the response time, service time and
//! dispatch delay, side by side with both 95% intervals, the difference with its own 95%
//! interval, and a verdict: `faster`, `slower`, `no significant difference`, or `too few
//! samples` when either run cannot bound the percentile.
//!
//! The difference's interval is MOVER (method of variance estimates recovery, Zou and Donner
//! 2008): with point estimates `a`, `b` and their intervals `[a_lo, a_hi]`, `[b_lo, b_hi]`
//! from two independent runs, `b - a` lies in `[d - sqrt((b - b_lo)² + (a_hi - a)²), d +
//! sqrt((b_hi - b)² + (a - a_lo)²)]`. It is as sound as the two intervals (distribution-free
//! order statistics read from the histograms, see [`confidence`]) and narrower than asking
//! them not to overlap, which would test at about the 99.5% level. B is slower when the
//! whole interval is above 0, faster when it is below.
//!
//! Like every interval here, this assumes the samples of a run are independent; the run's
//! validity checks say when they are not.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::confidence;
use super::encoding::decode;
use super::result::{SUMMARY_QUANTILES, ScenarioResult};
use super::threshold::{parse_percent, percent_text};

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
    (a_name, a): (&str, &[ScenarioResult]),
    (b_name, b): (&str, &[ScenarioResult]),
    limits: &[SlowerLimit],
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
    for (sa, sb) in pairs {
        let extra: Vec<u32> = limits.iter().map(|l| l.ppm).collect();
        let compared = scenario(sa, sb, &extra)?;
        for limit in limits {
            checks.push(check(limit, &compared));
        }
        scenarios.push(compared);
    }
    Ok(Comparison {
        a: a_name.to_string(),
        b: b_name.to_string(),
        method: METHOD.to_string(),
        scenarios,
        unmatched,
        limits: checks,
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
const METHOD: &str = "per percentile: each run's 95% interval from order statistics read from \
its histogram; the interval of the difference by MOVER (Zou and Donner 2008); slower or faster \
when that interval excludes 0";

fn scenario(
    a: &ScenarioResult,
    b: &ScenarioResult,
    extra_ppm: &[u32],
) -> Result<ScenarioComparison, String> {
    let mut ppms: Vec<u32> = SUMMARY_QUANTILES
        .iter()
        .map(|q| (q * 1e6).round() as u32)
        .collect();
    for &ppm in extra_ppm {
        if !ppms.contains(&ppm) {
            ppms.push(ppm);
        }
    }
    ppms.sort_unstable();
    let mut metrics = Vec::new();
    for (metric, unit, per_unit) in METRICS {
        let read = |s: &ScenarioResult| {
            decode(&encoded(s, metric)).map_err(|e| format!("{}: {metric}: {e}", s.name))
        };
        let (ha, hb) = (read(a)?, read(b)?);
        metrics.push(MetricComparison {
            metric: metric.to_string(),
            unit: unit.to_string(),
            count_a: ha.len(),
            count_b: hb.len(),
            percentiles: ppms
                .iter()
                .map(|&ppm| percentile(&ha, &hb, ppm, per_unit))
                .collect(),
        });
    }
    Ok(ScenarioComparison {
        name: a.name.clone(),
        metrics,
    })
}

fn percentile(
    ha: &Histogram<u64>,
    hb: &Histogram<u64>,
    ppm: u32,
    per_unit: f64,
) -> PercentileComparison {
    let q = f64::from(ppm) / 1e6;
    let value = |h: &Histogram<u64>| h.value_at_quantile(q) as f64 / per_unit;
    let (a, b) = (value(ha), value(hb));
    let a_ci95 = confidence::interval(ha, q, per_unit);
    let b_ci95 = confidence::interval(hb, q, per_unit);
    let difference = b - a;
    let difference_ci95 = a_ci95.zip(b_ci95).map(|([a_lo, a_hi], [b_lo, b_hi])| {
        [
            difference - (b - b_lo).hypot(a_hi - a),
            difference + (b_hi - b).hypot(a - a_lo),
        ]
    });
    let verdict = match difference_ci95 {
        None => "too few samples",
        Some([lo, _]) if lo > 0.0 => "slower",
        Some([_, hi]) if hi < 0.0 => "faster",
        Some(_) => "no significant difference",
    };
    PercentileComparison {
        percentile: format!("p{}", percent_text(ppm)),
        a,
        b,
        a_ci95,
        b_ci95,
        difference,
        difference_pct: if a > 0.0 { 100.0 * difference / a } else { 0.0 },
        difference_ci95,
        verdict: verdict.to_string(),
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
                        "B {} by {:+.2}% [{:+.2}%, {:+.2}%]{}",
                        if failed { "is slower" } else { "differs" },
                        p.difference_pct,
                        pct(lo),
                        pct(hi),
                        if failed {
                            String::new()
                        } else {
                            format!(": {}", p.verdict)
                        }
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
