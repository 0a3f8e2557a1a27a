//! HdrHistogram formats: the `.hgrm` percentile distribution and the `.hlog` interval log.
//!
//! `.hgrm` is the text `outputPercentileDistribution` writes (one file per scenario and
//! metric, and per name of a request set and metric) (and wrk2 prints): value,
//! percentile, total count and 1/(1-percentile), five steps per halving of the tail, then mean,
//! standard deviation, max and count; HdrHistogram's plotter reads it. `.hlog` is an interval
//! log in the V2 compressed encoding, one tagged histogram per interval and metric (and, for a
//! request set, one per name and metric over the whole window, tagged `name.NAME.METRIC`), which
//! HdrHistogram's log tools read and which merges exactly. Both render from a saved
//! [`RunResult`]: the histograms travel in the JSON report.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::metrics::RunResult;
use crate::metrics::encoding::decode;
use crate::metrics::result::{EncodedHistograms, KernelHistograms, ScenarioResult};
use crate::report::Planned;

/// The metrics written to HdrHistogram files, with their tags.
pub const METRICS: [&str; 3] = ["response", "service", "dispatch"];

/// The parts of the kernel-timestamp split, written beside [`METRICS`] when a scenario has it.
pub const KERNEL_METRICS: [&str; 3] = ["client_send", "wire_and_server", "client_receive"];

fn pick<'a>(h: &'a EncodedHistograms, metric: &str) -> &'a str {
    match metric {
        "response" => &h.response_time,
        "service" => &h.service_time,
        _ => &h.dispatch_delay,
    }
}

/// The encodings of `k`, in [`KERNEL_METRICS`]' order, with their metric.
fn kernel_parts(k: &KernelHistograms) -> [(&'static str, &str); 3] {
    [
        (KERNEL_METRICS[0], &k.client_send),
        (KERNEL_METRICS[1], &k.wire_and_server),
        (KERNEL_METRICS[2], &k.client_receive),
    ]
}

/// The percentile distribution of `h` (nanoseconds) with values in milliseconds.
pub fn percentile_distribution(h: &Histogram<u64>) -> String {
    let scale = 1e6;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for step in h.iter_quantiles(5) {
        total += step.count_since_last_iteration();
        let value = h.highest_equivalent(step.value_iterated_to()) as f64 / scale;
        let q = step.quantile_iterated_to();
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.3} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / scale,
        h.stdev() / scale
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / scale,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        2048
    );
    out
}

/// The `.hgrm` files of a run: (name suffix, contents) per scenario and metric. The suffix
/// is empty for the first scenario's response time, so `--hgrm FILE` writes that to FILE;
/// the others go beside it (`FILE.service.hgrm`, `FILE.s1.response.hgrm`, ...).
pub fn hgrm_files(result: &RunResult) -> Result<Vec<(String, String)>, String> {
    let suffixes = hgrm_suffixes(&super::planned(result));
    let encodings = result.scenarios.iter().flat_map(scenario_encodings);
    encodings
        .zip(suffixes)
        .map(|(h, suffix)| Ok((suffix, percentile_distribution(&decode(h)?))))
        .collect()
}

/// The whole-run encodings of scenario `s`, in [`hgrm_suffixes`]' order.
fn scenario_encodings(s: &ScenarioResult) -> Vec<&str> {
    let mut all: Vec<&str> = METRICS.map(|m| pick(&s.histograms, m)).to_vec();
    if let Some(k) = &s.kernel_timestamps {
        all.extend(kernel_parts(&k.histograms).map(|(_, h)| h));
    }
    for n in &s.by_name {
        all.extend(METRICS.map(|m| pick(&n.histograms, m)));
    }
    all
}

/// The name suffixes of the `.hgrm` files of a run whose scenarios are `planned` (scenario
/// `i` by `planned[i]`), in the order [`hgrm_files`] renders them: each scenario's three
/// metrics, its kernel split's three, then each of its names' three.
pub fn hgrm_suffixes(planned: &[Planned]) -> Vec<String> {
    let mut suffixes = Vec::new();
    for (index, plan) in planned.iter().enumerate() {
        let scenario = match index {
            0 => String::new(),
            _ => format!(".s{index}"),
        };
        for metric in METRICS {
            suffixes.push(match (index, metric) {
                (0, "response") => String::new(),
                _ => format!("{scenario}.{metric}"),
            });
        }
        if plan.kernel {
            suffixes.extend(KERNEL_METRICS.map(|metric| format!("{scenario}.{metric}")));
        }
        for name in &plan.names {
            for metric in METRICS {
                suffixes.push(format!("{scenario}.name-{}.{metric}", tag_safe(name)));
            }
        }
    }
    suffixes
}

/// The tag of a metric of scenario `index` in the interval log.
pub fn hlog_tag(index: usize, metric: &str) -> String {
    if index == 0 {
        metric.to_string()
    } else {
        format!("s{index}.{metric}")
    }
}

/// `name` with every character a log tag cannot hold (anything but letters, digits, `_`, `-`
/// and `.`) as `_`.
fn tag_safe(name: &str) -> String {
    name.chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                true => c,
                false => '_',
            },
        )
        .collect()
}

/// The interval log of a run: every interval of every scenario, one histogram per metric,
/// timestamps in seconds from the run's start, values in ns (max column in ms).
pub fn hlog(result: &RunResult) -> Result<String, String> {
    let start = UNIX_EPOCH + Duration::from_secs_f64(result.started_at_unix_s.max(0.0));
    let mut bytes = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(&format!("{}: histograms in nanoseconds", result.tool))
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut bytes, &mut serializer)
            .map_err(|e| e.to_string())?;
        for (index, scenario) in result.scenarios.iter().enumerate() {
            writer
                .write_comment(&format!("scenario {index}: {}", scenario.name))
                .map_err(|e| e.to_string())?;
        }
        for (index, scenario) in result.scenarios.iter().enumerate() {
            for named in &scenario.by_name {
                for metric in METRICS {
                    let h = decode(pick(&named.histograms, metric))?;
                    let tag = hlog_tag(index, &format!("name.{}.{metric}", tag_safe(&named.name)));
                    writer
                        .write_histogram(
                            &h,
                            Duration::from_secs_f64(scenario.warmup_s.max(0.0)),
                            Duration::from_secs_f64(scenario.send_window_s.max(0.0)),
                            Tag::new(&tag),
                        )
                        .map_err(|e| e.to_string())?;
                }
            }
            for interval in &scenario.intervals {
                let begin = (scenario.warmup_s + interval.start_s).max(0.0);
                let length = (interval.end_s - interval.start_s).max(0.0);
                let kernel = interval.kernel_timestamps.as_ref();
                let parts = METRICS
                    .map(|metric| (metric, pick(&interval.histograms, metric)))
                    .into_iter()
                    .chain(kernel.into_iter().flat_map(|k| kernel_parts(&k.histograms)));
                for (metric, encoded) in parts {
                    let h = decode(encoded)?;
                    let tag = hlog_tag(index, metric);
                    writer
                        .write_histogram(
                            &h,
                            Duration::from_secs_f64(begin),
                            Duration::from_secs_f64(length),
                            Tag::new(&tag),
                        )
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::atomic_hist::new_histogram;

    #[test]
    fn the_distribution_ends_at_the_max_with_every_count() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1_000).unwrap();
        }
        let text = percentile_distribution(&h);
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
            .collect();
        let last = rows.last().unwrap();
        assert_eq!(last[1], 1.0);
        assert_eq!(last[2], 1000.0);
        assert!((last[0] - 1.0).abs() < 0.001, "{last:?}");
        assert!(
            rows.windows(2)
                .all(|w| w[0][1] <= w[1][1] && w[0][2] <= w[1][2])
        );
        assert!(text.contains("Total count    =         1000"));
    }
}
