//! The interval time series as CSV: one row per interval and scenario; then, for a scenario
//! with a request set, one row per name covering the whole measured window (scenario column
//! `SCENARIO/NAME`; the columns a name does not keep are empty).

use std::fmt::Write;

use crate::metrics::RunResult;

/// The columns, in order.
pub const HEADER: &str = "scenario,start_s,end_s,scheduled,sent,completed,ok,errors,timeouts,\
expired,dropped,late,achieved_rps,response_p50_ms,response_p90_ms,response_p99_ms,response_p99_9_ms,\
response_max_ms,service_p50_ms,service_p99_ms,dispatch_p50_us,dispatch_p99_us,queued,worker_busy_pct,\
flags";

/// The time series of every scenario.
pub fn csv(result: &RunResult) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for s in &result.scenarios {
        for i in &s.intervals {
            let _ = writeln!(
                out,
                "{},{:.3},{:.3},{:.2},{},{},{},{},{},{},{},{},{:.3},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},\
                 {:.4},{:.3},{:.3},{},{:.1},{}",
                quote(&s.name),
                i.start_s,
                i.end_s,
                i.scheduled,
                i.sent,
                i.completed,
                i.ok,
                i.errors,
                i.timeouts,
                i.expired,
                i.dropped,
                i.late,
                i.achieved_rps,
                i.response_time_ms.p50,
                i.response_time_ms.p90,
                i.response_time_ms.p99,
                i.response_time_ms.p99_9,
                i.response_time_ms.max,
                i.service_time_ms.p50,
                i.service_time_ms.p99,
                i.dispatch_delay_us.p50,
                i.dispatch_delay_us.p99,
                i.queued,
                i.worker_busy_pct,
                quote(&i.flags.join("; "))
            );
        }
    }
    for s in &result.scenarios {
        for n in &s.by_name {
            let window = s.send_window_s.max(1e-9);
            let (r, sv, d) = (
                &n.response_time_ms,
                &n.service_time_ms,
                &n.dispatch_delay_us,
            );
            let _ = writeln!(
                out,
                "{},0.000,{:.3},,,{},{},{},{},,,,{:.3},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},\
                 {:.3},{:.3},,,",
                quote(&format!("{}/{}", s.name, n.name)),
                s.send_window_s,
                n.completed,
                n.ok,
                n.errors,
                n.timeouts,
                n.completed as f64 / window,
                r.p50,
                r.p90,
                r.p99,
                r.p99_9,
                r.max,
                sv.p50,
                sv.p99,
                d.p50,
                d.p99
            );
        }
    }
    out
}

/// A field quoted when it holds a comma, a quote or a newline (RFC 4180).
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_are_quoted() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a, b"), "\"a, b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(HEADER.split(',').count(), 25);
    }
}
