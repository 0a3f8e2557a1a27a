//! The interval time series as CSV: one row per interval and scenario; then, for a scenario
//! with a request set, one row per name covering the whole measured window (scenario column
//! `SCENARIO/NAME`; the columns a name does not keep are empty).

use std::fmt::Write;

use crate::metrics::percentile::PERCENTILES;
use crate::metrics::result::KernelSplit;
use crate::metrics::{LatencySummary, RunResult};

/// The header line: the counts, the response time's percentiles of the time series (the
/// percentile table's `series` rows) and its max, the service time's and dispatch delay's
/// median and p99, then the queue, the workers' load and the flags; last, with kernel
/// timestamps, the requests split and the median and p99 of each part of the split (empty
/// without them).
pub fn header() -> String {
    let percentiles: String = PERCENTILES
        .iter()
        .filter(|p| p.series)
        .map(|p| format!("response_{}_ms,", p.key))
        .collect();
    format!(
        "scenario,start_s,end_s,scheduled,sent,completed,ok,errors,timeouts,expired,dropped,late,\
         achieved_rps,{percentiles}response_max_ms,service_p50_ms,service_p99_ms,dispatch_p50_us,\
         dispatch_p99_us,queued,worker_busy_pct,flags,kernel_stamped,client_send_p50_us,\
         client_send_p99_us,wire_and_server_p50_us,wire_and_server_p99_us,client_receive_p50_us,\
         client_receive_p99_us"
    )
}

/// The kernel split's columns of a row (empty without one), each ending in a newline.
fn kernel_columns(out: &mut String, k: Option<&KernelSplit>) {
    let Some(k) = k else {
        out.push_str(",,,,,,\n");
        return;
    };
    let _ = write!(out, "{}", k.stamped);
    for part in [
        &k.client_send_us,
        &k.wire_and_server_us,
        &k.client_receive_us,
    ] {
        let _ = write!(out, ",{:.3},{:.3}", part.at(0.5), part.at(0.99));
    }
    out.push('\n');
}

/// The latency columns of a row: response time (the series' percentiles, max), service time
/// and dispatch delay (median, p99).
fn latencies(out: &mut String, r: &LatencySummary, sv: &LatencySummary, d: &LatencySummary) {
    for (_, v) in r.percentiles.series() {
        let _ = write!(out, "{v:.4},");
    }
    let _ = write!(
        out,
        "{:.4},{:.4},{:.4},{:.3},{:.3},",
        r.max,
        sv.at(0.5),
        sv.at(0.99),
        d.at(0.5),
        d.at(0.99)
    );
}

/// The time series of every scenario.
pub fn csv(result: &RunResult) -> String {
    let mut out = header();
    out.push('\n');
    for s in &result.scenarios {
        for i in &s.intervals {
            let _ = write!(
                out,
                "{},{:.3},{:.3},{:.2},{},{},{},{},{},{},{},{},{:.3},",
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
            );
            latencies(
                &mut out,
                &i.response_time_ms,
                &i.service_time_ms,
                &i.dispatch_delay_us,
            );
            let _ = write!(
                out,
                "{},{:.1},{},",
                i.queued,
                i.worker_busy_pct,
                quote(&i.flags.join("; "))
            );
            kernel_columns(&mut out, i.kernel_timestamps.as_ref());
        }
    }
    for s in &result.scenarios {
        for n in &s.by_name {
            let window = s.send_window_s.max(1e-9);
            let _ = write!(
                out,
                "{},0.000,{:.3},,,{},{},{},{},,,,{:.3},",
                quote(&format!("{}/{}", s.name, n.name)),
                s.send_window_s,
                n.completed,
                n.ok,
                n.errors,
                n.timeouts,
                n.completed as f64 / window,
            );
            latencies(
                &mut out,
                &n.response_time_ms,
                &n.service_time_ms,
                &n.dispatch_delay_us,
            );
            out.push_str(",,,");
            kernel_columns(&mut out, None);
        }
    }
    out
}

/// A field quoted when it holds a comma, a quote or a newline (RFC 4180).
pub(crate) fn quote(field: &str) -> String {
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
        assert_eq!(header().split(',').count(), 32);
    }
}
