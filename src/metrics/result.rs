//! The results of a run: plain data, serialized as the JSON report.
//!
//! A [`RunResult`] holds everything the reports show, so any report can be rendered again from
//! a saved JSON file. Field names are stable and versioned by [`SCHEMA_VERSION`]; docs/formats.md
//! documents them one by one. [`ScenarioResult`] also offers the design sketch's
//! `PerformanceMetrics` getters.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::percentile::ByPercentile;
pub use super::percentile::SUMMARY_QUANTILES;
use super::precision::PrecisionOutcome;
use super::validity::Validity;

use super::resources::ResourceReport;
use crate::base::clock::ClockInfo;
use crate::base::{Model, WaitMode};
use crate::schedule::{Arrival, LoadPattern};
use crate::shard::ShardInfo;

/// Version of the JSON report's layout; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// How open-model latencies are measured, as every output labels them.
pub const CORRECTED_LABEL: &str =
    "open model, response time from the intended instant: corrected for coordinated omission";
/// How closed-loop latencies are measured, as every output labels them.
pub const CLOSED_LOOP_LABEL: &str =
    "closed loop, not corrected: queueing behind slow calls is hidden";

/// Everything a run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// [`SCHEMA_VERSION`] of this report.
    pub schema_version: u32,
    /// `openpace <version>`.
    pub tool: String,
    /// True when Ctrl-C, SIGTERM, a stop request or `abort_on_fail` ended the run early.
    pub interrupted: bool,
    /// Why `abort_on_fail` stopped the run, if it did.
    pub aborted: Option<String>,
    /// True when every scenario's thresholds passed.
    pub passed: bool,
    /// Wall-clock start (Unix seconds).
    pub started_at_unix_s: f64,
    /// From the run's origin until the report was assembled, in seconds.
    pub wall_seconds: f64,
    /// How idle threads waited.
    pub wait_mode: WaitMode,
    /// The timing loop's core, if it was pinned.
    pub timer_core: Option<usize>,
    /// The host and the process.
    pub host: HostInfo,
    /// CPU time of openpace's own threads.
    pub framework_cpu: FrameworkCpu,
    /// CPU and memory of the whole process.
    pub resources: Resources,
    /// Things the user should know about how the run went (pinning, saturation, ...).
    pub warnings: Vec<String>,
    /// One result per scenario, in config order.
    pub scenarios: Vec<ScenarioResult>,
    /// Wall-clock instant (Unix seconds) of the run clock's origin: every intended instant is
    /// an offset from it.
    #[serde(default)]
    pub origin_unix_s: f64,
    /// Where the wall-clock instants came from and how well the clock was synchronized.
    #[serde(default)]
    pub clock: ClockInfo,
    /// This run's place in a sharded campaign (`null` when it ran the whole schedule).
    #[serde(default)]
    pub shard: Option<ShardInfo>,
    /// For a result of `openpace merge`: the shards it was merged from.
    #[serde(default)]
    pub merged: Option<MergeInfo>,
    /// Times openpace itself could not run for 50 ms or more (the process was stopped, or
    /// the host or scheduler held it): the intervals they cover are flagged.
    #[serde(default)]
    pub stalls: Vec<Stall>,
    /// What `--log-requests` wrote (absent without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_log: Option<RequestLogFigures>,
}

/// A stretch in which openpace's timing loop could not run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// When it began, in seconds on the run clock (from the run's origin, warmup included).
    pub at_s: f64,
    /// How long it lasted, in seconds.
    pub duration_s: f64,
}

impl Stall {
    /// The stall from `from_ns` to `to_ns` on the run clock.
    pub fn between(from_ns: u64, to_ns: u64) -> Stall {
        Stall {
            at_s: from_ns as f64 / 1e9,
            duration_s: to_ns.saturating_sub(from_ns) as f64 / 1e9,
        }
    }
}

/// What `openpace merge` merged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// Shards in the campaign.
    pub shard_count: u32,
    /// Shards that were merged, in index order.
    pub shards: Vec<MergedShard>,
    /// Indices of the shards that were missing (only with `--allow-partial`).
    pub missing: Vec<u32>,
    /// True when shards were missing or left out: rates and counts cover only the shards
    /// merged.
    pub partial: bool,
    /// Reports left out with `--allow-partial` because they did not hold together, each with
    /// why.
    #[serde(default)]
    pub left_out: Vec<String>,
}

/// One shard of a merged result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    /// Its index.
    pub index: u32,
    /// The report it came from, as named on the command line.
    pub report: String,
    /// The host it ran on.
    pub host: String,
    /// Its clock origin relative to the earliest shard's, in ms: how far apart the shards
    /// started.
    pub origin_offset_ms: f64,
    /// How far after `--start-at` its origin fell, in ms.
    pub start_offset_ms: f64,
    /// Whether its clock said it was synchronized.
    pub clock_synchronized: Option<bool>,
    /// Its clock's maximum error as the kernel estimated it, in µs.
    pub clock_max_error_us: Option<f64>,
    /// Its warnings, as it reported them.
    pub warnings: Vec<String>,
}

/// The host that ran the test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// CPUs of the machine.
    pub cores: usize,
    /// CPUs this process may run on.
    pub cores_allowed: usize,
    /// The host check's line on the run's cores, e.g. `5 ok, 3 to change (isolation, irq,
    /// virtualization)` (`openpace host` has the detail); absent in
    /// merged reports and older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// The failed host checks that make this run's figures suspect, in words (every
    /// interval is then flagged [`HOST_UNFIT`](super::saturation::HOST_UNFIT)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfit: Vec<String>,
}

impl HostInfo {
    /// This host, with `cores_allowed` cores for the process; the host check is added when
    /// the run ends.
    pub fn local(cores_allowed: usize) -> HostInfo {
        HostInfo {
            hostname: crate::base::host::hostname(),
            cores: crate::base::host::machine_cores(),
            cores_allowed,
            check: None,
            unfit: Vec::new(),
        }
    }
}

/// CPU used by the timing loop and the collector (the framework's own threads).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameworkCpu {
    /// CPU seconds of the timing loop thread.
    pub timer_cpu_s: f64,
    /// ... as a share of wall time, in percent of one core.
    pub timer_cpu_pct: f64,
    /// CPU seconds of the collector thread.
    pub collector_cpu_s: f64,
    /// ... as a share of wall time, in percent of one core.
    pub collector_cpu_pct: f64,
    /// The timing loop ran under SCHED_FIFO (`--realtime`; merged: any shard's did).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timer_realtime: bool,
    /// Every page of the process was locked in RAM (`--mlock`; merged: any shard's was).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub memory_locked: bool,
}

/// Resource use: whole-run totals of the process (getrusage, VmHWM) and the sampler's series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// User CPU seconds during the run (monitor_cpu).
    pub cpu_user_s: Option<f64>,
    /// System CPU seconds during the run (monitor_cpu).
    pub cpu_system_s: Option<f64>,
    /// (user + system) / wall, in percent of one core (monitor_cpu).
    pub cpu_pct: Option<f64>,
    /// Peak resident memory of the process, MB (monitor_memory).
    pub max_rss_mb: Option<f64>,
    /// The sampler's time series, summary, notes and own cost.
    #[serde(flatten)]
    pub monitor: ResourceReport,
}

/// Percentiles of one metric. Units are in the field name that holds it (`_ms`, `_us`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of values.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Each percentile of the table (`p50`, `p90`, ... in JSON).
    #[serde(flatten)]
    pub percentiles: ByPercentile<f64>,
    /// Largest value.
    pub max: f64,
    /// 95% confidence intervals of the percentiles (absent in reports from before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<Ci95>,
}

/// 95% confidence intervals of a summary's percentiles, `[low, high]` in the summary's unit
/// (see [`confidence`](super::confidence)); `null` where the samples are too few for one,
/// with how many it needs in `needs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ci95 {
    /// Each percentile's interval (`p50`, `p90`, ... in JSON; `null` where there is none).
    #[serde(flatten)]
    pub intervals: ByPercentile<Option<[f64; 2]>>,
    /// The samples each percentile without an interval would need.
    #[serde(default, skip_serializing_if = "Needs::is_absent")]
    pub needs: Needs,
    /// How the intervals were made; absent: order statistics alone, which assume independent
    /// samples (interval rows, and reports from before issue 26).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<CiMethod>,
    /// The lag-correlation factor the intervals allowed for (`narrow_by` of the validity
    /// check), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_factor: Option<f64>,
    /// The batches each percentile's batch-means part used, where it had one (same shape as
    /// `needs`).
    #[serde(default, skip_serializing_if = "Needs::is_absent")]
    pub batches: Needs,
}

/// How a summary's 95% intervals were made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// The hull of the order-statistic interval, batch means over the run's intervals (with
    /// at least 5 batches) and the effective sample size from the lag correlations: see
    /// [`honest`](super::honest).
    DependenceAware,
    /// Across the runs of a repeated scenario: the pooled value ± t(N − 1) times the runs'
    /// standard error ([`repeated`](super::repeated)).
    AcrossRuns,
}

/// A count for each percentile: the samples needed for an interval where one lacks it, or
/// the batches an interval was made from (in JSON only the percentiles that have one).
pub type Needs = ByPercentile<Option<u64>>;

impl Ci95 {
    /// The intervals of `h` (ns) in units of `unit_ns`.
    pub fn of(h: &Histogram<u64>, unit_ns: f64) -> Ci95 {
        let intervals = ByPercentile(super::confidence::intervals(h, &SUMMARY_QUANTILES, unit_ns));
        let mut rows = intervals.iter();
        let needs = Needs::from_fn(|p| {
            let (_, ci) = rows.next().expect("one interval per row");
            ci.is_none()
                .then(|| super::confidence::samples_needed(p.q()))
        });
        Ci95 {
            intervals,
            needs,
            method: None,
            lag_factor: None,
            batches: Needs::default(),
        }
    }
}

impl LatencySummary {
    /// [`from_histogram`](Self::from_histogram) without the 95% intervals: for figures whose
    /// only intervals would be order statistics, which assume independent samples.
    pub fn without_intervals(h: &Histogram<u64>, unit_ns: f64) -> LatencySummary {
        LatencySummary {
            ci95: None,
            ..LatencySummary::from_histogram(h, unit_ns)
        }
    }

    /// Summarizes a histogram of nanoseconds in units of `unit_ns` nanoseconds.
    pub fn from_histogram(h: &Histogram<u64>, unit_ns: f64) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        // One pass over the counts for every percentile.
        let mut values = h.value_at_quantiles(SUMMARY_QUANTILES);
        LatencySummary {
            count: h.len(),
            min: h.min() as f64 / unit_ns,
            avg: h.mean() / unit_ns,
            percentiles: ByPercentile::from_fn(|_| {
                values.next().unwrap_or_default() as f64 / unit_ns
            }),
            max: h.max() as f64 / unit_ns,
            ci95: Some(Ci95::of(h, unit_ns)),
        }
    }

    /// The value of quantile `q` (a row of the percentile table).
    pub fn at(&self, q: f64) -> f64 {
        self.percentiles.at(q)
    }
}

/// Where every intended request of a scenario ended up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Scheduled in the measured window (up to the stop, if interrupted): sent + dropped.
    pub intended: u64,
    /// Handed to the workers.
    pub sent: u64,
    /// Calls that ended and were recorded.
    pub completed: u64,
    /// Succeeded within the timeout.
    pub ok: u64,
    /// Failed, after retries.
    pub errors: u64,
    /// Did not end by their deadline, the intended instant + the request timeout: calls that
    /// ended at or after it (whatever they returned), requests that expired before they could
    /// start (`expired`), and requests the run gave up on (`abandoned`).
    pub timeouts: u64,
    /// Extra attempts after failures.
    pub retries: u64,
    /// Never sent: the hand-off queue and the backlog were full.
    pub dropped: u64,
    /// Waited in the timing loop's backlog because the queue was full.
    pub backlogged: u64,
    /// Sent 1 ms or more after their intended instant.
    pub late: u64,
    /// Network requests that waited for a free connection: due while every connection of
    /// their worker was busy (client-side queueing; see `queued_ns`).
    #[serde(default)]
    pub queued: u64,
    /// How long those requests waited for a connection, summed, in ns.
    #[serde(default)]
    pub queued_ns: u64,
    /// Counted as timeouts because the run gave up on them while they were still running or
    /// queued: running past their deadline at the end, or queued or running when a stop came.
    pub abandoned: u64,
    /// Counted as timeouts because their deadline (intended instant + request timeout) passed
    /// before they could start: they waited behind slow calls and were never sent.
    #[serde(default)]
    pub expired: u64,
    /// Warmup requests sent (not measured).
    pub warmup: u64,
    /// Completed requests tagged as cache hits.
    #[serde(default)]
    pub cache_hits: u64,
    /// Completed requests tagged as fallbacks.
    #[serde(default)]
    pub fallbacks: u64,
}

/// Traffic of a network target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkIo {
    /// Bytes sent, warmup included.
    pub bytes_sent: u64,
    /// Bytes received, warmup included.
    pub bytes_received: u64,
    /// Connections opened, first ones and reopened ones together, warmup included.
    pub connections_opened: u64,
    /// Most requests in flight at once, summed over the workers' own peaks.
    #[serde(default)]
    pub peak_in_flight: u64,
    /// Connections the scenario could open: `connections`, or the cap of `auto`.
    #[serde(default)]
    pub connections_limit: u64,
    /// Whether connections were opened as requests needed them (`connections: auto` or
    /// `auto:N`); false when all were opened before the run (`connections: N`).
    #[serde(default)]
    pub connections_auto: bool,
    /// Connections that carried at least one request (warmup included); absent from
    /// reports made before it was counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connections_used: u64,
    /// `busy_poll_us` of the scenario (`--busy-poll`; absent when off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub busy_poll_us: u64,
    /// Sockets that took SO_BUSY_POLL (warmup included; absent when none did).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub busy_polled: u64,
}

/// For serde: a count of 0 is left out (a report from before the count reads back the same).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What the framework itself cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overhead {
    /// Mean time the framework added per request (timer lateness + hand-off + bookkeeping),
    /// in microseconds.
    pub per_request_us: f64,
    /// Mean response time per request, in microseconds.
    pub response_us: f64,
    /// Sum over requests of the time the framework added, in ns (what the mean is made of,
    /// so that merged results recompute it exactly).
    #[serde(default)]
    pub framework_ns: u64,
    /// Sum over requests of the response time, in ns.
    #[serde(default)]
    pub response_ns: u64,
}

/// Figures for one interval of the time series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalStats {
    /// Interval start, seconds since the measured window began.
    pub start_s: f64,
    /// Interval end, seconds since the measured window began.
    pub end_s: f64,
    /// Requests the schedule intended in the interval (its rate's integral; 0 when closed).
    pub scheduled: f64,
    /// Requests handed to workers during the interval.
    pub sent: u64,
    /// Calls that ended during the interval.
    pub completed: u64,
    /// ... successfully.
    pub ok: u64,
    /// ... with an error.
    pub errors: u64,
    /// ... not by their deadline (expired ones included).
    pub timeouts: u64,
    /// Requests given up unsent during the interval, their deadline passed (within
    /// `timeouts`).
    #[serde(default)]
    pub expired: u64,
    /// Requests dropped during the interval.
    pub dropped: u64,
    /// Requests handed over 1 ms or more after their intended instant.
    pub late: u64,
    /// Network requests completed in the interval that had waited for a free connection.
    #[serde(default)]
    pub queued: u64,
    /// Share of the workers' time spent on calls and the framework between them (not on
    /// waiting for requests or instants), in percent: 100 leaves no room for the schedule.
    #[serde(default)]
    pub worker_busy_pct: f64,
    /// completed / interval length.
    pub achieved_rps: f64,
    /// Response time percentiles of calls ending in the interval (ms).
    pub response_time_ms: LatencySummary,
    /// Service time percentiles (ms).
    pub service_time_ms: LatencySummary,
    /// Dispatch delay percentiles (µs).
    pub dispatch_delay_us: LatencySummary,
    /// Why openpace's own figures are suspect in this interval (empty: they are not).
    pub flags: Vec<String>,
    /// The interval's histograms (ns), HdrHistogram V2 compressed, base64: what the `.hlog`
    /// interval log is written from, and what merges exactly.
    pub histograms: EncodedHistograms,
    /// With `timestamps: kernel`: the split of the service time of the ok requests that ended
    /// in the interval, with its own histograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_timestamps: Option<KernelSplit>,
}

/// One threshold and how the run did against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// What was measured, e.g. `response_time p95`.
    pub metric: String,
    /// `<`, `<=` or `>=`.
    pub comparison: String,
    /// The limit.
    pub limit: f64,
    /// The measured value.
    pub value: f64,
    /// Unit of limit and value (`ms`, `ratio`).
    pub unit: String,
    /// Whether the limit is one of the design's, left at its default: no file or flag set it
    /// (the run's user may never have asked for it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// False only when the threshold failed: the value missed the limit and, for a
    /// percentile, so did its whole 95% interval. An inconclusive threshold has not failed.
    pub passed: bool,
    /// The threshold as written (`response p95 < 100ms`), so that a merged result can check
    /// it again.
    #[serde(default)]
    pub text: String,
    /// For a percentile: the 95% interval of the value, `[lower, upper]`, in `unit`; an end
    /// is `null` when the run had too few samples to bound that side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<[Option<f64>; 2]>,
    /// True when the interval straddles the limit: the run cannot tell pass from fail (it
    /// needs more samples, or the value is too near the limit). `passed` is then true; under
    /// `--strict` the run exits 1.
    #[serde(default, skip_serializing_if = "is_false")]
    pub inconclusive: bool,
}

impl ThresholdResult {
    /// `pass`, `fail` or `inconclusive`.
    pub fn outcome(&self) -> &'static str {
        match (self.passed, self.inconclusive) {
            (false, _) => "fail",
            (true, true) => "inconclusive",
            (true, false) => "pass",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An interval that breached a threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// End of the interval, seconds into the measured window.
    pub at_s: f64,
    /// The scenario.
    pub scenario: String,
    /// What was measured, e.g. `response_time p95`.
    pub metric: String,
    /// `<`, `<=`, `>` or `>=`.
    pub comparison: String,
    /// The limit.
    pub limit: f64,
    /// The interval's value.
    pub value: f64,
    /// Unit of limit and value.
    pub unit: String,
}

/// Pass or fail, threshold by threshold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// True when no threshold failed (an inconclusive one has not failed).
    pub passed: bool,
    /// Each threshold with its measured value.
    pub thresholds: Vec<ThresholdResult>,
    /// True when the figures cannot be fully trusted: see `notes`.
    pub suspect: bool,
    /// Why: generator-limited intervals, a rate not reached.
    pub notes: Vec<String>,
}

/// What a verdict's note is about. A note is text (so the JSON report reads as prose), and
/// its text starts with its kind's [`label`](NoteKind::label) and a colon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// Intervals in which openpace, not the target, limited the figures.
    FiguresSuspect,
    /// Requests waited for a free connection.
    ClientQueueing,
    /// The framework took more than the design's share of the response time.
    FrameworkOverhead,
    /// The scheduled rate was not sustained.
    RateNotReached,
    /// A merge left shards or reports out.
    Partial,
    /// A validity check failed: latency drifted, or the requests did not leave as the
    /// pattern says.
    Validity,
    /// Neighbouring samples were correlated: the 95% intervals are too narrow. Said, but
    /// does not make the run suspect: on a shared host it is true of most runs (the host's
    /// state drifts), and the figures themselves are what was measured.
    NarrowIntervals,
}

impl NoteKind {
    /// Every kind.
    pub const ALL: [NoteKind; 7] = [
        NoteKind::FiguresSuspect,
        NoteKind::ClientQueueing,
        NoteKind::FrameworkOverhead,
        NoteKind::RateNotReached,
        NoteKind::Partial,
        NoteKind::Validity,
        NoteKind::NarrowIntervals,
    ];

    /// How a note of this kind begins.
    pub fn label(self) -> &'static str {
        match self {
            NoteKind::FiguresSuspect => "FIGURES SUSPECT",
            NoteKind::ClientQueueing => "CLIENT-SIDE QUEUEING",
            NoteKind::FrameworkOverhead => "FRAMEWORK OVERHEAD",
            NoteKind::RateNotReached => "TARGET RATE NOT REACHED",
            NoteKind::Partial => "PARTIAL",
            NoteKind::Validity => "NOT VALID",
            NoteKind::NarrowIntervals => "INTERVALS TOO NARROW",
        }
    }

    /// The kind of `note`, from its label; `None` for a note of no known kind.
    pub fn of(note: &str) -> Option<NoteKind> {
        let (label, _) = note.split_once(':')?;
        NoteKind::ALL.into_iter().find(|k| k.label() == label)
    }

    /// Whether notes of this kind follow from a scenario's figures alone, so that a merge
    /// writes them again from the merged figures instead of keeping each shard's.
    pub fn from_figures(self) -> bool {
        self != NoteKind::Partial
    }
}

/// A scenario's run-total histograms in nanoseconds, encoded with
/// [`encoding::encode`](super::encoding::encode): enough to recompute any percentile or merge
/// runs exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistograms {
    /// Response time (end - intended).
    pub response_time: String,
    /// Service time (end - start).
    pub service_time: String,
    /// Dispatch delay (start - intended).
    pub dispatch_delay: String,
    /// Timer lateness (sent - planned hand-off).
    pub timer_lateness: String,
}

/// What the requests of one name of a request set measured (those that started: a request
/// dropped or expired before it started had no line picked yet).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedResult {
    /// The name.
    pub name: String,
    /// Requests of this name that ended.
    pub completed: u64,
    /// ... that succeeded within the timeout.
    pub ok: u64,
    /// ... that failed.
    pub errors: u64,
    /// ... that ended after their deadline.
    pub timeouts: u64,
    /// end - intended.
    pub response_time_ms: LatencySummary,
    /// end - start.
    pub service_time_ms: LatencySummary,
    /// start - intended.
    pub dispatch_delay_us: LatencySummary,
    /// The three histograms (ns), encoded like the scenario's (`timer_lateness` empty).
    pub histograms: EncodedHistograms,
}

/// The TLS handshakes of an https target's connections, warmup included: a connection
/// shakes hands once, on the request that opened it, whose service time holds the handshake.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsFigures {
    /// Handshakes completed.
    pub handshakes: u64,
    /// ... of which resumed an earlier session (no certificate exchange).
    pub resumed: u64,
    /// Measured requests whose service time holds their connection's handshake.
    pub requests_with_handshake: u64,
    /// Handshake times (from the TCP connection's readiness to the handshake's end).
    pub handshake_ms: LatencySummary,
    /// The handshake times' histogram (ns), HdrHistogram V2 compressed, base64.
    pub histogram: String,
}

/// What the report says of the request log (`--log-requests`; see
/// [`request_log`](super::request_log)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestLogFigures {
    /// The file.
    pub path: String,
    /// Requests the workers offered (every measured request a worker ended or gave up).
    pub requests: u64,
    /// Lines written to the file.
    pub written: u64,
    /// Requests left out by sampling because the writer could not keep up.
    pub sampled_out: u64,
    /// Requests neither written nor counted in a line's weight: a full channel, a failed
    /// write, or a writer still blocked when the run ended.
    pub lost: u64,
    /// Written lines over requests.
    pub kept_share: f64,
    /// The tap kept one request in this many at worst (1: every one).
    pub worst_keep_one_in: u64,
    /// The run ended before the writer had written every line it was given (a slow disk or
    /// pipe): the rest is lost and the file has no end frame.
    #[serde(default)]
    pub cut_short: bool,
    /// Why writing stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RequestLogFigures {
    /// Every request is in the file.
    pub fn complete(&self) -> bool {
        self.error.is_none() && !self.cut_short && self.written == self.requests
    }
}

/// How the kernel's timestamps split the service time of a TCP target's requests
/// (`timestamps: kernel`): `client_send` from the worker beginning the request to its last
/// byte leaving the stack for the driver (the connect and TLS handshake of a request that
/// opened its connection included), `wire_and_server` from there to the last segment of the
/// response entering the receive path, `client_receive` from there to the worker having read
/// it. The three add up to the service time, request by request. Only requests that completed
/// without error are split; those without both stamps are counted, never guessed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelSplit {
    /// Requests split: completed ok, with both stamps, in order.
    pub stamped: u64,
    /// Completed ok, but the TX stamp did not come.
    pub missing_tx: u64,
    /// Completed ok, but no RX stamp came with the response.
    pub missing_rx: u64,
    /// Both stamps came, but out of order with the worker's own instants (left out).
    pub disordered: u64,
    /// The worker beginning the request to its last byte leaving the stack.
    pub client_send_us: LatencySummary,
    /// The request's last byte leaving the stack to the response's last segment arriving.
    pub wire_and_server_us: LatencySummary,
    /// The response's last segment arriving to the worker having read it.
    pub client_receive_us: LatencySummary,
    /// The three histograms (ns), each HdrHistogram V2 compressed, base64.
    pub histograms: KernelHistograms,
}

/// [`KernelSplit`]'s histograms, encoded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelHistograms {
    /// `client_send`.
    pub client_send: String,
    /// `wire_and_server`.
    pub wire_and_server: String,
    /// `client_receive`.
    pub client_receive: String,
}

/// How a network scenario's workers waited for their instants: the hand-off lead they were
/// given, the spin window they adapted (`hybrid`), and how late the host woke them from the
/// sleeps they timed (warmup and the probes before the run included).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WaitFigures {
    /// How long before its instant a request was handed to the workers, in µs.
    pub handoff_lead_us: f64,
    /// The shortest and longest spin window the workers used, in µs (`hybrid` mode; absent
    /// in `sleep` mode, which never spins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spin_window_us: Option<[f64; 2]>,
    /// The timed sleeps: how many.
    pub wake_ups: u64,
    /// How late they woke, in µs.
    pub wake_lateness_us: LatencySummary,
    /// The lateness histogram (ns), HdrHistogram V2 compressed, base64.
    pub histogram: String,
}

/// What one scenario measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: String,
    /// Load pattern.
    pub pattern: LoadPattern,
    /// The schedule in one line (pattern, rates, durations, arrival, seed for Poisson): two
    /// shards' reports merge only when theirs are equal.
    #[serde(default)]
    pub schedule: String,
    /// What the pattern schedules, in words (`100 -> 2000 RPS over 10s, then 2000 RPS`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rates: String,
    /// Arrival process.
    pub arrival: Arrival,
    /// open or closed.
    pub model: Model,
    /// False for the closed model: its latencies hide queueing ("closed loop, not corrected").
    pub corrected: bool,
    /// What the latencies are, in words: [`CORRECTED_LABEL`] or [`CLOSED_LOOP_LABEL`].
    pub measurement: String,
    /// The target, as named in the config (or "in-process" for library targets).
    pub target: String,
    /// Seed of the schedule (Poisson arrivals).
    pub seed: u64,
    /// Configured measured window, seconds.
    pub duration_s: f64,
    /// Configured warmup, seconds.
    pub warmup_s: f64,
    /// Measured window actually run (shorter when interrupted), seconds.
    pub send_window_s: f64,
    /// Worker threads.
    pub workers: usize,
    /// Cores the workers were pinned to (empty: unpinned).
    pub worker_cores: Vec<usize>,
    /// The configured target_rps.
    pub target_rps: f64,
    /// Whether `target_rps` is the default one: no file or flag set it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub target_rps_default: bool,
    /// Requests the schedule intended per second of the measured window.
    pub scheduled_rps: f64,
    /// Completed requests per second of the measured window.
    pub achieved_rps: f64,
    /// Seconds from the end of the measured window to the end of its last call.
    pub drain_s: f64,
    /// Completed requests per second of the window plus the drain: what the target kept up.
    pub sustained_rps: f64,
    /// Where requests ended up.
    pub requests: RequestCounts,
    /// Errors by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Bytes and connections of a network target (zeros otherwise).
    pub network: NetworkIo,
    /// ok / intended.
    pub success_rate: f64,
    /// (errors + timeouts + dropped) / intended.
    pub error_rate: f64,
    /// Completed calls tagged as cache hits / completed.
    pub cache_hit_rate: f64,
    /// Completed calls tagged as fallbacks / completed.
    pub fallback_rate: f64,
    /// end - intended: the corrected latency a user saw.
    pub response_time_ms: LatencySummary,
    /// end - start: the target's own time (uncorrected).
    pub service_time_ms: LatencySummary,
    /// start - intended: how long requests waited to start.
    pub dispatch_delay_us: LatencySummary,
    /// sent - intended: how late the timing loop handed requests over.
    pub timer_lateness_us: LatencySummary,
    /// Framework time as a share of response time, percent.
    pub overhead_pct: f64,
    /// The figures behind overhead_pct.
    pub overhead: Overhead,
    /// CPU seconds used by this scenario's worker threads (target calls included; workers
    /// still stuck in a call at the end are not counted).
    pub worker_cpu_s: f64,
    /// The time series.
    pub intervals: Vec<IntervalStats>,
    /// Intervals that breached a threshold, as they happened.
    pub alerts: Vec<Alert>,
    /// Intervals with at least one flag.
    pub suspect_intervals: u64,
    /// How many intervals each flag marked.
    pub suspect_reasons: BTreeMap<String, u64>,
    /// How far sustained_rps fell below scheduled_rps, percent; 0 when within 1%, or when
    /// the drain was no longer than the slowest calls (nothing piled up).
    pub rate_shortfall_pct: f64,
    /// Run-total histograms (ns), HdrHistogram V2 compressed, base64.
    pub histograms: EncodedHistograms,
    /// The validity checks (stationarity, independence, arrivals) from the send-order
    /// sample; `null` in a merged result and in reports from before the checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<Validity>,
    /// Per name of a request set (`--requests`): the requests that started with that name's
    /// lines; empty without a set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_name: Vec<NamedResult>,
    /// An https target's TLS handshakes; absent for every other target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFigures>,
    /// The kernel's split of the service time (`timestamps: kernel`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_timestamps: Option<KernelSplit>,
    /// How a network target's workers waited for their instants (open model, `hybrid` or
    /// `sleep`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitFigures>,
    /// For a run until precise (`precision`): whether and when its targets were met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<PrecisionOutcome>,
    /// Run several times (`--repeat N`, or a side of `openpace ab`): each run, and every
    /// percentile across them. The scenario's own figures are then the runs pooled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeated: Option<Repeated>,
    /// Thresholds and the outcome.
    pub verdict: Verdict,
}

/// A scenario run several times: each run's figures and the percentiles across them (see
/// [`repeated`](super::repeated)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Repeated {
    /// Each run, in order.
    pub runs: Vec<RepeatedRun>,
    /// Response, service and dispatch: each summary percentile across the runs.
    pub across: Vec<AcrossMetric>,
}

/// One run of a repeated scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RepeatedRun {
    /// When it started (Unix seconds).
    pub started_at_unix_s: f64,
    /// It was stopped before its schedule ended.
    pub interrupted: bool,
    /// Its counts.
    pub requests: RequestCounts,
    /// Its achieved rate.
    pub achieved_rps: f64,
    /// Its response time percentiles (ms), each with its own interval.
    pub response_time_ms: LatencySummary,
    /// Its service time percentiles (ms).
    pub service_time_ms: LatencySummary,
    /// Its dispatch delay percentiles (µs).
    pub dispatch_delay_us: LatencySummary,
    /// Its run-total histograms, for any percentile (thresholds, compare).
    pub histograms: EncodedHistograms,
}

/// One metric across the runs of a repeated scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AcrossMetric {
    /// `response_time`, `service_time` or `dispatch_delay`.
    pub metric: String,
    /// `ms` or `us`.
    pub unit: String,
    /// Each summary percentile.
    pub percentiles: Vec<AcrossPercentile>,
}

/// One percentile across the runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AcrossPercentile {
    /// `p99.9`.
    pub percentile: String,
    /// The pooled histogram's value (every run's requests together).
    pub pooled: f64,
    /// Each run's value, in order.
    pub runs: Vec<f64>,
    /// The 95% interval across the runs: `pooled ± t(N - 1) s / √N`, `s` the runs' standard
    /// deviation; `null` with fewer than 2 runs that have the percentile.
    pub ci95: Option<[f64; 2]>,
    /// The runs' coefficient of variation, percent.
    pub cv_pct: f64,
}

/// The design sketch's name for a scenario's measurements.
pub type PerformanceMetrics = ScenarioResult;

impl ScenarioResult {
    /// Response-time percentiles in ms (avg, min, p50, p90, p95, p99, p99.9, p99.99, max).
    pub fn latency_percentiles(&self) -> &LatencySummary {
        &self.response_time_ms
    }

    /// Completed requests per second.
    pub fn throughput(&self) -> f64 {
        self.achieved_rps
    }

    /// Share of intended requests that succeeded.
    pub fn success_rate(&self) -> f64 {
        self.success_rate
    }

    /// Share of intended requests that failed, timed out or were dropped.
    pub fn error_rate(&self) -> f64 {
        self.error_rate
    }

    /// Error counts by kind.
    pub fn errors_by_kind(&self) -> &BTreeMap<String, u64> {
        &self.errors_by_kind
    }

    /// Requests that timed out.
    pub fn timeouts(&self) -> u64 {
        self.requests.timeouts
    }

    /// Extra attempts made after failures.
    pub fn retries(&self) -> u64 {
        self.requests.retries
    }

    /// Share of completed calls served from a cache.
    pub fn cache_hit_rate(&self) -> f64 {
        self.cache_hit_rate
    }

    /// Share of completed calls served by a fallback.
    pub fn fallback_rate(&self) -> f64 {
        self.fallback_rate
    }
}
