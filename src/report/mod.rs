//! Reports: pure functions from a finished [`RunResult`] to text and JSON, and a durable write.
//!
//! Nothing here measures or reads a clock. The JSON report is the `RunResult` serialized as
//! is, so every other report can be rendered again from a saved JSON file
//! ([`read_json`]). Files are written to a temporary file beside the target and renamed over
//! it, so a reader never sees half a report, even when the run was interrupted.

pub mod calibration;
pub mod text;

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::config::ReportFormat;
use crate::error::Error;
use crate::metrics::RunResult;

pub use text::summary;

/// The JSON report (pretty-printed, stable field names; see the README).
pub fn to_json(result: &RunResult) -> String {
    let mut text = serde_json::to_string_pretty(result).expect("results always serialize");
    text.push('\n');
    text
}

/// Reads a JSON report written by [`to_json`].
pub fn read_json(text: &str) -> Result<RunResult, serde_json::Error> {
    serde_json::from_str(text)
}

/// Renders `result` in `format`.
pub fn render(result: &RunResult, format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => to_json(result),
        ReportFormat::Text => summary(result),
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, flushed
/// to disk, then renamed over `path`.
pub fn write_atomically(path: &Path, contents: &str) -> Result<(), Error> {
    let action = || format!("writing the report to {}", path.display());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::run(action(), "the path names no file"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::run(action(), e)
    })
}
