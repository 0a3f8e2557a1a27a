//! Run until precise: `response p99 +-2%` asks the run to go on, in whole intervals, until
//! the 95% interval of the response time's p99 is within 2% of its value on either side, and
//! the run is stationary, up to a maximum duration. A target is checked on the cumulative
//! histogram of the measured window; see the config field `precision`.

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::confidence;
use super::percentile::{parse_percent, percent_text};

/// What a precision target is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrecisionMetric {
    /// Response time (corrected).
    Response,
    /// Service time.
    Service,
    /// Dispatch delay.
    Dispatch,
}

/// One precision target: a percentile of a latency metric and the relative half-width its
/// 95% interval must reach.
#[derive(Clone, Debug, PartialEq)]
pub struct Precision {
    /// The metric.
    pub metric: PrecisionMetric,
    ppm: u32,
    /// The largest half-width allowed, percent of the value.
    pub half_width_pct: f64,
}

/// The grammar, for error messages.
pub const GRAMMAR: &str = "`METRIC pN +-X%`: METRIC response, service or dispatch, pN a \
percentile above 0 and below 100, X a percentage above 0 and at most 100, e.g. \
\"response p99 +-2%\"";

impl Precision {
    /// Parses `response p99 +-2%` (also `±2%`).
    pub fn parse(text: &str) -> Result<Precision, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [metric, stat, width] = words.as_slice() else {
            return Err(format!("`{text}` is not of the form {GRAMMAR}"));
        };
        let metric = match *metric {
            "response" | "response_time" => PrecisionMetric::Response,
            "service" | "service_time" => PrecisionMetric::Service,
            "dispatch" | "dispatch_delay" => PrecisionMetric::Dispatch,
            other => {
                return Err(format!(
                    "`{other}` is not a metric: response, service or dispatch"
                ));
            }
        };
        let ppm = stat
            .strip_prefix('p')
            .and_then(parse_percent)
            .ok_or_else(|| {
                format!(
                    "`{stat}` is not a percentile: p followed by a number above 0 and below 100"
                )
            })?;
        let half_width_pct = width
            .strip_prefix("+-")
            .or_else(|| width.strip_prefix('±'))
            .and_then(|w| w.strip_suffix('%'))
            .and_then(|w| w.parse::<f64>().ok())
            .filter(|w| w.is_finite() && *w > 0.0 && *w <= 100.0)
            .ok_or_else(|| {
                format!("`{width}` is not a half-width: +-X% with X above 0 and at most 100")
            })?;
        Ok(Precision {
            metric,
            ppm,
            half_width_pct,
        })
    }

    /// The quantile, 0..1.
    pub fn quantile(&self) -> f64 {
        f64::from(self.ppm) / 1e6
    }

    /// The order-statistic 95% interval of this percentile of `h` (ns); `None` while `h` has
    /// too few samples for one. The run joins it with batch means (`engine/precise.rs`).
    pub fn interval_of(&self, h: &Histogram<u64>) -> Option<[f64; 2]> {
        confidence::interval(h, self.quantile(), 1.0)
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let metric = match self.metric {
            PrecisionMetric::Response => "response",
            PrecisionMetric::Service => "service",
            PrecisionMetric::Dispatch => "dispatch",
        };
        write!(
            f,
            "{metric} p{} +-{}%",
            percent_text(self.ppm),
            crate::base::units::plain_number(self.half_width_pct)
        )
    }
}

impl Serialize for Precision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Precision {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Precision::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether and when a run with precision targets reached them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrecisionOutcome {
    /// The targets.
    pub targets: Vec<Precision>,
    /// True when every target was met and the run was stationary.
    pub reached: bool,
    /// Seconds into the measured window at which they were (the run then ended with the
    /// interval in progress).
    pub reached_at_s: Option<f64>,
    /// The least the run was to last (`duration_seconds`).
    pub min_duration_s: f64,
    /// The most it could last (`max_duration`).
    pub max_duration_s: f64,
    /// Each target's half-width at the end, percent (`null`: too few samples).
    pub half_widths_pct: Vec<Option<f64>>,
    /// Each target's half-width when they were met (the run then finished the interval in
    /// progress, which moves them a little either way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub half_widths_at_reach_pct: Vec<Option<f64>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::atomic_hist::new_histogram;

    #[test]
    fn targets_parse_print_and_judge_a_histogram() {
        let p = Precision::parse("response p99 +-2%").unwrap();
        assert_eq!(p.to_string(), "response p99 +-2%");
        assert_eq!(
            Precision::parse("service p99.9 ±0.5%").unwrap().to_string(),
            "service p99.9 +-0.5%"
        );
        for (bad, why) in [
            ("response p99 2%", "half-width"),
            ("latency p99 +-2%", "not a metric"),
            ("response p100 +-2%", "not a percentile"),
            ("response p99 +-0%", "half-width"),
            ("response p99", "form"),
        ] {
            let e = Precision::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // 100 samples: no interval for a p99 yet; a million evenly spread ones: a narrow one.
        let mut h = new_histogram();
        for v in 1..=100u64 {
            h.record(v * 1_000).unwrap();
        }
        assert!(p.interval_of(&h).is_none());
        for v in 1..=1_000_000u64 {
            h.record(1_000 + v).unwrap();
        }
        let [lo, hi] = p.interval_of(&h).unwrap();
        let value = h.value_at_quantile(0.99) as f64;
        assert!(
            lo <= value && value <= hi && hi - lo < 1_000.0,
            "{lo} {value} {hi}"
        );
    }
}
