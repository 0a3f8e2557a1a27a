//! `openpace compare A.json B.json`: is B different from A, percentile by percentile, with
//! 95% intervals; exit 1 when a `--fail-if-slower` limit is broken.

use std::path::PathBuf;

use clap::Args;
use openpace::Error;
use openpace::metrics::compare::{self, SlowerLimit};
use openpace::report::{self, Destination};

use super::{Console, finish, flag_error};

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
}

pub(super) fn compare(args: &CompareArgs) -> Result<u8, Error> {
    let limits = args
        .fail_if_slower
        .iter()
        .map(|text| {
            SlowerLimit::parse(text)
                .map_err(|why| flag_error("--fail-if-slower", "fail_if_slower", text, why))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let format = args.format.as_str();
    if !["text", "json", "html"].contains(&format) {
        return Err(flag_error(
            "--format",
            "format",
            format,
            "text, json or html",
        ));
    }
    let out = args
        .out
        .as_ref()
        .map(|path| Destination::flag("--out", path));
    if let Some(dest) = &out {
        report::output::check(std::slice::from_ref(dest))?;
    }
    let a = report::load_result(&args.a)?;
    let b = report::load_result(&args.b)?;
    let (a_name, b_name) = (args.a.display().to_string(), args.b.display().to_string());
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
    failed.extend(console.print(&report::compare::text(&found)).err());
    if let Some(dest) = &out {
        let contents = match format {
            "json" => serde_json::to_string_pretty(&found).expect("comparisons serialize") + "\n",
            "html" => {
                report::compare::html(&found, &a.scenarios, &b.scenarios).map_err(unreadable)?
            }
            _ => report::compare::text(&found),
        };
        failed.extend(report::output::write(dest, contents.as_bytes()).err());
    }
    let written = report::Written {
        written: out.into_iter().collect(),
        failed,
    };
    let code = u8::from(found.limits.iter().any(|l| l.failed));
    finish(&console, &written, code)
}
