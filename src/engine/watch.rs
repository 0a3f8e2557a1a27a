//! What the collector does with each interval as it closes: alerts, progress, abort.
//!
//! Runs on the collector thread, never on the timing loop or a worker. Each closed interval
//! is checked against every threshold of its scenario; a breach is an [`Alert`]: recorded
//! in the result, printed on stderr when progress is shown, and handed to `--notify-cmd`.
//! Progress is one line per scenario and interval, or an indicatif bar when stderr is a
//! terminal. With `abort_on_fail`, the run is stopped as soon as a threshold can no longer
//! pass over the whole schedule, given what has been measured so far.

use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::notify::Notifier;
use super::stop::RunStop;
use crate::config::LoadTestConfig;
use crate::metrics::result::{Alert, IntervalStats};
use crate::metrics::threshold::{Progress, Threshold};

/// How progress is shown on stderr while a run goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// Nothing (the library's default, and `--quiet`).
    Off,
    /// One plain line per scenario and interval (stderr is not a terminal).
    Lines,
    /// An indicatif bar per scenario (stderr is a terminal).
    Bar,
}

struct Watched {
    name: String,
    thresholds: Vec<Threshold>,
    abort_on_fail: bool,
    /// Requests the measured window intends (0 for the closed model: nothing to abort on).
    planned: u64,
    duration_s: f64,
    alerts: Vec<Alert>,
    bar: Option<ProgressBar>,
}

/// Watches a run's intervals; see the module doc.
pub(crate) struct Watch {
    scenarios: Vec<Watched>,
    mode: ProgressMode,
    stop: Arc<RunStop>,
    notifier: Option<Notifier>,
    /// Why the run was aborted, if it was.
    pub aborted: Option<String>,
    _bars: Option<MultiProgress>,
}

impl Watch {
    pub fn new(
        configs: &[LoadTestConfig],
        mode: ProgressMode,
        stop: Arc<RunStop>,
        notifier: Option<Notifier>,
    ) -> Watch {
        let bars = (mode == ProgressMode::Bar)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let style = ProgressStyle::with_template("{prefix:.bold} [{bar:24}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let scenarios = configs
            .iter()
            .map(|c| {
                let bar = bars.as_ref().map(|m| {
                    let bar = m.add(ProgressBar::new((c.duration_seconds * 1000.0) as u64));
                    bar.set_style(style.clone());
                    bar.set_prefix(c.name.clone());
                    bar
                });
                Watched {
                    name: c.name.clone(),
                    thresholds: c.thresholds(),
                    abort_on_fail: c.abort_on_fail,
                    planned: match c.model {
                        crate::base::Model::Open => c.rate_profile().total().round() as u64,
                        crate::base::Model::Closed => 0,
                    },
                    duration_s: c.duration_seconds,
                    alerts: Vec::new(),
                    bar,
                }
            })
            .collect();
        Watch {
            scenarios,
            mode,
            stop,
            notifier,
            aborted: None,
            _bars: bars,
        }
    }

    /// Called by the collector for each interval of scenario `index` as it closes.
    pub fn after_interval(&mut self, index: usize, row: &IntervalStats, so_far: Progress<'_>) {
        let Some(s) = self.scenarios.get_mut(index) else {
            return;
        };
        for t in &s.thresholds {
            let Some(r) = t.evaluate_interval(row).filter(|r| !r.passed) else {
                continue;
            };
            let alert = Alert {
                at_s: row.end_s,
                scenario: s.name.clone(),
                metric: r.metric,
                comparison: r.comparison,
                limit: r.limit,
                value: r.value,
                unit: r.unit,
            };
            let line = format!(
                "openpace ALERT {:.1}s {}: {} = {:.3} {}, limit {} {} {}",
                alert.at_s,
                alert.scenario,
                alert.metric,
                alert.value,
                alert.unit,
                alert.comparison,
                alert.limit,
                alert.unit
            );
            print(self.mode, s.bar.as_ref(), &line);
            if let Some(n) = self.notifier.as_mut() {
                let mut message = json!(alert);
                message["type"] = json!("alert");
                n.send(message.to_string());
            }
            s.alerts.push(alert);
        }
        let line = progress_line(&s.name, row, s.duration_s);
        match (self.mode, &s.bar) {
            (ProgressMode::Bar, Some(bar)) => {
                bar.set_position((row.end_s.clamp(0.0, s.duration_s) * 1000.0) as u64);
                bar.set_message(line);
            }
            (ProgressMode::Lines, _) => eprintln!("{line}"),
            _ => {}
        }
        if s.abort_on_fail && s.planned > 0 && self.aborted.is_none() {
            let so_far = Progress {
                planned: s.planned,
                ..so_far
            };
            if let Some(t) = s.thresholds.iter().find(|t| t.doomed(&so_far)) {
                let why = format!(
                    "scenario \"{}\": threshold \"{}\" can no longer pass ({:.1}s into the run)",
                    s.name, t.text, row.end_s
                );
                print(
                    self.mode,
                    s.bar.as_ref(),
                    &format!("openpace: aborting: {why}"),
                );
                self.aborted = Some(why);
                self.stop.abort();
            }
        }
    }

    /// The alerts of each scenario, and the notifier for the final verdict.
    pub fn finish(self) -> (Vec<Vec<Alert>>, Option<String>, Option<Notifier>) {
        for s in &self.scenarios {
            if let Some(bar) = &s.bar {
                bar.finish();
            }
        }
        let alerts = self.scenarios.into_iter().map(|s| s.alerts).collect();
        (alerts, self.aborted, self.notifier)
    }
}

fn print(mode: ProgressMode, bar: Option<&ProgressBar>, line: &str) {
    match (mode, bar) {
        (ProgressMode::Bar, Some(bar)) => bar.println(line),
        (ProgressMode::Off, _) => {}
        _ => eprintln!("{line}"),
    }
}

/// One line of live progress for an interval that just closed: the rate the schedule meant
/// for that interval (a ramp's, a spike's) beside the rate achieved.
pub(crate) fn progress_line(name: &str, row: &IntervalStats, duration_s: f64) -> String {
    let seconds = row.end_s - row.start_s;
    let scheduled = if seconds > 0.0 {
        row.scheduled / seconds
    } else {
        0.0
    };
    let r = &row.response_time_ms;
    // Never past the schedule: what ends after it is the drain of requests sent within it.
    let at = if row.end_s > duration_s + 1e-9 {
        format!("{duration_s:.1}s + drain")
    } else {
        format!("{:6.1}/{duration_s:.1}s", row.end_s)
    };
    format!(
        "[{at}] {name}: scheduled {:.1}, achieved {:.1} RPS | p50 {:.2} p99 {:.2} max {:.2} ms \
         | errors {}, timeouts {}, dropped {}",
        scheduled, row.achieved_rps, r.p50, r.p99, r.max, row.errors, row.timeouts, row.dropped
    )
}
