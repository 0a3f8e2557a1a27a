//! Golden files: saved results and commands whose output must not change by one byte when
//! code moves. `tests/golden/<case>/result.json` are results of real runs, kept; every
//! `render.*` beside them is what each report format made of them when they were saved. The
//! `cli/` case holds what the binary prints for help, `example-config`, `validate` and bad
//! input (output and exit code). A refactor must leave every file as it is.
//!
//! After a deliberate change of output, `OPENPACE_BLESS=1 cargo test --release --test golden`
//! writes the files again; the diff is then reviewed like code.

use std::path::{Path, PathBuf};

use openpace::ReportFormat;
use openpace::calibrate::CalibrationReport;
use openpace::report::{calibration, read_json, render_files};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `actual` with the golden file at `path`, or writes it when blessing. Returns a
/// description of the difference, if any.
fn check(path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("OPENPACE_BLESS").is_some() {
        std::fs::write(path, actual).unwrap();
        return None;
    }
    let expected = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    if expected == actual {
        return None;
    }
    let line = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(expected.lines().count().min(actual.lines().count()));
    Some(format!(
        "{} differs from line {}:\n  golden: {:?}\n  now:    {:?}",
        path.display(),
        line + 1,
        expected.lines().nth(line).unwrap_or("<end>"),
        actual.lines().nth(line).unwrap_or("<end>"),
    ))
}

fn assert_all(differences: Vec<String>) {
    assert!(
        differences.is_empty(),
        "{} golden file(s) differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn every_saved_result_renders_byte_for_byte_as_before() {
    let mut differences = Vec::new();
    let mut cases = 0;
    for case in ["single", "concurrent", "http", "merged"] {
        let dir = golden_dir().join(case);
        let result = read_json(&read(&dir.join("result.json")))
            .unwrap_or_else(|e| panic!("{case}/result.json: {e}"));
        // JSON is the saved result itself: see the next test.
        for (name, format) in ReportFormat::ALL.into_iter().filter(|(n, _)| *n != "json") {
            let files = render_files(&result, format).unwrap_or_else(|e| panic!("{case}: {e}"));
            for (suffix, text) in files {
                let path = dir.join(format!("render{suffix}.{name}"));
                differences.extend(check(&path, &text));
                cases += 1;
            }
        }
    }
    assert!(cases >= 4 * 6, "{cases} renders checked");
    assert_all(differences);
}

#[test]
fn the_json_report_reads_back_to_the_same_bytes() {
    for case in ["single", "concurrent", "http", "merged"] {
        let text = read(&golden_dir().join(case).join("result.json"));
        let result = read_json(&text).unwrap();
        assert!(
            openpace::report::to_json(&result) == text,
            "{case}: reading and writing the JSON report changed it"
        );
    }
}

#[test]
fn the_calibration_report_renders_byte_for_byte_as_before() {
    let dir = golden_dir().join("calibration");
    let report: CalibrationReport = serde_json::from_str(&read(&dir.join("report.json"))).unwrap();
    let single = read_json(&read(&golden_dir().join("single/result.json"))).unwrap();
    let differences = [
        check(
            &dir.join("render.text"),
            &calibration::calibration_text(&report),
        ),
        check(
            &dir.join("compare.text"),
            &calibration::compare(&single, &report),
        ),
    ];
    assert_all(differences.into_iter().flatten().collect());
}

/// What the binary prints for `args`, with its exit code, as one golden text.
fn transcript(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args(args)
        .current_dir(golden_dir().join("cli"))
        .output()
        .expect("the binary runs");
    format!(
        "$ openpace {}\n--- exit {:?}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_example_config_validation_and_errors_print_as_before() {
    let cases: &[(&str, &[&str])] = &[
        ("help", &["--help"]),
        ("help-run", &["run", "--help"]),
        ("help-capacity", &["capacity", "--help"]),
        ("help-merge", &["merge", "--help"]),
        ("help-compare", &["compare", "--help"]),
        ("help-report", &["report", "--help"]),
        ("help-calibrate", &["calibrate", "--help"]),
        ("help-validate", &["validate", "--help"]),
        ("example-config", &["example-config"]),
        ("validate-seed-flat", &["validate", "seed-flat.json"]),
        ("validate-bad-type", &["validate", "bad-type.json"]),
        (
            "validate-unknown-field",
            &["validate", "unknown-field.json"],
        ),
        ("validate-no-scenarios", &["validate", "no-scenarios.json"]),
        (
            "validate-ramp-backwards",
            &["validate", "ramp-backwards.json"],
        ),
        ("validate-syntax", &["validate", "syntax.json"]),
        (
            "validate-run-wide-differs",
            &["validate", "run-wide-differs.json"],
        ),
        (
            "validate-duplicate-names",
            &["validate", "duplicate-names.json"],
        ),
        ("validate-bad-values", &["validate", "bad-values.json"]),
        ("run-negative-rate", &["run", "--rate", "-5"]),
        ("run-bad-duration", &["run", "--duration", "abc"]),
        ("run-bad-pattern", &["run", "--pattern", "zigzag"]),
        ("run-zero-workers", &["run", "--workers", "0"]),
        ("run-bad-wait", &["run", "--wait", "nap"]),
        ("run-unknown-set", &["run", "--set", "nosuchfield=1"]),
        (
            "run-bad-threshold",
            &["run", "--threshold", "response p99 < banana"],
        ),
        ("run-bad-connections", &["run", "--connections", "-1"]),
        ("run-bad-target", &["run", "--target", "ftp://127.0.0.1/"]),
        (
            "report-bad-format",
            &["report", "seed-flat.json", "--format", "xml"],
        ),
        (
            "capacity-backwards",
            &["capacity", "--low", "100", "--high", "10"],
        ),
    ];
    let dir = golden_dir().join("cli");
    let differences: Vec<String> = cases
        .iter()
        .filter_map(|(name, args)| check(&dir.join(format!("{name}.txt")), &transcript(args)))
        .collect();
    assert_all(differences);
}
