//! `openpace merge`: the shards' reports as one result, exactly.
//!
//! Every JSON report carries its histograms (response, service, dispatch delay, timer
//! lateness; totals and per interval) in HdrHistogram's V2 compressed encoding and every
//! count as an integer, so merging needs nothing but the reports: histograms are added
//! (percentiles come from the sums, never from averaged percentiles), counts are summed, the
//! interval series are aligned by wall-clock time, rates, shares and overhead are computed
//! again from the sums, and every threshold is checked again on the merged figures.
//!
//! Every report is checked before it is added (`verify`): a report whose counts, histograms
//! or schema do not hold together is refused, naming the file and the field. Reports of
//! different scenarios or schedules, of different campaigns (shard counts), the same shard
//! twice, and a campaign with shards missing are refused too; with `allow_partial` missing
//! and refused shards are left out and the result is marked partial, saying which and why.
//! Counts are summed with checked arithmetic.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::base::Model;
use crate::error::{ConfigError, Origin};
use crate::metrics::atomic_hist::new_histogram;
use crate::metrics::encoding::decode;
use crate::metrics::figures::{
    add_counts, derive_figures, derive_row, encode_all, merge_named, merge_tls, merge_wait, ratio,
};
use crate::metrics::result::{
    EncodedHistograms, FrameworkCpu, HostInfo, IntervalStats, LatencySummary, MergeInfo,
    MergedShard, NetworkIo, NoteKind, Overhead, RequestCounts, Resources, RunResult,
    SCHEMA_VERSION, ScenarioResult, Stall, ThresholdResult, Verdict,
};
use crate::metrics::saturation;
use crate::metrics::threshold::Threshold;

use crate::base::clock::ClockInfo;

/// How strict a merge is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// Merge even when shards are missing, and mark the result partial.
    pub allow_partial: bool,
    /// Merge shards whose targets differ, with a warning that says how.
    pub allow_mixed: bool,
}

/// Merges the reports `inputs` (each with the name it was given by, for messages) into one
/// result. See the module doc for what is refused.
pub fn merge(
    inputs: &[(String, RunResult)],
    options: &MergeOptions,
) -> Result<RunResult, ConfigError> {
    let mut left_out = Vec::new();
    let mut sound = Vec::new();
    for input in inputs {
        let (name, report) = input;
        match super::verify::verify(report) {
            Ok(()) => sound.push(input),
            Err(p) => {
                let error = ConfigError::invalid(
                    &Origin::File {
                        file: name.clone(),
                        scope: String::new(),
                    },
                    &p.field,
                    p.value,
                    format!(
                        "{} (the report does not hold together; --allow-partial leaves it out)",
                        p.expected
                    ),
                );
                if !options.allow_partial {
                    return Err(error);
                }
                left_out.push(format!("{name}: {error}"));
            }
        }
    }
    if sound.is_empty() && !inputs.is_empty() {
        return Err(ConfigError::invalid(
            &Origin::Flag("merge".into()),
            "reports",
            format!("{} refused", inputs.len()),
            format!(
                "at least one report that holds together: {}",
                left_out.join("; ")
            ),
        ));
    }
    let mut merged = merge_sound(&sound, options)?;
    if let Some(info) = merged.merged.as_mut() {
        if !left_out.is_empty() {
            info.partial = true;
            let note = format!(
                "{}: {} report(s) left out because they do not hold together: {}",
                NoteKind::Partial.label(),
                left_out.len(),
                left_out.join("; ")
            );
            mark_partial(&mut merged.scenarios, note);
        }
        info.left_out = left_out;
    }
    Ok(merged)
}

/// Drops from a loaded report what a merge never reads, before the next one is loaded: the
/// resource sampler's time series and the validity checks' sample (a merged result has
/// neither: each stays in its shard's report). A shard of a 5-s noop run held about a
/// quarter of its JSON there.
pub fn lighten(report: &mut RunResult) {
    report.resources.monitor = Default::default();
    for s in &mut report.scenarios {
        s.validity = None;
    }
}

/// A report's shard index and count ((0, 1) for a run that was not sharded).
fn identity(r: &RunResult) -> (u32, u32) {
    r.shard.as_ref().map_or((0, 1), |s| (s.index, s.count))
}

/// A usage error naming report `name`.
fn refuse(name: &str, field: &str, value: String, allowed: String) -> ConfigError {
    ConfigError::invalid(
        &Origin::File {
            file: name.to_string(),
            scope: String::new(),
        },
        field,
        value,
        allowed,
    )
}

/// Merges reports that passed `verify`, borrowed (a copy of each doubled what a merge of
/// many shards held in memory).
fn merge_sound(
    inputs: &[&(String, RunResult)],
    options: &MergeOptions,
) -> Result<RunResult, ConfigError> {
    let Some((_, first)) = inputs.first().copied() else {
        return Err(ConfigError::invalid(
            &Origin::Flag("merge".into()),
            "reports",
            "none",
            "at least one JSON report",
        ));
    };
    let count = identity(first).1;
    let (missing, mixed) = check_campaign(inputs, options)?;
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| identity(&inputs[i].1).0);
    let inputs: Vec<&(String, RunResult)> = order.iter().map(|&i| inputs[i]).collect();
    let base_origin = inputs
        .iter()
        .map(|(_, r)| r.origin_unix_s)
        .fold(f64::INFINITY, f64::min);
    let offsets: Vec<f64> = inputs
        .iter()
        .map(|(_, r)| r.origin_unix_s - base_origin)
        .collect();
    let mut scenarios = merge_scenarios(&inputs, &offsets, Pooling::Concurrent)?;
    let partial = !missing.is_empty();
    if partial {
        let note = format!(
            "{}: merged {} of {count} shards (missing {}); counts and rates cover only the \
             shards present",
            NoteKind::Partial.label(),
            inputs.len(),
            join(&missing)
        );
        mark_partial(&mut scenarios, note);
    }
    let shards = merged_shards(&inputs, &offsets);
    let started = inputs
        .iter()
        .map(|(_, r)| r.started_at_unix_s)
        .fold(f64::INFINITY, f64::min);
    let ended = inputs
        .iter()
        .map(|(_, r)| r.started_at_unix_s + r.wall_seconds)
        .fold(0.0, f64::max);
    let hosts = hosts(&inputs);
    let mut warnings = merged_warnings(&shards, hosts.len());
    warnings.extend(mixed);
    Ok(RunResult {
        schema_version: SCHEMA_VERSION,
        tool: first.tool.clone(),
        interrupted: inputs.iter().any(|(_, r)| r.interrupted),
        aborted: inputs.iter().find_map(|(_, r)| r.aborted.clone()),
        passed: scenarios.iter().all(|s| s.verdict.passed),
        started_at_unix_s: started,
        wall_seconds: (ended - started).max(0.0),
        wait_mode: first.wait_mode,
        timer_core: None,
        host: HostInfo {
            hostname: hosts.join(","),
            cores: inputs.iter().map(|(_, r)| r.host.cores).sum(),
            cores_allowed: inputs.iter().map(|(_, r)| r.host.cores_allowed).sum(),
        },
        framework_cpu: FrameworkCpu::summed(&inputs),
        resources: Resources::summed(&inputs),
        warnings,
        scenarios,
        origin_unix_s: base_origin,
        clock: merged_clock(&shards),
        shard: None,
        merged: Some(MergeInfo {
            shard_count: count,
            shards,
            missing,
            partial,
            left_out: Vec::new(),
        }),
        stalls: merged_stalls(&inputs, &offsets),
    })
}

/// The hosts the shards ran on, each once, sorted.
fn hosts(inputs: &[&(String, RunResult)]) -> Vec<String> {
    let mut hosts: Vec<String> = inputs
        .iter()
        .map(|(_, r)| r.host.hostname.clone())
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    hosts
}

/// How the reports made into one were run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pooling {
    /// Side by side, over one window: a campaign's shards.
    Concurrent,
    /// One after another, each over its own window: a scenario's repetitions.
    Sequential,
}

/// The repetitions of one run (`--repeat N`, a side of `openpace ab`), in order, pooled into
/// one result: each scenario's histograms added and counts summed over the windows added up,
/// its interval series one after the other on the time line of their starts, and its
/// `repeated` block with each run and every percentile across them; thresholds are evaluated
/// again on the pooled figures and the intervals across the runs.
pub fn pool(runs: &[RunResult]) -> Result<RunResult, ConfigError> {
    let Some(first) = runs.first() else {
        return Err(ConfigError::invalid(
            &Origin::Flag("--repeat".into()),
            "repeat",
            0,
            "at least one run",
        ));
    };
    let inputs: Vec<(String, RunResult)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("repetition {}", i + 1), r.clone()))
        .collect();
    let inputs: Vec<&(String, RunResult)> = inputs.iter().collect();
    let offsets: Vec<f64> = runs
        .iter()
        .map(|r| r.origin_unix_s - first.origin_unix_s)
        .collect();
    let mut scenarios = merge_scenarios(&inputs, &offsets, Pooling::Sequential)?;
    for (j, s) in scenarios.iter_mut().enumerate() {
        let each = runs
            .iter()
            .map(|r| {
                crate::metrics::repeated::run_of(
                    &r.scenarios[j],
                    r.started_at_unix_s,
                    r.interrupted,
                )
            })
            .collect();
        crate::metrics::repeated::apply(s, each);
        s.verdict = reevaluate(&first.scenarios[j].verdict, s);
        saturation::conclude(s);
    }
    let wall_s: f64 = runs.iter().map(|r| r.wall_seconds).sum();
    let cpu = |f: fn(&FrameworkCpu) -> f64| runs.iter().map(|r| f(&r.framework_cpu)).sum::<f64>();
    let pct = |seconds: f64| 100.0 * seconds / wall_s.max(1e-9);
    Ok(RunResult {
        interrupted: runs.iter().any(|r| r.interrupted),
        aborted: runs.iter().find_map(|r| r.aborted.clone()),
        passed: scenarios.iter().all(|s| s.verdict.passed),
        wall_seconds: wall_s,
        framework_cpu: FrameworkCpu {
            timer_cpu_s: cpu(|c| c.timer_cpu_s),
            timer_cpu_pct: pct(cpu(|c| c.timer_cpu_s)),
            collector_cpu_s: cpu(|c| c.collector_cpu_s),
            collector_cpu_pct: pct(cpu(|c| c.collector_cpu_s)),
        },
        warnings: runs
            .iter()
            .flat_map(|r| r.warnings.iter().cloned())
            .collect(),
        scenarios,
        stalls: merged_stalls(&inputs, &offsets),
        ..first.clone()
    })
}

/// Checks that the reports are shards of one campaign, each once, of the same scenarios,
/// schedules and targets; returns the shards missing (an error unless `allow_partial`) and,
/// under `allow_mixed`, the differences in target allowed.
fn check_campaign(
    inputs: &[&(String, RunResult)],
    options: &MergeOptions,
) -> Result<(Vec<u32>, Vec<String>), ConfigError> {
    let mut mixed = Vec::new();
    let (first_name, first) = inputs[0];
    let count = identity(first).1;
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for &(name, report) in inputs {
        let (index, n) = identity(report);
        if n != count {
            return Err(refuse(
                name,
                "shard",
                format!("{index}/{n}"),
                format!("a shard of the same campaign as {first_name} ({count} shards)"),
            ));
        }
        if let Some(other) = seen.insert(index, name) {
            let hint = if report.shard.is_none() {
                " (neither report was sharded: run each with --shard I/N or under a launcher)"
            } else {
                ""
            };
            return Err(refuse(
                name,
                "shard",
                format!("{index}/{n}"),
                format!("a shard not merged already; {other} is shard {index} too{hint}"),
            ));
        }
        check_same_scenarios(first_name, first, name, report)?;
        for (a, b) in first.scenarios.iter().zip(&report.scenarios) {
            if a.target == b.target {
                continue;
            }
            if !options.allow_mixed {
                return Err(refuse(
                    name,
                    "target",
                    format!("\"{}\"", b.target),
                    format!(
                        "the target of {first_name}: \"{}\" (shards of one campaign measure one \
                         target; --allow-mixed merges them anyway, with a warning)",
                        a.target
                    ),
                ));
            }
            mixed.push(format!(
                "scenario \"{}\": shards measured different targets ({first_name}: {}, {name}: \
                 {}); merged under --allow-mixed",
                a.name, a.target, b.target
            ));
        }
    }
    let missing: Vec<u32> = (0..count).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() && !options.allow_partial {
        return Err(ConfigError::invalid(
            &Origin::Flag("merge".into()),
            "shards",
            format!("{} of {count}", seen.len()),
            format!(
                "every shard of the campaign (missing: {}), or --allow-partial to merge what \
                 is there and mark the result partial",
                join(&missing)
            ),
        ));
    }
    Ok((missing, mixed))
}

/// Report `name` has the scenarios, names, schedules and models of `first`.
fn check_same_scenarios(
    first_name: &str,
    first: &RunResult,
    name: &str,
    report: &RunResult,
) -> Result<(), ConfigError> {
    if report.scenarios.len() != first.scenarios.len() {
        return Err(refuse(
            name,
            "scenarios",
            report.scenarios.len().to_string(),
            format!("the scenarios of {first_name} ({})", first.scenarios.len()),
        ));
    }
    for (a, b) in first.scenarios.iter().zip(&report.scenarios) {
        if a.name != b.name {
            return Err(refuse(
                name,
                "scenario",
                format!("\"{}\"", b.name),
                format!("\"{}\", as in {first_name}", a.name),
            ));
        }
        if a.schedule != b.schedule || a.model != b.model {
            return Err(refuse(
                name,
                "schedule",
                format!("\"{}\"", b.schedule),
                format!("the schedule of {first_name}: \"{}\"", a.schedule),
            ));
        }
    }
    Ok(())
}

/// Each scenario merged across the shards (`inputs` in shard order, `offsets` their clock
/// origins after the earliest).
fn merge_scenarios(
    inputs: &[&(String, RunResult)],
    offsets: &[f64],
    pooling: Pooling,
) -> Result<Vec<ScenarioResult>, ConfigError> {
    let first = &inputs[0].1;
    (0..first.scenarios.len())
        .map(|j| {
            let parts: Vec<(&ScenarioResult, f64)> = inputs
                .iter()
                .zip(offsets)
                .map(|((_, r), &offset)| (&r.scenarios[j], offset))
                .collect();
            merge_scenario(&parts, pooling).map_err(|why| {
                ConfigError::invalid(
                    &Origin::Flag("merge".into()),
                    "reports",
                    format!("scenario \"{}\"", first.scenarios[j].name),
                    why,
                )
            })
        })
        .collect()
}

/// What the merged report says of each shard.
fn merged_shards(inputs: &[&(String, RunResult)], offsets: &[f64]) -> Vec<MergedShard> {
    inputs
        .iter()
        .zip(offsets)
        .map(|((name, r), &offset)| MergedShard {
            index: identity(r).0,
            report: name.clone(),
            host: r.host.hostname.clone(),
            origin_offset_ms: offset * 1e3,
            start_offset_ms: r.shard.as_ref().map_or(0.0, |s| s.start_offset_ms),
            clock_synchronized: r.clock.synchronized,
            clock_max_error_us: r.clock.max_error_us,
            warnings: r.warnings.clone(),
        })
        .collect()
}

/// The merged report's warnings: unsynchronized clocks across `hosts` hosts, then every
/// shard's own.
fn merged_warnings(shards: &[MergedShard], hosts: usize) -> Vec<String> {
    let mut warnings: Vec<String> = Vec::new();
    let unsynchronized: Vec<String> = shards
        .iter()
        .filter(|s| s.clock_synchronized == Some(false))
        .map(|s| s.index.to_string())
        .collect();
    // Shards on one host read one clock: only across hosts can an unsynchronized clock skew.
    if !unsynchronized.is_empty() && hosts > 1 {
        warnings.push(format!(
            "the kernel says the clocks of shard(s) {} are not synchronized (no NTP or PTP): \
             their start instants, and so the alignment of the merged intervals, may be off by \
             as much as their clocks are; totals and percentiles are exact regardless",
            unsynchronized.join(", ")
        ));
    }
    warnings.extend(shards.iter().flat_map(|s| {
        s.warnings
            .iter()
            .map(move |w| format!("shard {}: {w}", s.index))
    }));
    warnings
}

/// The merged clock: synchronized when every shard's was, the largest error.
fn merged_clock(shards: &[MergedShard]) -> ClockInfo {
    ClockInfo {
        source: "each shard's own; see merged.shards".into(),
        synchronized: shards
            .iter()
            .map(|s| s.clock_synchronized)
            .collect::<Option<Vec<bool>>>()
            .map(|s| s.iter().all(|&x| x)),
        max_error_us: shards
            .iter()
            .map(|s| s.clock_max_error_us)
            .collect::<Option<Vec<f64>>>()
            .map(|v| v.into_iter().fold(0.0, f64::max)),
    }
}

/// Every shard's stalls, on the merged clock.
fn merged_stalls(inputs: &[&(String, RunResult)], offsets: &[f64]) -> Vec<Stall> {
    let mut stalls: Vec<Stall> = inputs
        .iter()
        .zip(offsets)
        .flat_map(|((_, r), &offset)| {
            r.stalls.iter().map(move |x| Stall {
                at_s: x.at_s + offset,
                ..*x
            })
        })
        .collect();
    stalls.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    stalls
}

impl FrameworkCpu {
    /// The shards' framework CPU, summed.
    fn summed(inputs: &[&(String, RunResult)]) -> FrameworkCpu {
        let sum = |f: fn(&FrameworkCpu) -> f64| {
            inputs.iter().map(|(_, r)| f(&r.framework_cpu)).sum::<f64>()
        };
        FrameworkCpu {
            timer_cpu_s: sum(|c| c.timer_cpu_s),
            timer_cpu_pct: sum(|c| c.timer_cpu_pct),
            collector_cpu_s: sum(|c| c.collector_cpu_s),
            collector_cpu_pct: sum(|c| c.collector_cpu_pct),
        }
    }
}

impl Resources {
    /// The shards' resource use: sums where every shard has a figure, the largest RSS.
    fn summed(inputs: &[&(String, RunResult)]) -> Resources {
        let all_some = |f: fn(&Resources) -> Option<f64>| -> Option<f64> {
            inputs
                .iter()
                .map(|(_, r)| f(&r.resources))
                .sum::<Option<f64>>()
        };
        Resources {
            cpu_user_s: all_some(|r| r.cpu_user_s),
            cpu_system_s: all_some(|r| r.cpu_system_s),
            cpu_pct: all_some(|r| r.cpu_pct),
            max_rss_mb: inputs
                .iter()
                .filter_map(|(_, r)| r.resources.max_rss_mb)
                .reduce(f64::max),
            monitor: Default::default(),
        }
    }
}

/// Puts `note` first among each scenario's notes and marks its figures suspect.
fn mark_partial(scenarios: &mut [ScenarioResult], note: String) {
    for s in scenarios {
        s.verdict.notes.insert(0, note.clone());
        s.verdict.suspect = true;
    }
}

fn join(indices: &[u32]) -> String {
    indices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The four histograms of a report entry, decoded.
fn decode_all(h: &EncodedHistograms) -> Result<[Histogram<u64>; 4], String> {
    let one = |text: &str| -> Result<Histogram<u64>, String> {
        if text.is_empty() {
            return Ok(new_histogram());
        }
        decode(text)
    };
    Ok([
        one(&h.response_time)?,
        one(&h.service_time)?,
        one(&h.dispatch_delay)?,
        one(&h.timer_lateness)?,
    ])
}

/// Adds `from` into `into`, histogram by histogram.
fn add_all(into: &mut [Histogram<u64>; 4], from: &[Histogram<u64>; 4]) -> Result<(), String> {
    for (a, b) in into.iter_mut().zip(from) {
        a.add(b)
            .map_err(|e| format!("histograms cannot be added: {e:?}"))?;
    }
    Ok(())
}

/// [`add_counts`] for counts by name.
fn add_keyed(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) -> Result<(), String> {
    for (key, &n) in from {
        add_counts([(into.entry(key.clone()).or_insert(0), n)])?;
    }
    Ok(())
}

/// One scenario across the shards; `offset` is each shard's clock origin after the earliest.
fn merge_scenario(
    parts: &[(&ScenarioResult, f64)],
    pooling: Pooling,
) -> Result<ScenarioResult, String> {
    let first = parts[0].0;
    let mut m = first.clone();
    // Each shard's send-order sample stayed in its own process: the checks are in each
    // shard's report, and a merged result has none (nor a shard's precision outcome).
    m.validity = None;
    m.precision = None;
    m.tls = merge_tls(parts.iter().filter_map(|(s, _)| s.tls.as_ref()))?;
    m.wait = merge_wait(parts.iter().filter_map(|(s, _)| s.wait.as_ref()))?;
    m.by_name = merge_named(parts.iter().map(|(s, _)| s.by_name.as_slice()))?;
    let mut totals: [Histogram<u64>; 4] = std::array::from_fn(|_| new_histogram());
    let mut r = RequestCounts::default();
    let mut errors_by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut network = NetworkIo::default();
    let (mut framework_ns, mut response_ns) = (0u64, 0u64);
    let mut alerts = Vec::new();
    for &(s, offset) in parts {
        add_all(&mut totals, &decode_all(&s.histograms)?)?;
        r.checked_add_assign(&s.requests)?;
        network.checked_add_assign(&s.network)?;
        add_counts([
            (&mut framework_ns, s.overhead.framework_ns),
            (&mut response_ns, s.overhead.response_ns),
        ])?;
        add_keyed(&mut errors_by_kind, &s.errors_by_kind)?;
        alerts.extend(s.alerts.iter().cloned().map(|mut a| {
            a.at_s += offset;
            a
        }));
    }
    alerts.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));

    // Shards share one window; repetitions add theirs up.
    let window = |f: fn(&ScenarioResult) -> f64| match pooling {
        Pooling::Concurrent => parts.iter().map(|(s, _)| f(s)).fold(0.0, f64::max),
        Pooling::Sequential => parts.iter().map(|(s, _)| f(s)).sum(),
    };
    m.send_window_s = window(|s| s.send_window_s);
    m.drain_s = window(|s| s.drain_s);
    m.requests = r;
    m.errors_by_kind = errors_by_kind;
    network.connections_auto = parts.iter().all(|(s, _)| s.network.connections_auto);
    m.network = network;
    m.overhead = Overhead {
        framework_ns,
        response_ns,
        ..Overhead::default()
    };
    derive_figures(&mut m, &totals);
    workers_and_rate(&mut m, parts, pooling);
    m.intervals = merge_intervals(parts)?;
    // Batch means over the merged time series, and the largest of the shards' lag
    // correlations (their send-order samples stayed with them).
    let lag = parts
        .iter()
        .filter_map(|(s, _)| crate::metrics::honest::lag_factor(s))
        .reduce(f64::max);
    crate::metrics::honest::apply_scenario_with(&mut m, lag);
    m.alerts = alerts;
    // Counted on the merged rows, so that no reason counts more intervals than there are.
    (m.suspect_intervals, m.suspect_reasons) = saturation::count_flags(&m.intervals);
    m.verdict = reevaluate(&first.verdict, &m);
    saturation::conclude(&mut m);
    let noted: Vec<String> = parts
        .iter()
        .flat_map(|(s, _)| s.verdict.notes.iter())
        .filter(|n| !NoteKind::of(n).is_some_and(NoteKind::from_figures))
        .cloned()
        .collect();
    for note in noted {
        if !m.verdict.notes.contains(&note) {
            m.verdict.notes.push(note);
        }
    }
    m.verdict.suspect = !m.verdict.notes.is_empty();
    Ok(m)
}

/// The merged scenario's workers, their cores and CPU, and its target rate.
fn workers_and_rate(m: &mut ScenarioResult, parts: &[(&ScenarioResult, f64)], pooling: Pooling) {
    let first = parts[0].0;
    m.workers = match pooling {
        Pooling::Concurrent => parts.iter().map(|(s, _)| s.workers).sum(),
        Pooling::Sequential => first.workers,
    };
    // Each shard's cores are its own host's; the merged row lists every core a shard pinned
    // to, and is empty (unpinned) only when no shard pinned.
    let mut cores: Vec<usize> = parts
        .iter()
        .flat_map(|(s, _)| s.worker_cores.iter().copied())
        .collect();
    cores.sort_unstable();
    cores.dedup();
    m.worker_cores = cores;
    m.worker_cpu_s = parts.iter().map(|(s, _)| s.worker_cpu_s).sum();
    m.target_rps = if first.model == Model::Open || pooling == Pooling::Sequential {
        first.target_rps
    } else {
        parts.iter().map(|(s, _)| s.target_rps).sum()
    };
}

/// Checks every threshold of the shards' verdict again, on the merged figures.
fn reevaluate(verdict: &Verdict, merged: &ScenarioResult) -> Verdict {
    let thresholds: Vec<ThresholdResult> = verdict
        .thresholds
        .iter()
        .map(|t| match Threshold::parse(&t.text) {
            Ok(threshold) => threshold.evaluate(merged),
            // A report from before thresholds kept their text: keep what the shard found.
            Err(_) => t.clone(),
        })
        .collect();
    Verdict::of(thresholds)
}

/// The shards' interval series on one time line: each row moves by its shard's clock offset
/// and joins the merged row of the nearest interval boundary.
fn merge_intervals(parts: &[(&ScenarioResult, f64)]) -> Result<Vec<IntervalStats>, String> {
    let length = |s: &ScenarioResult| s.intervals.first().map(|i| i.end_s - i.start_s);
    let Some(step) = parts
        .iter()
        .find_map(|(s, _)| length(s))
        .filter(|&l| l > 0.0)
    else {
        return Ok(Vec::new());
    };
    for (s, _) in parts {
        if let Some(l) = length(s) {
            // Only a shard whose first row was its whole series may have a shorter one.
            if (l - step).abs() > 1e-6 && s.intervals.len() > 1 {
                return Err(format!(
                    "the same metrics_collection_interval in every shard ({step}s and {l}s)"
                ));
            }
        }
    }
    struct Row {
        start_s: f64,
        end_s: f64,
        stats: IntervalStats,
        histograms: [Histogram<u64>; 4],
        /// Workers of the shards with this row, and their busy share summed over them.
        workers: f64,
        busy: f64,
    }
    let mut rows: BTreeMap<i64, Row> = BTreeMap::new();
    for &(s, offset) in parts {
        for interval in &s.intervals {
            let start = interval.start_s + offset;
            let end = interval.end_s + offset;
            let bucket = (start / step).round() as i64;
            let row = rows.entry(bucket).or_insert_with(|| Row {
                start_s: bucket as f64 * step,
                end_s: end,
                stats: IntervalStats {
                    flags: Vec::new(),
                    ..interval.clone()
                }
                .zeroed(),
                histograms: std::array::from_fn(|_| new_histogram()),
                workers: 0.0,
                busy: 0.0,
            });
            row.end_s = row.end_s.max(end);
            row.workers += s.workers as f64;
            row.busy += interval.worker_busy_pct * s.workers as f64;
            add_all(&mut row.histograms, &decode_all(&interval.histograms)?)?;
            let t = &mut row.stats;
            t.checked_add_counts(interval)?;
            for flag in &interval.flags {
                if !t.flags.contains(flag) {
                    t.flags.push(flag.clone());
                }
            }
        }
    }
    Ok(rows
        .into_values()
        .map(|row| {
            let mut t = row.stats;
            t.start_s = row.start_s;
            t.end_s = row.end_s.max(row.start_s);
            t.worker_busy_pct = ratio(row.busy, row.workers);
            let [response, service, dispatch, _] = &row.histograms;
            let seconds = t.end_s - t.start_s;
            derive_row(&mut t, seconds, [response, service, dispatch]);
            t.histograms = encode_all(&row.histograms);
            t
        })
        .collect())
}

impl IntervalStats {
    /// This row with every count and figure at zero, its times kept.
    fn zeroed(self) -> IntervalStats {
        IntervalStats {
            start_s: self.start_s,
            end_s: self.end_s,
            scheduled: 0.0,
            sent: 0,
            completed: 0,
            ok: 0,
            errors: 0,
            timeouts: 0,
            expired: 0,
            dropped: 0,
            late: 0,
            queued: 0,
            worker_busy_pct: 0.0,
            achieved_rps: 0.0,
            response_time_ms: LatencySummary::default(),
            service_time_ms: LatencySummary::default(),
            dispatch_delay_us: LatencySummary::default(),
            flags: Vec::new(),
            histograms: EncodedHistograms::default(),
        }
    }
}
