//! Percentiles as people write them: `p99.9` is 999,000 parts per million, exactly, so that
//! a threshold, a precision target and a comparison name the same percentile the same way.

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
