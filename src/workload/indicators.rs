//! Technical indicators computed from a price series, as pure functions over slices.
//!
//! Conventions (each function's doc says which it follows): rolling windows over the first
//! `n - 1` points use the points available; exponential averages start from the first value;
//! RSI and ATR use Wilder's smoothing, seeded with a simple mean once `n` changes exist.

/// Simple moving average over the last `n` values (fewer at the start).
pub fn sma(xs: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(xs.len());
    let mut sum = 0.0;
    for (i, &x) in xs.iter().enumerate() {
        sum += x;
        if i >= n {
            sum -= xs[i - n];
        }
        out.push(sum / (i + 1).min(n) as f64);
    }
    out
}

/// Exponential moving average with `alpha = 2 / (n + 1)`, starting at the first value.
pub fn ema(xs: &[f64], n: usize) -> Vec<f64> {
    let alpha = 2.0 / (n as f64 + 1.0);
    let mut out = Vec::with_capacity(xs.len());
    let mut value = xs.first().copied().unwrap_or(0.0);
    for &x in xs {
        value += alpha * (x - value);
        out.push(value);
    }
    out
}

/// Population standard deviation over the last `n` values (fewer at the start).
pub fn rolling_std(xs: &[f64], n: usize) -> Vec<f64> {
    (0..xs.len())
        .map(|i| {
            let window = &xs[(i + 1).saturating_sub(n)..=i];
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            let var = window.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / window.len() as f64;
            var.sqrt()
        })
        .collect()
}

/// Simple returns `x[i] / x[i-1] - 1`; 0 for the first value.
pub fn returns(xs: &[f64]) -> Vec<f64> {
    (0..xs.len())
        .map(|i| if i == 0 { 0.0 } else { xs[i] / xs[i - 1] - 1.0 })
        .collect()
}

/// Relative strength index over `n` periods with Wilder's smoothing. Until `n` changes exist
/// it uses the mean gain and loss so far; 50 before any change; 100 when there is no loss.
pub fn rsi(xs: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(xs.len());
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 0..xs.len() {
        if i == 0 {
            out.push(50.0);
            continue;
        }
        let change = xs[i] - xs[i - 1];
        let (g, l) = (change.max(0.0), (-change).max(0.0));
        if i <= n {
            // Simple mean of the changes so far.
            gain += (g - gain) / i as f64;
            loss += (l - loss) / i as f64;
        } else {
            gain = (gain * (n as f64 - 1.0) + g) / n as f64;
            loss = (loss * (n as f64 - 1.0) + l) / n as f64;
        }
        out.push(if loss == 0.0 {
            if gain == 0.0 { 50.0 } else { 100.0 }
        } else {
            100.0 - 100.0 / (1.0 + gain / loss)
        });
    }
    out
}

/// MACD (EMA 12 − EMA 26) and its signal line (EMA 9 of MACD).
pub fn macd(xs: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let fast = ema(xs, 12);
    let slow = ema(xs, 26);
    let line: Vec<f64> = fast.iter().zip(&slow).map(|(f, s)| f - s).collect();
    let signal = ema(&line, 9);
    (line, signal)
}

/// Position within Bollinger bands (SMA `n` ± 2 standard deviations): 0 at the lower band,
/// 1 at the upper; 0.5 when the bands have no width.
pub fn bollinger_position(xs: &[f64], n: usize) -> Vec<f64> {
    let mid = sma(xs, n);
    let sd = rolling_std(xs, n);
    xs.iter()
        .zip(mid.iter().zip(&sd))
        .map(|(&x, (&m, &s))| {
            if s == 0.0 {
                0.5
            } else {
                (x - (m - 2.0 * s)) / (4.0 * s)
            }
        })
        .collect()
}

/// Each value over the simple moving average of the last `n` values.
pub fn ratio_to_mean(xs: &[f64], n: usize) -> Vec<f64> {
    xs.iter()
        .zip(sma(xs, n))
        .map(|(&x, m)| if m == 0.0 { 1.0 } else { x / m })
        .collect()
}

/// Average true range over `n` periods, Wilder's smoothing (mean of the first `n` at the
/// start).
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(close.len());
    let mut value = 0.0;
    for i in 0..close.len() {
        let range = high[i] - low[i];
        let true_range = if i == 0 {
            range
        } else {
            range
                .max((high[i] - close[i - 1]).abs())
                .max((low[i] - close[i - 1]).abs())
        };
        if i < n {
            value += (true_range - value) / (i + 1) as f64;
        } else {
            value = (value * (n as f64 - 1.0) + true_range) / n as f64;
        }
        out.push(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-9, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn sma_uses_what_is_there_then_a_full_window() {
        close(
            &sma(&[1.0, 2.0, 3.0, 4.0, 5.0], 3),
            &[1.0, 1.5, 2.0, 3.0, 4.0],
        );
    }

    #[test]
    fn ema_starts_at_the_first_value() {
        // n = 3: alpha = 0.5.
        close(&ema(&[2.0, 4.0, 4.0, 8.0], 3), &[2.0, 3.0, 3.5, 5.75]);
    }

    #[test]
    fn returns_and_rolling_std_by_hand() {
        close(&returns(&[100.0, 110.0, 99.0]), &[0.0, 0.1, -0.1]);
        // Window [1, 3]: mean 2, population variance 1.
        close(&rolling_std(&[1.0, 3.0, 5.0], 2), &[0.0, 1.0, 1.0]);
    }

    #[test]
    fn rsi_by_hand() {
        // Changes +1, +1, -1 with n = 2: means over the first two changes (gain 1, loss 0)
        // give 100; then Wilder: gain (1*1 + 0)/2 = 0.5, loss (0*1 + 1)/2 = 0.5 -> RSI 50.
        close(
            &rsi(&[10.0, 11.0, 12.0, 11.0], 2),
            &[50.0, 100.0, 100.0, 50.0],
        );
        // Only losses: 0.
        assert_eq!(rsi(&[3.0, 2.0, 1.0], 14)[2], 0.0);
    }

    #[test]
    fn macd_is_zero_on_a_flat_series_and_positive_on_a_rise() {
        let (line, signal) = macd(&[5.0; 30]);
        assert!(line.iter().chain(&signal).all(|&v| v == 0.0));
        let rising: Vec<f64> = (0..40).map(|i| 100.0 + i as f64).collect();
        let (line, signal) = macd(&rising);
        assert!(line[39] > 0.0 && signal[39] > 0.0 && line[39] > signal[39]);
    }

    #[test]
    fn bollinger_position_by_hand() {
        // Window [1, 3] at the second point: mid 2, sd 1, bands 0..4, so 3 sits at 0.75.
        let p = bollinger_position(&[1.0, 3.0], 20);
        close(&p, &[0.5, 0.75]);
    }

    #[test]
    fn volume_ratio_and_atr_by_hand() {
        close(&ratio_to_mean(&[10.0, 30.0], 20), &[1.0, 1.5]);
        // True ranges: 2, max(1, |4-1|, |3-1|) = 3; means: 2, 2.5.
        close(&atr(&[3.0, 4.0], &[1.0, 3.0], &[1.0, 3.5], 14), &[2.0, 2.5]);
    }
}
