//! `openpace ab A.json B.json --rounds N`: two configs run in randomized interleaved rounds
//! (each round A and B back to back, in a seeded random order), compared round by round;
//! exit 1 when a `--fail-if-slower` limit is broken.

use std::path::{Path, PathBuf};

use clap::Args;
use openpace::config::{Override, RunConfig};
use openpace::engine::ProgressMode;
use openpace::metrics::compare::{self, Rounds, SlowerLimit};
use openpace::report::{self, Destination};
use openpace::{Error, RunResult};

use super::target::TargetArgs;
use super::{Console, finish, flag_error, load};

/// Flags of `openpace ab`.
#[derive(Args)]
pub(super) struct AbArgs {
    /// Config A (JSON), the baseline.
    a: PathBuf,
    /// Config B (JSON), compared with it.
    b: PathBuf,
    /// Rounds, each running A and B once in a random order (at least 2).
    #[arg(long, value_name = "N", default_value = "5")]
    rounds: String,
    /// Seed of the rounds' order (default: drawn, and printed so the order can be repeated).
    #[arg(long = "order-seed", value_name = "N")]
    order_seed: Option<String>,
    /// Exit 1 when B is significantly slower than A at this percentile and by more than this
    /// margin: `[METRIC] pN > X%` (repeatable).
    #[arg(long, value_name = "LIMIT")]
    fail_if_slower: Vec<String>,
    /// Format of --out: text, json or html.
    #[arg(long = "format", value_name = "FORMAT", default_value = "text")]
    compare_format: String,
    /// Also write the comparison here, in --format.
    #[arg(long = "out", value_name = "FILE")]
    compare_out: Option<PathBuf>,
    /// Where every run's report goes (round-01-A.json, ...) and each side's runs pooled
    /// (A.json, B.json).
    #[arg(long, value_name = "DIR", default_value = "openpace-ab")]
    out_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// The field flags, the network flags and `--set`: applied to both configs.
    #[command(flatten)]
    pub(super) target: TargetArgs,
}

/// The field flags `ab` does not take from `run`: its reports are its own, and its rounds are
/// its repetitions.
pub(super) const NOT_FOR_AB: [&str; 9] = [
    "repeat",
    "log_requests",
    "report_format",
    "output",
    "html",
    "hgrm",
    "hlog",
    "csv",
    "junit",
];

pub(super) fn ab(args: &AbArgs) -> Result<u8, Error> {
    let rounds = number(&args.rounds, "--rounds", 2, 1_000)?;
    let seed = match &args.order_seed {
        Some(text) => number(text, "--order-seed", 0, u64::MAX)?,
        None => openpace::base::mix64(openpace::cluster::unix_now().to_bits()),
    };
    let limits = super::compare::limits_and_format(&args.fail_if_slower, &args.compare_format)?;
    let overrides: Vec<Override> = args.target.overrides()?;
    let a = load(Some(&args.a), &overrides)?;
    let b = load(Some(&args.b), &overrides)?;
    for (config, file) in [(&a, &args.a), (&b, &args.b)] {
        if let Some(path) = &config.run.log_requests {
            return Err(openpace::ConfigError::invalid(
                &openpace::error::Origin::File {
                    file: file.display().to_string(),
                    scope: String::new(),
                },
                "log_requests",
                format!("{:?}", path.display().to_string()),
                "null in `openpace ab` (each round would replace the last one's log; log a \
                 single run with `openpace run --log-requests FILE`)",
            )
            .into());
        }
    }
    let out = args
        .compare_out
        .as_ref()
        .map(|p| Destination::flag("--out", p));
    check_outputs(args, rounds, out.as_ref())?;
    let console = Console::beside(args.quiet, out.as_ref());
    let stop = openpace::engine::stop::StopHandle::default();
    openpace::engine::install_signal_handlers(&stop)
        .map_err(|e| Error::run("installing the Ctrl-C handler", e))?;
    let mut failed = Vec::new();
    let mut reports = Vec::new();
    let done = run_rounds(args, (&a, &b), (rounds, seed), &stop, |dest, written| {
        reports.push(dest.path.display().to_string());
        failed.extend(written.err());
    })?;
    let code = compare_sides(
        args,
        (done, seed, reports),
        (&limits, out.as_ref()),
        &console,
    )
    .map(|(code, more)| {
        failed.extend(more);
        code
    })?;
    let code = if stop.requests() > 0 {
        openpace::base::sys::interrupted_exit_code()
    } else {
        code
    };
    let written = report::Written {
        written: Vec::new(),
        failed,
    };
    finish(&console, &written, code)
}

/// Runs the rounds, saying each on standard error and writing each run's report as it ends
/// (`wrote` is told where, and how that went).
fn run_rounds(
    args: &AbArgs,
    configs: (&RunConfig, &RunConfig),
    (rounds, seed): (u64, u64),
    stop: &openpace::engine::stop::StopHandle,
    mut wrote: impl FnMut(&Destination, Result<(), Error>),
) -> Result<openpace::ab::Interleaved, Error> {
    let series = openpace::ab::Series {
        progress: if args.quiet {
            ProgressMode::Off
        } else {
            ProgressMode::Lines
        },
        stop,
    };
    if !args.quiet {
        openpace::base::say(format_args!(
            "openpace ab: {rounds} rounds of A = {} and B = {}, order seed {seed}",
            args.a.display(),
            args.b.display()
        ));
    }
    series.interleave(
        configs,
        rounds as u32,
        seed,
        |round, side| {
            if !args.quiet {
                openpace::base::say(format_args!("openpace ab: round {round}/{rounds}: {side}"));
            }
        },
        |round, side, result| {
            let dest = run_file(&args.out_dir, round, side);
            let written = write_json(&dest, result);
            wrote(&dest, written);
        },
    )
}

/// Pools each side, compares them round by round, prints and writes the comparison and the
/// pooled reports; the exit code (1: a limit broken) and the writes that failed.
fn compare_sides(
    args: &AbArgs,
    (done, seed, reports): (openpace::ab::Interleaved, u64, Vec<String>),
    (limits, out): (&[SlowerLimit], Option<&Destination>),
    console: &Console,
) -> Result<(u8, Vec<Error>), Error> {
    if done.a.is_empty() {
        return Err(Error::Interrupted("before the first round ended".into()));
    }
    let pooled_a = openpace::cluster::merge::pool(&done.a)?;
    let pooled_b = openpace::cluster::merge::pool(&done.b)?;
    let (a_name, b_name) = (args.a.display().to_string(), args.b.display().to_string());
    let mut found = compare::rounds(
        (&a_name, &pooled_a.scenarios),
        (&b_name, &pooled_b.scenarios),
        limits,
    )
    .map_err(|why| flag_error("A.json B.json", "histograms", "the runs", why))?;
    found.rounds = Some(Rounds {
        count: done.a.len() as u32,
        seed,
        order: done
            .a_first
            .iter()
            .map(|&a_first| if a_first { "AB" } else { "BA" }.to_string())
            .collect(),
        reports,
    });
    let mut failed = Vec::new();
    for (side, pooled) in [("A", &pooled_a), ("B", &pooled_b)] {
        let dest = Destination::flag("--out-dir", args.out_dir.join(format!("{side}.json")));
        failed.extend(write_json(&dest, pooled).err());
    }
    failed.extend(console.print(&report::compare::text(&found)).err());
    if let Some(dest) = out {
        let contents = report::compare::in_format(
            &found,
            &args.compare_format,
            &pooled_a.scenarios,
            &pooled_b.scenarios,
        )
        .map_err(|why| Error::run("rendering the comparison", why))?;
        failed.extend(report::output::write(dest, contents.as_bytes()).err());
    }
    Ok((u8::from(found.limits.iter().any(|l| l.failed)), failed))
}

/// The report of round `round`'s run of `side`.
fn run_file(dir: &Path, round: u32, side: char) -> Destination {
    Destination::flag(
        "--out-dir",
        dir.join(format!("round-{round:02}-{side}.json")),
    )
}

fn write_json(dest: &Destination, result: &RunResult) -> Result<(), Error> {
    report::output::write(dest, report::to_json(result).as_bytes())
}

/// Creates the report directory and checks every file ab will write, before any run.
fn check_outputs(args: &AbArgs, rounds: u64, out: Option<&Destination>) -> Result<(), Error> {
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| Error::run(format!("creating --out-dir {}", args.out_dir.display()), e))?;
    let mut dests: Vec<Destination> = (1..=rounds as u32)
        .flat_map(|r| ['A', 'B'].map(|side| run_file(&args.out_dir, r, side)))
        .collect();
    for side in ["A", "B"] {
        dests.push(Destination::flag(
            "--out-dir",
            args.out_dir.join(format!("{side}.json")),
        ));
    }
    dests.extend(out.cloned());
    report::output::check(&dests)
}

/// A whole number flag from `low` to `high`.
fn number(text: &str, flag: &str, low: u64, high: u64) -> Result<u64, Error> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| {
            flag_error(
                flag,
                flag.trim_start_matches('-'),
                text,
                format!("a whole number from {low} to {high}"),
            )
        })
}
