//! `openpace log FILE`: a request log (`--log-requests`) as CSV, or its summary.

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use openpace::Error;
use openpace::metrics::request_log::{self, Decoder};
use openpace::report::request_log::{CSV_HEADER, csv_row, summary_text};

/// Flags of `openpace log`.
#[derive(Args)]
pub(super) struct LogArgs {
    /// The request log a run wrote with --log-requests.
    file: PathBuf,
    /// Print each scenario's counts and percentiles instead of the lines.
    #[arg(long)]
    summary: bool,
    /// With --summary: print it as JSON.
    #[arg(long, requires = "summary")]
    json: bool,
    /// Write the CSV (or the summary) to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) fn log(args: &LogArgs) -> Result<u8, Error> {
    let what = format!("reading the request log {}", args.file.display());
    let file = std::fs::File::open(&args.file).map_err(|e| Error::run(&what, e))?;
    let mut decoder =
        Decoder::new(BufReader::with_capacity(1 << 20, file)).map_err(|e| Error::run(&what, e))?;
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| Error::run(format!("writing {}", path.display()), e))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let written = if args.summary {
        let summary = request_log::summarize(&mut decoder).map_err(|e| Error::run(&what, e))?;
        let text = if args.json {
            serde_json::to_string_pretty(&summary).expect("summaries serialize") + "\n"
        } else {
            summary_text(&summary)
        };
        out.write_all(text.as_bytes())
    } else {
        csv(&mut decoder, &mut out).map_err(|e| Error::run(&what, e))?
    };
    match written.and_then(|()| out.flush()) {
        // `openpace log FILE | head` closes the pipe early: not a fault.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::run("writing the log's lines", e))
        }
        _ => Ok(0),
    }
}

/// Every line as a CSV row; a file cut short gives the rows it holds and a note on standard
/// error.
fn csv<R: std::io::BufRead>(
    decoder: &mut Decoder<R>,
    out: &mut impl Write,
) -> Result<std::io::Result<()>, String> {
    let mut row = String::with_capacity(256);
    if let Err(e) = out.write_all(CSV_HEADER.as_bytes()) {
        return Ok(Err(e));
    }
    while let Some(line) = decoder.next_line()? {
        row.clear();
        csv_row(&mut row, &decoder.header, &line);
        if let Err(e) = out.write_all(row.as_bytes()) {
            return Ok(Err(e));
        }
    }
    if decoder.trailer.is_none() {
        openpace::base::say(format_args!(
            "openpace: the log ends without its end frame (the run was killed or the disk \
             filled): these are the lines it holds"
        ));
    }
    Ok(Ok(()))
}
