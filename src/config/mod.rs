//! Run configuration: the design's `LoadTestConfig`, loading from JSON and flags, validation.
//!
//! A [`RunConfig`] is what a run is asked to do: its [`RunSettings`] (what every scenario
//! shares: how the one timing loop waits and where, the report and its files, the notify
//! command, a monitored process) and one or more [`ScenarioConfig`]s that run at the same
//! time. `ScenarioConfig` is the design sketch's `LoadTestConfig` (the name remains, as an
//! alias): every field of the sketch under the same name and with the same default, and what
//! openpace adds (target, warmup, arrival process, seed, cores, model). The shard plan of a
//! campaign is [`crate::shard`]'s.
//!
//! Every field is declared once, in the field table (`fields.rs`): the two structs, their
//! defaults, how a value is read from JSON or a flag, each field's own range check, whether
//! the run shares it, its `--help` line, `example-config` and the field tables of
//! `docs/config.md` all come from there. All checking happens before any thread starts:
//! [`RunConfig::validate`] (`validate.rs`) runs the table's checks and the rules that relate
//! fields, and rejects every value that makes no sense with a
//! [`ConfigError`](crate::error::ConfigError) naming the field, the value and what is allowed.
//! Loading (`load.rs`) turns JSON text and `--flag` overrides into configs through the table.

mod fields;
mod load;
mod validate;

pub use fields::{
    FIELDS, Field, Flag, RunSettings, ScenarioConfig, example_config, field_reference,
    target_object_text,
};
pub use load::{DEFAULT_SCENARIO, DEFAULTS_SAID, Override, load_json};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::base::host::machine_cores;
pub use crate::base::units::{format_duration, parse_duration};
pub use crate::base::{Model, WaitMode};
pub use crate::report::ReportFormat;

use crate::error::Origin;
use crate::metrics::threshold::Threshold;
use crate::schedule::{Arrival, LoadPattern, RateProfile};

/// One stage of the `stages` pattern: move the rate linearly to `target_rps` over `duration`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Length of the stage in seconds.
    pub duration: f64,
    /// Rate at the end of the stage.
    pub target_rps: f64,
}

/// The design sketch's name for a scenario's config: [`ScenarioConfig`].
pub type LoadTestConfig = ScenarioConfig;

pub use crate::base::units::MAX_SECONDS;
pub use crate::schedule::MAX_RPS;
/// Most repetitions of a run (`repeat`).
pub const MAX_REPEAT: u32 = 1_000;
/// Longest request timeout: the histograms' ceiling.
pub const MAX_TIMEOUT_SECONDS: f64 = 3_600.0;
/// Most connections a network scenario may open (each is a file descriptor; the run raises
/// its soft `RLIMIT_NOFILE` to the hard limit when it needs more).
pub const MAX_CONNECTIONS: usize = 100_000;
pub use crate::targets::net::AUTO_CONNECTIONS;
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
    /// unset, `auto` or `auto:N`; open model). With `connections: N` it opens them all
    /// before the run.
    pub fn connections_auto(&self) -> bool {
        self.model == Model::Open && self.target.is_network() && !self.opens_all_connections()
    }

    /// Whether a network target's connections are all opened before the run: `connections:
    /// N` in the open model (closed-model callers open theirs as they start, in batches).
    pub fn opens_all_connections(&self) -> bool {
        self.model == Model::Open && self.target.network().is_some_and(|plan| plan.open_all)
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

    /// Every file the run will write: the field that names it, its path and its format
    /// (`output` first, then the other reports in the format table's order).
    pub fn outputs(&self) -> Vec<(&'static str, PathBuf, ReportFormat)> {
        let s = &self.run;
        let main = s.output.clone().map(|p| ("output", p, s.report_format));
        let also = crate::report::FORMATS.iter().filter_map(|f| {
            let (field, _) = f.also?;
            Some((field, s.also_file(f.format)?.clone(), f.format))
        });
        main.into_iter().chain(also).collect()
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
