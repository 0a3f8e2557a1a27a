//! `openpace capacity`: the highest constant rate at which the target still meets its
//! thresholds, found by short steps and bisection.

use std::path::PathBuf;

use clap::Args;
use openpace::config::{FIELDS, Override, ReportFormat};
use openpace::report::{self, Destination};
use openpace::{Error, capacity};

use super::target::TargetArgs;
use super::{Console, finish, flag_error, load, seconds_flag};

/// Flags of `openpace capacity`.
#[derive(Args)]
#[command(next_display_order = 100)]
pub(super) struct CapacityArgs {
    /// Config file (JSON) of one scenario; without one, the embedded default scenario.
    config: Option<PathBuf>,
    /// What each step sends: run's field flags, network flags and `--set`.
    #[command(flatten)]
    pub(super) target: TargetArgs,
    /// Lowest rate tried.
    #[arg(
        long,
        value_name = "RPS",
        default_value = "10",
        allow_negative_numbers = true
    )]
    low: f64,
    /// First upper rate tried; while it passes, the search doubles it up to --cap.
    #[arg(
        long,
        value_name = "RPS",
        default_value = "10000",
        allow_negative_numbers = true
    )]
    high: f64,
    /// The highest rate the doubling past --high goes to.
    #[arg(
        long,
        value_name = "RPS",
        default_value = "1000000",
        allow_negative_numbers = true
    )]
    cap: f64,
    /// Measured length of each step.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    step: String,
    /// Warmup of each step.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    warmup: String,
    /// Stop when the bracket between the highest rate passed and the lowest failed is
    /// narrower than this share of the lower.
    #[arg(
        long = "precision",
        value_name = "SHARE",
        default_value = "0.05",
        allow_negative_numbers = true
    )]
    bracket: f64,
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

pub(super) fn capacity(args: &CapacityArgs) -> Result<u8, Error> {
    let overrides = args.target.overrides()?;
    refuse_schedule_flags(&overrides)?;
    let run = load(args.config.as_ref(), &overrides)?;
    if let Some(path) = &run.run.log_requests {
        return Err(openpace::ConfigError::invalid(
            &super::run::file_origin(args.config.as_ref()),
            "log_requests",
            format!("{:?}", path.display().to_string()),
            "null for `openpace capacity` (each step would replace the last one's log; log one \
             run at the rate capacity found)",
        )
        .into());
    }
    let options = capacity::CapacityOptions {
        low: args.low,
        high: args.high,
        cap: args.cap,
        step_s: seconds_flag("--step", &args.step)?,
        warmup_s: seconds_flag("--warmup", &args.warmup)?,
        precision: args.bracket,
        ..capacity::CapacityOptions::default()
    };
    options.validate()?;
    let format = match args.format.as_str() {
        "json" | "text" | "csv" => args.format.as_str(),
        other => {
            return Err(flag_error("--format", "format", other, "json, text or csv"));
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
        return Err(flag_error(
            "CONFIG",
            "scenarios",
            run.scenarios.len(),
            "one scenario: capacity searches one target at a time",
        ));
    };
    let console = Console::beside(args.quiet, out.as_ref());
    let stop = openpace::engine::stop::StopHandle::default();
    openpace::engine::install_signal_handlers(&stop)
        .map_err(|e| Error::run("installing the Ctrl-C handler", e))?;
    let found = capacity::search(base, &run.run, None, &options, &stop, |step| {
        if !console.quiet {
            openpace::base::say(format_args!(
                "openpace capacity: {:.1} RPS {} (p95 {:.2} ms, sustained {:.1} RPS)",
                step.rate,
                if step.passed { "passed" } else { "failed" },
                step.p95_ms,
                step.sustained_rps
            ));
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
    let code = if found.interrupted || stop.requests() > 0 {
        openpace::base::sys::interrupted_exit_code()
    } else {
        0
    };
    let written = report::Written {
        written: Vec::new(),
        failed,
    };
    finish(&console, &written, code)
}

/// The fields whose flags `run` takes and capacity decides itself: each step's schedule
/// (a constant rate, open model) and its one report (`--out`, `--format`). Its own `--warmup`,
/// `--format` and `--out` replace run's (`cli::command`).
pub(super) const DECIDED_BY_CAPACITY: [&str; 13] = [
    "load_pattern",
    "duration_seconds",
    "target_rps",
    "min_rps",
    "max_rps",
    "ramp_up_duration",
    "spike_duration",
    "spike_rps",
    "stages",
    "model",
    "concurrency",
    "repeat",
    "log_requests",
];

/// Whether capacity decides `field` itself: a schedule field above, or a report format's own
/// file (`html`, `hgrm`, ...: capacity writes one report).
pub(super) fn decided_by_capacity(field: &str) -> bool {
    DECIDED_BY_CAPACITY.contains(&field) || ReportFormat::of_field(field).is_some()
}

/// A usage error for a flag of `run` that capacity decides itself, saying what to use.
fn refuse_schedule_flags(overrides: &[Override]) -> Result<(), Error> {
    let Some(o) = overrides
        .iter()
        .find(|o| o.flag != "--set" && decided_by_capacity(&o.field))
    else {
        return Ok(());
    };
    let field = FIELDS.iter().find(|f| f.name == o.field);
    let instead = match field.map(|f| f.name) {
        Some(name) if ReportFormat::of_field(name).is_some() => {
            "not a capacity flag: capacity writes one report, --out FILE with --format json, text or csv"
        }
        Some("duration_seconds") => {
            "not a capacity flag: capacity runs each step for --step (default 10s) after --warmup"
        }
        Some("repeat") => "not a capacity flag: capacity runs each step once",
        Some("log_requests") => {
            "not a capacity flag: each step would replace the last one's log; log one run at the \
             rate capacity found (`openpace run -R RATE --log-requests FILE`)"
        }
        _ => {
            "not a capacity flag: capacity runs each step at one constant rate, open model, from --low and \
             --high, doubling up to --cap"
        }
    };
    Err(flag_error(&o.flag, &o.field, &o.value, instead))
}
