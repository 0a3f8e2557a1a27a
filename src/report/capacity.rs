//! The report of `openpace capacity`: the steps as a table and the bracket in words, or the
//! steps as CSV.

use std::fmt::Write;

use crate::base::units::format_ms;
use crate::metrics::capacity::CapacityReport;

/// The report as text.
pub fn text(r: &CapacityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "CAPACITY of \"{}\" (target {}), {}",
        r.scenario, r.target, r.tool
    );
    let _ = writeln!(
        out,
        "  steps of {}s after {}s warmup, from {} and {} RPS (doubling up to {} while it \
         passes), to {:.0}% precision\n",
        r.options.step_s,
        r.options.warmup_s,
        r.options.low,
        r.options.high,
        r.options.cap,
        100.0 * r.options.precision
    );
    let _ = writeln!(
        out,
        "{:>10} {:>8} {:>12} {:>12} {:>10} {:>10} {:>8} {:>8}  why",
        "rate RPS", "result", "achieved", "sustained", "p95", "p99", "errors", "suspect"
    );
    for s in &r.steps {
        let _ = writeln!(
            out,
            "{:>10.1} {:>8} {:>12.1} {:>12.1} {:>10} {:>10} {:>7.2}% {:>8}  {}",
            s.rate,
            if s.passed { "pass" } else { "FAIL" },
            s.achieved_rps,
            s.sustained_rps,
            format_ms(s.p95_ms),
            format_ms(s.p99_ms),
            100.0 * s.error_rate,
            if s.suspect { "yes" } else { "-" },
            s.reasons.join("; ")
        );
    }
    let _ = writeln!(out);
    suspect_steps(&mut out, r);
    match (r.highest_passed, r.first_failed) {
        (Some(p), Some(f)) => {
            let _ = writeln!(
                out,
                "CAPACITY: {p:.1} RPS passed; {f:.1} RPS failed: {}",
                r.first_failed_reasons.join("; ")
            );
        }
        (Some(p), None) if p >= r.options.cap => {
            let _ = writeln!(
                out,
                "CAPACITY: at least {p:.1} RPS: the cap passed (--cap {}); raise --cap to \
                 search higher",
                r.options.cap
            );
        }
        (Some(p), None) => {
            let _ = writeln!(
                out,
                "CAPACITY: at least {p:.1} RPS (the search ended before a rate failed)"
            );
        }
        (None, Some(f)) => {
            let _ = writeln!(
                out,
                "CAPACITY: below {f:.1} RPS (the lower bound failed: {})",
                r.first_failed_reasons.join("; ")
            );
        }
        (None, None) => {}
    }
    if r.interrupted {
        let _ = writeln!(
            out,
            "INTERRUPTED: a stop request ended the search; the steps above are what it found"
        );
    }
    out
}

/// Which steps' own figures are in doubt, and why: a pass or fail there may not hold.
fn suspect_steps(out: &mut String, r: &CapacityReport) {
    for s in r.steps.iter().filter(|s| s.suspect) {
        let why = match s.suspect_why.first() {
            Some(note) => note.as_str(),
            None => "see that step's run for its notes",
        };
        let _ = writeln!(out, "suspect at {:.1} RPS: {why}", s.rate);
    }
    if r.steps.iter().any(|s| s.suspect) {
        let _ = writeln!(out);
    }
}

/// The steps as CSV.
pub fn csv(r: &CapacityReport) -> String {
    let mut out = String::from(
        "rate,passed,achieved_rps,sustained_rps,p95_ms,p99_ms,error_rate,suspect,reasons\n",
    );
    for s in &r.steps {
        let reasons = s.reasons.join("; ").replace('"', "\"\"");
        let _ = writeln!(
            out,
            "{},{},{:.3},{:.3},{:.4},{:.4},{:.6},{},\"{reasons}\"",
            s.rate,
            s.passed,
            s.achieved_rps,
            s.sustained_rps,
            s.p95_ms,
            s.p99_ms,
            s.error_rate,
            s.suspect
        );
    }
    out
}
