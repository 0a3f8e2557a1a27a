//! `openpace merge`: the reports of a sharded run's shards made into one, thresholds
//! evaluated again on the merged data.

use std::path::PathBuf;

use clap::Args;
use openpace::report::{self, Destination};
use openpace::{Error, ReportFormat, cluster};

use super::{Console, InputLimit, finish};

/// Flags of `openpace merge`.
#[derive(Args)]
pub(super) struct MergeArgs {
    /// The shards' JSON reports (any order).
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Where the merged report goes.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[arg(long, value_name = "FORMAT", default_value = "json",
          help = format!("Format of --out: {}", ReportFormat::names_or()))]
    format: String,
    /// Merge even with shards missing, and mark the result partial.
    #[arg(long)]
    allow_partial: bool,
    /// Merge shards whose targets differ (refused otherwise), with a warning saying how.
    #[arg(long)]
    allow_mixed: bool,
    /// Exit 1 when a threshold is inconclusive (its 95% interval straddles the limit), not
    /// only when one failed.
    #[arg(long)]
    strict: bool,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    limit: InputLimit,
}

pub(super) fn merge(args: &MergeArgs) -> Result<u8, Error> {
    // Every report's histograms are decoded, each into a fresh ~300 KB buffer.
    openpace::base::sys::reuse_freed_memory();
    let format = report::parse_format(&args.format)?;
    let limit = args.limit.bytes()?;
    let names: Vec<String> = args
        .reports
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    let options = cluster::MergeOptions {
        allow_partial: args.allow_partial,
        allow_mixed: args.allow_mixed,
    };
    // Each report is read when the merge needs it (twice: checked, then added) and dropped
    // before the next, less what a merge never reads.
    let merged = cluster::merge_with(&names, &options, |i| {
        let mut result = report::load_result(&args.reports[i], limit)?;
        cluster::lighten(&mut result);
        Ok(result)
    })?;
    let outputs = [(Destination::flag("--out", &args.out), format)];
    report::check_outputs(&outputs, &report::planned(&merged))?;
    let console = Console::new(args.quiet, &outputs);
    let mut written = report::write_outputs(&merged, &outputs);
    written
        .failed
        .extend(console.print(&report::summary(&merged)).err());
    finish(
        &console,
        &written,
        if merged.passed_under(args.strict) {
            0
        } else {
            1
        },
    )
}
