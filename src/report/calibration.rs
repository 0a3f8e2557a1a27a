//! Text for calibration: the report of `openpace calibrate`, and a run's figures beside the
//! floors of a calibration (`openpace run --calibration FILE`).

use std::fmt::Write;

use crate::metrics::calibration::{CalibrationReport, mode_name};
use crate::metrics::{LatencySummary, RunResult};

fn cyclictest_style(l: &LatencySummary) -> String {
    format!(
        "min {:>8.2}  p50 {:>8.2}  p99 {:>9.2}  p99.99 {:>9.2}  max {:>9.2}",
        l.min,
        l.at(0.5),
        l.at(0.99),
        l.at(0.9999),
        l.max
    )
}

/// The calibration report as printed.
pub fn calibration_text(c: &CalibrationReport) -> String {
    let mut w = String::new();
    host_lines(&mut w, c);
    mode_lines(&mut w, c);
    rate_and_overhead_lines(&mut w, c);
    w
}

/// The host and the cores calibrated.
fn host_lines(w: &mut String, c: &CalibrationReport) {
    let h = &c.host;
    let core = |c: Option<usize>| c.map_or("unpinned".to_string(), |c| format!("core {c}"));
    let _ = writeln!(
        w,
        "CALIBRATION of {} ({}), {}",
        h.hostname, h.cpu_model, c.tool
    );
    let _ = writeln!(
        w,
        "  kernel {}, {} cores, governor {}, isolated cores: {}",
        h.kernel,
        h.cores,
        h.governor.as_deref().unwrap_or("not readable"),
        h.isolated_cores
            .as_deref()
            .map_or("not readable", |s| if s.is_empty() { "none" } else { s })
    );
    let _ = writeln!(
        w,
        "  timing loop on {}{}, worker on {}",
        core(h.timer_core),
        if h.timer_realtime {
            " (SCHED_FIFO, --realtime)"
        } else {
            ""
        },
        core(h.worker_core)
    );
    if !h.checks.is_empty() {
        super::host::check_lines(w, &h.checks);
        let _ = writeln!(
            w,
            "  host check: {}",
            crate::base::host_check::summary(&h.checks)
        );
    }
}

/// The clock and recording costs, then each wait mode's floors.
fn mode_lines(w: &mut String, c: &CalibrationReport) {
    let _ = writeln!(
        w,
        "\nclock read {:.1} ns; record {:.1} ns (HdrHistogram {:.1} ns)",
        c.clock_read_ns, c.record_ns, c.hdr_record_ns
    );
    for m in &c.modes {
        let _ = writeln!(w, "\n{} mode (noop at 1,000 RPS; µs):", mode_name(m.mode));
        let _ = writeln!(
            w,
            "  timer lateness  {}",
            cyclictest_style(&m.timer_lateness_us)
        );
        let _ = writeln!(
            w,
            "  dispatch delay  {}",
            cyclictest_style(&m.dispatch_delay_us)
        );
        let _ = writeln!(w, "  raw hand-off    {}", cyclictest_style(&m.hand_off_us));
        let _ = writeln!(
            w,
            "  framework overhead {:.2} µs per request; timing thread {:.1}% of a core",
            m.overhead_per_request_us, m.timer_cpu_pct
        );
    }
}

/// The highest noop rate, the spin targets' accuracy and the expected overhead.
fn rate_and_overhead_lines(w: &mut String, c: &CalibrationReport) {
    let _ = writeln!(
        w,
        "\nhighest noop rate held by one worker (spin): {:.1}M RPS",
        c.max_noop_rps / 1e6
    );
    for p in &c.rate_search {
        let _ = writeln!(
            w,
            "  {:>5.1}M RPS: sustained/target {:.4}, dropped {} -> {}",
            p.rate / 1e6,
            p.ratio,
            p.dropped,
            if p.held { "held" } else { "not held" }
        );
    }
    let _ = writeln!(w, "\nspin:DUR targets, service time minus DUR:");
    for e in &c.spin_error {
        let _ = writeln!(
            w,
            "  spin:{:<6} p50 +{:.2} µs, p99 +{:.2} µs",
            format!("{}us", e.target_us),
            e.p50_error_us,
            e.p99_error_us
        );
    }
    let _ = writeln!(w, "\nexpected framework overhead per request:");
    for o in &c.expected_overhead {
        let _ = writeln!(
            w,
            "  {} at {} RPS: {:.2} µs (divide by a run's mean response time for its share)",
            mode_name(o.mode),
            o.rate,
            o.per_request_us
        );
    }
    if let Some(f) = &c.wake_ups {
        let l = &f.lateness_us;
        let _ = writeln!(
            w,
            "\na network worker's wake-ups (hybrid): {} sleeps of 1 ms woke {:.1} µs late at \
             p50, {:.1} at p99, {:.1} at most; its spin window here: {:.0} µs\n  floor: {:.2} µs \
             per request from wake-ups past the window (divide by a run's mean response time \
             for the overhead no flag but --wait spin removes)",
            f.sleeps,
            l.at(0.5),
            l.at(0.99),
            l.max,
            f.spin_window_us,
            f.floor_us
        );
    }
}

/// A run's timing figures beside the calibrated floors of its wait mode.
pub fn compare(run: &RunResult, c: &CalibrationReport) -> String {
    let mut w = String::new();
    let mode = run.wait_mode;
    let Some(floor) = c.mode(mode) else {
        let _ = writeln!(
            w,
            "calibration: {} mode was not calibrated on {}; no floors to compare",
            mode_name(mode),
            c.host.hostname
        );
        return w;
    };
    let _ = writeln!(
        w,
        "\nCALIBRATED FLOORS ({} mode, {} calibration of {}):",
        mode_name(mode),
        c.tool,
        c.host.hostname
    );
    if run.host.hostname != c.host.hostname {
        let _ = writeln!(
            w,
            "  note: the calibration is of {}, this run of {}",
            c.host.hostname, run.host.hostname
        );
    }
    for s in &run.scenarios {
        let _ = writeln!(w, "  {}:", s.name);
        let _ = writeln!(
            w,
            "    dispatch delay p99 {:.2} µs; this host's calibrated floor {:.2} µs",
            s.dispatch_delay_us.at(0.99),
            floor.dispatch_delay_us.at(0.99)
        );
        let _ = writeln!(
            w,
            "    timer lateness p99 {:.2} µs; floor {:.2} µs",
            s.timer_lateness_us.at(0.99),
            floor.timer_lateness_us.at(0.99)
        );
        let _ = writeln!(
            w,
            "    framework overhead {:.2} µs per request; floor {:.2} µs (noop, 1,000 RPS)",
            s.overhead.per_request_us, floor.overhead_per_request_us
        );
        let _ = writeln!(
            w,
            "    achieved {:.2} RPS; one worker holds up to {:.1}M RPS of noop here",
            s.achieved_rps,
            c.max_noop_rps / 1e6
        );
    }
    w
}
