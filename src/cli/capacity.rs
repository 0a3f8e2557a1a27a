//! `openpace capacity`: the highest constant rate at which the target still meets its
//! thresholds, found by short steps and bisection.

use std::path::PathBuf;

use clap::Args;
use openpace::config::Override;
use openpace::report::{self, Destination};
use openpace::{Error, capacity};

use super::run::RunArgs;
use super::{Console, finish, flag_error, load, seconds_flag};

/// Flags of `openpace capacity`.
#[derive(Args)]
#[command(next_display_order = 100)]
pub(super) struct CapacityArgs {
    /// Config file (JSON) of one scenario; without one, the embedded default scenario.
    config: Option<PathBuf>,
    /// The field flags given (`--target`, `--workers`, `--wait`, `--threshold`), filled in
    /// after parsing.
    #[arg(skip)]
    pub(super) fields: Vec<Override>,
    /// Any config field, e.g. --set latency_p99_threshold_ms=50 (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// Lowest rate tried.
    #[arg(
        long,
        value_name = "RPS",
        default_value = "10",
        allow_negative_numbers = true
    )]
    low: f64,
    /// Highest rate tried.
    #[arg(
        long,
        value_name = "RPS",
        default_value = "10000",
        allow_negative_numbers = true
    )]
    high: f64,
    /// Measured length of each step.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    step: String,
    /// Warmup of each step.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    warmup: String,
    /// Stop when the bracket is narrower than this share.
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
    let overrides = RunArgs::with_fields(args.fields.clone(), &args.set).overrides()?;
    let run = load(args.config.as_ref(), &overrides)?;
    let options = capacity::CapacityOptions {
        low: args.low,
        high: args.high,
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
