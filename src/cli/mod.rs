//! The `openpace` command line: one file per subcommand, each parsing its flags, calling the
//! library and mapping the outcome to an exit code (0 passed, 1 a threshold failed, 2 bad
//! usage or config, 3 the run could not be carried out, 130 interrupted). What they share is
//! here: loading a config, the flag-made scenario, the console, the closing report list and
//! the one helper for flag errors.

mod ab;
mod calibrate;
mod capacity;
mod compare;
mod host;
mod log;
mod merge;
mod report;
mod run;
mod target;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use openpace::Error;
use openpace::config::{self, DEFAULT_SCENARIO, FIELDS, Field, Override, ReportFormat, RunConfig};
use openpace::error::{ConfigError, Origin};
use openpace::report::{Destination, Written};

/// `openpace --version`: the version, the commit and the build profile it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("OPENPACE_COMMIT"),
    ", ",
    env!("OPENPACE_PROFILE"),
    " build)"
);

/// The flags a first run needs, under the top-level help (which otherwise lists only the
/// subcommands).
const QUICK_START: &str = "\
Quick start (without a subcommand, openpace runs):
  openpace http://127.0.0.1:8080/ -R 1000 -d 30s   1,000 requests per second for 30 s, open model
  openpace --target redis://127.0.0.1:6379 -R 5000  the same flags as `openpace run`
  openpace load.json                               a config file (openpace example-config)
Main flags of run: --target URL (or the URL alone), -R/--rate RPS, -d/--duration D,
  -c/--connections N, -H 'Name: value', --method, --body, --threshold 'response p99 < 5ms',
  --out FILE. `openpace run --help` lists every flag.";

/// Open-model load testing with coordinated-omission-corrected latency.
///
/// Without a subcommand, runs: `openpace`, `openpace load.json` and `openpace --target noop
/// --rate 100` are `openpace run ...`.
#[derive(Parser)]
#[command(name = "openpace", version = VERSION, about, long_about = None, after_help = QUICK_START)]
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
    Run(Box<run::RunArgs>),
    /// Check a config file without running it (exit 0 if valid, 2 if not).
    Validate {
        /// The config file (JSON).
        file: PathBuf,
    },
    /// Print a config with every field, an example value and a comment for each.
    ExampleConfig,
    /// Find the highest constant rate at which the target still meets its thresholds, by
    /// short steps and bisection.
    Capacity(Box<capacity::CapacityArgs>),
    #[command(about = format!(
        "Render a saved JSON result again in any format ({}), to a file or to standard output",
        ReportFormat::names()
    ))]
    Report(report::ReportArgs),
    /// Merge the JSON reports of a sharded run (one per shard) into one report: histograms
    /// added, counts summed, intervals aligned by wall-clock time, thresholds re-evaluated.
    ///
    /// Exit codes: 0 every threshold passes on the merged data, 1 one fails, 2 the reports
    /// cannot be merged (different scenarios or schedules, a shard missing or twice).
    Merge(merge::MergeArgs),
    /// Is run B different from run A? Every percentile of response, service and dispatch
    /// with both 95% intervals, the difference and a verdict (faster, slower, no
    /// significant difference).
    ///
    /// Exit codes: 0 done, 1 a --fail-if-slower limit is broken, 2 bad usage or reports.
    Compare(compare::CompareArgs),
    /// Do A and B differ? Runs config A and config B in randomized interleaved rounds (each
    /// round both, back to back, in a seeded random order) and compares them round by round:
    /// every percentile's paired difference with its 95% interval and the smallest
    /// difference the rounds could have seen.
    ///
    /// Exit codes: 0 done, 1 a --fail-if-slower limit is broken, 2 bad usage or configs, 130
    /// interrupted (the rounds that ended are compared and their reports kept).
    Ab(Box<ab::AbArgs>),
    /// Measure this host before a campaign: timer lateness, hand-off and overhead per wait
    /// mode, the highest noop rate, spin:DUR accuracy. Prints and saves a JSON report.
    Calibrate(calibrate::CalibrateArgs),
    /// Check, in a moment and without load, what on this host will move a latency
    /// measurement: governor, turbo, SMT siblings, isolated cores, NIC interrupts, THP, timer
    /// slack, C-states, clocksource, VM and steal time; each with the files read and what to
    /// change. Exit 0 whatever it finds; --json for the document.
    Host(host::HostArgs),
    /// Read a request log (written with --log-requests): its lines as CSV, one per request
    /// (times in ns from the run's origin), or --summary: each scenario's counts and
    /// percentiles, which equal the report's when the log is complete.
    Log(log::LogArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), e.g.
    /// `openpace completions bash > /etc/bash_completion.d/openpace`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `openpace man > openpace.1 && man ./openpace.1`.
    Man,
}

impl Default for Command {
    fn default() -> Command {
        Command::Run(Box::default())
    }
}

/// Parses the command line, runs the subcommand and turns its outcome into the exit code.
pub fn main() -> ExitCode {
    let matches = command().get_matches_from(with_default_subcommand(std::env::args_os()));
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match (&mut cli.command, matches.subcommand()) {
        (Some(Command::Run(args)), Some((_, m))) => args.target.fields = field_overrides(m),
        (Some(Command::Capacity(args)), Some((_, m))) => args.target.fields = field_overrides(m),
        (Some(Command::Ab(args)), Some((_, m))) => args.target.fields = field_overrides(m),
        _ => {}
    }
    let outcome = match cli.command.unwrap_or_default() {
        Command::Run(mut args) => run::url_as_target(&mut args).and_then(|()| run::run(&args)),
        Command::Validate { file } => validate::validate(&file),
        Command::ExampleConfig => {
            print!("{}", config::example_config());
            Ok(0)
        }
        Command::Calibrate(args) => calibrate::calibrate(&args),
        Command::Host(args) => host::host(&args),
        Command::Log(args) => log::log(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::Compare(args) => compare::compare(&args),
        Command::Ab(args) => ab::ab(&args),
        Command::Capacity(args) => capacity::capacity(&args),
        Command::Report(args) => report::rerender(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "openpace", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => match man_page(&mut std::io::stdout()) {
            // `openpace man | head` closes the pipe early: not a fault.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Error::run("writing the manual page", e))
            }
            _ => Ok(0),
        },
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            openpace::base::say(format_args!("openpace: {e}"));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// The flags that set config fields, made from the field table: `--LONG VALUE` with the
/// field's own description, listed first in the help (the other flags come after them).
fn field_args(pick: impl Fn(&Field) -> bool) -> Vec<Arg> {
    FIELDS
        .iter()
        .filter(|f| pick(f))
        .filter_map(|field| Some((field, field.flag?)))
        .enumerate()
        .map(|(order, (field, flag))| {
            // The field's description as is: it often starts with a keyword (`noop`, `spin`).
            let arg = Arg::new(field.name)
                .long(flag.long)
                .help(format!("{} (field `{}`)", field.doc, field.name))
                .display_order(order);
            // The short flags wrk2 (-R, -d), oha (-q, -z) and hey (-q, -z) users type.
            let arg = match field.name {
                "target_rps" => arg.short('R').short_alias('q'),
                "duration_seconds" => arg.short('d').short_alias('z'),
                _ => arg,
            };
            // A value that starts with a dash (`--rate -100`) is the flag's value, so that
            // openpace's own check says what is allowed, not clap's tip.
            match (flag.value, flag.repeated) {
                ("", _) => arg.action(ArgAction::SetTrue),
                (value, true) => arg
                    .value_name(value)
                    .action(ArgAction::Append)
                    .allow_negative_numbers(true),
                // `-d -1s` is not a number to clap: a duration takes any leading dash.
                ("DURATION", false) => arg.value_name("DURATION").allow_hyphen_values(true),
                (value, false) => arg.value_name(value).allow_negative_numbers(true),
            }
        })
        .collect()
}

/// The field flags given in `matches`, as overrides of their fields, in the table's order.
fn field_overrides(matches: &ArgMatches) -> Vec<Override> {
    let mut overrides = Vec::new();
    for field in FIELDS.iter() {
        let Some(flag) = field.flag else { continue };
        let Ok(Some(mut values)) = matches.try_get_raw(field.name) else {
            continue;
        };
        let flag_name = format!("--{}", flag.long);
        let text = |v: &std::ffi::OsStr| v.to_string_lossy().into_owned();
        if flag.value.is_empty() {
            if matches.get_flag(field.name) {
                overrides.push(Override::new(&flag_name, field.name, "true"));
            }
        } else if flag.repeated {
            let all: Vec<String> = values.map(text).collect();
            overrides.push(Override {
                flag: flag_name,
                field: field.name.to_string(),
                value: serde_json::Value::from(all),
            });
        } else if let Some(value) = values.next() {
            overrides.push(Override::new(&flag_name, field.name, &text(value)));
        }
    }
    overrides
}

/// The command line: the derived subcommands, with the field flags added to `run` and
/// `capacity`.
/// `run` is the default subcommand: `openpace --target noop` and `openpace load.json` mean
/// `openpace run ...`. `run` goes in front when the first argument is a flag (not help or
/// version) or names a file; anything else is left for clap to judge (a subcommand, or a
/// misspelt one with its suggestion).
/// The manual page: one page with every subcommand and every flag of each (clap_mangen's
/// own page lists the subcommands only and refers to an `openpace-run(1)` that no one
/// installs).
fn man_page(w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let top = command();
    let man = clap_mangen::Man::new(top.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    // `run` first: it is the command; the others in the order --help lists them.
    let mut subs: Vec<&clap::Command> = top
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .collect();
    subs.sort_by_key(|c| (c.get_name() != "run", c.get_display_order()));
    for sub in subs {
        let name = sub.get_name();
        writeln!(w, ".SH \"OPENPACE {}\"", name.to_uppercase())?;
        let sub = sub.clone().bin_name(format!("openpace {name}"));
        let page = clap_mangen::Man::new(sub);
        let mut section = Vec::new();
        page.render_synopsis_section(&mut section)?;
        page.render_description_section(&mut section)?;
        page.render_options_section(&mut section)?;
        // Each of its sections becomes a subsection of the command's.
        let text = format!("\n{}", String::from_utf8_lossy(&section)).replace("\n.SH ", "\n.SS ");
        w.write_all(&text.as_bytes()[1..])?;
    }
    man.render_version_section(w)
}

fn with_default_subcommand(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<_> = args.into_iter().collect();
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        return args;
    };
    let own = ["-h", "--help", "-V", "--version"];
    let is_flag = first.starts_with('-') && !own.contains(&first.as_str());
    let is_subcommand = Cli::command()
        .get_subcommands()
        .any(|c| c.get_name() == first);
    let is_file =
        !is_subcommand && (first.ends_with(".json") || std::path::Path::new(&first).is_file());
    // `openpace http://host/`, as wrk, oha and hey take a URL.
    let is_url = !is_subcommand && first.contains("://");
    if is_flag || is_file || is_url {
        args.insert(1, "run".into());
    }
    args
}

fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("run", |c| c.args(field_args(|_| true)))
        .mut_subcommand("ab", |c| {
            // Every field flag of run but its reports': ab writes its own.
            c.args(field_args(|f| !ab::NOT_FOR_AB.contains(&f.name)))
        })
        .mut_subcommand("capacity", |c| {
            // Every field flag of run; capacity's own --warmup, --format and --out are its
            // steps' and its report's.
            let own = ["warmup_seconds", "report_format", "output"];
            let c = c.args(field_args(|f| !own.contains(&f.name)));
            // Accepted, to be refused with a message saying what to use, but not offered.
            FIELDS
                .iter()
                .filter(|f| f.flag.is_some() && capacity::decided_by_capacity(f.name))
                .fold(c, |c, f| c.mut_arg(f.name, |a| a.hide(true)))
        })
}

/// A usage error (exit 2) for `value` given to `flag`, which sets `field`: the message names
/// both, the value and what is allowed.
fn flag_error(
    flag: &str,
    field: &str,
    value: impl std::fmt::Display,
    allowed: impl Into<String>,
) -> Error {
    ConfigError::invalid(&Origin::Flag(flag.into()), field, value, allowed).into()
}

/// `--max-input-bytes SIZE` of the commands that read saved reports: the most bytes read
/// from one report (default 64 MiB).
#[derive(clap::Args, Clone, Debug, Default)]
struct InputLimit {
    /// The largest report file read, e.g. 256MiB (default 64MiB): a longer file is refused
    /// without being read.
    #[arg(long, value_name = "SIZE")]
    max_input_bytes: Option<String>,
}

impl InputLimit {
    /// The limit in bytes, or a usage error naming the flag.
    fn bytes(&self) -> Result<u64, Error> {
        match &self.max_input_bytes {
            None => Ok(openpace::base::input::MAX_INPUT_BYTES),
            Some(text) => openpace::base::units::parse_bytes(text)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    flag_error(
                        "--max-input-bytes",
                        "max_input_bytes",
                        text,
                        "a size above 0: bytes, or with a unit (256MiB, 1GiB)",
                    )
                }),
        }
    }
}

/// A duration flag in seconds (`--step 10s`); a usage error naming the flag otherwise.
fn seconds_flag(flag: &str, text: &str) -> Result<f64, Error> {
    config::parse_duration(text)
        .map(|d| d.as_secs_f64())
        .map_err(|why| flag_error(flag, flag.trim_start_matches('-'), text, why))
}

/// The run a command describes: the config file with the flags applied, or without a file
/// the scenario the flags make (`--target`) or the embedded default scenario.
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
    let limit = openpace::base::input::MAX_INPUT_BYTES;
    let text =
        openpace::base::input::read_text(path, limit).map_err(|e| ConfigError::Unreadable {
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
    // `--target '{"http": {...}}'` is named as the object it holds.
    let parsed = target
        .as_str()
        .and_then(config::target_object_text)
        .flatten()
        .map(serde_json::Value::Object);
    let target = parsed.as_ref().unwrap_or(target);
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
            // A key-value target is named by its URL and command.
            _ => match o.iter().next() {
                Some((kind, kv)) if kind == "redis" || kind == "memcached" => {
                    let address = text(kv.get("address"));
                    let url = if address.contains("://") {
                        address
                    } else {
                        format!("{kind}://{address}")
                    };
                    format!("{url} {}", text(kv.get("command")))
                        .trim_end()
                        .to_string()
                }
                _ => "openpace".to_string(),
            },
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

/// Where the user reads what a command prints: standard output, or standard error when a
/// report goes to standard output; nothing but errors with `--quiet`.
struct Console {
    to_stderr: bool,
    quiet: bool,
}

impl Console {
    fn new(quiet: bool, outputs: &[(Destination, ReportFormat)]) -> Console {
        Console {
            to_stderr: outputs.iter().any(|(d, _)| d.is_stdout()),
            quiet,
        }
    }

    /// A console for a command with one optional output.
    fn beside(quiet: bool, out: Option<&Destination>) -> Console {
        Console {
            to_stderr: out.is_some_and(Destination::is_stdout),
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
fn finish(console: &Console, written: &Written, code: u8) -> Result<u8, Error> {
    for dest in written.written.iter().filter(|d| !d.is_stdout()) {
        // The list is for the user; a console that fails here has already been reported.
        let _ = console.print(&format!("report: {}\n", dest.path.display()));
    }
    for e in &written.failed {
        openpace::base::say(format_args!("openpace: {e}"));
    }
    Ok(if written.failed.is_empty() { code } else { 3 })
}
