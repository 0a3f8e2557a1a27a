//! Reports: pure functions from a finished [`RunResult`] to text, JSON, HdrHistogram
//! distributions and logs, CSV, HTML and JUnit, and a durable write.
//!
//! Nothing here measures or reads a clock. The JSON report is the `RunResult` serialized as
//! is (histograms included), so every other report can be rendered again from a saved JSON
//! file ([`read_json`], `openpace report`). Files are written to a temporary file beside the
//! target and renamed over it, so a reader never sees half a report, even when the run was
//! interrupted; paths are checked before a run starts ([`check_writable`]).

pub mod calibration;
pub mod csv;
pub mod hdr;
pub mod html;
pub mod junit;
pub mod svg;
pub mod text;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::ReportFormat;
use crate::error::{ConfigError, Error};
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

/// Reads a JSON report from a file, for `openpace report` (errors are usage errors: exit 2).
pub fn load_result(path: &Path) -> Result<RunResult, ConfigError> {
    let file = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        file: file.clone(),
        reason: e.to_string(),
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
                "one of json, text, hgrm, hlog, csv, html, junit",
            )
        })
}

/// Renders `result` in `format`: (file-name suffix, contents) for each file. Every format
/// is one file with an empty suffix, except `.hgrm`: one per scenario and metric.
pub fn render_files(
    result: &RunResult,
    format: ReportFormat,
) -> Result<Vec<(String, String)>, String> {
    let one = |text: String| Ok(vec![(String::new(), text)]);
    match format {
        ReportFormat::Json => one(to_json(result)),
        ReportFormat::Text => one(summary(result)),
        ReportFormat::Hgrm => hdr::hgrm_files(result),
        ReportFormat::Hlog => one(hdr::hlog(result)?),
        ReportFormat::Csv => one(csv::csv(result)),
        ReportFormat::Html => one(html::html(result)?),
        ReportFormat::Junit => one(junit::junit(result)),
    }
}

/// `path` with `suffix` inserted before its extension (`out.hgrm` + `.service` ->
/// `out.service.hgrm`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}{suffix}"),
    };
    path.with_file_name(name)
}

/// Checks, before a run, that every output can be written: its directory exists and takes a
/// new file. An unwritable path is a run error (exit 3) before anything is measured.
pub fn check_writable(outputs: &[(PathBuf, ReportFormat)]) -> Result<(), Error> {
    for (path, _) in outputs {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let probe = dir.join(format!(".openpace-probe.{}", std::process::id()));
        fs::File::create(&probe)
            .map(|_| {
                let _ = fs::remove_file(&probe);
            })
            .map_err(|e| {
                Error::run(
                    format!("checking that {} can be written", path.display()),
                    e,
                )
            })?;
    }
    Ok(())
}

/// Writes every output of a run; returns the files written.
pub fn write_outputs(
    result: &RunResult,
    outputs: &[(PathBuf, ReportFormat)],
) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for (path, format) in outputs {
        let files = render_files(result, *format)
            .map_err(|why| Error::run(format!("rendering the {} report", format.name()), why))?;
        for (suffix, contents) in files {
            let target = with_suffix(path, &suffix);
            write_atomically(&target, &contents)?;
            written.push(target);
        }
    }
    Ok(written)
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
