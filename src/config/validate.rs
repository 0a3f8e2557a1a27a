//! Checking a config before anything starts: what each field allows on its own is the field
//! table's (`fields.rs`); here are the rules that relate fields to each other (`min_rps` at
//! most `max_rps`, a ramp no longer than the run), those that hold for one pattern only, and
//! what a run's scenarios add up to. Every refusal is a [`ConfigError`] naming the field, the
//! value and what is allowed.

use super::fields::{rate, seconds};
use super::{
    MAX_CONNECTIONS, MAX_INTERVALS, MAX_SCENARIOS, MAX_SPIKES, MAX_WORKERS_TOTAL, Model, RunConfig,
    RunSettings, ScenarioConfig,
};
use crate::base::Timestamps;
use crate::error::{ConfigError, Origin};
use crate::schedule::{Arrival, LoadPattern};
use crate::shard::ClusterPlan;
use crate::targets::net::peer::is_unix_path;

impl ScenarioConfig {
    /// Checks every field of this scenario; `origin` says where the values came from.
    pub fn validate(&self, origin: &Origin) -> Result<(), ConfigError> {
        let bad = |field: &str, value: &dyn std::fmt::Display, allowed: &str| {
            Err(ConfigError::invalid(origin, field, value, allowed))
        };
        self.check_each_field(origin)?;
        self.validate_pattern(origin)?;
        self.validate_workers(origin)?;
        self.validate_timing(origin)?;
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
            if max < self.duration_seconds {
                return bad(
                    "max_duration",
                    &max,
                    &format!("at least duration_seconds ({})", self.duration_seconds),
                );
            }
        }
        self.validate_timestamps(origin)?;
        self.validate_thresholds(origin)
    }

    /// Kernel timestamps need a target whose connections are TCP sockets.
    fn validate_timestamps(&self, origin: &Origin) -> Result<(), ConfigError> {
        if self.timestamps == Timestamps::Off {
            return Ok(());
        }
        let why = match self.target.network() {
            None => {
                "\"off\" for an in-process target (kernel timestamps stamp a TCP socket: \
                     an http, https, tcp, redis or memcached target)"
            }
            Some(plan) if is_unix_path(&plan.authority) => {
                "\"off\" for a target on a Unix socket (the kernel stamps TCP sockets only)"
            }
            Some(plan) if plan.http2.is_some() => {
                "\"off\" over HTTP/2 (its requests share a connection's bytes: their stamps \
                 are not matched to streams yet; use HTTP/1.1 to split service time)"
            }
            Some(plan) if self.timestamps == Timestamps::Hardware => {
                let why = hardware_refused(&plan.authority);
                return Err(ConfigError::invalid(
                    origin,
                    "timestamps",
                    "\"hardware\"",
                    why,
                ));
            }
            Some(_) => return Ok(()),
        };
        let value = match self.timestamps {
            Timestamps::Hardware => "\"hardware\"",
            _ => "\"kernel\"",
        };
        Err(ConfigError::invalid(origin, "timestamps", value, why))
    }

    /// The pattern's fields: the design's three rules first, then each pattern's own.
    fn validate_pattern(&self, origin: &Origin) -> Result<(), ConfigError> {
        let bad = |field: &str, value: &dyn std::fmt::Display, allowed: &str| {
            Err(ConfigError::invalid(origin, field, value, allowed))
        };
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
        if self.min_rps > self.max_rps {
            return bad(
                "min_rps",
                &self.min_rps,
                &format!("at most max_rps ({})", self.max_rps),
            );
        }
        if self.load_pattern == LoadPattern::Spike {
            self.validate_spike(origin)?;
        }
        if self.load_pattern == LoadPattern::Stages {
            self.validate_stages(origin)?;
        }
        Ok(())
    }

    /// The time series' interval against the run's length.
    fn validate_timing(&self, origin: &Origin) -> Result<(), ConfigError> {
        if self.duration_seconds / self.metrics_collection_interval > MAX_INTERVALS {
            return Err(ConfigError::invalid(
                origin,
                "metrics_collection_interval",
                self.metrics_collection_interval,
                format!(
                    "at least duration_seconds / {MAX_INTERVALS} ({}): a time series holds at \
                     most {MAX_INTERVALS} intervals",
                    self.duration_seconds / MAX_INTERVALS
                ),
            ));
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
        self.check_each_field(origin)?;
        if let (Some(path), true) = (&self.log_requests, self.repeat > 1) {
            return Err(ConfigError::invalid(
                origin,
                "log_requests",
                format!("{:?}", path.display().to_string()),
                format!(
                    "null with repeat {} (each repetition would replace the last one's log; \
                     log one run)",
                    self.repeat
                ),
            ));
        }
        Ok(())
    }
}

/// `value` of `field` as the table's seconds check sees it (for fields that only some
/// patterns use, and the stages' items).
fn check_seconds(
    origin: &Origin,
    field: &str,
    value: f64,
    zero_ok: bool,
) -> Result<(), ConfigError> {
    seconds(zero_ok)(&value)
        .map_err(|(value, allowed)| ConfigError::invalid(origin, field, value, allowed))
}

/// `value` of `field` as the table's rate check sees it.
fn check_rate(origin: &Origin, field: &str, value: f64, zero_ok: bool) -> Result<(), ConfigError> {
    rate(zero_ok)(&value)
        .map_err(|(value, allowed)| ConfigError::invalid(origin, field, value, allowed))
}

impl RunConfig {
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

    /// Checks that this run can be sharded as `plan` says: Poisson arrivals need a fixed
    /// seed, or every shard would draw its own schedule and their union would be none.
    pub fn check_sharding(&self, plan: &ClusterPlan) -> Result<(), ConfigError> {
        let Some(shard) = plan.shard.filter(|s| s.count > 1) else {
            return Ok(());
        };
        for (config, origin) in self.scenarios.iter().zip(&self.origins) {
            if config.arrival == Arrival::Poisson && config.seed.is_none() {
                return Err(ConfigError::invalid(
                    origin,
                    "seed",
                    "null",
                    format!(
                        "a fixed seed: with Poisson arrivals and {} shards every shard must draw \
                         the same schedule",
                        shard.count
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Why `timestamps: hardware` cannot run against `authority`: the device that reaches it
/// cannot stamp in hardware, or can and openpace does not read such stamps yet; either way,
/// what the device can do, in ethtool's words.
fn hardware_refused(authority: &str) -> String {
    use crate::base::tstamp;
    use crate::targets::net::Peer;
    let Ok(Peer::Inet(addr)) = Peer::resolve(authority) else {
        return "\"kernel\" or \"off\": hardware stamps need a TCP target".into();
    };
    match tstamp::device_stamps(addr) {
        Err(e) => format!(
            "\"kernel\" or \"off\": what the device that reaches {addr} can stamp could not be \
             read ({e}; SIOCETHTOOL, as `ethtool -T`)"
        ),
        Ok(d) if !d.hardware() => format!(
            "\"kernel\" or \"off\": {}, the device that reaches {addr}, cannot stamp in \
             hardware (ethtool -T {}: {}); \"kernel\" stamps the same points in software",
            d.device,
            d.device,
            d.describe()
        ),
        Ok(d) => format!(
            "\"kernel\" or \"off\": {}, the device that reaches {addr}, can stamp in hardware \
             ({}), but openpace does not read hardware stamps yet; \"kernel\" stamps the same \
             points in software",
            d.device,
            d.describe()
        ),
    }
}
