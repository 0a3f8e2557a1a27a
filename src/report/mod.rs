//! Reports: pure functions from a finished [`RunResult`] to text, JSON, HdrHistogram
//! distributions and logs, CSV, HTML and JUnit, and a durable write.
//!
//! Nothing here measures or reads a clock. The JSON report is the `RunResult` serialized as
//! is (histograms included), so every other report can be rendered again from a saved JSON
//! file ([`read_json`], `openpace report`). Where reports go and how they are written without
//! destroying what a path names (a device, a FIFO, a link) is [`output`]'s; every path is
//! checked before a run starts ([`check_outputs`]).

pub mod calibration;
pub mod capacity;
pub mod compare;
pub mod csv;
pub mod format;
pub mod hdr;
pub mod host;
pub mod html;
pub mod junit;
pub mod output;
pub mod request_log;
pub mod svg;
pub mod text;

use std::path::Path;

use crate::error::{ConfigError, Error};
use crate::metrics::RunResult;

pub use crate::base::units::with_suffix;
pub use format::{FORMATS, Files, ReportFormat};
pub use output::Destination;
pub use text::summary;

/// The JSON report (pretty-printed, stable field names; see docs/formats.md).
pub fn to_json(result: &RunResult) -> String {
    let mut text = serde_json::to_string_pretty(result).expect("results always serialize");
    text.push('\n');
    text
}

/// Reads a JSON report written by [`to_json`].
pub fn read_json(text: &str) -> Result<RunResult, serde_json::Error> {
    serde_json::from_str(text)
}

/// Reads a JSON report from a file of at most `limit` bytes, for `openpace report`, `compare`
/// and `merge` (errors are usage errors: exit 2).
pub fn load_result(path: &Path, limit: u64) -> Result<RunResult, ConfigError> {
    let file = path.display().to_string();
    let text = crate::base::input::read_text(path, limit).map_err(|e| ConfigError::Unreadable {
        file: file.clone(),
        reason: match e {
            crate::base::input::ReadError::TooLarge { .. } => {
                format!("{e} (--max-input-bytes raises the limit)")
            }
            e => e.to_string(),
        },
    })?;
    read_json(&text).map_err(|e| ConfigError::Syntax {
        file,
        line: e.line(),
        column: e.column(),
        message: format!("not an openpace JSON report: {e}"),
    })
}

/// A format name as given to `--format`.
pub fn parse_format(name: &str) -> Result<ReportFormat, ConfigError> {
    ReportFormat::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            ConfigError::invalid(
                &crate::error::Origin::Flag("--format".into()),
                "format",
                name,
                format!("one of {}", ReportFormat::names()),
            )
        })
}

/// What the `.hgrm` files of one scenario are planned from: one per metric (response,
/// service, dispatch), three more with kernel timestamps, and one per metric and name of a
/// request set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// The request set's names (empty without one).
    pub names: Vec<String>,
    /// Whether service time is split by kernel timestamps.
    pub kernel: bool,
}

/// What each scenario of `result` plans files from.
pub fn planned(result: &RunResult) -> Vec<Planned> {
    result
        .scenarios
        .iter()
        .map(|s| Planned {
            names: s.by_name.iter().map(|n| n.name.clone()).collect(),
            kernel: s.kernel_timestamps.is_some(),
        })
        .collect()
}

/// Renders `result` in `format`: (file-name suffix, contents) for each file. Every format
/// is one file with an empty suffix, except `.hgrm`: one per scenario and metric.
pub fn render_files(
    result: &RunResult,
    format: ReportFormat,
) -> Result<Vec<(String, String)>, String> {
    (format.info().render)(result)
}

/// The destinations a report in `format` takes when it is sent to `dest`, for a run whose
/// scenarios are `planned` (see [`planned`]): one, except `.hgrm` to a
/// file path, which puts each scenario's metrics (and each name's) in files beside it. A stream (standard output, a device, a FIFO) takes every part.
pub fn files_of(dest: &Destination, format: ReportFormat, planned: &[Planned]) -> Vec<Destination> {
    if format.info().files == Files::One || output::is_stream(&dest.path) {
        return vec![dest.clone()];
    }
    hdr::hgrm_suffixes(planned)
        .into_iter()
        .map(|suffix| Destination {
            path: with_suffix(&dest.path, &suffix),
            ..dest.clone()
        })
        .collect()
}

/// Checks, before a run, every file the outputs will take (see [`output`]): usage errors
/// (exit 2) for paths that cannot hold a report or that two outputs share, run errors (exit
/// 3) for directories that are missing or take no new file. `planned` says what each
/// scenario's files are planned from.
pub fn check_outputs(
    outputs: &[(Destination, ReportFormat)],
    planned: &[Planned],
) -> Result<(), Error> {
    check_outputs_with(outputs, planned, None)
}

/// [`check_outputs`], with one more file the run writes (the request log), checked like them:
/// a directory that takes it, a path no other output uses, no input replaced.
pub fn check_outputs_with(
    outputs: &[(Destination, ReportFormat)],
    planned: &[Planned],
    also: Option<Destination>,
) -> Result<(), Error> {
    let mut files: Vec<Destination> = outputs
        .iter()
        .flat_map(|(dest, format)| files_of(dest, *format, planned))
        .collect();
    files.extend(also);
    output::check(&files)
}

/// What [`write_outputs`] did.
#[derive(Debug, Default)]
pub struct Written {
    /// The destinations written, in order.
    pub written: Vec<Destination>,
    /// The outputs that could not be written, each with its reason (exit 3).
    pub failed: Vec<Error>,
}

/// Writes every output of a run. A failure does not stop the others: each is written if it
/// can be, and the failures are returned with the output they concern.
pub fn write_outputs(result: &RunResult, outputs: &[(Destination, ReportFormat)]) -> Written {
    let mut done = Written::default();
    for (dest, format) in outputs {
        let files = match render_files(result, *format) {
            Ok(files) => files,
            Err(why) => {
                done.failed.push(Error::run(
                    format!(
                        "rendering the {} report for {}",
                        format.name(),
                        dest.describe()
                    ),
                    why,
                ));
                continue;
            }
        };
        let targets = files_of(dest, *format, &planned(result));
        let parts: Vec<(Destination, Vec<u8>)> = if targets.len() == files.len() {
            targets
                .into_iter()
                .zip(files)
                .map(|(target, (_, text))| (target, text.into_bytes()))
                .collect()
        } else {
            // A stream takes every part, one after the other.
            let joined: String = files.into_iter().map(|(_, text)| text).collect();
            vec![(dest.clone(), joined.into_bytes())]
        };
        for (target, bytes) in parts {
            match output::write(&target, &bytes) {
                Ok(()) => done.written.push(target),
                Err(e) => done.failed.push(e),
            }
        }
    }
    done
}
