//! Run configuration: the design's `LoadTestConfig`, loading from JSON and flags, validation.
//!
//! A [`RunConfig`] is what a run is asked to do: its [`RunSettings`] (what every scenario
//! shares: how the one timing loop waits and where, the report and its files, the notify
//! command, a monitored process) and one or more [`ScenarioConfig`]s that run at the same
//! time. `ScenarioConfig` is the design sketch's `LoadTestConfig` (the name remains, as an
//! alias): every field of the sketch under the same name and with the same default, and what
//! openpace adds (target, warmup, arrival process, seed, cores, model). The shard plan of a
//! campaign is [`shard`].
//!
//! All checking happens here, before any thread starts: [`RunConfig::validate`] rejects every
//! value that makes no sense with a [`ConfigError`] naming the field, the value and what is
//! allowed. Loading (`load.rs`) turns JSON text and `--flag` overrides into configs through the
//! one field table in `fields.rs`, which says of each field whether the run or the scenario
//! owns it and which flag sets it, and prints the example config.

mod fields;
mod load;
pub mod shard;

pub use fields::{FIELDS, Field, Flag, example_config};
pub use load::{DEFAULT_SCENARIO, Override, load_json};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::base::host::machine_cores;
pub use crate::base::units::{format_duration, parse_duration};
pub use crate::base::{Model, WaitMode};

use crate::error::{ConfigError, Origin};
use crate::metrics::precision::Precision;
use crate::metrics::threshold::Threshold;
use crate::schedule::{Arrival, LoadPattern, RateProfile};
use crate::targets::TargetSpec;

/// What the output file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// The JSON report (schema in docs/formats.md).
    Json,
    /// The summary block as printed.
    Text,
    /// HdrHistogram percentile distributions (one file per scenario and metric).
    Hgrm,
    /// An HdrHistogram interval log (V2 compressed).
    Hlog,
    /// The interval time series.
    Csv,
    /// A self-contained page with the verdict, the summary and charts.
    Html,
    /// JUnit XML, one test case per threshold.
    Junit,
}

impl ReportFormat {
    /// Every format with its name.
    pub const ALL: [(&'static str, ReportFormat); 7] = [
        ("json", ReportFormat::Json),
        ("text", ReportFormat::Text),
        ("hgrm", ReportFormat::Hgrm),
        ("hlog", ReportFormat::Hlog),
        ("csv", ReportFormat::Csv),
        ("html", ReportFormat::Html),
        ("junit", ReportFormat::Junit),
    ];

    /// The format's name.
    pub fn name(self) -> &'static str {
        ReportFormat::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("json", |(n, _)| n)
    }
}

/// One stage of the `stages` pattern: move the rate linearly to `target_rps` over `duration`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Length of the stage in seconds.
    pub duration: f64,
    /// Rate at the end of the stage.
    pub target_rps: f64,
}

/// One load test scenario: the design sketch's `LoadTestConfig` (same field names, same
/// defaults) without the fields a run shares, which are [`RunSettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioConfig {
    /// Shown in the summary and the report.
    pub name: String,
    /// Free text, copied to the report.
    pub description: String,
    /// constant, ramp_up, spike, step or stages.
    pub load_pattern: LoadPattern,
    /// Length of the measured window in seconds (after warmup).
    pub duration_seconds: f64,
    /// Rate for constant, spike (base) and step (peak).
    pub target_rps: f64,
    /// Starting rate of ramp_up.
    pub min_rps: f64,
    /// Final rate of ramp_up.
    pub max_rps: f64,
    /// Seconds ramp_up takes to go from min_rps to max_rps.
    pub ramp_up_duration: f64,
    /// Length of each burst of the spike pattern, in seconds.
    pub spike_duration: f64,
    /// Rate during bursts of the spike pattern.
    pub spike_rps: f64,
    /// Worker threads calling the target.
    pub num_workers: usize,
    /// Upper bound for num_workers and concurrency.
    pub max_workers: usize,
    /// A call longer than this counts as a timeout.
    pub request_timeout_seconds: f64,
    /// Extra attempts after a failed call (not after a timeout).
    pub max_retries: u32,
    /// Length of one interval of the time series, in seconds.
    pub metrics_collection_interval: f64,
    /// Record the process's CPU time in the report.
    pub monitor_cpu: bool,
    /// Record the process's peak memory in the report.
    pub monitor_memory: bool,
    /// Record network traffic (used by network targets).
    pub monitor_network: bool,
    /// Response-time p95 must stay below this (ms).
    pub latency_p95_threshold_ms: f64,
    /// Response-time p99 must stay below this (ms).
    pub latency_p99_threshold_ms: f64,
    /// Failed share of requests must not exceed this (0..=1).
    pub error_rate_threshold: f64,
    /// Successful share of requests must reach this (0..=1).
    pub success_rate_threshold: f64,
    /// More thresholds, e.g. `response p99.9 < 5ms` (see `metrics::threshold`).
    pub thresholds: Vec<Threshold>,
    /// Stop the run as soon as a threshold can no longer pass.
    pub abort_on_fail: bool,
    /// Run until these percentiles are precise (`response p99 +-2%`): the run goes on, in
    /// whole intervals, past `duration_seconds` until every one's 95% interval is within its
    /// half-width and the run is stationary, up to `max_duration`.
    pub precision: Vec<Precision>,
    /// The longest a run with `precision` may last; `None`: 10 x `duration_seconds`.
    pub max_duration: Option<f64>,
    /// The built-in target to call (the library can pass any target instead).
    pub target: TargetSpec,
    /// Seconds sent at the pattern's starting rate before measuring; not counted.
    pub warmup_seconds: f64,
    /// uniform or poisson spacing of requests.
    pub arrival: Arrival,
    /// Seed of the Poisson arrivals; `None` picks one and records it in the report.
    pub seed: Option<u64>,
    /// Stages of the `stages` pattern.
    pub stages: Vec<Stage>,
    /// Rate at which the `stages` pattern starts.
    pub start_rps: f64,
    /// Cores of this scenario's workers; `None`: every core but the timer's.
    pub worker_cores: Option<Vec<usize>>,
    /// open (scheduled) or closed (fixed concurrency, not corrected).
    pub model: Model,
    /// Callers in the closed model; `None`: num_workers.
    pub concurrency: Option<usize>,
    /// Requests held back when the hand-off queue is full before any is dropped.
    pub max_backlog: usize,
}

/// The design sketch's name for a scenario's config: [`ScenarioConfig`].
pub type LoadTestConfig = ScenarioConfig;

/// What every scenario of a run shares: one timing loop (how it waits, its core), one report
/// and its files, one notify command, one monitored process. In a config file these fields
/// sit at the top level (a scenario may repeat them only with the same value).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// Format of the output file.
    pub report_format: ReportFormat,
    /// How idle threads wait.
    pub wait: WaitMode,
    /// Core of the timing loop; `None`: core 0 when pinning is possible.
    pub timer_core: Option<usize>,
    /// Where the report goes; `None`: no file.
    pub output: Option<PathBuf>,
    /// Another process to sample during the run, e.g. the server under test.
    pub monitor_pid: Option<u32>,
    /// Also write the HTML report here.
    pub html: Option<PathBuf>,
    /// Also write `.hgrm` percentile distributions here.
    pub hgrm: Option<PathBuf>,
    /// Also write the `.hlog` interval log here.
    pub hlog: Option<PathBuf>,
    /// Also write the CSV time series here.
    pub csv: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    pub junit: Option<PathBuf>,
    /// A shell command run for each alert and once at the end, with JSON on stdin.
    pub notify_cmd: Option<String>,
    /// Where live OpenMetrics are served (`/metrics`) while the run lasts.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Exit 1 when a threshold is inconclusive, not only when one failed.
    pub strict: bool,
    /// Run the whole config this many times, each a fresh start, into one report.
    pub repeat: u32,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            name: "openpace".to_string(),
            description: String::new(),
            load_pattern: LoadPattern::Constant,
            duration_seconds: 60.0,
            target_rps: 10.0,
            min_rps: 1.0,
            max_rps: 100.0,
            ramp_up_duration: 60.0,
            spike_duration: 10.0,
            spike_rps: 50.0,
            num_workers: 4,
            max_workers: 32,
            request_timeout_seconds: 30.0,
            max_retries: 3,
            metrics_collection_interval: 5.0,
            monitor_cpu: true,
            monitor_memory: true,
            monitor_network: false,
            latency_p95_threshold_ms: 100.0,
            latency_p99_threshold_ms: 200.0,
            error_rate_threshold: 0.01,
            success_rate_threshold: 0.95,
            thresholds: Vec::new(),
            abort_on_fail: false,
            precision: Vec::new(),
            max_duration: None,
            target: TargetSpec::Noop,
            warmup_seconds: 0.0,
            arrival: Arrival::Uniform,
            seed: None,
            stages: Vec::new(),
            start_rps: 0.0,
            worker_cores: None,
            model: Model::Open,
            concurrency: None,
            max_backlog: 65_536,
        }
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            report_format: ReportFormat::Json,
            wait: WaitMode::Hybrid,
            timer_core: None,
            output: None,
            monitor_pid: None,
            html: None,
            hgrm: None,
            hlog: None,
            csv: None,
            junit: None,
            notify_cmd: None,
            metrics_listen: None,
            strict: false,
            repeat: 1,
        }
    }
}

pub use crate::base::units::MAX_SECONDS;
pub use crate::schedule::MAX_RPS;
/// Most repetitions of a run (`repeat`).
pub const MAX_REPEAT: u32 = 1_000;
/// Longest request timeout: the histograms' ceiling.
pub const MAX_TIMEOUT_SECONDS: f64 = 3_600.0;
/// Most connections a network scenario may open (each is a file descriptor; the run raises
/// its soft `RLIMIT_NOFILE` to the hard limit when it needs more).
pub const MAX_CONNECTIONS: usize = 100_000;
/// Most connections `connections: auto` (the default) opens to a network target, over all
/// its workers: a new one whenever a request's instant comes and none is free.
pub const AUTO_CONNECTIONS: usize = 1024;
/// Most scenarios in one run.
pub const MAX_SCENARIOS: usize = 64;
/// Most worker threads in one run, over all its scenarios.
pub const MAX_WORKERS_TOTAL: usize = 4096;
/// Most intervals in a scenario's time series (duration / metrics_collection_interval): each
/// is a row of the report with its own histograms.
pub const MAX_INTERVALS: f64 = 100_000.0;
/// Most spikes a spike pattern may schedule (duration / (2 x spike_duration)).
pub const MAX_SPIKES: f64 = 100_000.0;
/// Most requests the timing loop may hold back in a scenario's backlog.
pub const MAX_BACKLOG: usize = 10_000_000;
/// Shortest request timeout: 1 µs.
pub const MIN_TIMEOUT_SECONDS: f64 = 1e-6;

impl ScenarioConfig {
    /// Every threshold of a scenario: the design's four (latency limits strict, rates
    /// inclusive), then the extra ones.
    pub fn thresholds(&self) -> Vec<Threshold> {
        let design = [
            format!("response p95 < {}ms", self.latency_p95_threshold_ms),
            format!("response p99 < {}ms", self.latency_p99_threshold_ms),
            format!("error_rate <= {}", self.error_rate_threshold),
            format!("success_rate >= {}", self.success_rate_threshold),
        ];
        design
            .iter()
            .map(|text| Threshold::parse(text).expect("validated limits always parse"))
            .chain(self.thresholds.iter().cloned())
            .collect()
    }

    /// The schedule in one line: everything that decides which instants are intended. Shards
    /// of one campaign have equal fingerprints; `openpace merge` refuses reports whose differ.
    pub fn schedule_fingerprint(&self) -> String {
        if self.model == Model::Closed {
            return format!(
                "closed loop, {} callers, {}s after {}s warmup",
                self.concurrency.unwrap_or(self.num_workers),
                self.duration_seconds,
                self.warmup_seconds
            );
        }
        let seed = match (self.arrival, self.seed) {
            (Arrival::Poisson, Some(seed)) => format!(", seed {seed}"),
            (Arrival::Poisson, None) => ", unseeded".to_string(),
            (Arrival::Uniform, _) => String::new(),
        };
        format!(
            "{} {:?}, {}s warmup, {} arrivals{seed}",
            self.load_pattern.name(),
            self.rate_profile(),
            self.warmup_seconds,
            self.arrival.name()
        )
    }

    /// What the pattern schedules, in words: `500 RPS`, `100 -> 2000 RPS over 10s, then
    /// 2000 RPS`, `500 RPS, bursts of 3000 RPS for 2s every 4s`, ...; for the closed model,
    /// its callers.
    pub fn rates_text(&self) -> String {
        let n = crate::base::units::plain_number;
        if self.model == Model::Closed {
            let callers = self.concurrency.unwrap_or(self.num_workers);
            return format!("closed loop, {callers} callers");
        }
        match self.load_pattern {
            LoadPattern::Constant => format!("{} RPS", n(self.target_rps)),
            LoadPattern::RampUp => format!(
                "{} -> {} RPS over {}s, then {} RPS",
                n(self.min_rps),
                n(self.max_rps),
                n(self.ramp_up_duration),
                n(self.max_rps)
            ),
            LoadPattern::Spike => format!(
                "{} RPS, bursts of {} RPS for {}s every {}s (the first at {}s)",
                n(self.target_rps),
                n(self.spike_rps),
                n(self.spike_duration),
                n(2.0 * self.spike_duration),
                n(2.0 * self.spike_duration)
            ),
            LoadPattern::Step => format!(
                "steps of {}, {}, {}, {} RPS, {}s each",
                n(self.target_rps / 4.0),
                n(self.target_rps / 2.0),
                n(self.target_rps),
                n(self.target_rps / 2.0),
                n(self.duration_seconds / 4.0)
            ),
            LoadPattern::Stages => {
                let stages: Vec<String> = self
                    .stages
                    .iter()
                    .map(|s| format!("-> {} RPS over {}s", n(s.target_rps), n(s.duration)))
                    .collect();
                format!("from {} RPS {}", n(self.start_rps), stages.join(", "))
            }
        }
    }

    /// The rate over the measured window (warmup not included).
    pub fn rate_profile(&self) -> RateProfile {
        let d = self.duration_seconds;
        match self.load_pattern {
            LoadPattern::Constant => RateProfile::constant(self.target_rps, d),
            LoadPattern::RampUp => {
                RateProfile::ramp_up(self.min_rps, self.max_rps, self.ramp_up_duration, d)
            }
            LoadPattern::Spike => {
                RateProfile::spike(self.target_rps, self.spike_rps, self.spike_duration, d)
            }
            LoadPattern::Step => RateProfile::step(self.target_rps, d),
            LoadPattern::Stages => {
                let stages: Vec<(f64, f64)> = self
                    .stages
                    .iter()
                    .map(|s| (s.duration, s.target_rps))
                    .collect();
                RateProfile::stages(self.start_rps, &stages)
            }
        }
    }

    /// For a network target, the connections it may open in all: `connections` if set, else
    /// the closed model's `concurrency` (one per worker by default), else (`auto`)
    /// [`AUTO_CONNECTIONS`], opened only as requests need them. `None` for in-process targets.
    pub fn connections(&self) -> Option<usize> {
        if !self.target.is_network() {
            return None;
        }
        let closed = match self.model {
            Model::Closed => Some(self.concurrency.unwrap_or(self.num_workers)),
            Model::Open => None,
        };
        Some(
            self.target
                .connections()
                .or(closed)
                .unwrap_or(AUTO_CONNECTIONS),
        )
    }

    /// Whether a network target opens connections as requests need them (`connections`
    /// unset or `auto`, open model).
    pub fn connections_auto(&self) -> bool {
        self.target.is_network() && self.target.connections().is_none() && self.model == Model::Open
    }

    /// Worker threads this scenario starts. A network target's connections are spread over
    /// at most `num_workers` workers, never more workers than connections; an in-process
    /// target has `num_workers` (open model) or `concurrency` (closed) workers.
    pub fn worker_count(&self) -> usize {
        if let Some(connections) = self.connections() {
            return connections.clamp(1, self.num_workers);
        }
        match self.model {
            Model::Open => self.num_workers,
            Model::Closed => self.concurrency.unwrap_or(self.num_workers),
        }
    }

    /// How long the schedule may run: `max_duration` (10 x `duration_seconds` when unset)
    /// with `precision` targets, else `duration_seconds`.
    pub fn longest_duration(&self) -> f64 {
        if self.precision.is_empty() {
            self.duration_seconds
        } else {
            self.max_duration
                .unwrap_or(10.0 * self.duration_seconds)
                .min(MAX_SECONDS)
        }
    }

    /// Checks every field of this scenario; `origin` says where the values came from.
    pub fn validate(&self, origin: &Origin) -> Result<(), ConfigError> {
        let bad = |field: &str, value: &dyn std::fmt::Display, allowed: &str| {
            Err(ConfigError::invalid(origin, field, value, allowed))
        };
        if self.name.trim().is_empty() {
            return bad("name", &"\"\"", "a non-empty name");
        }
        // A name and a description are printed to terminals: an escape sequence or a line
        // end in them would rewrite what the summary and the progress line show.
        for (field, text) in [("name", &self.name), ("description", &self.description)] {
            if text.chars().any(char::is_control) {
                return bad(
                    field,
                    &format!("\"{}\"", text.escape_debug()),
                    "text without control characters (no ESC, CR, LF or tab)",
                );
            }
        }
        self.validate_pattern(origin)?;
        self.validate_workers(origin)?;
        self.validate_timing(origin)?;
        check_seconds(origin, "warmup_seconds", self.warmup_seconds, true)?;
        if !self.precision.is_empty() && self.model == Model::Closed {
            return bad(
                "precision",
                &format!(
                    "{:?}",
                    self.precision
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                ),
                "no precision targets in the closed model, which has no schedule to extend (use model open)",
            );
        }
        if let Some(max) = self.max_duration {
            check_seconds(origin, "max_duration", max, false)?;
            if max < self.duration_seconds {
                return bad(
                    "max_duration",
                    &max,
                    &format!("at least duration_seconds ({})", self.duration_seconds),
                );
            }
        }
        self.validate_thresholds(origin)?;
        if let Some(cores) = &self.worker_cores {
            if cores.is_empty() {
                return bad("worker_cores", &"[]", "a non-empty list of core numbers");
            }
            check_cores(origin, "worker_cores", cores.iter().copied())?;
        }
        Ok(())
    }

    /// The pattern's fields: the design's three rules first, then each pattern's own.
    fn validate_pattern(&self, origin: &Origin) -> Result<(), ConfigError> {
        let bad = |field: &str, value: &dyn std::fmt::Display, allowed: &str| {
            Err(ConfigError::invalid(origin, field, value, allowed))
        };
        // The design's three rules first.
        check_seconds(origin, "duration_seconds", self.duration_seconds, false)?;
        check_rate(origin, "target_rps", self.target_rps, false)?;
        if self.load_pattern == LoadPattern::RampUp {
            check_seconds(origin, "ramp_up_duration", self.ramp_up_duration, false)?;
            if self.ramp_up_duration > self.duration_seconds {
                return bad(
                    "ramp_up_duration",
                    &self.ramp_up_duration,
                    &format!(
                        "at most duration_seconds ({}) for the ramp_up pattern",
                        self.duration_seconds
                    ),
                );
            }
        }
        check_rate(origin, "min_rps", self.min_rps, true)?;
        check_rate(origin, "max_rps", self.max_rps, false)?;
        if self.min_rps > self.max_rps {
            return bad(
                "min_rps",
                &self.min_rps,
                &format!("at most max_rps ({})", self.max_rps),
            );
        }
        check_seconds(origin, "spike_duration", self.spike_duration, false)?;
        check_rate(origin, "spike_rps", self.spike_rps, false)?;
        if self.load_pattern == LoadPattern::Spike {
            self.validate_spike(origin)?;
        }
        if self.load_pattern == LoadPattern::Stages {
            self.validate_stages(origin)?;
        }
        Ok(())
    }

    /// Timeout, retries, the time series' interval and the backlog.
    fn validate_timing(&self, origin: &Origin) -> Result<(), ConfigError> {
        let bad = |field: &str, value: &dyn std::fmt::Display, allowed: &str| {
            Err(ConfigError::invalid(origin, field, value, allowed))
        };
        check_seconds(
            origin,
            "request_timeout_seconds",
            self.request_timeout_seconds,
            false,
        )?;
        if !(MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(&self.request_timeout_seconds) {
            return bad(
                "request_timeout_seconds",
                &self.request_timeout_seconds,
                "1us to 3600 seconds (one hour, the histograms' ceiling)",
            );
        }
        if self.max_retries > 100 {
            return bad("max_retries", &self.max_retries, "0 to 100");
        }
        check_seconds(
            origin,
            "metrics_collection_interval",
            self.metrics_collection_interval,
            false,
        )?;
        if self.metrics_collection_interval < 0.01 {
            return bad(
                "metrics_collection_interval",
                &self.metrics_collection_interval,
                "at least 0.01 seconds (10ms)",
            );
        }
        if self.duration_seconds / self.metrics_collection_interval > MAX_INTERVALS {
            return bad(
                "metrics_collection_interval",
                &self.metrics_collection_interval,
                &format!(
                    "at least duration_seconds / {MAX_INTERVALS} ({}): a time series holds at \
                     most {MAX_INTERVALS} intervals",
                    self.duration_seconds / MAX_INTERVALS
                ),
            );
        }
        if self.max_backlog > MAX_BACKLOG {
            return bad(
                "max_backlog",
                &self.max_backlog,
                &format!("0 to {MAX_BACKLOG} requests"),
            );
        }
        Ok(())
    }

    fn validate_spike(&self, origin: &Origin) -> Result<(), ConfigError> {
        if self.spike_rps < self.target_rps {
            return Err(ConfigError::invalid(
                origin,
                "spike_rps",
                self.spike_rps,
                format!(
                    "at least target_rps ({}) for the spike pattern",
                    self.target_rps
                ),
            ));
        }
        if self.duration_seconds / (2.0 * self.spike_duration) > MAX_SPIKES {
            return Err(ConfigError::invalid(
                origin,
                "spike_duration",
                self.spike_duration,
                format!(
                    "at least duration_seconds / {} ({}): a spike pattern has at most \
                     {MAX_SPIKES} spikes",
                    2.0 * MAX_SPIKES,
                    self.duration_seconds / (2.0 * MAX_SPIKES)
                ),
            ));
        }
        if 2.0 * self.spike_duration >= self.duration_seconds {
            return Err(ConfigError::invalid(
                origin,
                "spike_duration",
                self.spike_duration,
                format!(
                    "less than duration_seconds / 2 ({}): the first spike starts at \
                     2 x spike_duration",
                    self.duration_seconds / 2.0
                ),
            ));
        }
        Ok(())
    }

    fn validate_stages(&self, origin: &Origin) -> Result<(), ConfigError> {
        if self.stages.is_empty() {
            return Err(ConfigError::invalid(
                origin,
                "stages",
                "[]",
                "a non-empty list of {\"duration\": D, \"target_rps\": R} for the stages pattern",
            ));
        }
        check_rate(origin, "start_rps", self.start_rps, true)?;
        for (i, stage) in self.stages.iter().enumerate() {
            check_seconds(
                origin,
                &format!("stages[{i}].duration"),
                stage.duration,
                false,
            )?;
            check_rate(
                origin,
                &format!("stages[{i}].target_rps"),
                stage.target_rps,
                true,
            )?;
        }
        let total: f64 = self.stages.iter().map(|s| s.duration).sum();
        if (total - self.duration_seconds).abs() > 1e-6 {
            return Err(ConfigError::invalid(
                origin,
                "duration_seconds",
                self.duration_seconds,
                format!("the sum of the stage durations ({total}) for the stages pattern"),
            ));
        }
        if self.rate_profile().total() < 1.0 {
            return Err(ConfigError::invalid(
                origin,
                "stages",
                "(rates)",
                "stages that schedule at least one request",
            ));
        }
        Ok(())
    }

    fn validate_workers(&self, origin: &Origin) -> Result<(), ConfigError> {
        if self.max_workers == 0 || self.max_workers > 4096 {
            return Err(ConfigError::invalid(
                origin,
                "max_workers",
                self.max_workers,
                "1 to 4096",
            ));
        }
        let allowed = format!("1 to max_workers ({})", self.max_workers);
        if self.num_workers == 0 || self.num_workers > self.max_workers {
            return Err(ConfigError::invalid(
                origin,
                "num_workers",
                self.num_workers,
                allowed,
            ));
        }
        let connection_limit = format!("1 to {MAX_CONNECTIONS} connections");
        if let Some(c) = self.target.connections() {
            if c > MAX_CONNECTIONS {
                return Err(ConfigError::invalid(
                    origin,
                    "connections",
                    c,
                    connection_limit,
                ));
            }
        }
        if let Some(c) = self.concurrency {
            // A network target's callers are its connections, not threads.
            let (limit, allowed) = match self.target.is_network() {
                true => (MAX_CONNECTIONS, connection_limit),
                false => (self.max_workers, allowed),
            };
            if c == 0 || c > limit {
                return Err(ConfigError::invalid(origin, "concurrency", c, allowed));
            }
            if self.model == Model::Open {
                return Err(ConfigError::invalid(
                    origin,
                    "concurrency",
                    c,
                    "only with \"model\": \"closed\" (the open model's concurrency follows \
                     from the rate)",
                ));
            }
        }
        Ok(())
    }

    fn validate_thresholds(&self, origin: &Origin) -> Result<(), ConfigError> {
        for (field, value) in [
            ("latency_p95_threshold_ms", self.latency_p95_threshold_ms),
            ("latency_p99_threshold_ms", self.latency_p99_threshold_ms),
        ] {
            if !(value > 0.0 && value <= MAX_TIMEOUT_SECONDS * 1000.0) {
                return Err(ConfigError::invalid(
                    origin,
                    field,
                    value,
                    "milliseconds greater than 0 and at most 3600000",
                ));
            }
        }
        for (field, value) in [
            ("error_rate_threshold", self.error_rate_threshold),
            ("success_rate_threshold", self.success_rate_threshold),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::invalid(
                    origin,
                    field,
                    value,
                    "a fraction from 0 to 1 (0.01 means 1%)",
                ));
            }
        }
        let names = self.target.request_names();
        for t in &self.thresholds {
            if let Some(name) = t.request_name() {
                if !names.iter().any(|n| n == name) {
                    let allowed = match names.is_empty() {
                        true => "a name of the target's request set (--requests), which has none"
                            .to_string(),
                        false => format!("one of the request set's names: {}", names.join(", ")),
                    };
                    return Err(ConfigError::invalid(
                        origin,
                        "thresholds",
                        &t.text,
                        &allowed,
                    ));
                }
            }
        }
        Ok(())
    }
}

impl RunSettings {
    /// Checks the run-wide fields; `origin` says where the values came from.
    pub fn validate(&self, origin: &Origin) -> Result<(), ConfigError> {
        check_cores(origin, "timer_core", self.timer_core.iter().copied())?;
        if !(1..=MAX_REPEAT).contains(&self.repeat) {
            return Err(ConfigError::invalid(
                origin,
                "repeat",
                self.repeat,
                format!("a whole number of runs from 1 to {MAX_REPEAT}"),
            ));
        }
        if let Some(pid) = self.monitor_pid {
            if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Err(ConfigError::invalid(
                    origin,
                    "monitor_pid",
                    pid,
                    "the pid of a running process",
                ));
            }
        }
        Ok(())
    }

    /// The first run-wide field in which `other` differs from these settings: its name,
    /// then this value and `other`'s as messages show them.
    pub fn difference(&self, other: &RunSettings) -> Option<(&'static str, String, String)> {
        macro_rules! differs {
            ($field:expr, $ours:expr, $theirs:expr) => {
                if $ours != $theirs {
                    return Some(($field, format!("{:?}", $ours), format!("{:?}", $theirs)));
                }
            };
        }
        differs!("wait", self.wait, other.wait);
        differs!("timer_core", self.timer_core, other.timer_core);
        let files = |s: &RunSettings| {
            [
                s.html.clone(),
                s.hgrm.clone(),
                s.hlog.clone(),
                s.csv.clone(),
                s.junit.clone(),
            ]
        };
        differs!("html/hgrm/hlog/csv/junit", files(self), files(other));
        differs!("output", self.output, other.output);
        differs!("notify_cmd", self.notify_cmd, other.notify_cmd);
        differs!("metrics_listen", self.metrics_listen, other.metrics_listen);
        differs!("monitor_pid", self.monitor_pid, other.monitor_pid);
        differs!("report_format", self.report_format, other.report_format);
        differs!("strict", self.strict, other.strict);
        differs!("repeat", self.repeat, other.repeat);
        None
    }
}

fn check_seconds(
    origin: &Origin,
    field: &str,
    value: f64,
    zero_ok: bool,
) -> Result<(), ConfigError> {
    let ok = value.is_finite() && value <= MAX_SECONDS && (value > 0.0 || zero_ok && value == 0.0);
    if ok {
        return Ok(());
    }
    let lower = if zero_ok { "0 or more" } else { "more than 0" };
    Err(ConfigError::invalid(
        origin,
        field,
        value,
        format!("{lower} seconds, at most 30 days (a number of seconds or e.g. \"500ms\", \"2m\")"),
    ))
}

fn check_rate(origin: &Origin, field: &str, value: f64, zero_ok: bool) -> Result<(), ConfigError> {
    let ok = value.is_finite() && value <= MAX_RPS && (value > 0.0 || zero_ok && value == 0.0);
    if ok {
        return Ok(());
    }
    let lower = if zero_ok { "0 or more" } else { "more than 0" };
    Err(ConfigError::invalid(
        origin,
        field,
        value,
        format!("{lower} requests per second, at most 100000000"),
    ))
}

fn check_cores(
    origin: &Origin,
    field: &str,
    cores: impl Iterator<Item = usize>,
) -> Result<(), ConfigError> {
    let count = machine_cores();
    for core in cores {
        if core >= count {
            return Err(ConfigError::invalid(
                origin,
                field,
                core,
                format!("a core this machine has: 0 to {}", count - 1),
            ));
        }
    }
    Ok(())
}

/// Scenarios that run together, paced by one timing loop, and what they share.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// What every scenario shares.
    pub run: RunSettings,
    /// The scenarios, in file order.
    pub scenarios: Vec<ScenarioConfig>,
    /// Where each scenario's values came from (same order), for messages.
    pub origins: Vec<Origin>,
}

impl RunConfig {
    /// A run of one scenario built in code, with the default run settings.
    pub fn single(config: ScenarioConfig) -> RunConfig {
        RunConfig {
            run: RunSettings::default(),
            scenarios: vec![config],
            origins: vec![Origin::Code],
        }
    }

    /// This run with `run` as its settings.
    pub fn with_settings(mut self, run: RunSettings) -> RunConfig {
        self.run = run;
        self
    }

    /// The run-wide wait mode.
    pub fn wait(&self) -> WaitMode {
        self.run.wait
    }

    /// The run-wide timer core, if one was named.
    pub fn timer_core(&self) -> Option<usize> {
        self.run.timer_core
    }

    /// Where the report goes, if anywhere.
    pub fn output(&self) -> Option<&PathBuf> {
        self.run.output.as_ref()
    }

    /// The run-wide report format.
    pub fn report_format(&self) -> ReportFormat {
        self.run.report_format
    }

    /// Every file the run will write: the field that names it, its path and its format.
    pub fn outputs(&self) -> Vec<(&'static str, PathBuf, ReportFormat)> {
        let s = &self.run;
        [
            ("output", &s.output, s.report_format),
            ("html", &s.html, ReportFormat::Html),
            ("hgrm", &s.hgrm, ReportFormat::Hgrm),
            ("hlog", &s.hlog, ReportFormat::Hlog),
            ("csv", &s.csv, ReportFormat::Csv),
            ("junit", &s.junit, ReportFormat::Junit),
        ]
        .into_iter()
        .filter_map(|(field, path, format)| path.clone().map(|p| (field, p, format)))
        .collect()
    }

    /// Checks every scenario, the run settings, and what the scenarios add up to.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.scenarios.is_empty() {
            return Err(ConfigError::invalid(
                &Origin::Code,
                "scenarios",
                "[]",
                "at least one scenario",
            ));
        }
        if self.scenarios.len() > MAX_SCENARIOS {
            let origin = match self.origins.first() {
                Some(Origin::File { file, .. }) => Origin::File {
                    file: file.clone(),
                    scope: String::new(),
                },
                other => other.cloned().unwrap_or(Origin::Code),
            };
            return Err(ConfigError::invalid(
                &origin,
                "scenarios",
                format!("{} scenarios", self.scenarios.len()),
                format!("1 to {MAX_SCENARIOS} scenarios in one run"),
            ));
        }
        for (config, origin) in self.scenarios.iter().zip(self.origins_iter()) {
            config.validate(&origin)?;
        }
        self.run
            .validate(&self.origins_iter().next().unwrap_or(Origin::Code))?;
        for (i, (config, origin)) in self.scenarios.iter().zip(self.origins_iter()).enumerate() {
            let workers: usize = self.scenarios[..=i].iter().map(|c| c.worker_count()).sum();
            if workers > MAX_WORKERS_TOTAL {
                return Err(ConfigError::invalid(
                    &origin,
                    "num_workers",
                    config.num_workers,
                    format!(
                        "at most {MAX_WORKERS_TOTAL} worker threads in all the run's scenarios \
                         ({workers} with this one)"
                    ),
                ));
            }
            if self.scenarios[..i].iter().any(|c| c.name == config.name) {
                return Err(ConfigError::invalid(
                    &origin,
                    "name",
                    format!("\"{}\"", config.name),
                    "a name no other scenario of the run has",
                ));
            }
        }
        Ok(())
    }

    fn origins_iter(&self) -> impl Iterator<Item = Origin> + '_ {
        (0..self.scenarios.len()).map(|i| self.origins.get(i).cloned().unwrap_or(Origin::Code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: every pattern says what it schedules, and the words agree with the rate
    /// profile the engine runs.
    #[test]
    fn each_pattern_says_what_it_schedules() {
        let with = |pattern: LoadPattern| LoadTestConfig {
            load_pattern: pattern,
            duration_seconds: 60.0,
            target_rps: 500.0,
            min_rps: 100.0,
            max_rps: 2000.0,
            ramp_up_duration: 10.0,
            spike_rps: 3000.0,
            spike_duration: 2.0,
            ..LoadTestConfig::default()
        };
        let ramp = with(LoadPattern::RampUp);
        assert_eq!(ramp.rates_text(), "100 -> 2000 RPS over 10s, then 2000 RPS");
        assert_eq!(ramp.rate_profile().rate_at(5.0), 1050.0);
        let spike = with(LoadPattern::Spike);
        assert_eq!(
            spike.rates_text(),
            "500 RPS, bursts of 3000 RPS for 2s every 4s (the first at 4s)"
        );
        let profile = spike.rate_profile();
        let rates: Vec<f64> = [1.0, 4.5, 6.5, 8.5].map(|t| profile.rate_at(t)).to_vec();
        assert_eq!(rates, [500.0, 3000.0, 500.0, 3000.0]);
        let step = with(LoadPattern::Step);
        assert_eq!(
            step.rates_text(),
            "steps of 125, 250, 500, 250 RPS, 15s each"
        );
        let rates: Vec<f64> = [1.0, 16.0, 31.0, 46.0]
            .map(|t| step.rate_profile().rate_at(t))
            .to_vec();
        assert_eq!(rates, [125.0, 250.0, 500.0, 250.0]);
        assert_eq!(with(LoadPattern::Constant).rates_text(), "500 RPS");
        let stages = LoadTestConfig {
            start_rps: 0.0,
            stages: vec![
                Stage {
                    duration: 10.0,
                    target_rps: 100.0,
                },
                Stage {
                    duration: 20.0,
                    target_rps: 100.0,
                },
            ],
            ..with(LoadPattern::Stages)
        };
        assert_eq!(
            stages.rates_text(),
            "from 0 RPS -> 100 RPS over 10s, -> 100 RPS over 20s"
        );
        assert_eq!(stages.rate_profile().rate_at(5.0), 50.0);
    }

    #[test]
    fn defaults_are_the_design_sketchs() {
        let c = LoadTestConfig::default();
        assert_eq!(
            (c.target_rps, c.min_rps, c.max_rps, c.spike_rps),
            (10.0, 1.0, 100.0, 50.0)
        );
        assert_eq!((c.ramp_up_duration, c.spike_duration), (60.0, 10.0));
        assert_eq!((c.num_workers, c.max_workers, c.max_retries), (4, 32, 3));
        assert_eq!(c.request_timeout_seconds, 30.0);
        assert_eq!(c.metrics_collection_interval, 5.0);
        assert_eq!(
            (c.monitor_cpu, c.monitor_memory, c.monitor_network),
            (true, true, false)
        );
        assert_eq!(
            (c.latency_p95_threshold_ms, c.latency_p99_threshold_ms),
            (100.0, 200.0)
        );
        assert_eq!(
            (c.error_rate_threshold, c.success_rate_threshold),
            (0.01, 0.95)
        );
        assert!(c.validate(&Origin::Code).is_ok());
    }

    #[test]
    fn validation_names_field_value_and_what_is_allowed() {
        let c = LoadTestConfig {
            min_rps: 50.0,
            max_rps: 10.0,
            ..LoadTestConfig::default()
        };
        let message = c.validate(&Origin::Code).unwrap_err().to_string();
        assert!(message.contains("min_rps = 50"), "{message}");
        assert!(message.contains("at most max_rps (10)"), "{message}");
    }
}
