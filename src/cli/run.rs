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

use super::{Console, finish, flag_error, load, seconds_flag};

/// Flags of `openpace run`. Every value is read by the same code as the config file, so
/// `--duration 2m` and `"duration_seconds": "2m"` mean the same.
#[derive(Args, Default)]
#[command(next_display_order = 100)]
pub(super) struct RunArgs {
    /// The field flags given (`--rate`, `--target`, ...), filled in from the field table's
    /// arguments after parsing (`cli::field_overrides`).
    #[arg(skip)]
    pub(super) fields: Vec<Override>,
    /// Config file (JSON). Without one, flags modify the embedded default scenario.
    pub(super) config: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    pub(super) quiet: bool,
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
    /// Connections to a network target, N (spread over at most --workers worker threads) or
    /// `auto`: opened as requests need them, up to 1024 (the default; with --model closed,
    /// --concurrency).
    #[arg(short = 'c', long, value_name = "N|auto")]
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
    /// A response of an expected status must hold this text in its body, or it is an error
    /// of kind `check`.
    #[arg(long, value_name = "TEXT")]
    expect_body_contains: Option<String>,
    /// A response's body must be exactly this many bytes (else kind `check`).
    #[arg(long, value_name = "N")]
    expect_body_size: Option<String>,
    /// A response's body must be JSON whose value at the pointer is VALUE, e.g.
    /// /status=ok or /items/0/id=7 (repeatable; else kind `check`).
    #[arg(long, value_name = "POINTER=VALUE")]
    expect_json: Vec<String>,
    /// A request set: JSON lines, one request per line (method, url, headers, body or
    /// body_file; command for redis/memcached; name, weight), sent instead of the one request.
    #[arg(long, value_name = "FILE")]
    requests: Option<String>,
    /// How a request set's lines are taken: round-robin (each weight times in turn, the
    /// default) or random (by weight, seeded).
    #[arg(long, value_name = "round-robin|random")]
    requests_order: Option<String>,
    /// The command a redis:// or memcached:// target sends, words with templates, e.g.
    /// "SET key:{{seq}} {{rand_hex 16}}" (default PING; memcached: version).
    #[arg(long, value_name = "COMMAND")]
    command: Option<String>,
    /// PEM file of the CA certificates an https:// target's certificate must chain to,
    /// instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    cacert: Option<String>,
    /// Accept any certificate from an https:// target (self-signed, expired, other host).
    #[arg(long)]
    insecure: bool,
    /// Any config field, e.g. --set latency_p99_threshold_ms=50 (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub(super) set: Vec<String>,
    /// A report of `openpace calibrate`: prints the run's figures beside its floors.
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
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
    /// The flags of a run given only these field flags and `--set` pairs.
    pub(super) fn with_fields(fields: Vec<Override>, set: &[String]) -> RunArgs {
        RunArgs {
            fields,
            set: set.to_vec(),
            ..RunArgs::default()
        }
    }

    /// The flags that were given, as overrides of config fields: the field flags, the
    /// network flags folded into the target, then `--set`.
    pub(super) fn overrides(&self) -> Result<Vec<Override>, Error> {
        let mut overrides = self.fields.clone();
        self.net_target(&mut overrides)?;
        for pair in &self.set {
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
            cacert: self.cacert.clone(),
            command: self.command.clone(),
            expect_body_contains: self.expect_body_contains.clone(),
            expect_body_size: self.expect_body_size.clone(),
            expect_json: self.expect_json.clone(),
            requests: self.requests.clone(),
            requests_order: self.requests_order.clone(),
            insecure: self.insecure,
        };
        if !net.any() {
            return Ok(());
        }
        let given = self.fields.iter().find(|o| o.field == "target");
        let given = given.and_then(|o| o.value.as_str());
        let Some(target) = given.filter(|t| t.contains("://")) else {
            return Err(flag_error(
                "--target",
                "target",
                given.unwrap_or("(none)"),
                "an http://, https://, tcp://, redis:// or memcached:// URL, which -H, \
                 --method, --body, --connections, --cacert, --payload, --command and the like \
                 configure",
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
    let names: Vec<Vec<String>> = run
        .scenarios
        .iter()
        .map(|s| s.target.request_names())
        .collect();
    report::check_outputs(&outputs, &names)?;
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
    let strict = run.run.strict;
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
    finish(&console, &written, exit_code(&result, strict))
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
        let until = if s.precision.is_empty() {
            String::new()
        } else {
            let targets: Vec<String> = s.precision.iter().map(|p| p.to_string()).collect();
            format!(
                " and on, up to {}s, until {}",
                s.longest_duration(),
                targets.join(", ")
            )
        };
        eprintln!(
            "openpace: running \"{}\": {} for {}s{until} (+{}s warmup), target {}; Ctrl-C \
             stops and still writes the report",
            s.name,
            s.load_pattern.name(),
            s.duration_seconds,
            s.warmup_seconds,
            s.target
        );
    }
}

/// The exit code of a finished run: 1 aborted or failed (or, under `strict`, a threshold
/// inconclusive), 130 interrupted, 0 passed.
fn exit_code(result: &RunResult, strict: bool) -> u8 {
    if result.aborted.is_some() {
        1
    } else if result.interrupted {
        130
    } else if result.passed_under(strict) {
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
