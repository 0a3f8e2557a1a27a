//! The `openpace` command line: parse arguments, call the library, map errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use openpace::config::{self, DEFAULT_SCENARIO, Override, RunConfig};
use openpace::error::{ConfigError, Origin};
use std::io::IsTerminal;

use openpace::cluster::{self, ClusterPlan, Shard};
use openpace::engine::ProgressMode;
use openpace::report::Destination;
use openpace::targets::net::spec::NetFlags;
use openpace::{Error, LoadTestRunner, calibrate, capacity, report};

/// Open-model load testing with coordinated-omission-corrected latency.
///
/// Without a subcommand, runs the embedded default scenario (`openpace run`).
#[derive(Parser)]
#[command(name = "openpace", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a load test from a config file and/or flags, print the summary, write the report.
    ///
    /// Exit codes: 0 all thresholds passed, 1 a threshold failed, 2 bad usage or config,
    /// 3 the run could not be carried out, 130 interrupted (the report is still written).
    Run(Box<RunArgs>),
    /// Check a config file without running it (exit 0 if valid, 2 if not).
    Validate {
        /// The config file (JSON).
        file: PathBuf,
    },
    /// Print a config with every field, an example value and a comment for each.
    ExampleConfig,
    /// Find the highest constant rate at which the target still meets its thresholds, by
    /// short steps and bisection.
    Capacity(CapacityArgs),
    /// Render a saved JSON result again in any format (json, text, hgrm, hlog, csv, html,
    /// junit), to a file or to standard output.
    Report {
        /// A JSON report written by `openpace run`.
        result: PathBuf,
        /// The format.
        #[arg(long, value_name = "FORMAT", default_value = "text")]
        format: String,
        /// Where to write it; standard output when left out.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Merge the JSON reports of a sharded run (one per shard) into one report: histograms
    /// added, counts summed, intervals aligned by wall-clock time, thresholds re-evaluated.
    ///
    /// Exit codes: 0 every threshold passes on the merged data, 1 one fails, 2 the reports
    /// cannot be merged (different scenarios or schedules, a shard missing or twice).
    Merge(MergeArgs),
    /// Measure this host before a campaign: timer lateness, hand-off and overhead per wait
    /// mode, the highest noop rate, spin:DUR accuracy. Prints and saves a JSON report.
    Calibrate(CalibrateArgs),
}

/// Flags of `openpace capacity`.
#[derive(Args)]
struct CapacityArgs {
    /// Config file (JSON) of one scenario; without one, the embedded default scenario.
    config: Option<PathBuf>,
    /// Target (field `target`).
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
    /// Worker threads (field `num_workers`).
    #[arg(long, value_name = "N")]
    workers: Option<String>,
    /// How idle threads wait (field `wait`).
    #[arg(long, value_name = "MODE")]
    wait: Option<String>,
    /// A threshold beyond the design's four (repeatable).
    #[arg(long = "threshold", value_name = "THRESHOLD")]
    thresholds: Vec<String>,
    /// Any config field (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// Lowest rate tried.
    #[arg(long, value_name = "RPS", default_value = "10")]
    low: f64,
    /// Highest rate tried.
    #[arg(long, value_name = "RPS", default_value = "10000")]
    high: f64,
    /// Measured length of each step.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    step: String,
    /// Warmup of each step.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    warmup: String,
    /// Stop when the bracket is narrower than this share.
    #[arg(long, value_name = "SHARE", default_value = "0.05")]
    precision: f64,
    /// Where the report goes.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Format of --out: json, text or csv.
    #[arg(long, value_name = "FORMAT", default_value = "json")]
    format: String,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

/// Flags of `openpace merge`.
#[derive(Args)]
struct MergeArgs {
    /// The shards' JSON reports (any order).
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Where the merged report goes.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Format of --out: json, text, hgrm, hlog, csv, html or junit.
    #[arg(long, value_name = "FORMAT", default_value = "json")]
    format: String,
    /// Merge even with shards missing, and mark the result partial.
    #[arg(long)]
    allow_partial: bool,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

/// Flags of `openpace calibrate`.
#[derive(Args)]
struct CalibrateArgs {
    /// Roughly how long to measure (1s to 1h).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    duration: String,
    /// Core of the timing loop.
    #[arg(long, value_name = "CORE")]
    timer_core: Option<String>,
    /// Core of the worker.
    #[arg(long, value_name = "CORE")]
    worker_core: Option<String>,
    /// Wait modes to measure, e.g. spin,hybrid.
    #[arg(long, value_name = "MODES", default_value = "spin,hybrid,sleep")]
    modes: String,
    /// Where the JSON report goes; `none` for nowhere.
    #[arg(long, value_name = "FILE", default_value = "openpace-calibration.json")]
    out: String,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

/// Flags of `openpace run`. Every value is read by the same code as the config file, so
/// `--duration 2m` and `"duration_seconds": "2m"` mean the same.
impl Default for Command {
    fn default() -> Command {
        Command::Run(Box::default())
    }
}

#[derive(Args, Default)]
struct RunArgs {
    /// Config file (JSON). Without one, flags modify the embedded default scenario.
    config: Option<PathBuf>,
    /// Target: noop, spin:DURATION, sleep:DURATION, features[:OPTIONS], http://HOST[:PORT]/PATH
    /// or tcp://HOST:PORT (field `target`).
    #[arg(long, value_name = "TARGET")]
    target: Option<String>,
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
    /// Worker threads (field `num_workers`).
    #[arg(long, value_name = "N")]
    workers: Option<String>,
    /// How idle threads wait: spin, hybrid or sleep (field `wait`).
    #[arg(long, value_name = "MODE")]
    wait: Option<String>,
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
    /// A threshold beyond the design's four, e.g. "response p99.9 < 5ms" (repeatable; field
    /// `thresholds`).
    #[arg(long = "threshold", value_name = "THRESHOLD")]
    thresholds: Vec<String>,
    /// Run this shell command for each alert and at the end, with JSON on stdin (field
    /// `notify_cmd`).
    #[arg(long, value_name = "CMD")]
    notify_cmd: Option<String>,
    /// Stop as soon as a threshold can no longer pass (field `abort_on_fail`).
    #[arg(long)]
    abort_on_fail: bool,
    /// Any config field, e.g. --set latency_p99_threshold_ms=50 (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
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
    /// The flags that were given, as overrides of config fields.
    fn overrides(&self) -> Result<Vec<Override>, Error> {
        let flags: [(&str, &str, &Option<String>); 32] = [
            ("--target", "target", &self.target),
            ("--pattern", "load_pattern", &self.pattern),
            ("--rate", "target_rps", &self.rate),
            ("--duration", "duration_seconds", &self.duration),
            ("--warmup", "warmup_seconds", &self.warmup),
            ("--workers", "num_workers", &self.workers),
            ("--wait", "wait", &self.wait),
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
        if net.any() {
            let Some(target) = self.target.as_deref().filter(|t| t.contains("://")) else {
                return Err(ConfigError::invalid(
                    &Origin::Flag("--target".into()),
                    "target",
                    self.target.as_deref().unwrap_or("(none)"),
                    "an http:// or tcp:// URL, which -H, --method, --body, --connections, \
                     --payload and the like configure",
                )
                .into());
            };
            overrides.retain(|o| o.field != "target");
            overrides.push(Override {
                flag: "--target".into(),
                field: "target".into(),
                value: net.object(target),
            });
        }
        if !self.thresholds.is_empty() {
            overrides.push(Override {
                flag: "--threshold".into(),
                field: "thresholds".into(),
                value: serde_json::Value::from(self.thresholds.clone()),
            });
        }
        if self.abort_on_fail {
            overrides.push(Override::new("--abort-on-fail", "abort_on_fail", "true"));
        }
        for pair in &self.set {
            let Some((field, value)) = pair.split_once('=') else {
                return Err(ConfigError::invalid(
                    &Origin::Flag("--set".into()),
                    "--set",
                    pair,
                    "FIELD=VALUE, e.g. --set latency_p99_threshold_ms=50",
                )
                .into());
            };
            overrides.push(Override::new("--set", field.trim(), value));
        }
        Ok(overrides)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command.unwrap_or_default() {
        Command::Run(args) => run(&args),
        Command::Validate { file } => validate(&file),
        Command::ExampleConfig => {
            print!("{}", config::example_config());
            Ok(0)
        }
        Command::Calibrate(args) => calibrate(&args),
        Command::Merge(args) => merge(&args),
        Command::Capacity(args) => capacity(&args),
        Command::Report {
            result,
            format,
            out,
        } => rerender(&result, &format, out.as_deref()),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("openpace: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn load(file: Option<&PathBuf>, overrides: &[Override]) -> Result<RunConfig, Error> {
    let Some(path) = file else {
        if let Some(base) = flag_scenario(overrides) {
            return Ok(config::load_json(&base, "the flags", overrides)?);
        }
        return Ok(config::load_json(
            DEFAULT_SCENARIO,
            "default scenario",
            overrides,
        )?);
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        file: name.clone(),
        reason: e.to_string(),
    })?;
    Ok(config::load_json(&text, &name, overrides)?)
}

/// The scenario of a run whose target comes from the flags (`--target`, no config file):
/// the design's defaults, named after the target, with no warmup, 1-second intervals, the
/// report in `openpace-report.json`, one worker per core the timing loop leaves free, and
/// (for a network target) connections opened as the rate needs them. `None` without
/// `--target`: then the embedded default scenario runs.
fn flag_scenario(overrides: &[Override]) -> Option<String> {
    let target = &overrides.iter().rev().find(|o| o.field == "target")?.value;
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).unwrap_or("").to_string();
    let name = match target {
        serde_json::Value::String(t) if t.starts_with("http://") || t.starts_with("https://") => {
            format!("GET {t}")
        }
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Object(o) => match (o.get("http"), o.get("tcp")) {
            (Some(http), _) => {
                let method = http.get("method").map_or("GET".into(), |m| text(Some(m)));
                format!("{method} {}", text(http.get("url")))
            }
            (None, Some(tcp)) => {
                let address = text(tcp.get("address"));
                format!("tcp://{}", address.trim_start_matches("tcp://"))
            }
            _ => "openpace".to_string(),
        },
        other => other.to_string(),
    };
    // One worker per core the timing loop leaves free: more would only take turns on the
    // cores. (For an in-process target that blocks in its calls, the workers are its
    // concurrency: say how many with --workers.)
    let workers =
        openpace::engine::spare_cores().min(config::LoadTestConfig::default().max_workers);
    Some(
        serde_json::json!({
            "name": name,
            "warmup_seconds": 0,
            "num_workers": workers,
            "metrics_collection_interval": 1,
            "output": "openpace-report.json",
        })
        .to_string(),
    )
}

fn validate(file: &PathBuf) -> Result<u8, Error> {
    let run = load(Some(file), &[])?;
    println!(
        "{}: valid, {} scenario(s)",
        file.display(),
        run.scenarios.len()
    );
    for s in &run.scenarios {
        let profile = s.rate_profile();
        println!(
            "  {}: {} for {}s, peak {} RPS, {} requests scheduled, target {}",
            s.name,
            s.load_pattern.name(),
            s.duration_seconds,
            profile.peak_rps(),
            profile.total().round(),
            s.target
        );
    }
    Ok(0)
}

fn rerender(
    input: &std::path::Path,
    format: &str,
    out: Option<&std::path::Path>,
) -> Result<u8, Error> {
    let format = report::parse_format(format)?;
    let out = out.map_or_else(
        || Destination::flag("--out", "-"),
        |path| Destination::flag("--out", path),
    );
    let outputs = [(out, format)];
    let result = report::load_result(input)?;
    report::check_outputs(&outputs, result.scenarios.len())?;
    let console = Console::new(true, &outputs);
    finish(&console, &report::write_outputs(&result, &outputs), 0)
}

fn capacity(args: &CapacityArgs) -> Result<u8, Error> {
    let run_args = RunArgs {
        target: args.target.clone(),
        workers: args.workers.clone(),
        wait: args.wait.clone(),
        thresholds: args.thresholds.clone(),
        set: args.set.clone(),
        ..RunArgs::default()
    };
    let run = load(args.config.as_ref(), &run_args.overrides()?)?;
    let duration = |flag: &str, text: &str| {
        config::parse_duration(text)
            .map(|d| d.as_secs_f64())
            .map_err(|why| {
                ConfigError::invalid(
                    &Origin::Flag(flag.into()),
                    flag.trim_start_matches('-'),
                    text,
                    why,
                )
            })
    };
    let options = capacity::CapacityOptions {
        low: args.low,
        high: args.high,
        step_s: duration("--step", &args.step)?,
        warmup_s: duration("--warmup", &args.warmup)?,
        precision: args.precision,
        ..capacity::CapacityOptions::default()
    };
    options.validate()?;
    let format = match args.format.as_str() {
        "json" | "text" | "csv" => args.format.as_str(),
        other => {
            return Err(ConfigError::invalid(
                &Origin::Flag("--format".into()),
                "format",
                other,
                "json, text or csv",
            )
            .into());
        }
    };
    let out = args
        .out
        .as_ref()
        .map(|path| Destination::flag("--out", path));
    if let Some(dest) = &out {
        report::output::check(std::slice::from_ref(dest))?;
    }
    let [base] = &run.scenarios[..] else {
        return Err(ConfigError::invalid(
            &Origin::Flag("CONFIG".into()),
            "scenarios",
            run.scenarios.len(),
            "one scenario: capacity searches one target at a time",
        )
        .into());
    };
    let console = Console {
        to_stderr: out.as_ref().is_some_and(Destination::is_stdout),
        quiet: args.quiet,
    };
    let stop = openpace::engine::stop::StopHandle::default();
    openpace::engine::install_signal_handlers(&stop)
        .map_err(|e| Error::run("installing the Ctrl-C handler", e))?;
    let found = capacity::search(base, None, &options, &stop, |step| {
        if !console.quiet {
            eprintln!(
                "openpace capacity: {:.1} RPS {} (p95 {:.2} ms, sustained {:.1} RPS)",
                step.rate,
                if step.passed { "passed" } else { "failed" },
                step.p95_ms,
                step.sustained_rps
            );
        }
    })?;
    let mut failed = Vec::new();
    failed.extend(console.print(&capacity::text(&found)).err());
    if let Some(dest) = &out {
        let contents = match format {
            "text" => capacity::text(&found),
            "csv" => capacity::csv(&found),
            _ => serde_json::to_string_pretty(&found).expect("reports serialize") + "\n",
        };
        failed.extend(report::output::write(dest, contents.as_bytes()).err());
    }
    let code = if found.interrupted { 130 } else { 0 };
    let written = report::Written {
        written: Vec::new(),
        failed,
    };
    finish(&console, &written, code)
}

fn calibrate(args: &CalibrateArgs) -> Result<u8, Error> {
    let options = calibrate::CalibrateOptions::from_flags(
        Some(&args.duration),
        args.timer_core.as_deref(),
        args.worker_core.as_deref(),
        Some(&args.modes),
    )?;
    let out = (args.out != "none").then(|| Destination::flag("--out", &args.out));
    if let Some(dest) = &out {
        report::output::check(std::slice::from_ref(dest))?;
    }
    let console = Console {
        to_stderr: out.as_ref().is_some_and(Destination::is_stdout),
        quiet: args.quiet,
    };
    let report = calibrate::calibrate(&options, |step| {
        if !console.quiet {
            eprintln!("openpace calibrate: {step}");
        }
    })?;
    let mut written = report::Written::default();
    written.failed.extend(
        console
            .print(&report::calibration::calibration_text(&report))
            .err(),
    );
    if let Some(dest) = out {
        let text = serde_json::to_string_pretty(&report).expect("reports serialize") + "\n";
        match report::output::write(&dest, text.as_bytes()) {
            Ok(()) => written.written.push(dest),
            Err(e) => written.failed.push(e),
        }
    }
    finish(&console, &written, 0)
}

fn run(args: &RunArgs) -> Result<u8, Error> {
    let overrides = args.overrides()?;
    let run = load(args.config.as_ref(), &overrides)?;
    let calibration = args
        .calibration
        .as_deref()
        .map(calibrate::load_report)
        .transpose()?;
    let cluster = cluster_plan(args)?;
    let outputs: Vec<(Destination, config::ReportFormat)> = run
        .outputs()
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
        .collect();
    report::check_outputs(&outputs, run.scenarios.len())?;
    let console = Console::new(args.quiet, &outputs);
    if !args.quiet {
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
    let code = if result.aborted.is_some() {
        1
    } else if result.interrupted {
        130
    } else if result.passed {
        0
    } else {
        1
    };
    finish(&console, &written, code)
}

/// Where the user reads what a command prints: standard output, or standard error when a
/// report goes to standard output; nothing but errors with `--quiet`.
struct Console {
    to_stderr: bool,
    quiet: bool,
}

impl Console {
    fn new(quiet: bool, outputs: &[(Destination, config::ReportFormat)]) -> Console {
        Console {
            to_stderr: outputs.iter().any(|(d, _)| d.is_stdout()),
            quiet,
        }
    }

    /// Prints `text`; a closed or full standard output is an error like any output's.
    fn print(&self, text: &str) -> Result<(), Error> {
        use std::io::Write;
        if self.quiet {
            return Ok(());
        }
        let result = if self.to_stderr {
            std::io::stderr().lock().write_all(text.as_bytes())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        };
        result.map_err(|e| Error::run("printing the summary to standard output", e))
    }
}

/// Says which reports were written and which could not be; exit 3 when any could not,
/// else `code`.
fn finish(console: &Console, written: &report::Written, code: u8) -> Result<u8, Error> {
    for dest in written.written.iter().filter(|d| !d.is_stdout()) {
        // The list is for the user; a console that fails here has already been reported.
        let _ = console.print(&format!("report: {}\n", dest.path.display()));
    }
    for e in &written.failed {
        eprintln!("openpace: {e}");
    }
    Ok(if written.failed.is_empty() { code } else { 3 })
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
    let flag_error = |flag: &str, value: &str, why: String| {
        ConfigError::invalid(
            &Origin::Flag(flag.into()),
            flag.trim_start_matches('-'),
            value,
            why,
        )
    };
    if let Some(n) = &args.shards {
        if !n.trim().parse::<u32>().is_ok_and(|n| n >= 1) {
            return Err(
                flag_error("--shards", n, "a whole number of shards, at least 1".into()).into(),
            );
        }
    }
    let start_at_unix_s = args
        .start_at
        .as_deref()
        .map(|t| cluster::parse_start_at(t).map_err(|why| flag_error("--start-at", t, why)))
        .transpose()?;
    let start_tolerance_s = match &args.start_tolerance {
        Some(t) => config::parse_duration(t)
            .map(|d| d.as_secs_f64())
            .map_err(|why| flag_error("--start-tolerance", t, why))?,
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

fn merge(args: &MergeArgs) -> Result<u8, Error> {
    let format = report::parse_format(&args.format)?;
    let inputs = args
        .reports
        .iter()
        .map(|path| Ok((path.display().to_string(), report::load_result(path)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let options = cluster::MergeOptions {
        allow_partial: args.allow_partial,
    };
    let merged = cluster::merge(&inputs, &options)?;
    let outputs = [(Destination::flag("--out", &args.out), format)];
    report::check_outputs(&outputs, merged.scenarios.len())?;
    let console = Console::new(args.quiet, &outputs);
    let mut written = report::write_outputs(&merged, &outputs);
    written
        .failed
        .extend(console.print(&report::summary(&merged)).err());
    finish(&console, &written, if merged.passed { 0 } else { 1 })
}
