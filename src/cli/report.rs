//! `openpace report`: a saved JSON result rendered again in any format.

use std::path::PathBuf;

use clap::Args;
use openpace::Error;
use openpace::report::{self, Destination};

use super::{Console, InputLimit, finish};

/// Flags of `openpace report`.
#[derive(Args)]
pub(super) struct ReportArgs {
    /// A JSON report written by `openpace run`.
    result: PathBuf,
    /// The format.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: String,
    /// Where to write it; standard output when left out.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    limit: InputLimit,
}

pub(super) fn rerender(args: &ReportArgs) -> Result<u8, Error> {
    let format = report::parse_format(&args.format)?;
    let out = args.out.as_deref().map_or_else(
        || Destination::flag("--out", "-"),
        |path| Destination::flag("--out", path),
    );
    let outputs = [(out, format)];
    let result = report::load_result(&args.result, args.limit.bytes()?)?;
    report::check_outputs(&outputs, &report::planned(&result))?;
    let console = Console::new(true, &outputs);
    finish(&console, &report::write_outputs(&result, &outputs), 0)
}
