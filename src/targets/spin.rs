//! Busy targets with known distributions: `spin:exp:MEAN` (busy time exponentially
//! distributed) and `spin:lognormal:MEDIAN:SIGMA`, so that latency figures can be checked
//! against analytic truth and a service can be emulated.
//!
//! Request `seq`'s busy time is a pure function of the scenario's seed and `seq` (one
//! SplitMix64 step to two uniforms, then the inverse CDF or Box-Muller), so a run repeats
//! exactly whatever worker takes which request, and nothing is allocated or locked per call.

use std::fmt;
use std::time::Duration;

use crate::base::units::format_duration;
use crate::base::{GOLDEN_GAMMA, mix64};

/// The distribution of a random busy target's busy time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpinDistribution {
    /// Exponential with this mean: median mean x ln 2, p99 mean x ln 100.
    Exp {
        /// The mean busy time.
        mean: Duration,
    },
    /// Log-normal: `median x exp(sigma x Z)` for a standard normal Z.
    Lognormal {
        /// The median busy time.
        median: Duration,
        /// The standard deviation of the logarithm (0 < sigma <= 4).
        sigma: f64,
    },
}

/// Largest `sigma` a log-normal target takes: beyond it the tail is hours long.
pub const MAX_SIGMA: f64 = 4.0;

impl SpinDistribution {
    /// Parses what follows `spin:`: `exp:200us` or `lognormal:1ms:0.5`. `None` when `arg`
    /// names no distribution (then it is a plain duration).
    pub fn parse(arg: &str) -> Option<Result<SpinDistribution, String>> {
        let duration = |text: &str| {
            crate::base::units::parse_duration(text)
                .map_err(|why| format!("`{text}` is not a duration: {why}"))
                .and_then(|d| {
                    if d.is_zero() {
                        Err(format!("`{text}`: a busy time above 0"))
                    } else {
                        Ok(d)
                    }
                })
        };
        if let Some(mean) = arg.strip_prefix("exp:") {
            return Some(duration(mean).map(|mean| SpinDistribution::Exp { mean }));
        }
        let rest = arg.strip_prefix("lognormal:")?;
        let Some((median, sigma)) = rest.split_once(':') else {
            return Some(Err(format!(
                "`lognormal:{rest}` needs a median and a sigma, e.g. spin:lognormal:1ms:0.5"
            )));
        };
        Some(duration(median).and_then(|median| {
            let sigma: f64 = sigma
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && *s <= MAX_SIGMA)
                .ok_or_else(|| {
                    format!("`{sigma}` is not a sigma: a number above 0, at most {MAX_SIGMA}")
                })?;
            Ok(SpinDistribution::Lognormal { median, sigma })
        }))
    }

    /// The busy time of request `seq` under `seed`, in ns.
    #[inline]
    pub fn busy_ns(&self, seed: u64, seq: u64) -> u64 {
        let (u1, u2) = uniforms(seed, seq);
        let ns = match *self {
            SpinDistribution::Exp { mean } => -(mean.as_nanos() as f64) * (1.0 - u1).ln(),
            SpinDistribution::Lognormal { median, sigma } => {
                // Box-Muller: a standard normal from two uniforms.
                let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                median.as_nanos() as f64 * (sigma * z).exp()
            }
        };
        // An hour at most: the histograms' ceiling.
        ns.min(3.6e12) as u64
    }

    /// The analytic quantile `q` (0..1) of the busy time, in ns: what the figures of a run
    /// of this target should approach.
    pub fn quantile_ns(&self, q: f64) -> f64 {
        match *self {
            SpinDistribution::Exp { mean } => -(mean.as_nanos() as f64) * (1.0 - q).ln(),
            SpinDistribution::Lognormal { median, sigma } => {
                median.as_nanos() as f64 * (sigma * standard_normal_quantile(q)).exp()
            }
        }
    }
}

impl fmt::Display for SpinDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpinDistribution::Exp { mean } => write!(f, "spin:exp:{}", format_duration(*mean)),
            SpinDistribution::Lognormal { median, sigma } => {
                write!(f, "spin:lognormal:{}:{sigma}", format_duration(*median))
            }
        }
    }
}

/// Two uniforms in [0, 1) for request `seq`: SplitMix64 of the seed and the index.
fn uniforms(seed: u64, seq: u64) -> (f64, f64) {
    let mut state = seed ^ seq.wrapping_mul(GOLDEN_GAMMA);
    let mut next = || {
        state = state.wrapping_add(GOLDEN_GAMMA);
        mix64(state)
    };
    let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
    (unit(next()), unit(next()))
}

/// The standard normal's quantile (Acklam's rational approximation, relative error below
/// 1.2e-9).
fn standard_normal_quantile(q: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |p: f64| {
        let t = (-2.0 * p.ln()).sqrt();
        (((((C[0] * t + C[1]) * t + C[2]) * t + C[3]) * t + C[4]) * t + C[5])
            / ((((D[0] * t + D[1]) * t + D[2]) * t + D[3]) * t + 1.0)
    };
    if q < 0.02425 {
        tail(q)
    } else if q > 1.0 - 0.02425 {
        -tail(1.0 - q)
    } else {
        let r = q - 0.5;
        let s = r * r;
        (((((A[0] * s + A[1]) * s + A[2]) * s + A[3]) * s + A[4]) * s + A[5]) * r
            / (((((B[0] * s + B[1]) * s + B[2]) * s + B[3]) * s + B[4]) * s + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The empirical quantile `q` of `busy_ns` over `n` requests.
    fn empirical(d: &SpinDistribution, n: u64, q: f64) -> f64 {
        let mut v: Vec<u64> = (0..n).map(|seq| d.busy_ns(42, seq)).collect();
        v.sort_unstable();
        v[((n as f64) * q) as usize] as f64
    }

    #[test]
    fn busy_times_follow_their_distribution() {
        let exp = SpinDistribution::Exp {
            mean: Duration::from_micros(200),
        };
        let lognormal = SpinDistribution::Lognormal {
            median: Duration::from_millis(1),
            sigma: 0.5,
        };
        for d in [exp, lognormal] {
            for q in [0.5, 0.9, 0.99] {
                let (got, truth) = (empirical(&d, 200_000, q), d.quantile_ns(q));
                assert!(
                    (got / truth - 1.0).abs() < 0.03,
                    "{d} q={q}: {got} vs analytic {truth}"
                );
            }
        }
        // Exponential: median mean x ln 2, p99 mean x ln 100.
        assert!((exp.quantile_ns(0.5) - 200_000.0 * 2f64.ln()).abs() < 1e-6);
        assert!((lognormal.quantile_ns(0.5) - 1e6).abs() < 1e-3);
    }

    #[test]
    fn a_run_repeats_and_another_seed_differs() {
        let d = SpinDistribution::Exp {
            mean: Duration::from_micros(100),
        };
        let a: Vec<u64> = (0..100).map(|s| d.busy_ns(7, s)).collect();
        let b: Vec<u64> = (0..100).map(|s| d.busy_ns(7, s)).collect();
        let c: Vec<u64> = (0..100).map(|s| d.busy_ns(8, s)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn names_parse_print_and_refuse() {
        for text in ["exp:200us", "lognormal:1ms:0.5"] {
            let d = SpinDistribution::parse(text).unwrap().unwrap();
            assert_eq!(d.to_string(), format!("spin:{text}"));
        }
        assert!(SpinDistribution::parse("20ms").is_none());
        for bad in [
            "exp:0s",
            "exp:fast",
            "lognormal:1ms",
            "lognormal:1ms:0",
            "lognormal:1ms:9",
        ] {
            assert!(SpinDistribution::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
