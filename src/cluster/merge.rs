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

use crate::base::{Model, WaitMode};
use crate::error::{ConfigError, Origin};
use crate::metrics::atomic_hist::new_histogram;
use crate::metrics::encoding::decode;
use crate::metrics::figures::{
    NamedSums, Summed, add_counts, derive_figures, derive_row, encode_all, ratio,
};
use crate::metrics::result::{
    Alert, EncodedHistograms, FrameworkCpu, HostInfo, IntervalStats, KernelSplit, LatencySummary,
    MergeInfo, MergedShard, NetworkIo, NoteKind, Overhead, RequestCounts, Resources, RunResult,
    SCHEMA_VERSION, ScenarioResult, Stall, ThresholdResult, TlsFigures, Verdict, WaitFigures,
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
    let names: Vec<String> = inputs.iter().map(|(name, _)| name.clone()).collect();
    merge_with(&names, options, |i| Ok(inputs[i].1.clone()))
}

/// Merges the reports named `names`, each read by `load(i)` when it is needed and dropped
/// before the next: a merge holds one report and its running sums, never all of them (10,000
/// shards of 12 KB each would otherwise be held at once, about ten times that once decoded).
///
/// Two passes: the first verifies every report and checks that they form one campaign, in
/// the order given, keeping of each only its identity, clock origin and scenario names; the
/// second reads them again in shard order and folds each into the sums (the order fixes the
/// floating-point sums, so the result is the same whatever order the files were named in). A
/// report that changed between the passes is refused.
pub fn merge_with(
    names: &[String],
    options: &MergeOptions,
    mut load: impl FnMut(usize) -> Result<RunResult, ConfigError>,
) -> Result<RunResult, ConfigError> {
    let mut left_out = Vec::new();
    let mut heads = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let report = load(i)?;
        match super::verify::verify(&report) {
            Ok(()) => heads.push(Head::of(i, name, &report)),
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
    if heads.is_empty() && !names.is_empty() {
        return Err(ConfigError::invalid(
            &Origin::Flag("merge".into()),
            "reports",
            format!("{} refused", names.len()),
            format!(
                "at least one report that holds together: {}",
                left_out.join("; ")
            ),
        ));
    }
    let mut merged = merge_sound(&heads, options, &mut load)?;
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

/// What the first pass keeps of a report that passed `verify`.
struct Head {
    /// Its place in the list given.
    position: usize,
    name: String,
    index: u32,
    count: u32,
    sharded: bool,
    origin_unix_s: f64,
    tool: String,
    wait_mode: WaitMode,
    /// Each scenario's name, schedule, model and target.
    scenarios: Vec<(String, String, Model, String)>,
}

impl Head {
    fn of(position: usize, name: &str, r: &RunResult) -> Head {
        let (index, count) = identity(r);
        Head {
            position,
            name: name.to_string(),
            index,
            count,
            sharded: r.shard.is_some(),
            origin_unix_s: r.origin_unix_s,
            tool: r.tool.clone(),
            wait_mode: r.wait_mode,
            scenarios: r
                .scenarios
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.schedule.clone(),
                        s.model,
                        s.target.clone(),
                    )
                })
                .collect(),
        }
    }
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

/// Merges the reports that passed `verify` (`heads`, in the order given), reading each again
/// with `load`, in shard order.
fn merge_sound(
    heads: &[Head],
    options: &MergeOptions,
    load: &mut impl FnMut(usize) -> Result<RunResult, ConfigError>,
) -> Result<RunResult, ConfigError> {
    let Some(first) = heads.first() else {
        return Err(ConfigError::invalid(
            &Origin::Flag("merge".into()),
            "reports",
            "none",
            "at least one JSON report",
        ));
    };
    let count = first.count;
    let (missing, mixed) = check_campaign(heads, options)?;
    let mut order: Vec<&Head> = heads.iter().collect();
    order.sort_by_key(|h| h.index);
    let (mut fold, base_origin) = fold_in_shard_order(&order, load)?;
    let mut scenarios = fold.finish_scenarios();
    let partial = !missing.is_empty();
    if partial {
        let note = format!(
            "{}: merged {} of {count} shards (missing {}); counts and rates cover only the \
             shards present",
            NoteKind::Partial.label(),
            heads.len(),
            join(&missing)
        );
        mark_partial(&mut scenarios, note);
    }
    let hosts: Vec<String> = fold.hosts.iter().cloned().collect();
    let mut warnings = merged_warnings(&fold.shards, hosts.len());
    warnings.extend(mixed);
    fold.stalls.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    Ok(RunResult {
        schema_version: SCHEMA_VERSION,
        tool: first.tool.clone(),
        interrupted: fold.interrupted,
        aborted: fold.aborted,
        passed: scenarios.iter().all(|s| s.verdict.passed),
        started_at_unix_s: fold.started,
        wall_seconds: (fold.ended - fold.started).max(0.0),
        wait_mode: first.wait_mode,
        timer_core: None,
        host: HostInfo {
            hostname: hosts.join(","),
            cores: fold.cores,
            cores_allowed: fold.cores_allowed,
            check: None,
            unfit: fold.unfit.iter().cloned().collect(),
        },
        framework_cpu: fold.framework_cpu,
        resources: fold.resources,
        warnings,
        scenarios,
        origin_unix_s: base_origin,
        clock: merged_clock(&fold.shards),
        shard: None,
        merged: Some(MergeInfo {
            shard_count: count,
            shards: fold.shards,
            missing,
            partial,
            left_out: Vec::new(),
        }),
        stalls: fold.stalls,
        // Each shard's log stays with its own report: a merge reads reports, not logs.
        request_log: None,
    })
}

/// The second pass: each report of `order` (in shard order) read again and folded in; the
/// sums and the earliest clock origin, which the others' offsets count from.
fn fold_in_shard_order(
    order: &[&Head],
    load: &mut impl FnMut(usize) -> Result<RunResult, ConfigError>,
) -> Result<(RunFold, f64), ConfigError> {
    let base_origin = order
        .iter()
        .map(|h| h.origin_unix_s)
        .fold(f64::INFINITY, f64::min);
    let mut fold = RunFold::default();
    for head in order {
        let report = load(head.position)?;
        if identity(&report) != (head.index, head.count)
            || report.origin_unix_s.to_bits() != head.origin_unix_s.to_bits()
        {
            return Err(refuse(
                &head.name,
                "shard",
                format!("{}/{}", identity(&report).0, identity(&report).1),
                "the report read a moment before: it changed while the merge read it".into(),
            ));
        }
        fold.add(&head.name, &report, report.origin_unix_s - base_origin)
            .map_err(|why| {
                ConfigError::invalid(
                    &Origin::Flag("merge".into()),
                    "reports",
                    format!("scenario \"{}\"", why.0),
                    why.1,
                )
            })?;
    }
    Ok((fold, base_origin))
}

/// The running sums of a merge's second pass: what each report adds, folded in shard order.
struct RunFold {
    scenarios: Vec<ScenarioFold>,
    shards: Vec<MergedShard>,
    hosts: std::collections::BTreeSet<String>,
    /// Each shard's host checks that made its figures suspect, prefixed with its host.
    unfit: std::collections::BTreeSet<String>,
    started: f64,
    ended: f64,
    interrupted: bool,
    aborted: Option<String>,
    cores: usize,
    cores_allowed: usize,
    framework_cpu: FrameworkCpu,
    resources: Resources,
    stalls: Vec<Stall>,
}

impl Default for RunFold {
    fn default() -> RunFold {
        RunFold {
            scenarios: Vec::new(),
            shards: Vec::new(),
            hosts: Default::default(),
            unfit: Default::default(),
            started: f64::INFINITY,
            ended: 0.0,
            interrupted: false,
            aborted: None,
            cores: 0,
            cores_allowed: 0,
            framework_cpu: FrameworkCpu::default(),
            resources: Resources {
                cpu_user_s: Some(0.0),
                cpu_system_s: Some(0.0),
                cpu_pct: Some(0.0),
                max_rss_mb: None,
                monitor: Default::default(),
            },
            stalls: Vec::new(),
        }
    }
}

impl RunFold {
    /// Adds report `r` (named `name`), whose clock origin is `offset` s after the earliest.
    /// An error names the scenario and why.
    fn add(&mut self, name: &str, r: &RunResult, offset: f64) -> Result<(), (String, String)> {
        if self.scenarios.is_empty() {
            self.scenarios = r.scenarios.iter().map(ScenarioFold::new).collect();
        }
        for (fold, s) in self.scenarios.iter_mut().zip(&r.scenarios) {
            fold.add(s, offset).map_err(|why| (s.name.clone(), why))?;
        }
        self.shards.push(MergedShard {
            index: identity(r).0,
            report: name.to_string(),
            host: r.host.hostname.clone(),
            origin_offset_ms: offset * 1e3,
            start_offset_ms: r.shard.as_ref().map_or(0.0, |s| s.start_offset_ms),
            clock_synchronized: r.clock.synchronized,
            clock_max_error_us: r.clock.max_error_us,
            warnings: r.warnings.clone(),
        });
        self.hosts.insert(r.host.hostname.clone());
        let host = &r.host.hostname;
        self.unfit
            .extend(r.host.unfit.iter().map(|why| format!("{host}: {why}")));
        self.started = self.started.min(r.started_at_unix_s);
        self.ended = self.ended.max(r.started_at_unix_s + r.wall_seconds);
        self.interrupted |= r.interrupted;
        if self.aborted.is_none() {
            self.aborted = r.aborted.clone();
        }
        self.cores += r.host.cores;
        self.cores_allowed += r.host.cores_allowed;
        let (sum, cpu) = (&mut self.framework_cpu, &r.framework_cpu);
        sum.timer_cpu_s += cpu.timer_cpu_s;
        sum.timer_cpu_pct += cpu.timer_cpu_pct;
        sum.collector_cpu_s += cpu.collector_cpu_s;
        sum.collector_cpu_pct += cpu.collector_cpu_pct;
        sum.timer_realtime |= cpu.timer_realtime;
        sum.memory_locked |= cpu.memory_locked;
        let (sum, used) = (&mut self.resources, &r.resources);
        // A sum where every shard has a figure; the largest RSS.
        let add = |into: &mut Option<f64>, x: Option<f64>| *into = into.zip(x).map(|(a, b)| a + b);
        add(&mut sum.cpu_user_s, used.cpu_user_s);
        add(&mut sum.cpu_system_s, used.cpu_system_s);
        add(&mut sum.cpu_pct, used.cpu_pct);
        sum.max_rss_mb = match (sum.max_rss_mb, used.max_rss_mb) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.stalls.extend(shifted(&r.stalls, offset));
        Ok(())
    }

    /// Each scenario's sums made into its merged result (concurrent shards).
    fn finish_scenarios(&mut self) -> Vec<ScenarioResult> {
        std::mem::take(&mut self.scenarios)
            .into_iter()
            .map(|fold| fold.finish(Pooling::Concurrent))
            .collect()
    }
}

/// `stalls` on a clock whose origin is `offset` s earlier.
fn shifted(stalls: &[Stall], offset: f64) -> impl Iterator<Item = Stall> + '_ {
    stalls.iter().map(move |x| Stall {
        at_s: x.at_s + offset,
        ..*x
    })
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
            timer_realtime: runs.iter().any(|r| r.framework_cpu.timer_realtime),
            memory_locked: runs.iter().any(|r| r.framework_cpu.memory_locked),
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
    heads: &[Head],
    options: &MergeOptions,
) -> Result<(Vec<u32>, Vec<String>), ConfigError> {
    let mut mixed = Vec::new();
    let first = &heads[0];
    let (first_name, count) = (&first.name, first.count);
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for head in heads {
        let (name, index, n) = (&head.name, head.index, head.count);
        if n != count {
            return Err(refuse(
                name,
                "shard",
                format!("{index}/{n}"),
                format!("a shard of the same campaign as {first_name} ({count} shards)"),
            ));
        }
        if let Some(other) = seen.insert(index, name) {
            let hint = if !head.sharded {
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
        check_same_scenarios(first, head)?;
        for ((a, _, _, a_target), (_, _, _, b_target)) in
            first.scenarios.iter().zip(&head.scenarios)
        {
            if a_target == b_target {
                continue;
            }
            if !options.allow_mixed {
                return Err(refuse(
                    name,
                    "target",
                    format!("\"{b_target}\""),
                    format!(
                        "the target of {first_name}: \"{a_target}\" (shards of one campaign measure one \
                         target; --allow-mixed merges them anyway, with a warning)"
                    ),
                ));
            }
            mixed.push(format!(
                "scenario \"{a}\": shards measured different targets ({first_name}: {a_target}, \
                 {name}: {b_target}); merged under --allow-mixed"
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

/// Report `head` has the scenarios, names, schedules and models of `first`.
fn check_same_scenarios(first: &Head, head: &Head) -> Result<(), ConfigError> {
    let name = &head.name;
    if head.scenarios.len() != first.scenarios.len() {
        return Err(refuse(
            name,
            "scenarios",
            head.scenarios.len().to_string(),
            format!(
                "the scenarios of {} ({})",
                first.name,
                first.scenarios.len()
            ),
        ));
    }
    for (a, b) in first.scenarios.iter().zip(&head.scenarios) {
        if a.0 != b.0 {
            return Err(refuse(
                name,
                "scenario",
                format!("\"{}\"", b.0),
                format!("\"{}\", as in {}", a.0, first.name),
            ));
        }
        if a.1 != b.1 || a.2 != b.2 {
            return Err(refuse(
                name,
                "schedule",
                format!("\"{}\"", b.1),
                format!("the schedule of {}: \"{}\"", first.name, a.1),
            ));
        }
    }
    Ok(())
}

/// Each scenario of runs held in memory (`inputs` in order, `offsets` their clock origins
/// after the first's), merged.
fn merge_scenarios(
    inputs: &[&(String, RunResult)],
    offsets: &[f64],
    pooling: Pooling,
) -> Result<Vec<ScenarioResult>, ConfigError> {
    let first = &inputs[0].1;
    (0..first.scenarios.len())
        .map(|j| {
            let fail = |why: String| {
                ConfigError::invalid(
                    &Origin::Flag("merge".into()),
                    "reports",
                    format!("scenario \"{}\"", first.scenarios[j].name),
                    why,
                )
            };
            let mut fold = ScenarioFold::new(&first.scenarios[j]);
            for ((_, r), &offset) in inputs.iter().zip(offsets) {
                fold.add(&r.scenarios[j], offset).map_err(&fail)?;
            }
            Ok(fold.finish(pooling))
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

/// Every run's stalls, on the clock of the first (`offsets` their origins after it).
fn merged_stalls(inputs: &[&(String, RunResult)], offsets: &[f64]) -> Vec<Stall> {
    let mut stalls: Vec<Stall> = inputs
        .iter()
        .zip(offsets)
        .flat_map(|((_, r), &offset)| shifted(&r.stalls, offset))
        .collect();
    stalls.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    stalls
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

/// One scenario's running sums across shards (or repetitions), each added with its clock
/// origin's offset after the earliest; `finish` makes the merged result. It holds the first
/// part, the sums and one row per merged interval, never the parts.
struct ScenarioFold {
    /// The first part: what is not summed is taken from it.
    first: ScenarioResult,
    tls: Summed<TlsFigures>,
    kernel: Summed<KernelSplit, 3>,
    wait: Summed<WaitFigures>,
    named: NamedSums,
    totals: [Histogram<u64>; 4],
    requests: RequestCounts,
    errors_by_kind: BTreeMap<String, u64>,
    network: NetworkIo,
    connections_auto: bool,
    framework_ns: u64,
    response_ns: u64,
    alerts: Vec<Alert>,
    /// The parts' send windows and drains: the longest (side by side) and the sum (one after
    /// another).
    send_window_s: [f64; 2],
    drain_s: [f64; 2],
    workers: usize,
    worker_cores: Vec<usize>,
    worker_cpu_s: f64,
    target_rps: f64,
    intervals: IntervalFold,
    lag: Option<f64>,
    notes: Vec<String>,
}

impl ScenarioFold {
    fn new(first: &ScenarioResult) -> ScenarioFold {
        ScenarioFold {
            first: ScenarioResult {
                intervals: Vec::new(),
                by_name: Vec::new(),
                validity: None,
                precision: None,
                ..first.clone()
            },
            tls: Summed::default(),
            kernel: Summed::default(),
            wait: Summed::default(),
            named: NamedSums::default(),
            totals: std::array::from_fn(|_| new_histogram()),
            requests: RequestCounts::default(),
            errors_by_kind: BTreeMap::new(),
            network: NetworkIo::default(),
            connections_auto: true,
            framework_ns: 0,
            response_ns: 0,
            alerts: Vec::new(),
            send_window_s: [0.0; 2],
            drain_s: [0.0; 2],
            workers: 0,
            worker_cores: Vec::new(),
            worker_cpu_s: 0.0,
            target_rps: 0.0,
            intervals: IntervalFold::default(),
            lag: None,
            notes: Vec::new(),
        }
    }

    fn add(&mut self, s: &ScenarioResult, offset: f64) -> Result<(), String> {
        if let Some(k) = &s.kernel_timestamps {
            self.kernel.add(k)?;
        }
        if let Some(t) = &s.tls {
            self.tls.add(t)?;
        }
        if let Some(w) = &s.wait {
            self.wait.add(w)?;
        }
        self.named.add(&s.by_name)?;
        add_all(&mut self.totals, &decode_all(&s.histograms)?)?;
        self.requests.checked_add_assign(&s.requests)?;
        self.network.checked_add_assign(&s.network)?;
        self.connections_auto &= s.network.connections_auto;
        add_counts([
            (&mut self.framework_ns, s.overhead.framework_ns),
            (&mut self.response_ns, s.overhead.response_ns),
        ])?;
        add_keyed(&mut self.errors_by_kind, &s.errors_by_kind)?;
        self.alerts.extend(s.alerts.iter().cloned().map(|mut a| {
            a.at_s += offset;
            a
        }));
        for (window, part) in [
            (&mut self.send_window_s, s.send_window_s),
            (&mut self.drain_s, s.drain_s),
        ] {
            *window = [window[0].max(part), window[1] + part];
        }
        self.workers += s.workers;
        // Each shard's cores are its own host's; the merged row lists every core a shard
        // pinned to, and is empty (unpinned) only when no shard pinned.
        self.worker_cores.extend(s.worker_cores.iter().copied());
        self.worker_cores.sort_unstable();
        self.worker_cores.dedup();
        self.worker_cpu_s += s.worker_cpu_s;
        self.target_rps += s.target_rps;
        self.intervals.add(s, offset)?;
        // The largest of the parts' lag correlations (their send-order samples stayed with
        // them).
        if let Some(lag) = crate::metrics::honest::lag_factor(s) {
            self.lag = Some(self.lag.map_or(lag, |l| l.max(lag)));
        }
        for note in &s.verdict.notes {
            if !NoteKind::of(note).is_some_and(NoteKind::from_figures) && !self.notes.contains(note)
            {
                self.notes.push(note.clone());
            }
        }
        Ok(())
    }

    fn finish(self, pooling: Pooling) -> ScenarioResult {
        let first = &self.first;
        let mut m = first.clone();
        m.tls = self.tls.finish();
        m.kernel_timestamps = self.kernel.finish();
        m.wait = self.wait.finish();
        m.by_name = self.named.finish();
        // Shards share one window; repetitions add theirs up.
        let window = |w: [f64; 2]| match pooling {
            Pooling::Concurrent => w[0],
            Pooling::Sequential => w[1],
        };
        m.send_window_s = window(self.send_window_s);
        m.drain_s = window(self.drain_s);
        m.requests = self.requests;
        m.errors_by_kind = self.errors_by_kind;
        m.network = NetworkIo {
            connections_auto: self.connections_auto,
            ..self.network
        };
        m.overhead = Overhead {
            framework_ns: self.framework_ns,
            response_ns: self.response_ns,
            ..Overhead::default()
        };
        derive_figures(&mut m, &self.totals);
        m.workers = match pooling {
            Pooling::Concurrent => self.workers,
            Pooling::Sequential => first.workers,
        };
        m.worker_cores = self.worker_cores;
        m.worker_cpu_s = self.worker_cpu_s;
        m.target_rps = if first.model == Model::Open || pooling == Pooling::Sequential {
            first.target_rps
        } else {
            self.target_rps
        };
        m.intervals = self.intervals.finish();
        // Batch means over the merged time series.
        crate::metrics::honest::apply_scenario_with(&mut m, self.lag);
        let mut alerts = self.alerts;
        alerts.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        m.alerts = alerts;
        // Counted on the merged rows, so that no reason counts more intervals than there are.
        (m.suspect_intervals, m.suspect_reasons) = saturation::count_flags(&m.intervals);
        m.verdict = reevaluate(&first.verdict, &m);
        saturation::conclude(&mut m);
        for note in self.notes {
            if !m.verdict.notes.contains(&note) {
                m.verdict.notes.push(note);
            }
        }
        m.verdict.suspect = !m.verdict.notes.is_empty();
        m
    }
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

/// The shards' interval series on one time line, a shard at a time: each row moves by its
/// shard's clock offset and joins the merged row of the nearest interval boundary.
#[derive(Default)]
struct IntervalFold {
    /// The interval length, from the first shard with a series (`Some(None)`: its first row
    /// was empty, and no series is merged).
    step: Option<Option<f64>>,
    rows: BTreeMap<i64, Row>,
}

/// A merged interval row being summed.
struct Row {
    start_s: f64,
    end_s: f64,
    stats: IntervalStats,
    histograms: [Histogram<u64>; 4],
    /// The kernel-timestamp split of the shards that have one.
    kernel: Summed<KernelSplit, 3>,
    /// Workers of the shards with this row, and their busy share summed over them.
    workers: f64,
    busy: f64,
}

impl IntervalFold {
    fn add(&mut self, s: &ScenarioResult, offset: f64) -> Result<(), String> {
        let length = s.intervals.first().map(|i| i.end_s - i.start_s);
        let step = match (self.step, length) {
            (Some(step), _) => step,
            (None, None) => return Ok(()),
            (None, Some(l)) => *self.step.insert(Some(l).filter(|&l| l > 0.0)),
        };
        let Some(step) = step else {
            return Ok(());
        };
        if let Some(l) = length {
            // Only a shard whose first row was its whole series may have a shorter one.
            if (l - step).abs() > 1e-6 && s.intervals.len() > 1 {
                return Err(format!(
                    "the same metrics_collection_interval in every shard ({step}s and {l}s)"
                ));
            }
        }
        for interval in &s.intervals {
            let start = interval.start_s + offset;
            let end = interval.end_s + offset;
            let bucket = (start / step).round() as i64;
            let row = self.rows.entry(bucket).or_insert_with(|| Row {
                start_s: bucket as f64 * step,
                end_s: end,
                stats: IntervalStats {
                    flags: Vec::new(),
                    ..interval.clone()
                }
                .zeroed(),
                histograms: std::array::from_fn(|_| new_histogram()),
                kernel: Summed::default(),
                workers: 0.0,
                busy: 0.0,
            });
            row.end_s = row.end_s.max(end);
            row.workers += s.workers as f64;
            row.busy += interval.worker_busy_pct * s.workers as f64;
            add_all(&mut row.histograms, &decode_all(&interval.histograms)?)?;
            if let Some(split) = &interval.kernel_timestamps {
                row.kernel.add(split)?;
            }
            let t = &mut row.stats;
            t.checked_add_counts(interval)?;
            for flag in &interval.flags {
                if !t.flags.contains(flag) {
                    t.flags.push(flag.clone());
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Vec<IntervalStats> {
        self.rows
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
                t.kernel_timestamps = row.kernel.finish();
                t
            })
            .collect()
    }
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
            kernel_timestamps: None,
        }
    }
}
