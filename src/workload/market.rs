//! Seeded market data: the design's generators, with indicators computed, not invented.
//!
//! [`MarketDataGenerator`] walks a close price (2% volatility per step, never below 0.01) from
//! the symbol's base price, draws open, high, low and volume around it, and computes the
//! design's fifteen columns from that series: open, high, low, close, volume, returns,
//! volatility (std of returns over 20), RSI-14, MACD 12/26, MACD signal 9, Bollinger position
//! over 20, volume ratio to its 20-step mean, SMA-20, EMA-20 and ATR-14. Each window is cut
//! from a longer series ([`LOOKBACK`] steps of history first), so every indicator has its full
//! history on every row. The same seed gives the same data.
//!
//! [`FeatureExtractionDataGenerator`] adds the design's edge cases (small, large, NaN).

use ndarray::{Array2, Array3, ArrayD, Axis, s};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal, StandardNormal};

use super::indicators::{
    atr, bollinger_position, ema, macd, ratio_to_mean, returns, rolling_std, rsi, sma,
};

/// Number of columns the design defines.
pub const FEATURES: usize = 15;
/// The columns, in the design's order.
pub const COLUMNS: [&str; FEATURES] = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "returns",
    "volatility",
    "rsi",
    "macd",
    "macd_signal",
    "bb_position",
    "volume_ratio",
    "sma",
    "ema",
    "atr",
];
/// Steps of history generated before each window so that indicators are fully formed.
pub const LOOKBACK: usize = 40;
/// The columns after OHLCV, repeated when a window asks for more than fifteen.
const INDICATOR_COLUMNS: std::ops::Range<usize> = 5..FEATURES;

/// The design's symbols and base prices; any other symbol starts at 100.
pub const SYMBOLS: [(&str, f64); 5] = [
    ("AAPL", 150.0),
    ("GOOGL", 2500.0),
    ("MSFT", 300.0),
    ("TSLA", 200.0),
    ("AMZN", 3200.0),
];

/// Generates realistic market windows; see the module doc.
pub struct MarketDataGenerator {
    rng: Xoshiro256PlusPlus,
}

impl MarketDataGenerator {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> MarketDataGenerator {
        MarketDataGenerator {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// The base price of `symbol` (100 for symbols the design does not list).
    pub fn base_price(symbol: &str) -> f64 {
        SYMBOLS
            .iter()
            .find(|(s, _)| *s == symbol)
            .map_or(100.0, |&(_, p)| p)
    }

    /// One window of `timesteps` rows and `features` columns for `symbol`.
    pub fn single_window(
        &mut self,
        symbol: &str,
        timesteps: usize,
        features: usize,
    ) -> Array2<f64> {
        let full = self.series(Self::base_price(symbol), LOOKBACK + timesteps);
        let window = full.slice(s![LOOKBACK.., ..]);
        let mut out = Array2::zeros((timesteps, features));
        for column in 0..features {
            let source = if column < FEATURES {
                column
            } else {
                let span = INDICATOR_COLUMNS.len();
                INDICATOR_COLUMNS.start + (column - FEATURES) % span
            };
            out.column_mut(column).assign(&window.column(source));
        }
        out
    }

    /// `batch_size` windows, each for a symbol of the design picked at random.
    pub fn batch(&mut self, batch_size: usize, timesteps: usize, features: usize) -> Array3<f64> {
        let mut out = Array3::zeros((batch_size, timesteps, features));
        for mut slot in out.axis_iter_mut(Axis(0)) {
            let symbol = SYMBOLS[self.rng.random_range(0..SYMBOLS.len())].0;
            slot.assign(&self.single_window(symbol, timesteps, features));
        }
        out
    }

    /// `len` rows of the fifteen columns, the close starting at `base`.
    fn series(&mut self, base: f64, len: usize) -> Array2<f64> {
        let step = Normal::new(0.0, 0.02).expect("valid");
        let jitter = Normal::new(0.0, 0.005).expect("valid");
        let wick = Normal::new(0.0, 0.01).expect("valid");
        let (mut open, mut high, mut low, mut close, mut volume) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut previous = base;
        for i in 0..len {
            let c = if i == 0 {
                base
            } else {
                (previous * (1.0 + step.sample(&mut self.rng))).max(0.01)
            };
            let o = (previous * (1.0 + jitter.sample(&mut self.rng))).max(0.01);
            let up: f64 = wick.sample(&mut self.rng);
            let down: f64 = wick.sample(&mut self.rng);
            high.push(o.max(c) * (1.0 + up.abs()));
            low.push(o.min(c) * (1.0 - down.abs().min(0.5)));
            open.push(o);
            close.push(c);
            volume.push(self.rng.random_range(1_000..100_000) as f64);
            previous = c;
        }
        let (macd_line, macd_signal) = macd(&close);
        let r = returns(&close);
        let columns: [Vec<f64>; FEATURES] = [
            open.clone(),
            high.clone(),
            low.clone(),
            close.clone(),
            volume.clone(),
            r.clone(),
            rolling_std(&r, 20),
            rsi(&close, 14),
            macd_line,
            macd_signal,
            bollinger_position(&close, 20),
            ratio_to_mean(&volume, 20),
            sma(&close, 20),
            ema(&close, 20),
            atr(&high, &low, &close, 14),
        ];
        let mut out = Array2::zeros((len, FEATURES));
        for (j, column) in columns.iter().enumerate() {
            for (i, &v) in column.iter().enumerate() {
                out[[i, j]] = v;
            }
        }
        out
    }

    /// A window of standard normal noise (the design's edge cases).
    fn noise(&mut self, rows: usize, columns: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, columns), |_| StandardNormal.sample(&mut self.rng))
    }
}

/// The kinds of input the design's data generator offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// One market window.
    Single,
    /// A batch of market windows.
    Batch,
    /// 10 x 5 noise: too small for the model.
    EdgeCaseSmall,
    /// 200 x 50 noise: too wide for the model.
    EdgeCaseLarge,
    /// 60 x 15 noise with NaN in rows 10-14, columns 5-7.
    EdgeCaseNan,
}

/// The design's `FeatureExtractionDataGenerator`: market windows and edge cases.
pub struct FeatureExtractionDataGenerator {
    market: MarketDataGenerator,
    symbol: usize,
}

impl FeatureExtractionDataGenerator {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> FeatureExtractionDataGenerator {
        FeatureExtractionDataGenerator {
            market: MarketDataGenerator::new(seed),
            symbol: 0,
        }
    }

    /// The market generator underneath.
    pub fn market(&mut self) -> &mut MarketDataGenerator {
        &mut self.market
    }

    /// A 2-D window of `kind` (not `Batch`); market windows cycle through the design's
    /// symbols and are `timesteps x features`.
    pub fn window(&mut self, kind: DataKind, timesteps: usize, features: usize) -> Array2<f64> {
        match kind {
            DataKind::Single | DataKind::Batch => {
                let symbol = SYMBOLS[self.symbol % SYMBOLS.len()].0;
                self.symbol += 1;
                self.market.single_window(symbol, timesteps, features)
            }
            DataKind::EdgeCaseSmall => self.market.noise(10, 5),
            DataKind::EdgeCaseLarge => self.market.noise(200, 50),
            DataKind::EdgeCaseNan => {
                let mut w = self.market.noise(60, 15);
                w.slice_mut(s![10..15, 5..8]).fill(f64::NAN);
                w
            }
        }
    }

    /// The design's `generate_test_data`: any kind, with its natural number of dimensions.
    pub fn generate(&mut self, kind: DataKind, timesteps: usize, features: usize) -> ArrayD<f64> {
        match kind {
            DataKind::Batch => self.market.batch(32, timesteps, features).into_dyn(),
            _ => self.window(kind, timesteps, features).into_dyn(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_batches_have_the_asked_shapes() {
        let mut g = MarketDataGenerator::new(1);
        assert_eq!(g.single_window("AAPL", 60, 15).dim(), (60, 15));
        assert_eq!(g.batch(4, 30, 15).dim(), (4, 30, 15));
        let mut d = FeatureExtractionDataGenerator::new(1);
        assert_eq!(d.window(DataKind::EdgeCaseSmall, 60, 15).dim(), (10, 5));
        assert_eq!(d.window(DataKind::EdgeCaseLarge, 60, 15).dim(), (200, 50));
        assert_eq!(d.generate(DataKind::Batch, 60, 15).shape(), &[32, 60, 15]);
    }

    #[test]
    fn prices_keep_the_ohlc_invariants() {
        let mut g = MarketDataGenerator::new(7);
        for symbol in ["AAPL", "GOOGL", "TSLA", "OTHER"] {
            let w = g.single_window(symbol, 500, 15);
            for row in w.rows() {
                let (o, h, l, c) = (row[0], row[1], row[2], row[3]);
                assert!(h >= o.max(c) && l <= o.min(c), "{row}");
                assert!(l > 0.0 && c >= 0.01);
                assert!((1_000.0..100_000.0).contains(&row[4]));
                assert!((0.0..=100.0).contains(&row[7]), "rsi {}", row[7]);
            }
        }
    }

    #[test]
    fn the_walk_starts_at_the_base_price() {
        let full = MarketDataGenerator::new(3).series(MarketDataGenerator::base_price("GOOGL"), 5);
        assert_eq!(full[[0, 3]], 2500.0);
        assert_eq!(MarketDataGenerator::base_price("XYZ"), 100.0);
    }

    #[test]
    fn indicator_columns_match_the_series() {
        let mut g = MarketDataGenerator::new(11);
        let full = g.series(100.0, 80);
        let close: Vec<f64> = full.column(3).to_vec();
        let r = returns(&close);
        let expected_sma = sma(&close, 20);
        for i in 1..80 {
            assert!((full[[i, 5]] - r[i]).abs() < 1e-12);
            assert!((full[[i, 12]] - expected_sma[i]).abs() < 1e-9);
        }
    }

    #[test]
    fn wider_windows_repeat_indicators_and_narrower_keep_the_first_columns() {
        let w = MarketDataGenerator::new(5).single_window("MSFT", 20, 17);
        assert_eq!(w.column(15), w.column(5));
        assert_eq!(w.column(16), w.column(6));
        let narrow = MarketDataGenerator::new(5).single_window("MSFT", 20, 4);
        assert_eq!(narrow, w.slice(s![.., 0..4]));
    }

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let a = MarketDataGenerator::new(42).batch(3, 60, 15);
        let b = MarketDataGenerator::new(42).batch(3, 60, 15);
        let c = MarketDataGenerator::new(43).batch(3, 60, 15);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_nan_case_has_nan_exactly_where_the_design_puts_it() {
        let w = FeatureExtractionDataGenerator::new(2).window(DataKind::EdgeCaseNan, 60, 15);
        for ((i, j), v) in w.indexed_iter() {
            let inside = (10..15).contains(&i) && (5..8).contains(&j);
            assert_eq!(v.is_nan(), inside, "({i}, {j})");
        }
    }
}
