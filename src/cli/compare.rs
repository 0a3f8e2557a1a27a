//! `openpace compare A.json B.json`: is B different from A, percentile by percentile, with
//! 95% intervals; exit 1 when a `--fail-if-slower` limit is broken.

use std::path::PathBuf;

use clap::Args;
use openpace::error::{ConfigError, Origin};
use openpace::metrics::compare::{self, SlowerLimit};
use openpace::report::{self, Destination};
use openpace::{Error, RunResult};

use super::{Console, InputLimit, finish, flag_error};

/// Flags of `openpace compare`.
#[derive(Args)]
pub(super) struct CompareArgs {
    /// The baseline: a JSON report written by `openpace run` (or `merge`).
    a: PathBuf,
    /// The run compared with it.
    b: PathBuf,
    /// Exit 1 when B is significantly slower than A at this percentile and by more than
    /// this margin: `[METRIC] pN > X%` (METRIC response, service or dispatch; response when
    /// left out), e.g. "p99 > 5%" (repeatable).
    #[arg(long, value_name = "LIMIT")]
    fail_if_slower: Vec<String>,
    /// Format of --out: text, json or html (both spectra on one chart per metric).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: String,
    /// Also write the comparison here, in --format.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// Compare runs of different targets, patterns or schedules (refused otherwise), with a
    /// note saying how they differ.
    #[arg(long)]
    allow_mixed: bool,
    #[command(flatten)]
    limit: InputLimit,
}

/// `--fail-if-slower` limits and the `--format` of a comparison, as `compare` and `ab` take
/// them: usage errors naming the flag otherwise.
pub(super) fn limits_and_format(
    fail_if_slower: &[String],
    format: &str,
) -> Result<Vec<SlowerLimit>, Error> {
    if !["text", "json", "html"].contains(&format) {
        return Err(flag_error(
            "--format",
            "format",
            format,
            "text, json or html",
        ));
    }
    fail_if_slower
        .iter()
        .map(|text| {
            SlowerLimit::parse(text)
                .map_err(|why| flag_error("--fail-if-slower", "fail_if_slower", text, why))
        })
        .collect()
}

pub(super) fn compare(args: &CompareArgs) -> Result<u8, Error> {
    // Every report's histograms are decoded, each into a fresh ~300 KB buffer.
    openpace::base::sys::reuse_freed_memory();
    let format = args.format.as_str();
    let limits = limits_and_format(&args.fail_if_slower, format)?;
    let out = args
        .out
        .as_ref()
        .map(|path| Destination::flag("--out", path));
    let limit = args.limit.bytes()?;
    let a = report::load_result(&args.a, limit)?;
    let b = report::load_result(&args.b, limit)?;
    // After reading the inputs, so that an --out naming one of them is refused.
    if let Some(dest) = &out {
        report::output::check(std::slice::from_ref(dest))?;
    }
    let (a_name, b_name) = (args.a.display().to_string(), args.b.display().to_string());
    for (name, report) in [(&a_name, &a), (&b_name, &b)] {
        verify(name, report)?;
    }
    let differences = differences(&a, &b);
    if let Some((scenario, field, in_a, in_b)) = differences.first().filter(|_| !args.allow_mixed) {
        return Err(ConfigError::invalid(
            &Origin::File {
                file: b_name.clone(),
                scope: format!("scenario \"{scenario}\""),
            },
            field,
            format!("\"{in_b}\""),
            format!(
                "the {field} of {a_name}: \"{in_a}\" (compare weighs runs of one target, \
                 pattern and schedule; --allow-mixed compares them anyway, with a note)"
            ),
        )
        .into());
    }
    let unreadable = |why: String| flag_error("A.json B.json", "histograms", "a report", why);
    let found = compare::compare((&a_name, &a.scenarios), (&b_name, &b.scenarios), &limits)
        .map_err(unreadable)?;
    if found.scenarios.is_empty() {
        return Err(unreadable(format!(
            "no scenario of {a_name} has a namesake in {b_name} ({})",
            found.unmatched.join(", ")
        )));
    }
    let console = Console::beside(args.quiet, out.as_ref());
    let mut failed = Vec::new();
    let notes: String = differences
        .iter()
        .map(|(scenario, field, in_a, in_b)| {
            format!("note: \"{scenario}\" differs in {field}: A {in_a}, B {in_b} (--allow-mixed)\n")
        })
        .collect();
    failed.extend(console.print(&notes).err());
    failed.extend(console.print(&report::compare::text(&found)).err());
    if let Some(dest) = &out {
        let contents = report::compare::in_format(&found, format, &a.scenarios, &b.scenarios)
            .map_err(unreadable)?;
        failed.extend(report::output::write(dest, contents.as_bytes()).err());
    }
    let written = report::Written {
        written: out.into_iter().collect(),
        failed,
    };
    let code = u8::from(found.limits.iter().any(|l| l.failed));
    finish(&console, &written, code)
}

/// Checks a report as `merge` checks a shard's: counts that add up, histograms that hold them,
/// intervals present. The error names the file.
fn verify(name: &str, report: &RunResult) -> Result<(), Error> {
    openpace::cluster::verify::verify(report).map_err(|p| {
        ConfigError::invalid(
            &Origin::File {
                file: name.to_string(),
                scope: String::new(),
            },
            &p.field,
            p.value,
            format!("{} (the report does not hold together)", p.expected),
        )
        .into()
    })
}

/// A schedule without its Poisson seed: repetitions with other seeds are the same workload.
fn unseeded(schedule: &str) -> String {
    schedule
        .split(", seed ")
        .next()
        .unwrap_or(schedule)
        .trim_end_matches(", unseeded")
        .to_string()
}

/// How the scenarios `a` and `b` share by name differ in what they measured: (scenario,
/// field, A's, B's) for the target, the pattern and the schedule.
fn differences(a: &RunResult, b: &RunResult) -> Vec<(String, &'static str, String, String)> {
    let mut found = Vec::new();
    for sa in &a.scenarios {
        let Some(sb) = b.scenarios.iter().find(|s| s.name == sa.name) else {
            continue;
        };
        let pairs = [
            ("target", sa.target.clone(), sb.target.clone()),
            (
                "load_pattern",
                sa.pattern.name().to_string(),
                sb.pattern.name().to_string(),
            ),
            ("schedule", unseeded(&sa.schedule), unseeded(&sb.schedule)),
        ];
        for (field, in_a, in_b) in pairs {
            if in_a != in_b {
                found.push((sa.name.clone(), field, in_a, in_b));
            }
        }
    }
    found
}
