//! The one table of config fields: name, example, meaning and how to read a value.
//!
//! JSON files and `--set field=value` flags both go through [`set_field`], so a field is read
//! the same way wherever it comes from: durations as seconds or `"20ms"`, numbers as JSON
//! numbers or as text from the command line. The table also prints `openpace example-config`.

use serde_json::Value;

use super::{Model, ReportFormat, RunSettings, ScenarioConfig, Stage, WaitMode};
use crate::error::{ConfigError, Origin};
use crate::metrics::precision::Precision;
use crate::metrics::threshold::Threshold;
use crate::schedule::{Arrival, LoadPattern};
use crate::targets::TargetSpec;

/// What a field is set on: the scenario being built, or the settings the run shares.
pub(crate) struct Slots<'a> {
    pub scenario: &'a mut ScenarioConfig,
    pub run: &'a mut RunSettings,
}

type Setter = fn(&mut Slots<'_>, &Value, &Reader) -> Result<(), ConfigError>;

/// One config field: its name, an example value (JSON), what it means, and its reader.
pub struct Field {
    /// Name in config files.
    pub name: &'static str,
    /// Example value as JSON text.
    pub example: &'static str,
    /// One line on what the field does.
    pub doc: &'static str,
    /// Whether the whole run shares it ([`RunSettings`]) rather than each scenario having
    /// its own ([`ScenarioConfig`]).
    pub run_wide: bool,
    /// Its flag on the command line (`openpace run`), if it has one.
    pub flag: Option<Flag>,
    set: Setter,
}

/// How a field is given on the command line: `--LONG VALUE` sets it, as `--set FIELD=VALUE`
/// would; the flag's help is the field's `doc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    /// The long name, without the dashes.
    pub long: &'static str,
    /// The value's name in the help (`RPS`); empty for a switch, which sets `true`.
    pub value: &'static str,
    /// Whether the flag may be given several times, each adding one item to a list.
    pub repeated: bool,
}

/// The `flag` of a [`Field`] from the macros' optional `flag(...)` / `flags(...)` argument.
macro_rules! flag_of {
    () => {
        None
    };
    (flag($long:expr, $value:expr)) => {
        Some(Flag {
            long: $long,
            value: $value,
            repeated: false,
        })
    };
    (flags($long:expr, $value:expr)) => {
        Some(Flag {
            long: $long,
            value: $value,
            repeated: true,
        })
    };
}

macro_rules! field {
    ($name:ident, $example:expr, $doc:expr, $($kind:ident($long:expr, $value:expr),)? |$c:ident, $v:ident, $r:ident| $body:expr) => {
        Field {
            name: stringify!($name),
            example: $example,
            doc: $doc,
            run_wide: false,
            flag: flag_of!($($kind($long, $value))?),
            set: |$c, $v, $r| {
                $c.scenario.$name = $body;
                Ok(())
            },
        }
    };
}

/// A field of [`RunSettings`].
macro_rules! run_field {
    ($name:ident, $example:expr, $doc:expr, $($kind:ident($long:expr, $value:expr),)? |$c:ident, $v:ident, $r:ident| $body:expr) => {
        Field {
            name: stringify!($name),
            example: $example,
            doc: $doc,
            run_wide: true,
            flag: flag_of!($($kind($long, $value))?),
            set: |$c, $v, $r| {
                $c.run.$name = $body;
                Ok(())
            },
        }
    };
}

/// Every field a scenario accepts, in the order `example-config` prints them.
pub static FIELDS: &[Field] = &[
    field!(
        name,
        "\"GET http://127.0.0.1:8080/\"",
        "shown in the summary and the report",
        flag("name", "NAME"),
        |c, v, r| r.string(v)?
    ),
    field!(
        description,
        "\"the service on port 8080 at 50 RPS for a minute\"",
        "free text for the report",
        |c, v, r| r.string(v)?
    ),
    field!(
        load_pattern,
        "\"constant\"",
        "constant, ramp_up, spike, step or stages",
        flag("pattern", "PATTERN"),
        |c, v, r| r.choice(v, &LoadPattern::ALL.map(|p| (p.name(), p)))?
    ),
    field!(
        duration_seconds,
        "60",
        "length of the measured window: seconds or \"2m\"",
        flag("duration", "DURATION"),
        |c, v, r| r.seconds(v)?
    ),
    field!(
        target_rps,
        "50",
        "rate of constant; base rate of spike; peak of step",
        flag("rate", "RPS"),
        |c, v, r| r.number(v)?
    ),
    field!(
        min_rps,
        "1",
        "ramp_up starts here",
        flag("min-rps", "RPS"),
        |c, v, r| r.number(v)?
    ),
    field!(
        max_rps,
        "100",
        "ramp_up ends here and holds",
        flag("max-rps", "RPS"),
        |c, v, r| r.number(v)?
    ),
    field!(
        ramp_up_duration,
        "60",
        "seconds ramp_up takes from min_rps to max_rps",
        flag("ramp-up", "DURATION"),
        |c, v, r| r.seconds(v)?
    ),
    field!(
        spike_duration,
        "10",
        "length of each spike; the first starts at 2 x this",
        flag("spike-duration", "DURATION"),
        |c, v, r| r.seconds(v)?
    ),
    field!(
        spike_rps,
        "150",
        "rate during a spike",
        flag("spike-rps", "RPS"),
        |c, v, r| r.number(v)?
    ),
    field!(
        num_workers,
        "8",
        "worker threads calling the target",
        flag("workers", "N"),
        |c, v, r| r.integer(v)?
    ),
    field!(
        max_workers,
        "32",
        "upper bound for num_workers and concurrency",
        |c, v, r| r.integer(v)?
    ),
    field!(
        request_timeout_seconds,
        "30",
        "a call longer than this counts as a timeout",
        flag("timeout", "DURATION"),
        |c, v, r| r.seconds(v)?
    ),
    field!(
        max_retries,
        "3",
        "extra attempts after a failed call (not after a timeout)",
        flag("retries", "N"),
        |c, v, r| r.integer(v)?
    ),
    field!(
        metrics_collection_interval,
        "5",
        "seconds per interval of the time series",
        flag("interval", "DURATION"),
        |c, v, r| r.seconds(v)?
    ),
    run_field!(
        report_format,
        "\"json\"",
        "what the output file holds: json, text, hgrm, hlog, csv, html or junit",
        flag("format", "FORMAT"),
        |c, v, r| r.choice(v, &ReportFormat::ALL)?
    ),
    field!(
        monitor_cpu,
        "true",
        "record the process's CPU time",
        |c, v, r| r.boolean(v)?
    ),
    field!(
        monitor_memory,
        "true",
        "record the process's peak memory",
        |c, v, r| r.boolean(v)?
    ),
    field!(
        monitor_network,
        "false",
        "record network traffic (network targets)",
        |c, v, r| r.boolean(v)?
    ),
    field!(
        latency_p95_threshold_ms,
        "100",
        "response-time p95 must stay below this",
        |c, v, r| r.number(v)?
    ),
    field!(
        latency_p99_threshold_ms,
        "200",
        "response-time p99 must stay below this",
        |c, v, r| r.number(v)?
    ),
    field!(
        error_rate_threshold,
        "0.01",
        "failed share may not exceed this (0..1)",
        |c, v, r| r.number(v)?
    ),
    field!(
        success_rate_threshold,
        "0.95",
        "successful share must reach this (0..1)",
        |c, v, r| r.number(v)?
    ),
    field!(
        thresholds,
        "[\"response p99.9 < 150ms\", \"dispatch_delay p99 < 1ms\", \"achieved_rate >= 0.99 * target\"]",
        "more thresholds: METRIC [STAT] OP LIMIT",
        flags("threshold", "THRESHOLD"),
        |c, v, r| r.thresholds(v)?
    ),
    field!(
        abort_on_fail,
        "false",
        "stop the run as soon as a threshold can no longer pass",
        flag("abort-on-fail", ""),
        |c, v, r| r.boolean(v)?
    ),
    field!(
        precision,
        "[]",
        "run until precise: \"response p99 +-2%\" goes on past duration_seconds until that interval is that tight",
        flags("until-precise", "TARGET"),
        |c, v, r| r.precisions(v)?
    ),
    field!(
        max_duration,
        "null",
        "the longest a run with precision may last; null: 10 x duration_seconds",
        flag("max-duration", "DURATION"),
        |c, v, r| r.optional(v, Reader::seconds)?
    ),
    run_field!(
        repeat,
        "1",
        "run the whole config this many times, each a fresh start, into one report with every \
         percentile's interval across the runs",
        flag("repeat", "N"),
        |c, v, r| r.integer(v)?
    ),
    run_field!(
        strict,
        "false",
        "exit 1 when a threshold is inconclusive (its 95% interval straddles the limit)",
        flag("strict", ""),
        |c, v, r| r.boolean(v)?
    ),
    field!(
        target,
        "\"http://127.0.0.1:8080/\"",
        "noop, spin:DURATION, spin:exp:MEAN, spin:lognormal:MEDIAN:SIGMA, sleep:DURATION, \
         features[:OPTIONS], http[s]://HOST:PORT/PATH, tcp://HOST:PORT, redis://HOST:PORT, \
         memcached://HOST:PORT, or {\"http\": {\"url\": \"https://...\", \"connections\": 64, \
         \"headers\": {...}, \"cacert\": \"ca.pem\", \"insecure\": false, \"expect_json\": \
         \"/status=ok\", \"expect_body_contains\": \"...\", \"expect_body_size\": 2, \"requests\": \
         \"set.jsonl\", \"requests_order\": \"round-robin\"}} or {\"redis\": {\"address\": \
         \"127.0.0.1:6379\", \"command\": \"SET key:{{seq}} {{rand_hex 16}}\"}} \
         ({{seq}}, {{shard}}, {{rand_int A B}}, {{rand_hex N}}, {{line FILE}} in a URL, header, \
         body or command are rendered per request)",
        flag("target", "TARGET"),
        |c, v, r| r.target(v)?
    ),
    field!(
        warmup_seconds,
        "2",
        "sent at the starting rate before measuring; not counted",
        flag("warmup", "DURATION"),
        |c, v, r| r.seconds(v)?
    ),
    field!(
        arrival,
        "\"uniform\"",
        "uniform spacing or a seeded poisson process",
        flag("arrival", "ARRIVAL"),
        |c, v, r| r.choice(
            v,
            &[("uniform", Arrival::Uniform), ("poisson", Arrival::Poisson)]
        )?
    ),
    field!(
        seed,
        "42",
        "seed of poisson arrivals; null picks one and reports it",
        flag("seed", "N"),
        |c, v, r| r.optional(v, Reader::integer)?
    ),
    field!(
        stages,
        "[{\"duration\": \"30s\", \"target_rps\": 100}, {\"duration\": 30, \"target_rps\": 0}]",
        "for load_pattern stages: each moves the rate linearly to target_rps",
        flag("stages", "STAGES"),
        |c, v, r| r.stages(v)?
    ),
    field!(
        start_rps,
        "0",
        "rate at which the stages pattern starts",
        |c, v, r| r.number(v)?
    ),
    run_field!(
        wait,
        "\"hybrid\"",
        "spin (dedicated hosts), hybrid or sleep (shared machines)",
        flag("wait", "MODE"),
        |c, v, r| r.choice(
            v,
            &[
                ("spin", WaitMode::Spin),
                ("hybrid", WaitMode::Hybrid),
                ("sleep", WaitMode::Sleep)
            ]
        )?
    ),
    run_field!(
        timer_core,
        "0",
        "core of the timing loop; null: core 0",
        flag("timer-core", "CORE"),
        |c, v, r| r.optional(v, Reader::integer)?
    ),
    field!(
        worker_cores,
        "[1]",
        "cores of the workers; null: every core but the timer's",
        flag("worker-cores", "CORES"),
        |c, v, r| r.optional(v, Reader::cores)?
    ),
    field!(
        model,
        "\"open\"",
        "open (scheduled, corrected) or closed (fixed concurrency)",
        flag("model", "MODEL"),
        |c, v, r| r.choice(v, &[("open", Model::Open), ("closed", Model::Closed)])?
    ),
    field!(
        concurrency,
        "null",
        "callers in the closed model; null: num_workers",
        flag("concurrency", "N"),
        |c, v, r| r.optional(v, Reader::integer)?
    ),
    field!(
        max_backlog,
        "65536",
        "requests held when the hand-off queue is full; more are dropped",
        |c, v, r| r.integer(v)?
    ),
    run_field!(
        notify_cmd,
        "null",
        "shell command run per alert and at the end, with JSON on stdin",
        flag("notify-cmd", "CMD"),
        |c, v, r| r.optional(v, Reader::string)?
    ),
    run_field!(
        metrics_listen,
        "null",
        "serve live OpenMetrics at http://ADDR/metrics while the run lasts, for Prometheus",
        flag("metrics-listen", "ADDR"),
        |c, v, r| r.optional(v, Reader::listen_address)?
    ),
    run_field!(
        monitor_pid,
        "null",
        "pid of another process to sample during the run (CPU, RSS, threads)",
        flag("monitor-pid", "PID"),
        |c, v, r| r.optional(v, Reader::integer)?
    ),
    run_field!(
        html,
        "null",
        "also write the self-contained HTML report here",
        flag("html", "FILE"),
        |c, v, r| r.optional(v, |r, v| r.string(v).map(std::path::PathBuf::from))?
    ),
    run_field!(
        hgrm,
        "null",
        "also write HdrHistogram percentile distributions here",
        flag("hgrm", "FILE"),
        |c, v, r| r.optional(v, |r, v| r.string(v).map(std::path::PathBuf::from))?
    ),
    run_field!(
        hlog,
        "null",
        "also write the HdrHistogram interval log here",
        flag("hlog", "FILE"),
        |c, v, r| r.optional(v, |r, v| r.string(v).map(std::path::PathBuf::from))?
    ),
    run_field!(
        csv,
        "null",
        "also write the interval time series as CSV here",
        flag("csv", "FILE"),
        |c, v, r| r.optional(v, |r, v| r.string(v).map(std::path::PathBuf::from))?
    ),
    run_field!(
        junit,
        "null",
        "also write a JUnit XML report (one test case per threshold) here",
        flag("junit", "FILE"),
        |c, v, r| r.optional(v, |r, v| r.string(v).map(std::path::PathBuf::from))?
    ),
    run_field!(
        output,
        "\"openpace-report.json\"",
        "where the report is written; null: nowhere",
        flag("out", "FILE"),
        |c, v, r| r.optional(v, |r, v| r.string(v).map(std::path::PathBuf::from))?
    ),
];

/// Sets the field `name` from `value`, or explains why not.
pub(super) fn set_field(
    config: &mut Slots<'_>,
    name: &str,
    value: &Value,
    origin: &Origin,
) -> Result<(), ConfigError> {
    let Some(field) = FIELDS.iter().find(|f| f.name == name) else {
        return Err(ConfigError::UnknownField {
            origin: origin.clone(),
            field: name.to_string(),
            suggestion: closest_field(name),
        });
    };
    let reader = Reader {
        origin,
        field: field.name,
    };
    (field.set)(config, value, &reader)
}

/// The known field closest to a misspelt one, if any is within two edits.
fn closest_field(name: &str) -> Option<&'static str> {
    // No field name is this long, nor any misspelling of one; comparing would only cost time.
    if name.len() > 64 {
        return None;
    }
    FIELDS
        .iter()
        .map(|f| (edit_distance(name, f.name), f.name))
        .filter(|&(d, _)| d <= 2)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Reads one field's value, producing errors that name the field and its origin.
struct Reader<'a> {
    origin: &'a Origin,
    field: &'static str,
}

impl Reader<'_> {
    fn fail<T>(&self, value: &Value, allowed: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError::invalid(
            self.origin,
            self.field,
            value,
            allowed,
        ))
    }

    fn string(&self, value: &Value) -> Result<String, ConfigError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            _ => self.fail(value, "a string"),
        }
    }

    fn number(&self, value: &Value) -> Result<f64, ConfigError> {
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
            _ => None,
        };
        parsed.map_or_else(|| self.fail(value, "a number"), Ok)
    }

    fn integer<T: TryFrom<u64>>(&self, value: &Value) -> Result<T, ConfigError> {
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed.map(T::try_from) {
            Some(Ok(n)) => Ok(n),
            _ => self.fail(value, "a whole number, 0 or more"),
        }
    }

    fn seconds(&self, value: &Value) -> Result<f64, ConfigError> {
        match value {
            Value::Number(n) => n.as_f64().map_or_else(|| self.fail(value, "a number"), Ok),
            Value::String(s) => match super::parse_duration(s) {
                Ok(d) => Ok(d.as_secs_f64()),
                Err(why) => self.fail(
                    value,
                    format!("seconds or a duration like \"20ms\" ({why})"),
                ),
            },
            _ => self.fail(
                value,
                "seconds (a number) or a duration like \"500us\", \"20ms\", \"2m\"",
            ),
        }
    }

    fn listen_address(&self, value: &Value) -> Result<std::net::SocketAddr, ConfigError> {
        let parsed = match value {
            Value::String(s) => s.trim().parse::<std::net::SocketAddr>().ok(),
            _ => None,
        };
        parsed.map_or_else(
            || {
                self.fail(
                    value,
                    "an address IP:PORT to listen on, e.g. 127.0.0.1:9464",
                )
            },
            Ok,
        )
    }

    fn boolean(&self, value: &Value) -> Result<bool, ConfigError> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            _ => self.fail(value, "true or false"),
        }
    }

    fn choice<T: Copy>(&self, value: &Value, options: &[(&str, T)]) -> Result<T, ConfigError> {
        if let Value::String(s) = value {
            if let Some(&(_, choice)) = options.iter().find(|(name, _)| name == s) {
                return Ok(choice);
            }
        }
        let names: Vec<&str> = options.iter().map(|&(name, _)| name).collect();
        self.fail(value, format!("one of {}", names.join(", ")))
    }

    fn optional<T>(
        &self,
        value: &Value,
        read: impl Fn(&Self, &Value) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        match value {
            Value::Null => Ok(None),
            Value::String(s) if s == "null" || s == "none" => Ok(None),
            _ => read(self, value).map(Some),
        }
    }

    fn target(&self, value: &Value) -> Result<TargetSpec, ConfigError> {
        match value {
            Value::String(s) => TargetSpec::parse(s)
                .or_else(|why| self.fail(value, format!("{} ({why})", TargetSpec::ALLOWED))),
            Value::Object(o) => crate::targets::net::spec::from_object(o)
                .or_else(|why| self.fail(value, format!("{} ({why})", TargetSpec::ALLOWED))),
            _ => self.fail(value, TargetSpec::ALLOWED),
        }
    }

    /// Precision targets: a list of strings (or one string), each `METRIC pN +-X%`.
    fn precisions(&self, value: &Value) -> Result<Vec<Precision>, ConfigError> {
        self.texts(
            value,
            "precision",
            "targets like \"response p99 +-2%\"",
            Precision::parse,
            crate::metrics::precision::GRAMMAR,
        )
    }

    /// Thresholds: a list of strings (or one string), each `METRIC [STAT] OP LIMIT`.
    fn thresholds(&self, value: &Value) -> Result<Vec<Threshold>, ConfigError> {
        self.texts(
            value,
            "thresholds",
            "thresholds like \"response p99 < 5ms\"",
            Threshold::parse,
            crate::metrics::threshold::GRAMMAR,
        )
    }

    /// A list of strings (or one string) each parsed by `parse`; an item it refuses is named
    /// `field[i]`, with why and the `grammar`; anything else is not `a list of {items}`.
    fn texts<T>(
        &self,
        value: &Value,
        field: &str,
        items: &str,
        parse: impl Fn(&str) -> Result<T, String>,
        grammar: &str,
    ) -> Result<Vec<T>, ConfigError> {
        let texts: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::String(_) => vec![value],
            _ => return self.fail(value, format!("a list of {items}")),
        };
        texts
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let text = item.as_str().unwrap_or_default();
                parse(text).map_err(|why| {
                    ConfigError::invalid(
                        self.origin,
                        &format!("{field}[{i}]"),
                        item,
                        format!("{why}; {grammar}"),
                    )
                })
            })
            .collect()
    }

    /// A list of cores: `[1, 2]`, or from a flag `"1,2"` or `"1-3"`.
    fn cores(&self, value: &Value) -> Result<Vec<usize>, ConfigError> {
        let allowed = "a list of core numbers from 0 to 1023: [1, 2] in JSON, 1,2 or 1-3 on the \
                       command line";
        match value {
            Value::Array(items) if items.len() <= MAX_CORE + 1 => items
                .iter()
                .map(|item| item.as_u64().map(|n| n as usize).filter(|&c| c <= MAX_CORE))
                .collect::<Option<Vec<_>>>()
                .map_or_else(|| self.fail(value, allowed), Ok),
            Value::String(s) => parse_core_list(s).map_or_else(|| self.fail(value, allowed), Ok),
            _ => self.fail(value, allowed),
        }
    }

    /// Stages: `[{"duration": D, "target_rps": R}, ...]`, or from a flag `"30s:100,1m:0"`.
    fn stages(&self, value: &Value) -> Result<Vec<Stage>, ConfigError> {
        let allowed = "a list of {\"duration\": D, \"target_rps\": R} (on the command line: \
                       30s:100,1m:0)";
        let stage = |duration: &Value, rate: &Value| -> Option<Stage> {
            Some(Stage {
                duration: self.seconds(duration).ok()?,
                target_rps: self.number(rate).ok()?,
            })
        };
        let parsed = match value {
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    let obj = item.as_object()?;
                    if obj.keys().any(|k| k != "duration" && k != "target_rps") {
                        return None;
                    }
                    stage(obj.get("duration")?, obj.get("target_rps")?)
                })
                .collect::<Option<Vec<_>>>(),
            Value::String(s) => s
                .split(',')
                .map(|part| {
                    let (d, r) = part.split_once(':')?;
                    stage(&Value::String(d.into()), &Value::String(r.into()))
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        parsed.map_or_else(|| self.fail(value, allowed), Ok)
    }
}

/// The highest core number a list may name: the kernel's CPU set (`CPU_SETSIZE`) holds 1024.
pub const MAX_CORE: usize = 1023;

/// Parses `1,3-5` into `[1, 3, 4, 5]`: each core once, in the order first named. Ranges are
/// checked against [`MAX_CORE`] before they are expanded, so the result never holds more than
/// 1024 cores whatever the text asks for.
fn parse_core_list(text: &str) -> Option<Vec<usize>> {
    let mut seen = [false; MAX_CORE + 1];
    let mut cores = Vec::new();
    let mut add = |core: usize| {
        if !std::mem::replace(&mut seen[core], true) {
            cores.push(core);
        }
    };
    for part in text.split(',') {
        let number = |s: &str| s.trim().parse::<usize>().ok().filter(|&c| c <= MAX_CORE);
        match part.trim().split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if lo > hi {
                    return None;
                }
                (lo..=hi).for_each(&mut add);
            }
            None => add(number(part)?),
        }
    }
    Some(cores)
}

/// The text of `openpace example-config`: every field with an example value, each preceded by
/// a `"//field"` key that explains it (keys starting with `//` are comments).
pub fn example_config() -> String {
    let mut out = String::from("{\n");
    out.push_str(
        "  \"//\": \"openpace config: every field with an example value. Keys starting with // \
         are comments. Durations are seconds or strings like \\\"500us\\\", \\\"20ms\\\", \
         \\\"2m\\\". Put several scenarios under \\\"scenarios\\\": [...] to run them at the \
         same time; fields at the top level then apply to all of them.\",\n",
    );
    for (i, field) in FIELDS.iter().enumerate() {
        let comma = if i + 1 == FIELDS.len() { "" } else { "," };
        out.push_str(&format!(
            "  \"//{}\": \"{}\",\n",
            field.name,
            field.doc.replace('"', "\\\"")
        ));
        out.push_str(&format!("  \"{}\": {}{comma}\n", field.name, field.example));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_field_is_in_the_table_once() {
        let mut names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
        // Setting each field from its own example must work.
        for field in FIELDS {
            let value: Value = serde_json::from_str(field.example).unwrap();
            let (mut scenario, mut run) = (ScenarioConfig::default(), RunSettings::default());
            let mut slots = Slots {
                scenario: &mut scenario,
                run: &mut run,
            };
            set_field(&mut slots, field.name, &value, &Origin::Code)
                .unwrap_or_else(|e| panic!("{}: {e}", field.name));
        }
    }

    #[test]
    fn misspelt_fields_get_a_suggestion() {
        let err = set_field(
            &mut Slots {
                scenario: &mut ScenarioConfig::default(),
                run: &mut RunSettings::default(),
            },
            "target_rsp",
            &Value::from(5),
            &Origin::Code,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("did you mean `target_rps`"),
            "{err}"
        );
    }

    #[test]
    fn core_lists_parse() {
        assert_eq!(parse_core_list("1,3-5"), Some(vec![1, 3, 4, 5]));
        assert_eq!(parse_core_list("2"), Some(vec![2]));
        assert_eq!(parse_core_list("5-3"), None);
        assert_eq!(parse_core_list("a"), None);
        assert_eq!(parse_core_list("2,1-3,2"), Some(vec![2, 1, 3]));
        // Issue 11: the range was expanded before it was checked (a capacity overflow panic,
        // and an abort allocating 32 GiB).
        assert_eq!(parse_core_list("0-18446744073709551615"), None);
        assert_eq!(parse_core_list("0-4294967296"), None);
        assert_eq!(parse_core_list("0-1024"), None);
        assert_eq!(
            parse_core_list("0-1023,".repeat(1000).trim_end_matches(','))
                .unwrap()
                .len(),
            1024
        );
    }
}
