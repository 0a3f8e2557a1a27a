//! The one table of config fields: each field is declared once, in `config_fields!`'s table
//! below, and everything else about it is made from that declaration.
//!
//! A declaration names the field's owner (`scenario`: each scenario has its own value, in
//! [`ScenarioConfig`]; `run`: the whole run shares one, in [`RunSettings`]), its type and
//! default, its one-line meaning (the struct field's doc, `--help`, `example-config`), what
//! `docs/config.md` adds to that line, the default and an example as JSON, whether the design
//! sketch has it, its flag, how a value is read, and its range check. From the table come the
//! two structs and their `Default`, [`FIELDS`] (what `load.rs` and the command line read
//! through), each struct's per-field checks, [`RunSettings::difference`] (every run-wide field
//! compared), `openpace example-config` and the field tables of `docs/config.md`
//! ([`field_reference`], held by a golden test). Checks that relate two fields (`min_rps` at
//! most `max_rps`) are the config's own, in `validate.rs`.
//!
//! JSON files and `--set field=value` flags both go through [`set_field`], so a field is read
//! the same way wherever it comes from: durations as seconds or `"20ms"`, numbers as JSON
//! numbers or as text from the command line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::{
    MAX_BACKLOG, MAX_REPEAT, MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS, Model, Stage, WaitMode,
};
use crate::base::Timestamps;
use crate::base::host::machine_cores;
use crate::base::units::MAX_SECONDS;
use crate::error::{ConfigError, Origin};
use crate::metrics::precision::Precision;
use crate::metrics::threshold::Threshold;
use crate::report::{FORMATS, Files, ReportFormat};
use crate::schedule::{Arrival, LoadPattern, MAX_RPS};
use crate::targets::TargetSpec;

/// What a field is set on: the scenario being built, or the settings the run shares.
pub(crate) struct Slots<'a> {
    pub scenario: &'a mut ScenarioConfig,
    pub run: &'a mut RunSettings,
}

type Setter = fn(&mut Slots<'_>, &Value, &Reader) -> Result<(), ConfigError>;

/// One config field as the table declares it.
#[derive(Clone)]
pub struct Field {
    /// Name in config files.
    pub name: &'static str,
    /// Example value as JSON text.
    pub example: &'static str,
    /// The default as JSON text (what `docs/config.md` shows; a test reads it back).
    pub default: &'static str,
    /// One line on what the field does: `--help`, `example-config` and the docs say this.
    pub doc: &'static str,
    /// What `docs/config.md` says after `doc`: limits in words, links.
    pub more: &'static str,
    /// Whether the design sketch has the field (same name, same default).
    pub sketch: bool,
    /// Whether the whole run shares it ([`RunSettings`]) rather than each scenario having
    /// its own ([`ScenarioConfig`]).
    pub run_wide: bool,
    /// Its flag on the command line (`openpace run`), if it has one.
    pub flag: Option<Flag>,
    /// A struct field with no config key of its own (`also`: the report formats' fields set
    /// it).
    hidden: bool,
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

/// `--LONG VALUE`, given once.
const fn flag(long: &'static str, value: &'static str) -> Option<Flag> {
    Some(Flag {
        long,
        value,
        repeated: false,
    })
}

/// `--LONG VALUE`, given once per item of a list.
const fn flags(long: &'static str, value: &'static str) -> Option<Flag> {
    Some(Flag {
        long,
        value,
        repeated: true,
    })
}

/// A field without a flag (set it with `--set FIELD=VALUE`).
const NO_FLAG: Option<Flag> = None;

/// Builds everything the table says (see the module's doc). Entries are
/// `OWNER NAME: TYPE = DEFAULT => { doc, more, default, example, sketch, flag, read, check }`;
/// `read` turns a JSON value into the field's type, `check` returns the value as shown and
/// what is allowed when the value is out of range.
macro_rules! config_fields {
    // Sort each entry to its owner's list, keeping the table's order.
    (@split [$($s:tt)*] [$($r:tt)*] scenario $name:ident : $ty:ty = $default:expr => $body:tt $($rest:tt)*) => {
        config_fields!(@split [$($s)* [$name ($ty) ($default) $body]] [$($r)*] $($rest)*);
    };
    (@split [$($s:tt)*] [$($r:tt)*] run $name:ident : $ty:ty = $default:expr => $body:tt $($rest:tt)*) => {
        config_fields!(@split [$($s)*] [$($r)* [$name ($ty) ($default) $body]] $($rest)*);
    };
    (@split
        [$([$sn:ident ($st:ty) ($sd:expr) {
            $(hidden: $shidden:tt,)?
            doc: $sdoc:literal, more: $smore:literal, default: $sjson:literal,
            example: $sex:literal, sketch: $ssk:literal, flag: $sflag:expr,
            read: |$sr:ident, $sv:ident| $sread:expr, check: $scheck:expr $(,)?
        }])*]
        [$([$rn:ident ($rt:ty) ($rd:expr) {
            $(hidden: $rhidden:tt,)?
            doc: $rdoc:literal, more: $rmore:literal, default: $rjson:literal,
            example: $rex:literal, sketch: $rsk:literal, flag: $rflag:expr,
            read: |$rr:ident, $rv:ident| $rread:expr, check: $rcheck:expr $(,)?
        }])*]
    ) => {
        /// One load test scenario: the design sketch's `LoadTestConfig` (same field names,
        /// same defaults) without the fields a run shares, which are [`RunSettings`].
        // A field's doc is its `--help` line, whose brackets (`METRIC [STAT]`) are not links.
        #[allow(rustdoc::broken_intra_doc_links)]
        #[derive(Clone, Debug, PartialEq)]
        pub struct ScenarioConfig {
            $(#[doc = $sdoc] pub $sn: $st,)*
        }

        /// What every scenario of a run shares: one timing loop (how it waits, its core), one
        /// report and its files, one notify command, one monitored process. In a config file
        /// these fields sit at the top level (a scenario may repeat them only with the same
        /// value).
        #[allow(rustdoc::broken_intra_doc_links)]
        #[derive(Clone, Debug, PartialEq)]
        pub struct RunSettings {
            $(#[doc = $rdoc] pub $rn: $rt,)*
        }

        impl Default for ScenarioConfig {
            fn default() -> Self {
                ScenarioConfig { $($sn: $sd,)* }
            }
        }

        impl Default for RunSettings {
            fn default() -> Self {
                RunSettings { $($rn: $rd,)* }
            }
        }

        impl ScenarioConfig {
            /// The range check of each field on its own, in the table's order.
            pub(super) fn check_each_field(&self, origin: &Origin) -> Result<(), ConfigError> {
                $(($scheck)(&self.$sn).map_err(|(value, allowed)| {
                    ConfigError::invalid(origin, stringify!($sn), value, allowed)
                })?;)*
                Ok(())
            }
        }

        impl RunSettings {
            /// The range check of each field on its own, in the table's order.
            pub(super) fn check_each_field(&self, origin: &Origin) -> Result<(), ConfigError> {
                $(($rcheck)(&self.$rn).map_err(|(value, allowed)| {
                    ConfigError::invalid(origin, stringify!($rn), value, allowed)
                })?;)*
                Ok(())
            }

            /// The first run-wide field, in the table's order, in which `other` differs from
            /// these settings: its name, then this value and `other`'s as messages show them.
            fn first_difference(&self, other: &RunSettings) -> Option<(&'static str, String, String)> {
                $(if self.$rn != other.$rn {
                    return Some((
                        stringify!($rn),
                        format!("{:?}", self.$rn),
                        format!("{:?}", other.$rn),
                    ));
                })*
                None
            }
        }
    };
    // The table itself, in its order.
    (@table $($owner:ident $name:ident : $ty:ty = $default:expr => {
        $(hidden: $hidden:tt,)?
        doc: $doc:literal, more: $more:literal, default: $json:literal,
        example: $example:literal, sketch: $sketch:literal, flag: $flag:expr,
        read: |$r:ident, $v:ident| $read:expr, check: $check:expr $(,)?
    })*) => {
        /// Every field the table declares, in its order (with the hidden ones).
        static TABLE: &[Field] = &[$(Field {
            name: stringify!($name),
            example: $example,
            default: $json,
            doc: $doc,
            more: $more,
            sketch: $sketch,
            run_wide: config_fields!(@run_wide $owner),
            hidden: config_fields!(@hidden $($hidden)?),
            flag: $flag,
            set: |slots, $v, $r| {
                slots.$owner.$name = $read?;
                Ok(())
            },
        }),*];
    };
    (@hidden) => { false };
    (@hidden true) => { true };
    (@run_wide scenario) => { false };
    (@run_wide run) => { true };
    ($($entries:tt)*) => {
        config_fields!(@table $($entries)*);
        config_fields!(@split [] [] $($entries)*);
    };
}

config_fields! {
    scenario name: String = "openpace".to_string() => {
        doc: "shown in the summary and the report",
        more: "; unique within a run",
        default: "\"openpace\"",
        example: "\"GET http://127.0.0.1:8080/\"",
        sketch: true,
        flag: flag("name", "NAME"),
        read: |r, v| r.string(v),
        check: label(true),
    }
    scenario description: String = String::new() => {
        doc: "free text for the report",
        more: "",
        default: "\"\"",
        example: "\"the service on port 8080 at 50 RPS for a minute\"",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.string(v),
        check: label(false),
    }
    scenario load_pattern: LoadPattern = LoadPattern::Constant => {
        doc: "constant, ramp_up, spike, step or stages",
        more: " (see [Load patterns](#load-patterns))",
        default: "\"constant\"",
        example: "\"constant\"",
        sketch: true,
        flag: flag("pattern", "PATTERN"),
        read: |r, v| r.choice(v, &LoadPattern::ALL.map(|p| (p.name(), p))),
        check: any,
    }
    scenario duration_seconds: f64 = 60.0 => {
        doc: "length of the measured window: seconds or \"2m\"",
        more: ", after warmup (> 0)",
        default: "60",
        example: "60",
        sketch: true,
        flag: flag("duration", "DURATION"),
        read: |r, v| r.seconds(v),
        check: seconds(false),
    }
    scenario target_rps: f64 = 10.0 => {
        doc: "rate of constant; base rate of spike; peak of step",
        more: " (> 0)",
        default: "10",
        example: "50",
        sketch: true,
        flag: flag("rate", "RPS"),
        read: |r, v| r.number(v),
        check: rate(false),
    }
    scenario min_rps: f64 = 1.0 => {
        doc: "ramp_up starts here",
        more: " (>= 0, <= `max_rps`)",
        default: "1",
        example: "1",
        sketch: true,
        flag: flag("min-rps", "RPS"),
        read: |r, v| r.number(v),
        check: rate(true),
    }
    scenario max_rps: f64 = 100.0 => {
        doc: "ramp_up ends here and holds",
        more: " (> 0)",
        default: "100",
        example: "100",
        sketch: true,
        flag: flag("max-rps", "RPS"),
        read: |r, v| r.number(v),
        check: rate(false),
    }
    scenario ramp_up_duration: f64 = 60.0 => {
        doc: "seconds ramp_up takes from min_rps to max_rps",
        more: " (> 0, <= `duration_seconds`; checked for `ramp_up`, where it applies)",
        default: "60",
        example: "60",
        sketch: true,
        flag: flag("ramp-up", "DURATION"),
        read: |r, v| r.seconds(v),
        check: any,
    }
    scenario spike_duration: f64 = 10.0 => {
        doc: "length of each spike; the first starts at 2 x this",
        more: ", one more every 2 x this (< `duration_seconds` / 2 for `spike`, and at most \
               100,000 spikes)",
        default: "10",
        example: "10",
        sketch: true,
        flag: flag("spike-duration", "DURATION"),
        read: |r, v| r.seconds(v),
        check: seconds(false),
    }
    scenario spike_rps: f64 = 50.0 => {
        doc: "rate during a spike",
        more: " (>= `target_rps` for `spike`)",
        default: "50",
        example: "150",
        sketch: true,
        flag: flag("spike-rps", "RPS"),
        read: |r, v| r.number(v),
        check: rate(false),
    }
    scenario num_workers: usize = 4 => {
        doc: "worker threads calling the target",
        more: " (1 to `max_workers`)",
        default: "4",
        example: "8",
        sketch: true,
        flag: flag("workers", "N"),
        read: |r, v| r.integer(v),
        check: any,
    }
    scenario max_workers: usize = 32 => {
        doc: "upper bound for num_workers and concurrency",
        more: " (of in-process targets; 1 to 4,096)",
        default: "32",
        example: "32",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.integer(v),
        check: whole(1, 4096, ""),
    }
    scenario request_timeout_seconds: f64 = 30.0 => {
        doc: "a request's deadline, counted from its intended instant: one not done by then \
              is a timeout",
        more: ", one still queued then is given up (`expired`); the end of a run waits for \
               calls in flight at most until the last deadline (1 µs to 3600 s)",
        default: "30",
        example: "30",
        sketch: true,
        flag: flag("timeout", "DURATION"),
        read: |r, v| r.seconds(v),
        check: timeout,
    }
    scenario max_retries: u32 = 3 => {
        doc: "extra attempts after a failed call (not after a timeout)",
        more: ", made at once (0 to 100)",
        default: "3",
        example: "3",
        sketch: true,
        flag: flag("retries", "N"),
        read: |r, v| r.integer(v),
        check: whole(0, 100, ""),
    }
    scenario timestamps: Timestamps = Timestamps::Off => {
        doc: "kernel timestamps on a TCP target's sockets: off or kernel (service time split \
              into client_send, wire_and_server, client_receive); hardware says what the NIC \
              can stamp and is refused",
        more: " (SO_TIMESTAMPING in software; a TCP target only, plain or TLS; see \
               [Measurement](measurement.md#kernel-timestamps))",
        default: "\"off\"",
        example: "\"off\"",
        sketch: false,
        flag: flag("timestamps", "MODE"),
        read: |r, v| {
            r.choice(
                v,
                &[
                    ("off", Timestamps::Off),
                    ("kernel", Timestamps::Kernel),
                    ("hardware", Timestamps::Hardware),
                ],
            )
        },
        check: any,
    }
    scenario busy_poll_us: u32 = 0 => {
        doc: "busy-poll a network target's sockets for this many microseconds (SO_BUSY_POLL, \
              and on the workers' epoll); 0: off",
        more: " (0 to 100,000; refused, exit 2, where the kernel does not permit it: some \
               want CAP_NET_ADMIN to raise it above `net.core.busy_read`; see \
               [Measurement](measurement.md#busy-polling))",
        default: "0",
        example: "0",
        sketch: false,
        flag: flag("busy-poll", "USECS"),
        read: |r, v| r.integer(v),
        check: whole(0, 100_000, ""),
    }
    scenario metrics_collection_interval: f64 = 5.0 => {
        doc: "seconds per interval of the time series",
        more: " (>= 0.01, and at most 100,000 rows: >= `duration_seconds` / 100,000)",
        default: "5",
        example: "5",
        sketch: true,
        flag: flag("interval", "DURATION"),
        read: |r, v| r.seconds(v),
        check: interval,
    }
    run report_format: ReportFormat = ReportFormat::Json => {
        doc: "what the output file holds",
        more: " (`text` is the summary)",
        default: "\"json\"",
        example: "\"json\"",
        sketch: true,
        flag: flag("format", "FORMAT"),
        read: |r, v| r.choice(v, &ReportFormat::ALL),
        check: any,
    }
    scenario monitor_cpu: bool = true => {
        doc: "sample CPU: the process (user/system), each thread, each core of the host \
              (steal, iowait), load average",
        more: "",
        default: "true",
        example: "true",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.boolean(v),
        check: any,
    }
    scenario monitor_memory: bool = true => {
        doc: "sample memory: the process's RSS (MB and % of the host), page faults, the \
              host's available memory",
        more: "",
        default: "true",
        example: "true",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.boolean(v),
        check: any,
    }
    scenario monitor_network: bool = false => {
        doc: "sample bytes and packets per network interface, from the start of the run",
        more: "",
        default: "false",
        example: "false",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.boolean(v),
        check: any,
    }
    scenario latency_p95_threshold_ms: f64 = 100.0 => {
        doc: "response-time p95 must stay below this",
        more: " (milliseconds)",
        default: "100",
        example: "100",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.number(v),
        check: milliseconds,
    }
    scenario latency_p99_threshold_ms: f64 = 200.0 => {
        doc: "response-time p99 must stay below this",
        more: " (milliseconds)",
        default: "200",
        example: "200",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.number(v),
        check: milliseconds,
    }
    scenario error_rate_threshold: f64 = 0.01 => {
        doc: "(errors + timeouts + dropped) / intended may not exceed this (0 to 1)",
        more: "",
        default: "0.01",
        example: "0.01",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.number(v),
        check: fraction,
    }
    scenario success_rate_threshold: f64 = 0.95 => {
        doc: "ok / intended must reach this (0 to 1)",
        more: "",
        default: "0.95",
        example: "0.95",
        sketch: true,
        flag: NO_FLAG,
        read: |r, v| r.number(v),
        check: fraction,
    }
    scenario defaulted: Vec<String> = Vec::new() => {
        hidden: true,
        doc: "the fields among target_rps and the design's four limits that no file or flag set \
              (the summary calls them defaults; empty for a scenario built in code)",
        more: "",
        default: "[]",
        example: "[]",
        sketch: false,
        flag: NO_FLAG,
        read: |r, v| r.fail(v, "no value: openpace notes which fields the file and flags left out"),
        check: any,
    }
    scenario thresholds: Vec<Threshold> = Vec::new() => {
        doc: "more thresholds: METRIC [STAT] OP LIMIT",
        more: " (see [Thresholds, alerts, progress](cli.md#thresholds-alerts-progress))",
        default: "[]",
        example: "[\"response p99 < 150ms\", \"dispatch_delay p99 < 1ms\", \"achieved_rate >= 0.99 * target\"]",
        sketch: false,
        flag: flags("threshold", "THRESHOLD"),
        read: |r, v| r.thresholds(v),
        check: any,
    }
    scenario abort_on_fail: bool = false => {
        doc: "stop the run as soon as a threshold can no longer pass",
        more: "; the report says which and when; exit 1",
        default: "false",
        example: "false",
        sketch: false,
        flag: flag("abort-on-fail", ""),
        read: |r, v| r.boolean(v),
        check: any,
    }
    scenario precision: Vec<Precision> = Vec::new() => {
        doc: "run until precise: \"response p99 +-2%\" goes on past duration_seconds until \
              that interval is that tight",
        more: " (METRIC `response`, `service` or `dispatch`): in whole intervals, until every \
               target's 95% interval is within X% of its value on either side and the \
               stationarity check passes, then ends with the interval in progress; up to \
               `max_duration`. The report's `precision` says whether and when (see [Run until \
               precise](measurement.md#run-until-precise)). Open model only",
        default: "[]",
        example: "[]",
        sketch: false,
        flag: flags("until-precise", "TARGET"),
        read: |r, v| r.precisions(v),
        check: any,
    }
    scenario max_duration: Option<f64> = None => {
        doc: "the longest a run with precision may last; null: 10 x duration_seconds",
        more: " (seconds or `\"10m\"`, at least `duration_seconds`)",
        default: "null",
        example: "null",
        sketch: false,
        flag: flag("max-duration", "DURATION"),
        read: |r, v| r.optional(v, Reader::seconds),
        check: optional(seconds(false)),
    }
    run repeat: u32 = 1 => {
        doc: "run the whole config this many times, each a fresh start, into one report with \
              every percentile's interval across the runs",
        more: " (new workers and connections, its own warmup, a pause of 0.5 s between; see \
               [Numbers across runs](measurement.md#how-much-to-trust-a-number))",
        default: "1",
        example: "1",
        sketch: false,
        flag: flag("repeat", "N"),
        read: |r, v| r.integer(v),
        check: whole(1, MAX_REPEAT as u64, " runs"),
    }
    run realtime: bool = false => {
        doc: "run the timing loop under SCHED_FIFO (priority 49): no normal thread preempts it",
        more: "; refused (exit 2) where the process may not: it needs CAP_SYS_NICE or \
               `ulimit -r` of 49 or more (see [Measurement](measurement.md#realtime))",
        default: "false",
        example: "false",
        sketch: false,
        flag: flag("realtime", ""),
        read: |r, v| r.boolean(v),
        check: any,
    }
    run mlock: bool = false => {
        doc: "lock every page of openpace in RAM for the run (mlockall): no page fault stalls it",
        more: "; refused (exit 2) without CAP_IPC_LOCK or a large enough `ulimit -l`",
        default: "false",
        example: "false",
        sketch: false,
        flag: flag("mlock", ""),
        read: |r, v| r.boolean(v),
        check: any,
    }
    run strict: bool = false => {
        doc: "exit 1 when a threshold is inconclusive (its 95% interval straddles the limit)",
        more: ", not only when one failed (see [Thresholds](cli.md#thresholds-alerts-progress))",
        default: "false",
        example: "false",
        sketch: false,
        flag: flag("strict", ""),
        read: |r, v| r.boolean(v),
        check: any,
    }
    scenario target: TargetSpec = TargetSpec::Noop => {
        doc: "noop, spin:DURATION, spin:exp:MEAN, spin:lognormal:MEDIAN:SIGMA, sleep:DURATION, \
              features[:OPTIONS], http[s]://HOST:PORT/PATH, tcp://HOST:PORT, redis://HOST:PORT, \
              memcached://HOST:PORT, or {\"http\": {\"url\": \"https://...\", \"connections\": 64, \
              \"headers\": {...}, \"cacert\": \"ca.pem\", \"insecure\": false, \"expect_json\": \
              \"/status=ok\", \"expect_body_contains\": \"...\", \"expect_body_size\": 2, \"requests\": \
              \"set.jsonl\", \"requests_order\": \"round-robin\"}} or {\"redis\": {\"address\": \
              \"127.0.0.1:6379\", \"command\": \"SET key:{{seq}} {{rand_hex 16}}\"}} \
              ({{seq}}, {{shard}}, {{rand_int A B}}, {{rand_hex N}}, {{line FILE}} in a URL, header, \
              body or command are rendered per request)",
        more: ". `spin:DURATION` busy-waits exactly that long (the calibration target); \
               `spin:exp:MEAN` and `spin:lognormal:MEDIAN:SIGMA` busy-wait a time drawn per \
               request from the scenario's `seed`, so a run repeats (`spin:exp:200us` has \
               median 200 µs x ln 2 and p99 200 µs x ln 100); `sleep:DURATION` is the sketch's \
               mock model; `features` is the reference feature extractor (see \
               [workload](workload.md)), the default scenario's target. The objects are in \
               [HTTP and TCP](servers.md). The library takes any Rust function",
        default: "\"noop\"",
        example: "\"http://127.0.0.1:8080/\"",
        sketch: false,
        flag: flag("target", "TARGET"),
        read: |r, v| r.target(v),
        check: any,
    }
    scenario warmup_seconds: f64 = 0.0 => {
        doc: "sent at the starting rate before measuring; not counted",
        more: " (executed, not measured)",
        default: "0",
        example: "2",
        sketch: false,
        flag: flag("warmup", "DURATION"),
        read: |r, v| r.seconds(v),
        check: seconds(true),
    }
    scenario arrival: Arrival = Arrival::Uniform => {
        doc: "uniform spacing or a seeded poisson process",
        more: ": exponential gaps following the pattern's rate",
        default: "\"uniform\"",
        example: "\"uniform\"",
        sketch: false,
        flag: flag("arrival", "ARRIVAL"),
        read: |r, v| r.choice(v, &[("uniform", Arrival::Uniform), ("poisson", Arrival::Poisson)]),
        check: any,
    }
    scenario seed: Option<u64> = None => {
        doc: "seed of poisson arrivals; null picks one and reports it",
        more: ", so a run can be repeated exactly",
        default: "null",
        example: "42",
        sketch: false,
        flag: flag("seed", "N"),
        read: |r, v| r.optional(v, Reader::integer),
        check: any,
    }
    scenario stages: Vec<Stage> = Vec::new() => {
        doc: "for load_pattern stages: each moves the rate linearly to target_rps",
        more: " from the previous one's",
        default: "[]",
        example: "[{\"duration\": \"30s\", \"target_rps\": 100}, {\"duration\": 30, \"target_rps\": 0}]",
        sketch: false,
        flag: flag("stages", "STAGES"),
        read: |r, v| r.stages(v),
        check: any,
    }
    scenario start_rps: f64 = 0.0 => {
        doc: "rate at which the stages pattern starts",
        more: "",
        default: "0",
        example: "0",
        sketch: false,
        flag: NO_FLAG,
        read: |r, v| r.number(v),
        check: any,
    }
    run wait: WaitMode = WaitMode::Hybrid => {
        doc: "spin (dedicated hosts), hybrid or sleep (shared machines)",
        more: " (see [Wait modes and cores](#wait-modes-and-cores))",
        default: "\"hybrid\"",
        example: "\"hybrid\"",
        sketch: false,
        flag: flag("wait", "MODE"),
        read: |r, v| r.choice(
            v,
            &[("spin", WaitMode::Spin), ("hybrid", WaitMode::Hybrid), ("sleep", WaitMode::Sleep)],
        ),
        check: any,
    }
    run timer_core: Option<usize> = None => {
        doc: "core of the timing loop; null: the first core this process may use",
        more: " (when it may use two or more)",
        default: "null",
        example: "0",
        sketch: false,
        flag: flag("timer-core", "CORE"),
        read: |r, v| r.optional(v, Reader::integer),
        check: optional(core),
    }
    scenario worker_cores: Option<Vec<usize>> = None => {
        doc: "cores of the workers; null: every core but the timer's",
        more: " (taken in turn; 0 to 1,023, each once)",
        default: "null",
        example: "[1]",
        sketch: false,
        flag: flag("worker-cores", "CORES"),
        read: |r, v| r.optional(v, Reader::cores),
        check: optional(cores),
    }
    scenario model: Model = Model::Open => {
        doc: "open (scheduled, corrected) or closed (fixed concurrency)",
        more: ", labelled not corrected",
        default: "\"open\"",
        example: "\"open\"",
        sketch: false,
        flag: flag("model", "MODEL"),
        read: |r, v| r.choice(v, &[("open", Model::Open), ("closed", Model::Closed)]),
        check: any,
    }
    scenario concurrency: Option<usize> = None => {
        doc: "callers in the closed model; null: num_workers",
        more: ". For a network target, the connections (up to 100,000), spread over the workers",
        default: "null",
        example: "null",
        sketch: false,
        flag: flag("concurrency", "N"),
        read: |r, v| r.optional(v, Reader::integer),
        check: any,
    }
    scenario max_backlog: usize = 65_536 => {
        doc: "requests held when the hand-off queue is full; more are dropped",
        more: " (at most 10,000,000)",
        default: "65536",
        example: "65536",
        sketch: false,
        flag: NO_FLAG,
        read: |r, v| r.integer(v),
        check: whole(0, MAX_BACKLOG as u64, " requests"),
    }
    run notify_cmd: Option<String> = None => {
        doc: "shell command run per alert and at the end, with JSON on stdin",
        more: " (the alert or the verdict)",
        default: "null",
        example: "null",
        sketch: false,
        flag: flag("notify-cmd", "CMD"),
        read: |r, v| r.optional(v, Reader::string),
        check: any,
    }
    run metrics_listen: Option<SocketAddr> = None => {
        doc: "serve live OpenMetrics at http://ADDR/metrics while the run lasts, for Prometheus",
        more: " (see [Live metrics](cli.md#live-metrics-for-prometheus))",
        default: "null",
        example: "null",
        sketch: false,
        flag: flag("metrics-listen", "ADDR"),
        read: |r, v| r.optional(v, Reader::listen_address),
        check: any,
    }
    run monitor_pid: Option<u32> = None => {
        doc: "pid of another process to sample during the run (CPU, RSS, threads)",
        more: "; it must exist at the start; if it exits, its sampling ends with a note and \
               the run goes on",
        default: "null",
        example: "null",
        sketch: false,
        flag: flag("monitor-pid", "PID"),
        read: |r, v| r.optional(v, Reader::integer),
        check: optional(running_pid),
    }
    run log_requests: Option<PathBuf> = None => {
        doc: "write one line per measured request to this file (binary; `openpace log FILE` \
              reads it)",
        more: ": intended, handed over, sent, first byte, end, outcome, bytes, name, connection. \
               Never slows the run: when the disk cannot keep up it samples and says what share \
               it kept (see [The request log](formats.md#the-request-log))",
        default: "null",
        example: "null",
        sketch: false,
        flag: flag("log-requests", "FILE"),
        read: |r, v| r.optional(v, Reader::path),
        check: optional(log_path),
    }
    run also: BTreeMap<ReportFormat, PathBuf> = BTreeMap::new() => {
        hidden: true,
        doc: "the reports also written, each by its format's own field (html, hgrm, ...)",
        more: "",
        default: "{}",
        example: "{}",
        sketch: false,
        flag: NO_FLAG,
        read: |r, v| r.fail(v, "no value: each report format has its own field"),
        check: any,
    }
    run output: Option<PathBuf> = None => {
        doc: "where the report is written; null: nowhere",
        more: " (a file, a device, a FIFO, a link or `-`, see [Output \
               formats](formats.md#output-formats)); the default scenario sets \
               `openpace-report.json`",
        default: "null",
        example: "\"openpace-report.json\"",
        sketch: false,
        flag: flag("out", "FILE"),
        read: |r, v| r.optional(v, Reader::path),
        check: any,
    }
}

/// Every config field, in the order `example-config` prints them: the table's, with a field
/// for each report format that can be written beside the main output (`html`, `hgrm`, ...,
/// from the format table) before `output`.
pub static FIELDS: LazyLock<Vec<Field>> = LazyLock::new(|| {
    let (last, table) = TABLE.split_last().expect("the table has fields");
    let mut fields: Vec<Field> = table.iter().filter(|f| !f.hidden).cloned().collect();
    // The format field's line names the formats of the format table, once per process.
    for field in fields.iter_mut().filter(|f| f.name == "report_format") {
        let line = format!("{}: {}", field.doc, ReportFormat::names_or());
        field.doc = Box::leak(line.into_boxed_str());
    }
    fields.extend(FORMATS.iter().filter_map(format_field));
    fields.push(last.clone());
    fields
});

/// The run-wide field that writes `format` beside the main output, if it has one.
fn format_field(format: &crate::report::format::Format) -> Option<Field> {
    let (name, doc) = format.also?;
    Some(Field {
        name,
        example: "null",
        default: "null",
        doc,
        more: match format.files {
            Files::One => " (see [Output formats](formats.md#output-formats))",
            Files::PerScenarioAndMetric => {
                " (one file per scenario and metric, beside this path; see [Output \
                 formats](formats.md#output-formats))"
            }
        },
        sketch: false,
        run_wide: true,
        flag: flag(name, "FILE"),
        hidden: false,
        set: |slots, value, reader| {
            let format = ReportFormat::of_field(reader.field).expect("a format's own field");
            match reader.optional(value, Reader::path)? {
                Some(path) => slots.run.also.insert(format, path),
                None => slots.run.also.remove(&format),
            };
            Ok(())
        },
    })
}

impl RunSettings {
    /// The first run-wide field, in the order of [`FIELDS`], in which `other` differs from
    /// these settings: its name, then this value and `other`'s as messages show them.
    pub fn difference(&self, other: &RunSettings) -> Option<(&'static str, String, String)> {
        let found = self.first_difference(other)?;
        if found.0 != "also" {
            return Some(found);
        }
        let path = |s: &RunSettings, f: ReportFormat| format!("{:?}", s.also.get(&f));
        FORMATS.iter().find_map(|f| {
            let (name, _) = f.also?;
            let (ours, theirs) = (path(self, f.format), path(other, f.format));
            (ours != theirs).then_some((name, ours, theirs))
        })
    }

    /// Where the report in `format` is also written, if anywhere.
    pub fn also_file(&self, format: ReportFormat) -> Option<&PathBuf> {
        self.also.get(&format)
    }
}

/// A value out of range: the value as a message shows it, and what is allowed.
type Verdict = Result<(), (String, String)>;

/// No range to check (the reader already refused what the type cannot hold).
fn any<T>(_: &T) -> Verdict {
    Ok(())
}

/// Text printed to terminals (a name, a description): without control characters, which
/// would rewrite what the summary and the progress line show; not empty when `required`.
fn label(required: bool) -> impl Fn(&String) -> Verdict {
    move |text| {
        if required && text.trim().is_empty() {
            return Err(("\"\"".to_string(), "a non-empty name".to_string()));
        }
        match text.chars().any(char::is_control) {
            true => Err((
                format!("\"{}\"", text.escape_debug()),
                "text without control characters (no ESC, CR, LF or tab)".to_string(),
            )),
            false => Ok(()),
        }
    }
}

/// Seconds up to 30 days, more than 0 (or 0 too when `zero_ok`).
pub(super) fn seconds(zero_ok: bool) -> impl Fn(&f64) -> Verdict {
    move |&value| {
        let ok =
            value.is_finite() && value <= MAX_SECONDS && (value > 0.0 || zero_ok && value == 0.0);
        let lower = if zero_ok { "0 or more" } else { "more than 0" };
        ok.then_some(()).ok_or_else(|| {
            (
                value.to_string(),
                format!(
                    "{lower} seconds, at most 30 days (a number of seconds or e.g. \"500ms\", \"2m\")"
                ),
            )
        })
    }
}

/// A rate up to [`MAX_RPS`], more than 0 (or 0 too when `zero_ok`).
pub(super) fn rate(zero_ok: bool) -> impl Fn(&f64) -> Verdict {
    move |&value| {
        let ok = value.is_finite() && value <= MAX_RPS && (value > 0.0 || zero_ok && value == 0.0);
        let lower = if zero_ok { "0 or more" } else { "more than 0" };
        ok.then_some(()).ok_or_else(|| {
            (
                value.to_string(),
                format!("{lower} requests per second, at most 100000000"),
            )
        })
    }
}

/// A whole number from `low` to `high` (of `unit`, if it has one: " requests").
fn whole<T: Copy>(low: u64, high: u64, unit: &'static str) -> impl Fn(&T) -> Verdict
where
    u64: TryFrom<T>,
{
    move |&value| {
        let n = u64::try_from(value).unwrap_or(u64::MAX);
        (low..=high)
            .contains(&n)
            .then_some(())
            .ok_or_else(|| (n.to_string(), format!("{low} to {high}{unit}")))
    }
}

/// A check of the value inside an `Option`, when there is one.
fn optional<T>(check: impl Fn(&T) -> Verdict) -> impl Fn(&Option<T>) -> Verdict {
    move |value| value.as_ref().map_or(Ok(()), &check)
}

/// The request log: a file path, not standard output (the log is binary).
#[allow(clippy::ptr_arg)] // the table checks each field through a reference to its type
fn log_path(path: &PathBuf) -> Verdict {
    if path.as_os_str().is_empty() || path.as_os_str() == "-" {
        return Err((
            format!("{:?}", path.display().to_string()),
            "a file path (the log is binary, not for a terminal; `openpace log FILE` turns it \
             into CSV)"
                .to_string(),
        ));
    }
    Ok(())
}

/// The request timeout: seconds, from 1 µs to the histograms' ceiling.
fn timeout(value: &f64) -> Verdict {
    seconds(false)(value)?;
    (MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS)
        .contains(value)
        .then_some(())
        .ok_or_else(|| {
            (
                value.to_string(),
                "1us to 3600 seconds (one hour, the histograms' ceiling)".to_string(),
            )
        })
}

/// The time series' interval: seconds, at least 10 ms.
fn interval(value: &f64) -> Verdict {
    seconds(false)(value)?;
    (*value >= 0.01).then_some(()).ok_or_else(|| {
        (
            value.to_string(),
            "at least 0.01 seconds (10ms)".to_string(),
        )
    })
}

/// A latency limit in milliseconds: more than 0, at most an hour.
fn milliseconds(value: &f64) -> Verdict {
    (*value > 0.0 && *value <= MAX_TIMEOUT_SECONDS * 1000.0)
        .then_some(())
        .ok_or_else(|| {
            (
                value.to_string(),
                "milliseconds greater than 0 and at most 3600000".to_string(),
            )
        })
}

/// A share of the requests, 0 to 1.
fn fraction(value: &f64) -> Verdict {
    (0.0..=1.0).contains(value).then_some(()).ok_or_else(|| {
        (
            value.to_string(),
            "a fraction from 0 to 1 (0.01 means 1%)".to_string(),
        )
    })
}

/// A core this machine has.
fn core(value: &usize) -> Verdict {
    let count = machine_cores();
    (*value < count).then_some(()).ok_or_else(|| {
        (
            value.to_string(),
            format!("a core this machine has: 0 to {}", count - 1),
        )
    })
}

/// A non-empty list of cores this machine has.
#[allow(clippy::ptr_arg)] // a check takes the field as the struct holds it
fn cores(value: &Vec<usize>) -> Verdict {
    if value.is_empty() {
        return Err((
            "[]".to_string(),
            "a non-empty list of core numbers".to_string(),
        ));
    }
    value.iter().try_for_each(core)
}

/// The pid of a process running now.
fn running_pid(pid: &u32) -> Verdict {
    let running = *pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists();
    running
        .then_some(())
        .ok_or_else(|| (pid.to_string(), "the pid of a running process".to_string()))
}

/// The field tables of `docs/config.md`: the design sketch's fields, then what openpace adds
/// (each with its default, its flag and what it means), then which fields the run shares. A
/// golden test holds the docs to this text.
pub fn field_reference() -> String {
    let row = |f: &Field| {
        let run_wide = if f.run_wide { " (run-wide)" } else { "" };
        let meaning = format!("{}{}{run_wide}", f.doc, f.more).replace('|', "\\|");
        let flag = match f.flag {
            Some(Flag {
                long, value: "", ..
            }) => format!("`--{long}`"),
            Some(Flag {
                long,
                value,
                repeated,
            }) => {
                let again = if repeated { " (repeatable)" } else { "" };
                format!("`--{long} {value}`{again}")
            }
            None => String::new(),
        };
        format!("| `{}` | `{}` | {flag} | {meaning} |\n", f.name, f.default)
    };
    let table = |sketch: bool| {
        let rows: String = FIELDS
            .iter()
            .filter(|f| f.sketch == sketch)
            .map(row)
            .collect();
        format!("| field | default | flag | meaning |\n| --- | --- | --- | --- |\n{rows}")
    };
    let run_wide: Vec<String> = FIELDS
        .iter()
        .filter(|f| f.run_wide)
        .map(|f| format!("`{}`", f.name))
        .collect();
    format!(
        "The design sketch's fields, with its names and defaults:\n\n{}\nWhat openpace adds:\n\n{}\n\
         The fields marked run-wide ({}) belong to the whole run, not to a scenario: one timing \
         loop, one report. In the library they are `RunSettings`, beside the scenarios in \
         `RunConfig {{ run, scenarios }}`; in a file, set them once at the top level. A scenario \
         may repeat one only with the same value (anything else is refused, naming the field).\n",
        table(true),
        table(false),
        run_wide.join(", ")
    )
}

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

    fn path(&self, value: &Value) -> Result<PathBuf, ConfigError> {
        self.string(value).map(PathBuf::from)
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
            Value::String(s) => match target_object_text(s) {
                Some(Some(object)) => self.target(&Value::Object(object)),
                Some(None) => self.fail(
                    value,
                    "a JSON object such as {\"http\": {\"url\": \"http://HOST/\"}} \
                     (this text is not one)",
                ),
                None => TargetSpec::parse(s)
                    .or_else(|why| self.fail(value, format!("{} ({why})", TargetSpec::ALLOWED))),
            },
            // An object names its kind: the reason alone says what to change.
            Value::Object(o) => {
                crate::targets::net::spec::from_object(o).or_else(|why| self.fail(value, why))
            }
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

pub use crate::base::host::MAX_CORE;
use crate::base::host::parse_core_list;

/// A target object given as text (`--target '{"http": {...}}'` on the command line): `None`
/// when `text` is not meant as one (it does not start with `{`), `Some(None)` when it is but
/// is not a JSON object, else the object.
pub fn target_object_text(text: &str) -> Option<Option<Map<String, Value>>> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Some(Some(object)),
        _ => Some(None),
    }
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
        for field in FIELDS.iter() {
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

    /// The default the docs show is the default the code has: reading it back into a default
    /// config changes nothing.
    #[test]
    fn each_shown_default_is_the_default() {
        for field in FIELDS.iter() {
            let value: Value = serde_json::from_str(field.default).unwrap();
            let (mut scenario, mut run) = (ScenarioConfig::default(), RunSettings::default());
            let mut slots = Slots {
                scenario: &mut scenario,
                run: &mut run,
            };
            set_field(&mut slots, field.name, &value, &Origin::Code).unwrap();
            assert_eq!(scenario, ScenarioConfig::default(), "{}", field.name);
            assert_eq!(run, RunSettings::default(), "{}", field.name);
        }
    }

    /// Every run-wide field takes part in `difference` (issue 27: `strict` was once left out
    /// of the hand-written list), and scenario fields are not run-wide.
    #[test]
    fn every_run_wide_field_is_compared() {
        for field in FIELDS.iter().filter(|f| f.run_wide) {
            let example: Value = serde_json::from_str(field.example).unwrap();
            let default: Value = serde_json::from_str(field.default).unwrap();
            // A value other than the default: the example when it differs, else one made
            // from the default's type.
            let changed = match (example, default) {
                (example, default) if example != default && !example.is_null() => example,
                (_, Value::Bool(b)) => Value::Bool(!b),
                (_, Value::Number(n)) => Value::from(n.as_f64().unwrap_or(0.0) as u64 + 1),
                (_, Value::String(_)) => Value::from(match field.name {
                    "report_format" => "csv",
                    "wait" => "spin",
                    _ => "other",
                }),
                _ => Value::from("other.json"),
            };
            let changed = match field.name {
                "metrics_listen" => Value::from("127.0.0.1:9464"),
                "monitor_pid" => Value::from(std::process::id()),
                "timer_core" => Value::from(0),
                _ => changed,
            };
            let (mut scenario, mut run) = (ScenarioConfig::default(), RunSettings::default());
            let mut slots = Slots {
                scenario: &mut scenario,
                run: &mut run,
            };
            set_field(&mut slots, field.name, &changed, &Origin::Code)
                .unwrap_or_else(|e| panic!("{e}"));
            let found = RunSettings::default().difference(&run).map(|d| d.0);
            assert_eq!(found, Some(field.name), "{changed}");
        }
    }

    /// `report_format`'s line names the format table's formats, in its order (it is made
    /// from the table).
    #[test]
    fn the_report_format_field_names_every_format() {
        let field = FIELDS.iter().find(|f| f.name == "report_format").unwrap();
        let names: Vec<&str> = FORMATS.iter().map(|f| f.name).collect();
        let (rest, last) = names.split_at(names.len() - 1);
        let listed = format!("{} or {}", rest.join(", "), last[0]);
        assert!(field.doc.ends_with(&listed), "{}: {listed}", field.doc);
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
