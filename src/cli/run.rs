//! `openpace run`: a load test from a config file and/or flags; prints the summary, writes
//! every report, and says which could not be written.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use openpace::cluster::{self, ClusterPlan, Shard};
use openpace::config::{Override, ReportFormat, RunConfig};
use openpace::engine::ProgressMode;
use openpace::error::Origin;
use openpace::report::{self, Destination};
use openpace::targets::net::spec::NetFlags;
use openpace::{Error, LoadTestRunner, RunResult, calibrate};

use super::{Console, ScenarioFlags, finish, flag_error, load, seconds_flag};

/// Flags of `openpace run`. Every value is read by the same code as the config file, so
/// `--duration 2m` and `"duration_seconds": "2m"` mean the same.
#[derive(Args, Default)]
pub(super) struct RunArgs {
    /// Config file (JSON). Without one, flags modify the embedded default scenario.
    pub(super) config: Option<PathBuf>,
    #[command(flatten)]
    pub(super) scenario: ScenarioFlags,
    /// Load pattern: constant, ramp_up, spike, step or stages (field `load_pattern`).
    #[arg(long, value_name = "PATTERN")]
    pattern: Option<String>,
    /// Requests per second (field `target_rps`).
    #[arg(long, value_name = "RPS")]
    rate: Option<String>,
    /// Measured window: seconds or e.g. 500ms, 2m (field `duration_seconds`).
    #[arg(long, value_name = "DURATION")]
    duration: Option<String>,
    /// Sent before measuring, not counted (field `warmup_seconds`).
    #[arg(long, value_name = "DURATION")]
    warmup: Option<String>,
    /// Where the report is written; `none` for nowhere (field `output`).
    #[arg(long, value_name = "FILE")]
    out: Option<String>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// HTTP header "Name: value" for an http:// target (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// HTTP method for an http:// target.
    #[arg(long, value_name = "METHOD")]
    method: Option<String>,
    /// Request body for an http:// target.
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
    /// File holding the request body for an http:// target.
    #[arg(long, value_name = "FILE")]
    body_file: Option<String>,
    /// Statuses that count as success, e.g. 200,204 (default: 2xx and 3xx).
    #[arg(long, value_name = "CODES")]
    expect_status: Option<String>,
    /// Connections to a network target, spread over at most --workers worker threads
    /// (default: one per worker; with --model closed, --concurrency).
    #[arg(long, value_name = "N")]
    connections: Option<String>,
    /// Connect timeout of a network target.
    #[arg(long, value_name = "DURATION")]
    connect_timeout: Option<String>,
    /// Bytes a tcp:// target sends: text with \r \n \xHH escapes, or hex:0a0b...
    #[arg(long, value_name = "PAYLOAD")]
    payload: Option<String>,
    /// A tcp:// response ends with these bytes (default \n).
    #[arg(long, value_name = "DELIMITER")]
    until: Option<String>,
    /// A tcp:// response is this many bytes.
    #[arg(long, value_name = "N")]
    read_bytes: Option<String>,
    /// Scenario name (field `name`).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// ramp_up start rate (field `min_rps`).
    #[arg(long, value_name = "RPS")]
    min_rps: Option<String>,
    /// ramp_up end rate (field `max_rps`).
    #[arg(long, value_name = "RPS")]
    max_rps: Option<String>,
    /// ramp_up length (field `ramp_up_duration`).
    #[arg(long, value_name = "DURATION")]
    ramp_up: Option<String>,
    /// Rate during spikes (field `spike_rps`).
    #[arg(long, value_name = "RPS")]
    spike_rps: Option<String>,
    /// Length of each spike (field `spike_duration`).
    #[arg(long, value_name = "DURATION")]
    spike_duration: Option<String>,
    /// Stages, e.g. 30s:100,1m:100,30s:0 (field `stages`).
    #[arg(long, value_name = "STAGES")]
    stages: Option<String>,
    /// Arrival process: uniform or poisson (field `arrival`).
    #[arg(long, value_name = "ARRIVAL")]
    arrival: Option<String>,
    /// Seed of poisson arrivals (field `seed`).
    #[arg(long, value_name = "N")]
    seed: Option<String>,
    /// Request timeout (field `request_timeout_seconds`).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Extra attempts after a failure (field `max_retries`).
    #[arg(long, value_name = "N")]
    retries: Option<String>,
    /// Interval of the time series (field `metrics_collection_interval`).
    #[arg(long, value_name = "DURATION")]
    interval: Option<String>,
    /// Core of the timing loop (field `timer_core`).
    #[arg(long, value_name = "CORE")]
    timer_core: Option<String>,
    /// Cores of the workers, e.g. 1,2 or 1-3 (field `worker_cores`).
    #[arg(long, value_name = "CORES")]
    worker_cores: Option<String>,
    /// open or closed (field `model`).
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Callers in the closed model (field `concurrency`).
    #[arg(long, value_name = "N")]
    concurrency: Option<String>,
    /// Also write the self-contained HTML report here (field `html`).
    #[arg(long, value_name = "FILE")]
    html: Option<String>,
    /// Also write HdrHistogram percentile distributions here (field `hgrm`).
    #[arg(long, value_name = "FILE")]
    hgrm: Option<String>,
    /// Also write the HdrHistogram interval log here (field `hlog`).
    #[arg(long, value_name = "FILE")]
    hlog: Option<String>,
    /// Also write the interval time series as CSV here (field `csv`).
    #[arg(long, value_name = "FILE")]
    csv: Option<String>,
    /// Also write a JUnit XML report here, one test case per threshold (field `junit`).
    #[arg(long, value_name = "FILE")]
    junit: Option<String>,
    /// Another process to sample during the run (field `monitor_pid`).
    #[arg(long, value_name = "PID")]
    monitor_pid: Option<String>,
    /// Output file format: json or text (field `report_format`).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// A report of `openpace calibrate`: prints the run's figures beside its floors.
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
    /// Run this shell command for each alert and at the end, with JSON on stdin (field
    /// `notify_cmd`).
    #[arg(long, value_name = "CMD")]
    notify_cmd: Option<String>,
    /// Stop as soon as a threshold can no longer pass (field `abort_on_fail`).
    #[arg(long)]
    abort_on_fail: bool,
    /// This run is shard I of N (I/N); `auto`: read from Slurm, Open MPI, PMI or a
    /// Kubernetes Indexed Job (the default when their variables are set); `none`: the whole
    /// schedule even under a launcher.
    #[arg(long, value_name = "I/N|auto|none")]
    shard: Option<String>,
    /// Shard count of a Kubernetes Indexed Job (else OPENPACE_SHARDS).
    #[arg(long, value_name = "N")]
    shards: Option<String>,
    /// Start at this wall-clock instant: Unix seconds (1795784400.5), RFC 3339
    /// (2026-11-27T13:00:00Z) or now+DURATION.
    #[arg(long, value_name = "TIME")]
    start_at: Option<String>,
    /// How late after --start-at a shard may still start (default 250ms).
    #[arg(long, value_name = "DURATION")]
    start_tolerance: Option<String>,
}

impl RunArgs {
    /// The flags of a run that gives only `scenario`'s.
    pub(super) fn with_scenario(scenario: &ScenarioFlags) -> RunArgs {
        RunArgs {
            scenario: scenario.clone(),
            ..RunArgs::default()
        }
    }

    /// The flags that were given, as overrides of config fields.
    pub(super) fn overrides(&self) -> Result<Vec<Override>, Error> {
        let flags: [(&str, &str, &Option<String>); 32] = [
            ("--target", "target", &self.scenario.target),
            ("--pattern", "load_pattern", &self.pattern),
            ("--rate", "target_rps", &self.rate),
            ("--duration", "duration_seconds", &self.duration),
            ("--warmup", "warmup_seconds", &self.warmup),
            ("--workers", "num_workers", &self.scenario.workers),
            ("--wait", "wait", &self.scenario.wait),
            ("--out", "output", &self.out),
            ("--name", "name", &self.name),
            ("--min-rps", "min_rps", &self.min_rps),
            ("--max-rps", "max_rps", &self.max_rps),
            ("--ramp-up", "ramp_up_duration", &self.ramp_up),
            ("--spike-rps", "spike_rps", &self.spike_rps),
            ("--spike-duration", "spike_duration", &self.spike_duration),
            ("--stages", "stages", &self.stages),
            ("--arrival", "arrival", &self.arrival),
            ("--seed", "seed", &self.seed),
            ("--timeout", "request_timeout_seconds", &self.timeout),
            ("--retries", "max_retries", &self.retries),
            ("--interval", "metrics_collection_interval", &self.interval),
            ("--timer-core", "timer_core", &self.timer_core),
            ("--worker-cores", "worker_cores", &self.worker_cores),
            ("--model", "model", &self.model),
            ("--concurrency", "concurrency", &self.concurrency),
            ("--format", "report_format", &self.format),
            ("--monitor-pid", "monitor_pid", &self.monitor_pid),
            ("--html", "html", &self.html),
            ("--hgrm", "hgrm", &self.hgrm),
            ("--hlog", "hlog", &self.hlog),
            ("--csv", "csv", &self.csv),
            ("--junit", "junit", &self.junit),
            ("--notify-cmd", "notify_cmd", &self.notify_cmd),
        ];
        let mut overrides: Vec<Override> = flags
            .iter()
            .filter_map(|(flag, field, value)| {
                value.as_deref().map(|v| Override::new(flag, field, v))
            })
            .collect();
        self.net_target(&mut overrides)?;
        if !self.scenario.thresholds.is_empty() {
            overrides.push(Override {
                flag: "--threshold".into(),
                field: "thresholds".into(),
                value: serde_json::Value::from(self.scenario.thresholds.clone()),
            });
        }
        if self.abort_on_fail {
            overrides.push(Override::new("--abort-on-fail", "abort_on_fail", "true"));
        }
        for pair in &self.scenario.set {
            let Some((field, value)) = pair.split_once('=') else {
                return Err(flag_error(
                    "--set",
                    "--set",
                    pair,
                    "FIELD=VALUE, e.g. --set latency_p99_threshold_ms=50",
                ));
            };
            overrides.push(Override::new("--set", field.trim(), value));
        }
        Ok(overrides)
    }

    /// With any of the network flags (-H, --method, --connections, ...), the target
    /// override becomes the object they describe with the `--target` URL.
    fn net_target(&self, overrides: &mut Vec<Override>) -> Result<(), Error> {
        let net = NetFlags {
            headers: self.headers.clone(),
            method: self.method.clone(),
            body: self.body.clone(),
            body_file: self.body_file.clone(),
            expect_status: self.expect_status.clone(),
            connections: self.connections.clone(),
            connect_timeout: self.connect_timeout.clone(),
            payload: self.payload.clone(),
            until: self.until.clone(),
            read_bytes: self.read_bytes.clone(),
        };
        if !net.any() {
            return Ok(());
        }
        let Some(target) = self
            .scenario
            .target
            .as_deref()
            .filter(|t| t.contains("://"))
        else {
            return Err(flag_error(
                "--target",
                "target",
                self.scenario.target.as_deref().unwrap_or("(none)"),
                "an http:// or tcp:// URL, which -H, --method, --body, --connections, \
                 --payload and the like configure",
            ));
        };
        overrides.retain(|o| o.field != "target");
        overrides.push(Override {
            flag: "--target".into(),
            field: "target".into(),
            value: net.object(target),
        });
        Ok(())
    }
}

pub(super) fn run(args: &RunArgs) -> Result<u8, Error> {
    let overrides = args.overrides()?;
    let run = load(args.config.as_ref(), &overrides)?;
    let calibration = args
        .calibration
        .as_deref()
        .map(calibrate::load_report)
        .transpose()?;
    let cluster = cluster_plan(args)?;
    let outputs = outputs(args, &run, &overrides, &cluster);
    report::check_outputs(&outputs, run.scenarios.len())?;
    let console = Console::new(args.quiet, &outputs);
    if !args.quiet {
        announce(&run, &cluster);
    }
    let progress = if args.quiet {
        ProgressMode::Off
    } else if std::io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    };
    let runner = LoadTestRunner::from_run_config(run)?
        .with_progress(progress)
        .with_cluster(cluster);
    openpace::engine::install_signal_handlers(&runner.stop_handle())
        .map_err(|e| Error::run("installing the Ctrl-C handler", e))?;
    let result = runner.run()?;
    let mut text = report::summary(&result);
    if let Some(c) = &calibration {
        text.push_str(&report::calibration::compare(&result, c));
    }
    let mut written = report::write_outputs(&result, &outputs);
    written.failed.extend(console.print(&text).err());
    finish(&console, &written, exit_code(&result))
}

/// Where each report of `run` goes, with the flag or file that named it; a shard's files
/// get its index (`cluster::shard_path`).
fn outputs(
    args: &RunArgs,
    run: &RunConfig,
    overrides: &[Override],
    cluster: &ClusterPlan,
) -> Vec<(Destination, ReportFormat)> {
    run.outputs()
        .into_iter()
        .map(|(field, path, format)| {
            // A stream (standard output, a device, a FIFO) is one place whatever the shard.
            let path = if report::output::is_stream(&path) {
                path
            } else {
                cluster::shard_path(&path, cluster.shard)
            };
            let origin = overrides
                .iter()
                .rev()
                .find(|o| o.field == field)
                .map_or_else(
                    || file_origin(args.config.as_ref()),
                    |o| Origin::Flag(o.flag.clone()),
                );
            let dest = Destination {
                origin,
                field: field.to_string(),
                path,
            };
            (dest, format)
        })
        .collect()
}

/// What is about to happen, on standard error: the shard, the wait for `--start-at`, and
/// each scenario.
fn announce(run: &RunConfig, cluster: &ClusterPlan) {
    if let Some(shard) = cluster.shard {
        eprintln!(
            "openpace: shard {} of {} ({}): sends request k of the schedule when k mod {} = {}",
            shard.index,
            shard.count,
            shard.launcher.name(),
            shard.count,
            shard.index
        );
    }
    if let Some(at) = cluster.start_at_unix_s {
        eprintln!(
            "openpace: waiting {:.1} s for --start-at {at:.3}",
            (at - cluster::unix_now()).max(0.0)
        );
    }
    for s in &run.scenarios {
        eprintln!(
            "openpace: running \"{}\": {} for {}s (+{}s warmup), target {}; Ctrl-C stops \
             and still writes the report",
            s.name,
            s.load_pattern.name(),
            s.duration_seconds,
            s.warmup_seconds,
            s.target
        );
    }
}

/// The exit code of a finished run: 1 aborted or failed, 130 interrupted, 0 passed.
fn exit_code(result: &RunResult) -> u8 {
    if result.aborted.is_some() {
        1
    } else if result.interrupted {
        130
    } else if result.passed {
        0
    } else {
        1
    }
}

/// Where a field's value came from when no flag set it: the config file, or the embedded
/// default scenario.
fn file_origin(config: Option<&PathBuf>) -> Origin {
    Origin::File {
        file: config.map_or_else(
            || "default scenario".to_string(),
            |p| p.display().to_string(),
        ),
        scope: String::new(),
    }
}

/// The shard and start instant from `--shard`, `--shards`, `--start-at`, `--start-tolerance`
/// and the launcher's environment.
fn cluster_plan(args: &RunArgs) -> Result<ClusterPlan, Error> {
    let shard = Shard::resolve(args.shard.as_deref(), args.shards.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    if let Some(n) = &args.shards {
        if !n.trim().parse::<u32>().is_ok_and(|n| n >= 1) {
            return Err(flag_error(
                "--shards",
                "shards",
                n,
                "a whole number of shards, at least 1",
            ));
        }
    }
    let start_at_unix_s = args
        .start_at
        .as_deref()
        .map(|t| {
            cluster::parse_start_at(t).map_err(|why| flag_error("--start-at", "start-at", t, why))
        })
        .transpose()?;
    let start_tolerance_s = match &args.start_tolerance {
        Some(t) => seconds_flag("--start-tolerance", t)?,
        None => cluster::DEFAULT_START_TOLERANCE_S,
    };
    Ok(ClusterPlan {
        shard,
        start_at_unix_s,
        start_tolerance_s,
        colocated: shard.and(cluster::Colocated::from_env(|name| {
            std::env::var(name).ok()
        })),
    })
}
