//! The request log read back (`openpace log FILE`): its lines as CSV, and its summary as
//! text. Pure functions of what the decoder read; nothing here measures.

use std::fmt::Write as _;

use super::csv::quote;
use crate::base::units::format_ms;
use crate::metrics::request_log::{Header, Line, LogSummary};

/// The CSV's first line.
pub const CSV_HEADER: &str = "scenario,worker,connection,stream,seq,name,intended_ns,handed_ns,\
sent_ns,first_byte_ns,end_ns,response_ns,service_ns,outcome,bytes_sent,bytes_received,weight,\
kernel_tx_ns,kernel_rx_first_ns,kernel_rx_ns\n";

/// One line of the log as a CSV row (times in ns from the run's origin; a time that never
/// came, such as the sending of an expired request, is empty).
pub fn csv_row(out: &mut String, header: &Header, line: &Line) {
    let e = &line.entry;
    let scenario = header.scenarios.get(usize::from(e.scenario));
    let name = e
        .name
        .and_then(|n| scenario?.names.get(usize::from(n)))
        .map_or(String::new(), |n| quote(n));
    let scenario = scenario.map_or_else(|| e.scenario.to_string(), |s| quote(&s.name));
    let at = |t: u64| if t == 0 { String::new() } else { t.to_string() };
    let service = if e.sent_ns == 0 {
        String::new()
    } else {
        e.end_ns.saturating_sub(e.sent_ns).to_string()
    };
    let _ = writeln!(
        out,
        "{scenario},{},{},{},{},{name},{},{},{},{},{},{},{service},{},{},{},{},{},{},{}",
        e.worker,
        e.connection,
        e.stream,
        e.seq,
        e.intended_ns,
        at(e.handed_ns),
        at(e.sent_ns),
        at(e.first_byte_ns),
        e.end_ns,
        e.response_ns(),
        quote(&line.kind),
        e.bytes_sent,
        e.bytes_received,
        e.weight,
        at(e.kernel_tx_ns),
        at(e.kernel_rx_first_ns),
        at(e.kernel_rx_ns),
    );
}

/// The summary of a log, as `openpace log FILE --summary` prints it.
pub fn summary_text(s: &LogSummary) -> String {
    let mut out = String::new();
    for sc in &s.scenarios {
        let _ = writeln!(
            out,
            "{}: {} requests in {} lines",
            sc.name, sc.requests, sc.lines
        );
        let outcomes: Vec<String> = sc
            .outcomes
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !outcomes.is_empty() {
            let _ = writeln!(out, "  outcomes: {}", outcomes.join(", "));
        }
        for (what, l) in [
            ("response", &sc.response_time_ms),
            ("service", &sc.service_time_ms),
        ] {
            if l.count == 0 {
                continue;
            }
            let pcts: Vec<String> = l
                .percentiles
                .iter()
                .map(|(p, v)| format!("{} {}", p.label(), format_ms(v)))
                .collect();
            let _ = writeln!(
                out,
                "  {what}: min {}, {}, max {}",
                format_ms(l.min),
                pcts.join(", "),
                format_ms(l.max)
            );
        }
    }
    let _ = writeln!(out, "{}", completeness(s));
    out
}

/// Whether the log holds every request, in words.
fn completeness(s: &LogSummary) -> String {
    match (s.trailer, s.cut) {
        (None, _) => "incomplete: the file ends without its end frame (the run was killed, or \
                      the disk filled); the figures above are of the lines it holds"
            .to_string(),
        (Some(t), _) if s.complete => format!(
            "complete: all {} requests, one line each; the percentiles are the report's",
            t.offered
        ),
        (Some(t), _) => format!(
            "sampled: {} lines for {} requests ({} left out by sampling, counted in the kept \
             lines' weights; {} lost): the percentiles are estimates",
            t.written, t.offered, t.sampled_out, t.lost
        ),
    }
}
