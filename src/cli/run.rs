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
use openpace::{Error, LoadTestRunner, RunResult, calibrate};

use super::target::TargetArgs;
use super::{Console, finish, flag_error, load, seconds_flag};

/// Flags of `openpace run`. Every value is read by the same code as the config file, so
/// `--duration 2m` and `"duration_seconds": "2m"` mean the same.
#[derive(Args, Default)]
#[command(next_display_order = 100)]
pub(super) struct RunArgs {
    /// Config file (JSON). Without one, flags modify the embedded default scenario.
    pub(super) config: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    pub(super) quiet: bool,
    /// What the run sends: the field flags, the network flags and `--set`.
    #[command(flatten)]
    pub(super) target: TargetArgs,
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

/// A URL where the config file goes (`openpace run http://host/`, `openpace http://host/`, as
/// wrk, oha and hey take one) is the target, as `--target URL` would be.
pub(super) fn url_as_target(args: &mut RunArgs) -> Result<(), Error> {
    let Some(url) = args
        .config
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
    else {
        return Ok(());
    };
    if !url.contains("://") {
        return Ok(());
    }
    if args.target.fields.iter().any(|o| o.field == "target") {
        return Err(flag_error(
            "--target",
            "target",
            &url,
            "one target: the URL alone or --target URL, not both",
        ));
    }
    args.config = None;
    args.target
        .fields
        .push(Override::new("--target", "target", &url));
    Ok(())
}

/// What each scenario's `.hgrm` files are planned from, before the run.
fn planned(run: &openpace::config::RunConfig) -> Vec<report::Planned> {
    run.scenarios
        .iter()
        .map(|s| report::Planned {
            names: s.target.request_names(),
            kernel: s.timestamps != openpace::base::Timestamps::Off,
        })
        .collect()
}

pub(super) fn run(args: &RunArgs) -> Result<u8, Error> {
    let overrides = args.target.overrides()?;
    let mut run = load(args.config.as_ref(), &overrides)?;
    let calibration = args
        .calibration
        .as_deref()
        .map(calibrate::load_report)
        .transpose()?;
    let cluster = cluster_plan(args)?;
    let outputs = outputs(args, &run, &overrides, &cluster);
    let log = request_log(args, &mut run, &overrides, &cluster);
    report::check_outputs_with(&outputs, &planned(&run), log)?;
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
    let repeat = run.run.repeat;
    if repeat > 1 && (cluster.shard.is_some() || cluster.start_at_unix_s.is_some()) {
        return Err(flag_error(
            "--repeat",
            "repeat",
            repeat,
            "1 for a shard or a run with --start-at (repetitions run one after another on \
             this machine; repeat the campaign instead)",
        ));
    }
    let stop = openpace::engine::stop::StopHandle::default();
    openpace::engine::install_signal_handlers(&stop)
        .map_err(|e| Error::run("installing the Ctrl-C handler", e))?;
    let result = if repeat > 1 {
        let series = openpace::ab::Series {
            progress,
            stop: &stop,
        };
        series.repeat(&run, repeat, |i| {
            if !args.quiet {
                openpace::base::say(format_args!("openpace: repetition {i}/{repeat}"));
            }
        })?
    } else {
        LoadTestRunner::from_run_config(run)?
            .with_progress(progress)
            .with_cluster(cluster)
            .with_stop_handle(stop.clone())
            .run()?
    };
    let mut text = report::summary(&result);
    if let Some(c) = &calibration {
        text.push_str(&report::calibration::compare(&result, c));
    }
    let mut written = report::write_outputs(&result, &outputs);
    if let Some(log) = result.request_log.as_ref().filter(|l| l.error.is_some()) {
        written.failed.push(Error::run(
            format!("writing the request log {}", log.path),
            log.error.clone().unwrap_or_default(),
        ));
    }
    let printed = console.print(&text);
    // After a hang-up the terminal is gone: the summary cannot reach it, and that is no
    // fault of the run's (the reports are written).
    let hung_up = openpace::base::sys::last_stop_signal() == Some(libc::SIGHUP);
    if !hung_up {
        written.failed.extend(printed.err());
    }
    finish(
        &console,
        &written,
        exit_code(&result, strict, stop.requests() > 0),
    )
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

/// `--log-requests`'s file, a shard's with its index (as the reports'), to be checked with
/// the outputs.
fn request_log(
    args: &RunArgs,
    run: &mut RunConfig,
    overrides: &[Override],
    cluster: &ClusterPlan,
) -> Option<Destination> {
    let path = run.run.log_requests.as_mut()?;
    if !report::output::is_stream(path) {
        *path = cluster::shard_path(path, cluster.shard);
    }
    let origin = overrides
        .iter()
        .rev()
        .find(|o| o.field == "log_requests")
        .map_or_else(
            || file_origin(args.config.as_ref()),
            |o| Origin::Flag(o.flag.clone()),
        );
    Some(Destination {
        origin,
        field: "log_requests".to_string(),
        path: path.clone(),
    })
}

/// What is about to happen, on standard error: the shard, the wait for `--start-at`, and
/// each scenario.
fn announce(run: &RunConfig, cluster: &ClusterPlan) {
    if let Some(shard) = cluster.shard {
        openpace::base::say(format_args!(
            "openpace: shard {} of {} ({}): sends request k of the schedule when k mod {} = {}",
            shard.index,
            shard.count,
            shard.launcher.name(),
            shard.count,
            shard.index
        ));
    }
    if let Some(at) = cluster.start_at_unix_s {
        openpace::base::say(format_args!(
            "openpace: waiting {:.1} s for --start-at {at:.3}",
            (at - cluster::unix_now()).max(0.0)
        ));
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
        openpace::base::say(format_args!(
            "openpace: running \"{}\": {} for {}s{until} (+{}s warmup), target {}; Ctrl-C \
             stops and still writes the report",
            s.name,
            s.load_pattern.name(),
            s.duration_seconds,
            s.warmup_seconds,
            s.target
        ));
    }
}

/// The exit code of a finished run: 3 when openpace's own code failed on a request (an
/// `internal` error: the figures cannot be trusted), 1 aborted or failed (or, under
/// `strict`, a threshold inconclusive), 130 interrupted (129 by a hang-up; also when the stop
/// came after the schedule, in the drain or the wait for a last scrape), 0 passed.
fn exit_code(result: &RunResult, strict: bool, stopped: bool) -> u8 {
    let internal = openpace::targets::ErrorKind::INTERNAL.name();
    if result
        .scenarios
        .iter()
        .any(|s| s.errors_by_kind.contains_key(internal))
    {
        3
    } else if result.aborted.is_some() {
        1
    } else if result.interrupted || stopped {
        openpace::base::sys::interrupted_exit_code()
    } else if result.passed_under(strict) {
        0
    } else {
        1
    }
}

/// Where a field's value came from when no flag set it: the config file, or the embedded
/// default scenario.
pub(super) fn file_origin(config: Option<&PathBuf>) -> Origin {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_of_openpace_s_own_exits_3_before_anything_else() {
        let text = include_str!("../../tests/golden/single/result.json");
        let mut result = openpace::report::read_json(text).expect("the golden result");
        assert!(exit_code(&result, false, false) <= 1);
        assert_eq!(exit_code(&result, false, true), 130);
        result.scenarios[0]
            .errors_by_kind
            .insert("internal".to_string(), 1);
        result.interrupted = true;
        assert_eq!(exit_code(&result, false, true), 3);
    }
}
