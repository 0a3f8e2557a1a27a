//! The percentiles openpace reports, in one table ([`PERCENTILES`]), and percentiles as
//! people write them: `p99.9` is 999,000 parts per million, exactly, so that a threshold, a
//! precision target and a comparison name the same percentile the same way.
//!
//! Every summary ([`LatencySummary`](super::LatencySummary)), its intervals and their counts
//! hold one value per row of the table ([`ByPercentile`]), written to JSON under the row's
//! key; the text, HTML and CSV reports, the live exporter, thresholds, `compare` and repeated
//! runs read the table, so a percentile added to it is in every output.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One reported percentile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentile {
    /// The percentile in parts per million: p99.9 is 999,000.
    pub ppm: u32,
    /// Its key in the JSON report (`p99_9`).
    pub key: &'static str,
    /// Whether the time series shows it too: each interval's row (CSV, the interval tables,
    /// the interval tables, live metrics). The summaries show every percentile.
    pub series: bool,
    /// The colour of its line in the HTML report's latency charts; `None`: not drawn.
    pub chart: Option<&'static str>,
}

impl Percentile {
    /// As a quantile: 0.999.
    pub fn q(&self) -> f64 {
        f64::from(self.ppm) / 1e6
    }

    /// As people write it: `p99.9`.
    pub fn label(&self) -> String {
        format!("p{}", percent_text(self.ppm))
    }
}

/// The percentiles every summary reports, in order. Adding one here adds it to the JSON
/// report, the summaries and their intervals, every output, thresholds and `compare`.
pub const PERCENTILES: &[Percentile] = &[
    //   ppm      JSON key  series  chart colour
    pct(500_000, "p50", true, Some("#1f77b4")),
    pct(900_000, "p90", true, Some("#2ca02c")),
    pct(950_000, "p95", false, Some("#ff7f0e")),
    pct(990_000, "p99", true, Some("#d62728")),
    pct(999_000, "p99_9", true, Some("#9467bd")),
    pct(999_900, "p99_99", false, None),
];

/// A row of [`PERCENTILES`].
const fn pct(ppm: u32, key: &'static str, series: bool, chart: Option<&'static str>) -> Percentile {
    Percentile {
        ppm,
        key,
        series,
        chart,
    }
}

/// How many percentiles the table has.
pub const COUNT: usize = PERCENTILES.len();

/// The table's percentiles as quantiles, in its order.
pub const SUMMARY_QUANTILES: [f64; COUNT] = {
    let mut q = [0.0; COUNT];
    let mut i = 0;
    while i < COUNT {
        q[i] = PERCENTILES[i].ppm as f64 / 1e6;
        i += 1;
    }
    q
};

/// The row of the table at `ppm`, if the table has it.
fn row(ppm: u32) -> Option<usize> {
    PERCENTILES.iter().position(|p| p.ppm == ppm)
}

/// The row of quantile `q`, which a caller names because it shows that row (the headline p50
/// and p99): one the table lacks is a bug in the caller.
fn named_row(q: f64) -> usize {
    let ppm = (q * 1e6).round() as u32;
    row(ppm).unwrap_or_else(|| {
        panic!(
            "p{} is not a row of the percentile table",
            percent_text(ppm)
        )
    })
}

/// One value for each percentile of the table, in its order: in JSON, an entry per row under
/// its key (flattened into the summary that holds it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ByPercentile<T>(pub [T; COUNT]);

impl<T: Copy + Default> Default for ByPercentile<T> {
    fn default() -> Self {
        ByPercentile([T::default(); COUNT])
    }
}

impl<T: Copy> ByPercentile<T> {
    /// A value for each row, made by `f`.
    pub fn from_fn(mut f: impl FnMut(&Percentile) -> T) -> Self {
        ByPercentile(std::array::from_fn(|i| f(&PERCENTILES[i])))
    }

    /// The value at quantile `q` (0.99), which must be a row of the table: callers name the
    /// rows they show by name (the headline p50 and p99).
    pub fn at(&self, q: f64) -> T {
        self.0[named_row(q)]
    }

    /// The value at `ppm`, if the table has that percentile.
    pub fn at_ppm(&self, ppm: u32) -> Option<T> {
        row(ppm).map(|i| self.0[i])
    }

    /// The value of quantile `q`, to change it (`q` must be a row of the table).
    pub fn at_mut(&mut self, q: f64) -> &mut T {
        &mut self.0[named_row(q)]
    }

    /// Each row with its value.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Percentile, T)> + '_ {
        PERCENTILES.iter().zip(self.0.iter().copied())
    }

    /// Each row the time series shows, with its value.
    pub fn series(&self) -> impl Iterator<Item = (&'static Percentile, T)> + '_ {
        self.iter().filter(|(p, _)| p.series)
    }

    /// The same rows, each value mapped by `f`.
    pub fn map<U: Copy>(&self, mut f: impl FnMut(T) -> U) -> ByPercentile<U> {
        ByPercentile(self.0.map(&mut f))
    }
}

/// Whether a value is left out of the JSON map: a count that is not there is (a summary's
/// `needs`, `batches`); a value or an interval is always written (an interval as `null`).
pub trait Absent {
    /// True when the entry is left out.
    fn absent(&self) -> bool;
}

impl Absent for f64 {
    fn absent(&self) -> bool {
        false
    }
}

impl Absent for Option<[f64; 2]> {
    fn absent(&self) -> bool {
        false
    }
}

impl Absent for Option<u64> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl<T: Copy + Absent> ByPercentile<T> {
    /// Whether every entry is left out (an empty `needs`).
    pub fn is_absent(&self) -> bool {
        self.0.iter().all(Absent::absent)
    }
}

impl<T: Serialize + Absent> Serialize for ByPercentile<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let present = self.0.iter().filter(|v| !v.absent()).count();
        let mut map = serializer.serialize_map(Some(present))?;
        for (p, v) in PERCENTILES.iter().zip(&self.0) {
            if !v.absent() {
                map.serialize_entry(p.key, v)?;
            }
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de> + Copy + Default> Deserialize<'de> for ByPercentile<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Rows<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Copy + Default> Visitor<'de> for Rows<T> {
            type Value = ByPercentile<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("percentiles under their keys (p50, p90, ...)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut values = ByPercentile::<T>::default();
                while let Some(key) = map.next_key::<String>()? {
                    match PERCENTILES.iter().position(|p| p.key == key) {
                        Some(i) => values.0[i] = map.next_value()?,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(values)
            }
        }
        deserializer.deserialize_map(Rows(PhantomData))
    }
}

/// A percentile's name without its `p`: 999,000 ppm is `99.9`.
pub(crate) fn percent_text(ppm: u32) -> String {
    let (whole, fraction) = (ppm / 10_000, ppm % 10_000);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:04}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `99.9` as 999,000 parts per million: above 0 and below 100, at most four decimals.
pub(crate) fn parse_percent(text: &str) -> Option<u32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || fraction.len() > 4 {
        return None;
    }
    let whole: u32 = whole.parse().ok().filter(|&w| w < 100)?;
    let fraction: u32 = format!("{fraction:0<4}").parse().ok()?;
    Some(whole * 10_000 + fraction).filter(|&ppm| ppm > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row's key is its label with `_` for `.`, and the rows are in rising order.
    #[test]
    fn the_table_names_its_rows_one_way() {
        for p in PERCENTILES {
            assert_eq!(p.key, p.label().replace('.', "_"));
        }
        assert!(PERCENTILES.windows(2).all(|w| w[0].ppm < w[1].ppm));
    }

    #[test]
    fn any_percentile_parses_exactly_and_prints_back() {
        for (text, ppm) in [
            ("50", 500_000),
            ("75", 750_000),
            ("99.9", 999_000),
            ("99.95", 999_500),
            ("99.99", 999_900),
            ("0.1", 1_000),
        ] {
            assert_eq!(parse_percent(text), Some(ppm), "{text}");
            assert_eq!(percent_text(ppm), text);
        }
        for bad in ["100", "0", "99.99999", "-1", "9x", "", "."] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
    }
}
