//! Units as people write them: durations (`500us`, `2m`, `1.5`) parsed and printed exactly,
//! and file names with a suffix.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest measured window a config may ask for: 30 days, in seconds.
pub const MAX_SECONDS: f64 = 30.0 * 86_400.0;

/// Parses a duration: a number of seconds (`1.5`) or a number with a unit: `ns`, `us` (or
/// `µs`), `ms`, `s`, `m`, `h` (`500us`, `20ms`, `2m`). A plain decimal is read exactly, to
/// the nanosecond (so that whatever [`format_duration`] prints parses back as itself); one
/// with an exponent (`1e-3s`) through a float.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| "expected a number with an optional unit ns, us, ms, s, m or h".to_string())?;
    let unit_ns: u64 = match unit.trim() {
        "" | "s" => 1_000_000_000,
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => return Err(format!("unknown unit `{other}`; use ns, us, ms, s, m or h")),
    };
    let seconds = value * unit_ns as f64 / 1e9;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err("a duration cannot be negative".to_string());
    }
    if seconds > MAX_SECONDS * 10.0 {
        return Err("too long".to_string());
    }
    Ok(exact_ns(number, unit_ns)
        .map_or_else(|| Duration::from_secs_f64(seconds), Duration::from_nanos))
}

/// `digits[.digits]` times `unit_ns`, in whole nanoseconds (rounded half up), without going
/// through a float; `None` for anything else (a sign, an exponent) or a value past u64.
fn exact_ns(number: &str, unit_ns: u64) -> Option<u64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || whole.len() + fraction.len() == 0 {
        return None;
    }
    let unit = u128::from(unit_ns);
    let mut ns = whole.parse::<u128>().unwrap_or(0).checked_mul(unit)?;
    // Digits past the 20th are below a nanosecond for every unit.
    let fraction = &fraction[..fraction.len().min(20)];
    if !fraction.is_empty() {
        let scale = 10u128.pow(fraction.len() as u32);
        let part = fraction.parse::<u128>().ok()?.checked_mul(unit)?;
        ns = ns.checked_add((part + scale / 2) / scale)?;
    }
    u64::try_from(ns).ok()
}

/// Parses a byte count: a whole number with an optional unit, `B`, `KiB`/`K`, `MiB`/`M`,
/// `GiB`/`G` (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000): `65536`, `64MiB`, `1G`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let allowed = "a whole number of bytes with an optional unit B, KiB, MiB, GiB (1024) or KB,                    MB, GB (1000), e.g. 64MiB";
    let value: u64 = number.parse().map_err(|_| allowed.to_string())?;
    let unit: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" | "k" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(allowed.to_string()),
    };
    value
        .checked_mul(unit)
        .ok_or_else(|| "more bytes than a 64-bit count holds".to_string())
}

/// Formats a duration with the largest unit that keeps it short: `20ms`, `1.5s`, `500us`.
/// Exact: the digits are those of the nanoseconds, never rounded through a float.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let (unit_ns, unit) = if ns == 0 || ns >= 1_000_000_000 {
        (1_000_000_000, "s")
    } else if ns >= 1_000_000 {
        (1_000_000, "ms")
    } else if ns >= 1_000 {
        (1_000, "us")
    } else {
        (1, "ns")
    };
    let (whole, rest) = (ns / unit_ns, ns % unit_ns);
    if rest == 0 {
        return format!("{whole}{unit}");
    }
    let width = unit_ns.ilog10() as usize;
    let fraction = format!("{rest:0width$}");
    format!("{whole}.{}{unit}", fraction.trim_end_matches('0'))
}

/// A latency of `ns` nanoseconds as people read one: three significant digits in the unit
/// that keeps them before the point, `812ns`, `42.3us`, `1.23ms`, `12.0s` (as wrk and
/// hyperfine print). The unit is chosen after rounding, so 999.96 us reads `1.00ms`. Whole
/// seconds past 999 keep every digit; a value that is not a number reads `-`.
pub fn format_latency(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".to_string();
    }
    if ns < 0.0 {
        return format!("-{}", format_latency(-ns));
    }
    if ns >= 999.5e9 {
        return format!("{:.0}s", ns / 1e9);
    }
    const UNITS: [(f64, &str); 4] = [(1.0, "ns"), (1e3, "us"), (1e6, "ms"), (1e9, "s")];
    let rounded = round_significant(ns, 3);
    let (scale, unit) = UNITS
        .iter()
        .rev()
        .find(|(scale, _)| rounded >= *scale)
        .copied()
        .unwrap_or(UNITS[0]);
    let value = rounded / scale;
    let decimals = match value {
        v if v == 0.0 || v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.decimals$}{unit}")
}

/// A latency given in milliseconds, as [`format_latency`] writes it.
pub fn format_ms(ms: f64) -> String {
    format_latency(ms * 1e6)
}

/// A difference of latencies in nanoseconds with its sign: `+42.3us`, `-1.20ms`, `0ns`.
pub fn format_latency_signed(ns: f64) -> String {
    if ns > 0.0 {
        format!("+{}", format_latency(ns))
    } else {
        format_latency(ns)
    }
}

/// `value` rounded to `digits` significant digits (0 stays 0).
fn round_significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 {
        return 0.0;
    }
    let magnitude = value.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - magnitude);
    (value * scale).round() / scale
}

/// `path` with `suffix` inserted before its extension (`out.hgrm` + `.service` ->
/// `out.service.hgrm`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}{suffix}"),
    };
    path.with_file_name(name)
}

/// A number without a trailing `.0`.
pub fn plain_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_with_three_significant_digits_in_their_unit() {
        let cases = [
            (0.0, "0ns"),
            (7.0, "7.00ns"),
            (812.4, "812ns"),
            (999.6, "1.00us"),
            (42_340.0, "42.3us"),
            (999_960.0, "1.00ms"),
            (1_234_000.0, "1.23ms"),
            (12_000_000_000.0, "12.0s"),
            (4_321_400_000_000.0, "4321s"),
            (f64::NAN, "-"),
        ];
        for (ns, text) in cases {
            assert_eq!(format_latency(ns), text, "{ns} ns");
        }
        assert_eq!(format_ms(0.02), "20.0us");
        assert_eq!(format_latency_signed(1500.0), "+1.50us");
        assert_eq!(format_latency_signed(-1500.0), "-1.50us");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("20ms").unwrap(), Duration::from_millis(20));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ns").unwrap(), Duration::from_nanos(250));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(format_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        // Found by fuzzing: a long duration printed through a float lost a nanosecond.
        for ns in [
            9_653_371_522_222_222u64,
            1,
            999,
            1_000_001,
            123_456_789_012,
            7 << 50,
        ] {
            let d = Duration::from_nanos(ns);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ns}");
        }
        assert_eq!(
            parse_duration("9653371.5222222222").unwrap().as_nanos(),
            9_653_371_522_222_222
        );
        assert_eq!(parse_duration("1e-3s").unwrap(), Duration::from_millis(1));
        assert_eq!(parse_duration("0.5ns").unwrap(), Duration::from_nanos(1));
    }

    #[test]
    fn byte_counts_parse_with_units() {
        assert_eq!(parse_bytes("65536"), Ok(65_536));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1 G"), Ok(1 << 30));
        assert_eq!(parse_bytes("5MB"), Ok(5_000_000));
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("1.5M").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }
}
