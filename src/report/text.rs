//! The summary block: the design sketch's layout, plus what openpace adds.
//!
//! Keeps the sketch's headings and lines (test name, duration, pattern, target RPS;
//! throughput, success, cache hit and fallback rates; latency average, P50, P95, P99, min,
//! max; resource metrics) and adds the corrected/uncorrected split, dispatch delay, timer
//! lateness, request accounting, framework overhead and the verdict.

use std::fmt::Write;

use crate::base::printable;
use crate::base::units::{format_latency, format_ms, plain_number};
use crate::metrics::confidence::samples_needed;
use crate::metrics::percentile::PERCENTILES;
use crate::metrics::result::{CLOSED_LOOP_LABEL, CiMethod, Repeated};
use crate::metrics::validity::Validity;
use crate::metrics::{LatencySummary, RunResult, ScenarioResult};
use crate::schedule::LoadPattern;

const RULE: &str = "==================================================";

/// Nanoseconds per unit of a figure kept in milliseconds (response and service times).
const MS: f64 = 1e6;
/// ... and of one kept in microseconds (dispatch delay, timer lateness).
const US: f64 = 1e3;

/// A figure kept in a unit of `unit_ns` nanoseconds, written in the unit that reads best.
fn lat(value: f64, unit_ns: f64) -> String {
    format_latency(value * unit_ns)
}

/// The summary of a whole run, as printed at the end of `openpace run`.
pub fn summary(result: &RunResult) -> String {
    let mut out = String::new();
    for scenario in &result.scenarios {
        scenario_block(&mut out, result, scenario);
    }
    let _ = writeln!(out, "{RULE}");
    cluster_lines(&mut out, result);
    host_lines(&mut out, result);
    let verdict = if result.passed { "PASSED" } else { "FAILED" };
    let _ = write!(out, "RUN {verdict}: {} scenario(s)", result.scenarios.len());
    if result.interrupted {
        let _ = write!(out, ", INTERRUPTED before the schedule ended");
    }
    let _ = writeln!(out, "; wall time {:.2}s", result.wall_seconds);
    if let Some(why) = &result.aborted {
        let _ = writeln!(out, "ABORTED (abort_on_fail): {why}");
    }
    for warning in &result.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    // Whatever else a saved report holds (error kinds, notes) reaches a terminal as text.
    match out.chars().any(|c| c.is_control() && c != '\n') {
        true => out
            .split('\n')
            .map(|line| printable(line).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
        false => out,
    }
}

/// The host check's line, and each failed check that makes this run's figures suspect.
fn host_lines(w: &mut String, run: &RunResult) {
    if let Some(check) = &run.host.check {
        let _ = writeln!(
            w,
            "Host check: {check} (`openpace host` says what each found and what to change)"
        );
    }
    let cpu = &run.framework_cpu;
    if cpu.timer_realtime || cpu.memory_locked {
        let mut how = Vec::new();
        if cpu.timer_realtime {
            how.push("timing loop under SCHED_FIFO (--realtime)");
        }
        if cpu.memory_locked {
            how.push("memory locked (--mlock)");
        }
        let _ = writeln!(w, "Privileges: {}", how.join("; "));
    }
    for why in &run.host.unfit {
        let _ = writeln!(w, "HOST UNFIT: {why}: every interval is flagged");
    }
    if let Some(log) = &run.request_log {
        let _ = writeln!(w, "Request log: {}", request_log_line(log));
    }
}

/// What `--log-requests` wrote, in a line.
fn request_log_line(log: &crate::metrics::result::RequestLogFigures) -> String {
    let mut line = format!(
        "{} lines for {} requests in {}",
        log.written, log.requests, log.path
    );
    if log.complete() {
        line.push_str(" (all)");
    } else if log.sampled_out > 0 {
        let _ = write!(
            line,
            " (SAMPLED: kept {:.1}%, 1 in {} at worst: the disk did not keep up; a faster \
             disk or a lower rate keeps every line)",
            100.0 * log.kept_share,
            log.worst_keep_one_in
        );
    }
    if log.lost > 0 {
        let _ = write!(line, "; {} LOST", log.lost);
    }
    if log.cut_short {
        line.push_str(
            "; CUT SHORT: the writer had not written every line when the run ended (a slow disk \
             or pipe), so the file has no end frame",
        );
    }
    if let Some(e) = &log.error {
        let _ = write!(line, "; WRITING STOPPED: {e}");
    }
    line
}

/// Which shard this was, or which shards were merged, with their start offsets.
fn cluster_lines(w: &mut String, run: &RunResult) {
    if let Some(s) = &run.shard {
        let _ = write!(
            w,
            "Shard {} of {} ({}) on {}",
            s.index,
            s.count,
            s.launcher.name(),
            s.host
        );
        if let Some(at) = s.start_at_unix_s {
            let _ = write!(
                w,
                ", start-at {at:.3}, started {:.1} ms after it",
                s.start_offset_ms
            );
        }
        let _ = writeln!(
            w,
            "; {}",
            clock_words(run.clock.synchronized, run.clock.max_error_us)
        );
    }
    let Some(m) = &run.merged else { return };
    let _ = write!(w, "Merged {} of {} shards", m.shards.len(), m.shard_count);
    if m.partial {
        let missing: Vec<String> = m.missing.iter().map(u32::to_string).collect();
        let _ = write!(w, " (PARTIAL: missing {})", missing.join(", "));
    }
    let _ = writeln!(w, ":");
    for s in &m.shards {
        let _ = writeln!(
            w,
            "  shard {} on {}: origin +{:.3} ms, started {:.1} ms after start-at; {} ({})",
            s.index,
            s.host,
            s.origin_offset_ms,
            s.start_offset_ms,
            clock_words(s.clock_synchronized, s.clock_max_error_us),
            s.report
        );
    }
}

fn clock_words(synchronized: Option<bool>, max_error_us: Option<f64>) -> String {
    let state = match synchronized {
        Some(true) => "clock synchronized",
        Some(false) => "clock NOT synchronized",
        None => "clock state unknown",
    };
    match max_error_us {
        Some(e) => format!("{state}, max error {:.1} ms", e / 1e3),
        None => state.to_string(),
    }
}

fn scenario_block(w: &mut String, run: &RunResult, s: &ScenarioResult) {
    header_lines(w, run, s);
    performance_lines(w, s);
    latency_and_overhead_lines(w, run, s);
    by_name_lines(w, s);
    resource_lines(w, run);
    validity_lines(w, s);
    precision_lines(w, s);
    verdict_lines(w, s);
}

/// The validity checks, a line each (nothing for a report without them).
fn validity_lines(w: &mut String, s: &ScenarioResult) {
    let Some(v) = &s.validity else { return };
    let _ = writeln!(
        w,
        "\nVALIDITY (in send order: {} requests sampled, blocks of 128, 1 block in every {}):",
        v.sampled, v.every
    );
    for (name, passed, detail) in validity_rows(v) {
        let mark = if passed { "pass" } else { "FAIL" };
        let _ = writeln!(w, "  [{mark}] {name}: {detail}");
    }
    for why in &v.not_checked {
        let _ = writeln!(w, "  not checked: {why}");
    }
}

/// Whether and when a run until precise met its targets.
fn precision_lines(w: &mut String, s: &ScenarioResult) {
    let Some(p) = &s.precision else { return };
    let width = |w: &Option<f64>| w.map_or("too few samples".to_string(), |w| format!("+-{w:.2}%"));
    let widths: Vec<String> = p
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| match p.half_widths_at_reach_pct.get(i) {
            Some(then) => format!(
                "{t}: {} when reached, {} at the end",
                width(then),
                width(&p.half_widths_pct[i])
            ),
            None => format!("{t}: {} at the end", width(&p.half_widths_pct[i])),
        })
        .collect();
    let when = match p.reached_at_s {
        Some(at) => format!(
            "reached after {at:.1}s, then the interval in progress finished (ran {:.1}s; at \
             least {}s, at most {}s)",
            s.send_window_s,
            plain_number(p.min_duration_s),
            plain_number(p.max_duration_s)
        ),
        None => format!(
            "NOT REACHED in {:.1}s (at most {}s): the figures are less precise than asked",
            s.send_window_s,
            plain_number(p.max_duration_s)
        ),
    };
    let _ = writeln!(w, "\nPRECISION: {when}\n  {}", widths.join("; "));
}

/// Each validity check that ran: its name, whether it passed, and what it found.
pub(super) fn validity_rows(v: &Validity) -> Vec<(String, bool, String)> {
    let mut rows = Vec::new();
    if let Some(t) = &v.stationarity {
        rows.push((
            "stationarity".to_string(),
            t.passed,
            format!(
                "drift {:+.1}% over the window (Mann-Kendall over {} groups, p = {:.2})",
                t.drift_pct, t.groups, t.p_value
            ),
        ));
    }
    if let Some(d) = &v.independence {
        let lags: Vec<String> = d
            .lags
            .iter()
            .map(|l| format!("{} {:+.2}", l.lag, l.rho))
            .collect();
        let from = d
            .independent_from
            .map_or("at no lag up to 100".to_string(), |l| {
                format!("from lag {l}")
            });
        let narrow = if d.passed {
            String::new()
        } else {
            format!("; the intervals are about {:.0}x too narrow", d.narrow_by)
        };
        rows.push((
            "independence".to_string(),
            d.passed,
            format!("{from} (Spearman rho by lag: {}){narrow}", lags.join(", ")),
        ));
    }
    if let Some(a) = &v.arrivals {
        let fit = match (a.anderson_darling, a.p_value) {
            (Some(a2), Some(p)) => format!(
                "Anderson-Darling A² = {a2:.2} over {} gaps (p = {p:.2}); ",
                a.gaps
            ),
            _ => String::new(),
        };
        rows.push((
            format!("arrivals ({})", a.process),
            a.passed,
            format!(
                "{fit}99% left within {:.1} µs of their instants (mean gap {:.1} µs)",
                a.late_p99_us, a.mean_gap_us
            ),
        ));
    }
    rows
}

/// The scenario's name, window, pattern, rate and target.
fn header_lines(w: &mut String, run: &RunResult, s: &ScenarioResult) {
    let _ = writeln!(w, "\n{RULE}\nLOAD TEST SUMMARY\n{RULE}");
    let _ = writeln!(w, "Test Name: {}", printable(&s.name));
    let _ = write!(w, "Duration: {}s", plain_number(s.duration_s));
    if s.warmup_s > 0.0 {
        let _ = write!(w, " (after {}s warmup)", plain_number(s.warmup_s));
    }
    if s.send_window_s + 1e-9 < s.duration_s {
        let _ = write!(w, ", stopped after {:.2}s", s.send_window_s);
    }
    let _ = writeln!(w);
    let model = if s.corrected {
        "open model"
    } else {
        "closed loop, not corrected"
    };
    let _ = writeln!(
        w,
        "Pattern: {} ({} arrivals, {model})",
        s.pattern.name(),
        s.arrival.name()
    );
    // A pattern other than constant says what it schedules; target_rps alone would mislead
    // (a ramp does not use it).
    if s.rates.is_empty() || (s.pattern == LoadPattern::Constant && s.corrected) {
        let _ = write!(w, "Target RPS: {}", plain_number(s.target_rps));
        if s.target_rps_default {
            let _ = write!(w, " (the default; -R/--rate sets it)");
        }
    } else {
        let _ = write!(w, "Rate: {}", s.rates);
    }
    match &run.shard {
        Some(shard) if shard.count > 1 && s.corrected => {
            let _ = writeln!(
                w,
                " in all; this shard sends 1/{} of it ({} RPS)",
                shard.count,
                plain_number(s.target_rps / f64::from(shard.count))
            );
        }
        _ => {
            let _ = writeln!(w);
        }
    }
    let cores = if s.worker_cores.is_empty() {
        "unpinned".to_string()
    } else {
        format!(
            "on core(s) {}",
            crate::base::host::core_list(&s.worker_cores)
        )
    };
    let _ = writeln!(
        w,
        "Target: {}, {} worker(s) {cores}",
        printable(&s.target),
        s.workers
    );
}

/// Rates, request counts, errors by kind, then the network's lines.
fn performance_lines(w: &mut String, s: &ScenarioResult) {
    let _ = writeln!(w, "\nPERFORMANCE METRICS:");
    let _ = writeln!(
        w,
        "  Throughput: {:.2} RPS (scheduled {:.2} RPS)",
        s.achieved_rps, s.scheduled_rps
    );
    if s.rate_shortfall_pct > 0.0 {
        let _ = writeln!(
            w,
            "  !!! TARGET RATE NOT REACHED: sustained {:.2} RPS, {:.1}% short of the schedule \
             (calls went on {:.2}s past the window)",
            s.sustained_rps, s.rate_shortfall_pct, s.drain_s
        );
    }
    let _ = writeln!(w, "  Success Rate: {:.2}%", 100.0 * s.success_rate);
    let _ = writeln!(w, "  Error Rate: {:.2}%", 100.0 * s.error_rate);
    // Only targets that tag their calls (the feature extractor) have these rates.
    if s.target.starts_with("features") || s.requests.cache_hits + s.requests.fallbacks > 0 {
        let _ = writeln!(w, "  Cache Hit Rate: {:.2}%", 100.0 * s.cache_hit_rate);
        let _ = writeln!(w, "  Fallback Rate: {:.2}%", 100.0 * s.fallback_rate);
    }
    let r = &s.requests;
    let _ = writeln!(
        w,
        "  Requests: {} intended, {} completed, {} ok, {} errors, {} timeouts, {} retries",
        r.intended, r.completed, r.ok, r.errors, r.timeouts, r.retries
    );
    let _ = writeln!(
        w,
        "            {} dropped, {} backlogged, {} late (>= 1 ms), {} expired, {} abandoned, \
         {} warmup",
        r.dropped, r.backlogged, r.late, r.expired, r.abandoned, r.warmup
    );
    if !s.errors_by_kind.is_empty() {
        let kinds: Vec<String> = s
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(w, "  Errors by kind: {}", kinds.join(", "));
    }
    network_lines(w, s);
}

/// A network target's traffic, connections and TLS handshakes (nothing for others).
fn network_lines(w: &mut String, s: &ScenarioResult) {
    let n = &s.network;
    if n.connections_opened > 0 || n.bytes_sent > 0 {
        let _ = writeln!(
            w,
            "  Target traffic: {} bytes sent, {} received, {} connections opened (warmup included)",
            n.bytes_sent, n.bytes_received, n.connections_opened
        );
        let opened = match n.connections_auto {
            true if n.connections_limit == crate::targets::net::AUTO_CONNECTIONS as u64 => format!(
                "opened as requests needed them, up to {} (--connections auto)",
                n.connections_limit
            ),
            true => format!(
                "opened as requests needed them, up to {0} (--connections auto:{0})",
                n.connections_limit
            ),
            false => format!("{} open from the start", n.connections_limit),
        };
        // Reports from before the count have no `connections_used`.
        let used = match n.connections_used {
            0 => String::new(),
            used => format!(", {used} used"),
        };
        let _ = writeln!(
            w,
            "  Connections: {opened}{used}; peak {} requests in flight; {} waited for a free one",
            n.peak_in_flight, s.requests.queued
        );
        if n.busy_poll_us > 0 {
            let _ = writeln!(
                w,
                "  Busy polling: {} us (--busy-poll) on {} of {} sockets opened",
                n.busy_poll_us, n.busy_polled, n.connections_opened
            );
        }
    }
    if let Some(t) = &s.tls {
        let h = &t.handshake_ms;
        let _ = writeln!(
            w,
            "  TLS: {} handshakes ({} resumed), p50 {}  p99 {}  max {} (warmup \
             included); {} measured requests opened their connection and hold its handshake in \
             their service time",
            t.handshakes,
            t.resumed,
            format_ms(h.at(0.5)),
            format_ms(h.at(0.99)),
            format_ms(h.max),
            t.requests_with_handshake
        );
    }
}

/// Response, service, dispatch and timer figures, then the framework's overhead.
fn latency_and_overhead_lines(w: &mut String, run: &RunResult, s: &ScenarioResult) {
    latency_block(w, s);
    overhead_lines(w, run, s);
}

/// Response time with its intervals (and what openpace's hand-off holds of it), then the
/// service, dispatch and timer figures.
fn latency_block(w: &mut String, s: &ScenarioResult) {
    let heading = if s.corrected {
        "response time = end - intended, corrected for coordinated omission"
    } else {
        CLOSED_LOOP_LABEL
    };
    let _ = writeln!(w, "\nLATENCY METRICS: {heading}");
    match &s.repeated {
        Some(rep) => repeated_lines(w, &s.response_time_ms, rep),
        None => latency_lines(w, &s.response_time_ms, |q| handoff_share(s, q).is_some()),
    }
    handoff_lines(w, s);
    let _ = writeln!(w, "\nSERVICE TIME: end - start, uncorrected");
    let _ = writeln!(w, "  {}", one_line(&s.service_time_ms, MS));
    if let Some(k) = &s.kernel_timestamps {
        kernel_lines(w, k);
    }
    let _ = writeln!(w, "DISPATCH DELAY: start - intended");
    let _ = writeln!(w, "  {}", one_line(&s.dispatch_delay_us, US));
    if s.corrected {
        let _ = writeln!(w, "TIMER LATENESS: sent - planned hand-off");
        let _ = writeln!(w, "  {}", one_line(&s.timer_lateness_us, US));
    }
}

/// The kernel's split of the service time (`timestamps: kernel`).
fn kernel_lines(w: &mut String, k: &crate::metrics::result::KernelSplit) {
    let _ = writeln!(
        w,
        "  split by kernel timestamps: {} requests; {} without a TX stamp, {} without an RX \
         stamp, {} out of order (left out)",
        k.stamped, k.missing_tx, k.missing_rx, k.disordered
    );
    for (name, summary) in [
        ("client_send", &k.client_send_us),
        ("wire_and_server", &k.wire_and_server_us),
        ("client_receive", &k.client_receive_us),
    ] {
        let _ = writeln!(w, "  {name:<15} {}", one_line(summary, US));
    }
}

/// The framework's own cost: its share of the response time, its threads, its waits.
fn overhead_lines(w: &mut String, run: &RunResult, s: &ScenarioResult) {
    let _ = writeln!(w, "\nFRAMEWORK OVERHEAD:");
    let _ = writeln!(
        w,
        "  {:.4}% of response time ({} of {} per request); timing thread {:.1}% of a core, \
         collector {:.2}%",
        s.overhead_pct,
        lat(s.overhead.per_request_us, US),
        lat(s.overhead.response_us, US),
        run.framework_cpu.timer_cpu_pct,
        run.framework_cpu.collector_cpu_pct
    );
    let _ = writeln!(
        w,
        "  workers used {:.2} CPU seconds (target calls included)",
        s.worker_cpu_s
    );
    if let Some(wait) = s.wait.as_ref().filter(|x| x.wake_ups > 0) {
        let l = &wait.wake_lateness_us;
        let window = match wait.spin_window_us {
            Some([low, high]) if low == high => format!("spin window {low:.0} us; "),
            Some([low, high]) => format!("spin window {low:.0}-{high:.0} us (adapted); "),
            None => String::new(),
        };
        let _ = writeln!(
            w,
            "  workers woke from {} timed sleeps {} late at p50, {} at p99, {} at most; \
             {window}hand-off lead {}",
            wait.wake_ups,
            lat(l.at(0.5), US),
            lat(l.at(0.99), US),
            lat(l.max, US),
            lat(wait.handoff_lead_us, US)
        );
    }
}

/// Where openpace's hand-off holds most of a response-time percentile `q` of an open-model
/// run: the dispatch delay's percentile (time inside openpace before the request left) is
/// at least half the response time's, twice the service time's and at least
/// [`HANDOFF_FLOOR_US`]. Returns that dispatch delay, in µs.
fn handoff_share(s: &ScenarioResult, q: f64) -> Option<f64> {
    let i = PERCENTILES.iter().position(|p| p.q() == q)?;
    // A percentile printed as n/a (too few samples) is not marked.
    let shown = s
        .response_time_ms
        .ci95
        .is_none_or(|c| c.intervals.0[i].is_some());
    let response_us = s.response_time_ms.at(q) * 1e3;
    let dispatch_us = s.dispatch_delay_us.at(q);
    let service_us = s.service_time_ms.at(q) * 1e3;
    let dominant = shown
        && s.corrected
        && dispatch_us >= HANDOFF_FLOOR_US
        && dispatch_us >= 0.5 * response_us
        && dispatch_us >= 2.0 * service_us;
    dominant.then_some(dispatch_us)
}

/// A dispatch delay below this (µs) is never said to dominate a percentile.
const HANDOFF_FLOOR_US: f64 = 20.0;

/// The footnote to the percentiles marked `*`: how much of them is openpace's hand-off, and
/// the flag that shortens it (more connections when requests waited for one, more workers
/// when the workers were busy, else cores of their own).
fn handoff_lines(w: &mut String, s: &ScenarioResult) {
    let marked: Vec<(String, f64, f64)> = PERCENTILES
        .iter()
        .filter_map(|p| {
            let dispatch_us = handoff_share(s, p.q())?;
            Some((
                p.label().to_string(),
                dispatch_us,
                s.service_time_ms.at(p.q()),
            ))
        })
        .collect();
    let Some((label, dispatch_us, service_ms)) = marked.first() else {
        return;
    };
    let queued = crate::metrics::saturation::client_queued(s);
    let busy = s.intervals.iter().any(|r| r.worker_busy_pct >= 80.0);
    let remedy = if queued {
        "requests waited for a free connection: raise --connections"
    } else if busy {
        "the workers were busy: more --workers on more --worker-cores"
    } else {
        "the workers woke or were handed requests late: --wait spin, --worker-cores and \
         --timer-core on cores nothing else uses, or more --workers"
    };
    let _ = writeln!(
        w,
        "  * mostly openpace's own hand-off, not the target: at {label} the dispatch delay \
         (intended to sent) is {},\n    the service time {}; {remedy}",
        format_latency(dispatch_us * 1e3),
        format_ms(*service_ms)
    );
}

/// A request set's names: counts and the three latencies of each (nothing without a set).
fn by_name_lines(w: &mut String, s: &ScenarioResult) {
    if s.by_name.is_empty() {
        return;
    }
    let _ = writeln!(w, "\nBY NAME (request set; requests that started):");
    for n in &s.by_name {
        let _ = writeln!(
            w,
            "  {}: {} completed, {} ok, {} errors, {} timeouts",
            printable(&n.name),
            n.completed,
            n.ok,
            n.errors,
            n.timeouts
        );
        let _ = writeln!(
            w,
            "    response {}",
            one_line(&n.response_time_ms, MS).replace('\n', "\n  ")
        );
        let _ = writeln!(
            w,
            "    service  {}",
            one_line(&n.service_time_ms, MS).replace('\n', "\n  ")
        );
        let _ = writeln!(
            w,
            "    dispatch {}",
            one_line(&n.dispatch_delay_us, US).replace('\n', "\n  ")
        );
    }
}

/// The design's resource block (average and maximum CPU and memory) and what the sampler saw
/// of openpace's threads, the host, the network and a monitored process.
fn resource_lines(w: &mut String, run: &RunResult) {
    let r = &run.resources;
    let m = &r.monitor;
    let _ = writeln!(w, "\nRESOURCE METRICS:");
    let summary = &m.summary;
    if let (Some(avg), Some(max)) = (summary.avg_cpu_percent, summary.max_cpu_percent) {
        let _ = writeln!(w, "  Avg CPU: {avg:.1}%");
        let _ = writeln!(
            w,
            "  Max CPU: {max:.1}%  (process, % of one core, per interval)"
        );
    } else if let Some(cpu) = r.cpu_pct {
        let _ = writeln!(w, "  Avg CPU: {cpu:.1}% (whole process, % of one core)");
    }
    if let (Some(avg), Some(max)) = (summary.avg_memory_mb, summary.max_memory_mb) {
        let _ = writeln!(w, "  Avg Memory: {avg:.1}MB");
        let _ = writeln!(w, "  Max Memory: {max:.1}MB");
    }
    if let Some(peak) = r.max_rss_mb {
        let _ = writeln!(w, "  Peak RSS: {peak:.1}MB");
    }
    let timer = thread_totals(m, |name| name == crate::metrics::saturation::TIMER_THREAD);
    let workers = thread_totals(m, |name| name.starts_with("openpace-w"));
    if let (Some((t_cpu, t_invol)), Some((w_cpu, _))) = (timer, workers) {
        let _ = writeln!(
            w,
            "  Threads: timing loop {t_cpu:.1}% of a core ({t_invol} preemptions), workers \
             {w_cpu:.1}% together"
        );
    }
    let host: Vec<_> = m.samples.iter().filter_map(|x| x.host.as_ref()).collect();
    if !host.is_empty() {
        let avg = host.iter().map(|h| h.total.cpu_pct).sum::<f64>() / host.len() as f64;
        let steal = host.iter().map(|h| h.total.steal_pct).fold(0.0, f64::max);
        let _ = writeln!(
            w,
            "  Host: CPU {avg:.1}% of all cores, steal up to {steal:.1}%"
        );
    }
    if let (Some(sent), Some(recv)) = (
        summary.total_network_bytes_sent,
        summary.total_network_bytes_recv,
    ) {
        let _ = writeln!(w, "  Network: {sent} bytes sent, {recv} received");
    }
    if let Some(t) = m
        .samples
        .iter()
        .rev()
        .find_map(|x| x.target_process.as_ref())
    {
        let _ = writeln!(
            w,
            "  Process {}: last {:.1}% CPU, {:.1}MB RSS, {} threads",
            t.pid, t.cpu_pct, t.rss_mb, t.threads
        );
    }
    if !m.samples.is_empty() {
        let _ = writeln!(w, "  (sampler: {:.3}% of a core)", m.sampler_cpu_pct);
    }
    for note in &m.notes {
        let _ = writeln!(w, "  note: {note}");
    }
}

/// Mean CPU % and total involuntary switches of the threads whose names match.
fn thread_totals(
    m: &crate::metrics::resources::ResourceReport,
    matches: impl Fn(&str) -> bool,
) -> Option<(f64, u64)> {
    let per_sample: Vec<(f64, u64)> = m
        .samples
        .iter()
        .map(|x| {
            x.threads
                .iter()
                .filter(|t| matches(&t.name))
                .fold((0.0, 0), |(c, i), t| {
                    (c + t.cpu_pct, i + t.involuntary_switches)
                })
        })
        .collect();
    (!per_sample.is_empty()).then(|| {
        let cpu = per_sample.iter().map(|p| p.0).sum::<f64>() / per_sample.len() as f64;
        (cpu, per_sample.iter().map(|p| p.1).sum())
    })
}

fn verdict_lines(w: &mut String, s: &ScenarioResult) {
    let verdict = if s.verdict.passed { "PASSED" } else { "FAILED" };
    let suspect = if s.verdict.suspect {
        " (figures suspect, see below)"
    } else {
        ""
    };
    let inconclusive = match s.verdict.inconclusive() {
        0 => String::new(),
        n => format!(", {n} inconclusive"),
    };
    let _ = writeln!(w, "\nVERDICT: {verdict}{inconclusive}{suspect}");
    for t in &s.verdict.thresholds {
        let mark = match t.outcome() {
            "fail" => "FAIL",
            other => other,
        };
        let (value, limit) = with_unit(t.value, t.limit, &t.unit);
        let interval = t.ci95.map_or(String::new(), |[lo, hi]| {
            let end = |v: Option<f64>| match v {
                None => "?".to_string(),
                Some(v) if t.unit == "ms" => format_ms(v),
                Some(v) => format!("{v:.2}"),
            };
            format!(" [{}, {}]", end(lo), end(hi))
        });
        let default = if t.default { " (default)" } else { "" };
        let _ = writeln!(
            w,
            "  [{mark}] {} {value}{interval} {} {limit}{default}",
            t.metric, t.comparison
        );
    }
    if s.verdict.thresholds.iter().any(|t| t.default) {
        let _ = writeln!(
            w,
            "  (default): the design's limit, which no file or flag set; set your own with \
             --threshold or the config's\n  latency_p95_threshold_ms, latency_p99_threshold_ms, \
             error_rate_threshold, success_rate_threshold"
        );
    }
    if s.verdict.inconclusive() > 0 {
        let _ = writeln!(
            w,
            "  inconclusive: the 95% interval [low, high] crosses the limit, or ? marks the \
             side too few\n  samples could bound; a longer run settles it (--strict exits 1)"
        );
    }
    if !s.alerts.is_empty() {
        let _ = writeln!(
            w,
            "  ALERTS: {} interval breach(es) of thresholds, the first at {:.1}s ({})",
            s.alerts.len(),
            s.alerts[0].at_s,
            s.alerts[0].metric
        );
    }
    for note in &s.verdict.notes {
        let _ = writeln!(w, "  {note}");
    }
}

/// A threshold's value and limit, written in its unit.
fn with_unit(value: f64, limit: f64, unit: &str) -> (String, String) {
    match unit {
        "ratio" => (format!("{value:.4}"), plain_number(limit)),
        "count" => (format!("{value:.0}"), plain_number(limit)),
        "%" => (format!("{value:.2}%"), format!("{}%", plain_number(limit))),
        "rps" => (
            format!("{value:.2} RPS"),
            format!("{} RPS", plain_number(limit)),
        ),
        "ms" => (format_ms(value), format!("{} ms", plain_number(limit))),
        other => (
            format!("{value:.3} {other}"),
            format!("{} {other}", plain_number(limit)),
        ),
    }
}

/// The response-time lines: each percentile with its interval, marked `*` where `mark` says
/// openpace's own hand-off holds most of it.
fn latency_lines(w: &mut String, l: &LatencySummary, mark: impl Fn(f64) -> bool) {
    let _ = writeln!(w, "  Average: {}", format_ms(l.avg));
    let aware = dependence_aware(l);
    for Row {
        label,
        value,
        ci,
        needs,
        q,
        ..
    } in percentiles(l)
    {
        let shown = match (ci, needs) {
            (None, Some(n)) if aware && n > samples_needed(q) => longer_run(n),
            _ => with_interval(value, ci, needs, MS),
        };
        let star = if mark(q) { "  *" } else { "" };
        let _ = writeln!(w, "  {label}: {shown}{star}");
    }
    let _ = writeln!(w, "  Min: {}", format_ms(l.min));
    let _ = writeln!(w, "  Max: {}", format_ms(l.max));
    if let Some(c) = l.ci95.filter(|_| aware) {
        let lags = match c.lag_factor {
            Some(f) if f > 1.05 => format!("lag correlations (x{f:.1})"),
            Some(_) => "lag correlations (none)".to_string(),
            None => "no lag correlations (not kept)".to_string(),
        };
        let batches =
            [0.5, 0.99].map(|q| c.batches.at(q).map_or("-".to_string(), |b| b.to_string()));
        let _ = writeln!(
            w,
            "  [95% intervals allow for dependence between requests: batch means ({} batches \
             for p50, {} for p99), {lags}]",
            batches[0], batches[1]
        );
    }
}

/// The response time of a repeated scenario: each percentile pooled, with its interval and
/// coefficient of variation across the runs, then each run on a line.
fn repeated_lines(w: &mut String, l: &LatencySummary, rep: &Repeated) {
    let runs = rep.runs.len();
    let _ = writeln!(w, "  Average: {}", format_ms(l.avg));
    if let Some(m) = rep.across.iter().find(|m| m.metric == "response_time") {
        for (p, Row { label, .. }) in m.percentiles.iter().zip(percentiles(l)) {
            let shown = match p.ci95 {
                Some([lo, hi]) => format!(
                    "{}, {runs} runs [{}, {}], CV {:.0}%",
                    format_ms(p.pooled),
                    format_ms(lo),
                    format_ms(hi),
                    p.cv_pct
                ),
                None => format!(
                    "{}, {runs} runs (no interval: too few have it)",
                    format_ms(p.pooled)
                ),
            };
            let _ = writeln!(w, "  {label}: {shown}");
        }
    }
    let _ = writeln!(w, "  Min: {}", format_ms(l.min));
    let _ = writeln!(w, "  Max: {}", format_ms(l.max));
    let _ = writeln!(
        w,
        "  [pooled over {runs} runs; 95% intervals across the runs: pooled +- t({}) x the runs' \
         standard error]",
        runs.saturating_sub(1)
    );
    for (i, r) in rep.runs.iter().enumerate() {
        let _ = writeln!(
            w,
            "  run {}: {} completed, {:.1} RPS, {}{}",
            i + 1,
            r.requests.completed,
            r.achieved_rps,
            series(&r.response_time_ms, MS),
            if r.interrupted { " (interrupted)" } else { "" }
        );
    }
}

/// Whether `l`'s intervals allow for dependence between requests.
fn dependence_aware(l: &LatencySummary) -> bool {
    l.ci95
        .is_some_and(|c| c.method == Some(CiMethod::DependenceAware))
}

/// What stands for a percentile the run is too short to bound allowing for dependence.
fn longer_run(needs: u64) -> String {
    format!("n/a (needs a longer run: >= {needs} samples)")
}

/// A percentile as printed: its label (`P99.9`), value, 95% interval and the samples it
/// would need without one (interval and need are both `None` in a report from before
/// intervals), its quantile, and whether the time series shows it.
struct Row {
    label: String,
    value: f64,
    ci: Option<[f64; 2]>,
    needs: Option<u64>,
    q: f64,
    series: bool,
}

/// Each percentile of `l`, in the percentile table's order.
fn percentiles(l: &LatencySummary) -> Vec<Row> {
    let c = l.ci95.unwrap_or_default();
    PERCENTILES
        .iter()
        .enumerate()
        .map(|(i, p)| Row {
            label: p.label().to_uppercase(),
            value: l.percentiles.0[i],
            ci: c.intervals.0[i],
            needs: c.needs.0[i],
            q: p.q(),
            series: p.series,
        })
        .collect()
}

/// The time series' percentiles of `l` (kept in units of `unit_ns`) on one line: `p50 120us
/// p90 150us  p99 310us  p99.9 1.52ms`.
fn series(l: &LatencySummary, unit_ns: f64) -> String {
    let shown: Vec<String> = l
        .percentiles
        .series()
        .map(|(p, v)| format!("{} {}", p.label(), lat(v, unit_ns)))
        .collect();
    shown.join("  ")
}

/// `4.05ms [3.98ms, 4.21ms]`; `n/a (needs >= 36887 samples)` when the samples are too few
/// for an interval (the number alone would only look precise); the bare value in a report
/// from before intervals. Figures kept in units of `unit_ns`.
fn with_interval(value: f64, ci: Option<[f64; 2]>, needs: Option<u64>, unit_ns: f64) -> String {
    let v = |x: f64| lat(x, unit_ns);
    match (ci, needs) {
        (Some([lo, hi]), _) => format!("{} [{}, {}]", v(value), v(lo), v(hi)),
        (None, Some(n)) => too_few(n),
        (None, None) => v(value),
    }
}

/// What stands for a percentile the samples are too few to bound.
fn too_few(needs: u64) -> String {
    format!("n/a (needs >= {needs} samples)")
}

/// `l`'s series percentiles, maximum and average on one line, then their 95% intervals on
/// the next; figures kept in units of `unit_ns`.
fn one_line(l: &LatencySummary, unit_ns: f64) -> String {
    let line = format!(
        "{}  max {}  (avg {})",
        series(l, unit_ns),
        lat(l.max, unit_ns),
        lat(l.avg, unit_ns)
    );
    if l.ci95.is_none() {
        return line;
    }
    let aware = dependence_aware(l);
    let intervals: Vec<String> = percentiles(l)
        .into_iter()
        .filter(|row| row.series)
        .map(|row| {
            let shown = match (row.ci, row.needs) {
                (Some([lo, hi]), _) => format!("[{}, {}]", lat(lo, unit_ns), lat(hi, unit_ns)),
                (None, Some(n)) if aware && n > samples_needed(row.q) => longer_run(n),
                (None, n) => too_few(n.unwrap_or(0)),
            };
            format!("{} {shown}", row.label.to_lowercase())
        })
        .collect();
    format!("{line}\n  95% intervals: {}", intervals.join("  "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::percentile::ByPercentile;

    fn latencies(values: [f64; 6]) -> LatencySummary {
        LatencySummary {
            count: 100_000,
            percentiles: ByPercentile(values),
            max: values[5],
            ..LatencySummary::default()
        }
    }

    /// Issue 29 point 2: a percentile that is mostly openpace's hand-off (the Redis case:
    /// response p99 1.99 ms, service 0.18 ms) is marked, with the flag that shortens it;
    /// one the target holds is not.
    #[test]
    fn percentiles_held_by_the_hand_off_are_marked_with_their_remedy() {
        let mut s = ScenarioResult {
            corrected: true,
            response_time_ms: latencies([0.05, 0.08, 0.1, 1.99, 2.5, 3.0]),
            service_time_ms: latencies([0.04, 0.07, 0.09, 0.18, 0.3, 0.4]),
            dispatch_delay_us: latencies([1.0, 2.0, 5.0, 1810.0, 2300.0, 2800.0]),
            ..ScenarioResult::default()
        };
        s.requests.completed = 100_000;
        let mut w = String::new();
        latency_block(&mut w, &s);
        assert!(w.contains("  P99: 1.99ms  *\n"), "{w}");
        assert!(w.contains("  P50: 50.0us\n"), "{w}");
        assert!(
            w.contains("at p99 the dispatch delay (intended to sent) is 1.81ms"),
            "{w}"
        );
        assert!(
            w.contains("the service time 180us; the workers woke"),
            "{w}"
        );
        s.requests.queued = 5_000;
        let mut w = String::new();
        latency_block(&mut w, &s);
        assert!(w.contains("raise --connections"), "{w}");
        // The target's own time: nothing marked.
        s.service_time_ms = s.response_time_ms;
        let mut w = String::new();
        latency_block(&mut w, &s);
        assert!(!w.contains('*'), "{w}");
    }
}
