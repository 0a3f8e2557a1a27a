//! Text for the host check (`openpace host`, and the checks in `openpace calibrate`): one line
//! per check with its outcome and what it found, then for each that failed what to change and
//! the files it read, as pyperf's `system show` prints them.

use std::fmt::Write;

use crate::base::host_check::{Check, HostReport, Status};

/// The host report as printed.
pub fn host_text(r: &HostReport) -> String {
    let mut w = String::new();
    let timer = r
        .cores
        .timer
        .map_or("unpinned".to_string(), |c| format!("core {c}"));
    let workers = match r.cores.workers.as_slice() {
        [] => "unpinned".to_string(),
        cores => format!(
            "core {}",
            cores
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let _ = writeln!(
        w,
        "HOST CHECK ({}): timing loop on {timer}, workers on {workers}",
        r.tool
    );
    check_lines(&mut w, &r.checks);
    let _ = writeln!(w, "host check: {}", r.summary);
    w
}

/// The checks, one line each, with advice and files under each that did not pass.
pub fn check_lines(w: &mut String, checks: &[Check]) {
    for c in checks {
        let _ = writeln!(w, "  {:<4}  {:<14}  {}", c.status.label(), c.name, c.found);
        if c.status == Status::Warn {
            let _ = writeln!(w, "        change: {}", c.advice);
        }
        if c.status != Status::Ok {
            let _ = writeln!(w, "        read: {}", c.files.join(" "));
        }
    }
}
