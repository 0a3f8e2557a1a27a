//! What the collector does with each interval as it closes: alerts, progress, abort.
//!
//! Runs on the collector thread, never on the timing loop or a worker. Each closed interval
//! is checked against every threshold of its scenario; a breach is an [`Alert`]: recorded
//! in the result, printed on stderr when progress is shown, and handed to `--notify-cmd`.
//! Progress is one line per scenario and interval, or an indicatif bar when stderr is a
//! terminal, redrawn every [`TICK`] between intervals (its clock moves; the figures are the
//! last interval's). Either fits the terminal's width (lines: `$COLUMNS`, else
//! [`COLUMNS`]) by dropping the least useful figures first (the maximum, then the median, then
//! the p99, and shortening the name), never the counts; names the scenario once, says
//! "warming up" during the warmup and never counts past the schedule (what comes after is
//! the drain, whose line counts the calls that ended in it). With `abort_on_fail`, the run is stopped as soon as a threshold can no longer
//! pass over the whole schedule, given what has been measured so far.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::exporter::Exporter;
use super::notify::Notifier;
use super::stop::RunStop;
use crate::config::LoadTestConfig;
use crate::metrics::collector::ScenarioCollector;
use crate::metrics::result::{Alert, IntervalStats};
use crate::metrics::threshold::{Progress, Threshold};

/// Where a run's figures go besides its result: the `--notify-cmd` command and the live
/// metrics of `--metrics-listen`.
#[derive(Default)]
pub(crate) struct Outlets {
    pub notifier: Option<Notifier>,
    pub exporter: Option<Exporter>,
}

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

/// How often the bar is redrawn between intervals.
pub(crate) const TICK: Duration = Duration::from_millis(250);
/// The width a progress line fits in when neither the terminal nor `$COLUMNS` says.
const COLUMNS: usize = 80;
/// The fewest characters of a scenario's name a line keeps before it drops a latency.
const NAME_FLOOR: usize = 6;
/// What the bar takes before its message: the bar itself and two spaces.
const BAR_COLUMNS: usize = 12;
/// The most of a scenario's name the bar shows in front of it.
const NAME_COLUMNS: usize = 16;

struct Watched {
    name: String,
    /// Where the measured window starts on the run clock (the warmup's end).
    warmup_ns: u64,
    /// The measured window, and the longest it may go on (until precise: max_duration).
    duration_s: f64,
    longest_s: f64,
    /// The last interval's figures, beside the bar's clock.
    figures: Figures,
    /// The columns a line (lines mode) or the bar's message (bar mode) fits in.
    columns: usize,
    /// In lines mode, whether "warming up" has been said.
    warmup_said: bool,
    thresholds: Vec<Threshold>,
    abort_on_fail: bool,
    /// Requests the measured window intends (0 for the closed model: nothing to abort on).
    planned: u64,
    alerts: Vec<Alert>,
    bar: Option<ProgressBar>,
}

/// Watches a run's intervals; see the module doc.
pub(crate) struct Watch {
    scenarios: Vec<Watched>,
    mode: ProgressMode,
    stop: Arc<RunStop>,
    outlets: Outlets,
    /// Why the run was aborted, if it was.
    pub aborted: Option<String>,
    /// When [`Watch::tick`] last redrew.
    last_tick_ns: Option<u64>,
    _bars: Option<MultiProgress>,
}

impl Watch {
    pub fn new(
        configs: &[LoadTestConfig],
        mode: ProgressMode,
        stop: Arc<RunStop>,
        outlets: Outlets,
    ) -> Watch {
        let bars = (mode == ProgressMode::Bar)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        // wide_msg takes the terminal's width left and is cut there, never wrapped.
        let style = ProgressStyle::with_template("{prefix:.bold} {bar:10} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=>-");
        let width = match mode {
            ProgressMode::Bar => crate::base::sys::terminal_columns(),
            _ => std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.trim().parse().ok()),
        }
        .filter(|&c| c > 0)
        .unwrap_or(COLUMNS);
        let scenarios = configs
            .iter()
            .map(|c| {
                let prefix = fit(&crate::base::printable(&c.name), NAME_COLUMNS);
                let bar = bars.as_ref().map(|m| {
                    let bar = m.add(ProgressBar::new((c.longest_duration() * 1000.0) as u64));
                    bar.set_style(style.clone());
                    bar.set_prefix(prefix.clone());
                    bar.set_message(if c.warmup_seconds > 0.0 {
                        "warming up"
                    } else {
                        "starting"
                    });
                    bar
                });
                Watched {
                    name: crate::base::printable(&c.name).into_owned(),
                    warmup_ns: super::seconds_to_ns(c.warmup_seconds),
                    duration_s: c.duration_seconds,
                    longest_s: c.longest_duration(),
                    figures: Figures::default(),
                    columns: match mode {
                        ProgressMode::Bar => {
                            width.saturating_sub(prefix.chars().count() + BAR_COLUMNS)
                        }
                        _ => width,
                    },
                    warmup_said: false,
                    thresholds: c.thresholds(),
                    abort_on_fail: c.abort_on_fail,
                    planned: match c.model {
                        crate::base::Model::Open => c.rate_profile().total().round() as u64,
                        crate::base::Model::Closed => 0,
                    },
                    alerts: Vec::new(),
                    bar,
                }
            })
            .collect();
        Watch {
            scenarios,
            mode,
            stop,
            outlets,
            aborted: None,
            last_tick_ns: None,
            _bars: bars,
        }
    }

    /// How long the collector may sleep before the progress wants redrawing: [`TICK`] for a
    /// bar, else no limit.
    pub fn tick_every(&self) -> Duration {
        match self.mode {
            ProgressMode::Bar => TICK,
            _ => Duration::MAX,
        }
    }

    /// Called by the collector whenever it wakes, `now_ns` on the run clock: the bar's clock
    /// moves; in lines mode a scenario in its warmup says so, once.
    pub fn tick(&mut self, now_ns: u64) {
        if self
            .last_tick_ns
            .is_some_and(|t| now_ns < t + TICK.as_nanos() as u64)
        {
            return;
        }
        self.last_tick_ns = Some(now_ns);
        for s in &mut self.scenarios {
            let elapsed_s = (now_ns as f64 - s.warmup_ns as f64) / 1e9;
            match (self.mode, &s.bar) {
                (ProgressMode::Bar, Some(bar)) => {
                    bar.set_position((elapsed_s.clamp(0.0, s.longest_s) * 1000.0) as u64);
                    bar.set_message(s.bar_message(elapsed_s));
                }
                (ProgressMode::Lines, _) if elapsed_s < 0.0 && !s.warmup_said => {
                    s.warmup_said = true;
                    let what = format!(
                        "warming up for {:.1}s, then {:.1}s measured",
                        -elapsed_s, s.duration_s
                    );
                    let what = Figures {
                        counts: what,
                        ..Figures::default()
                    };
                    crate::base::say(format_args!("{}", s.line("warmup", &what)));
                }
                _ => {}
            }
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
            if let Some(n) = self.outlets.notifier.as_mut() {
                let mut message = json!(alert);
                message["type"] = json!("alert");
                n.send(message.to_string());
            }
            s.alerts.push(alert);
        }
        s.figures = figures(row, row.start_s >= s.longest_s - 1e-9);
        match (self.mode, &s.bar) {
            (ProgressMode::Bar, Some(bar)) => {
                bar.set_position((row.end_s.clamp(0.0, s.longest_s) * 1000.0) as u64);
                bar.set_message(s.bar_message(row.end_s));
            }
            (ProgressMode::Lines, _) => {
                crate::base::say(format_args!("{}", s.line(&s.clock(row.end_s), &s.figures)))
            }
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

    /// The live metrics: adds the interval `row` of scenario `index` that just closed, with
    /// what its collector has measured so far (nothing without `--metrics-listen`).
    pub fn export(&mut self, index: usize, row: &IntervalStats, collector: &ScenarioCollector) {
        if let Some(exporter) = self.outlets.exporter.as_mut() {
            let so_far = collector.progress(0);
            exporter.after_interval(index, row, so_far.response, collector.error_kinds_so_far());
        }
    }

    /// The alerts of each scenario, and the outlets for the final verdict.
    pub fn finish(self) -> (Vec<Vec<Alert>>, Option<String>, Outlets) {
        for s in &self.scenarios {
            if let Some(bar) = &s.bar {
                bar.finish();
            }
        }
        let alerts = self.scenarios.into_iter().map(|s| s.alerts).collect();
        (alerts, self.aborted, self.outlets)
    }
}

fn print(mode: ProgressMode, bar: Option<&ProgressBar>, line: &str) {
    match (mode, bar) {
        (ProgressMode::Bar, Some(bar)) => bar.println(line),
        (ProgressMode::Off, _) => {}
        _ => crate::base::say(format_args!("{line}")),
    }
}

impl Watched {
    /// Where the scenario is `elapsed_s` into its measured window (negative: in the warmup):
    /// `warming up, 1.2s left`, `3.0/10.0s`, until precise `12.0s, max 100.0s`, or past the
    /// schedule `10.0s + drain`.
    fn clock(&self, elapsed_s: f64) -> String {
        if elapsed_s < 0.0 {
            format!("warming up, {:.1}s left", -elapsed_s)
        } else if elapsed_s <= self.duration_s + 1e-9 {
            format!("{elapsed_s:.1}/{:.1}s", self.duration_s)
        } else if elapsed_s <= self.longest_s + 1e-9 {
            // Until precise: on past duration_seconds, up to max_duration.
            format!("{elapsed_s:.1}s, max {:.1}s", self.longest_s)
        } else {
            format!("{:.1}s + drain", self.longest_s)
        }
    }

    /// The bar's message: its clock and the last interval's figures, within its columns.
    fn bar_message(&self, elapsed_s: f64) -> String {
        let clock = self.clock(elapsed_s);
        let room = self.columns.saturating_sub(clock.chars().count() + 1);
        format!("{clock} {}", self.figures.within(room))
    }

    /// A line of lines mode, `[clock] name: figures`, within its columns: the figures lose
    /// their least useful parts while the name keeps up to [`NAME_COLUMNS`] characters, then
    /// again while it keeps [`NAME_FLOOR`]; then the name is shortened further, then left out. The counts are never cut (a line too narrow for them
    /// is longer than the terminal).
    fn line(&self, clock: &str, what: &Figures) -> String {
        let fixed = clock.chars().count() + 5;
        let whole = self.name.chars().count();
        for floor in [NAME_COLUMNS, NAME_FLOOR] {
            for shown in what.choices() {
                let room = self.columns.saturating_sub(fixed + shown.chars().count());
                if room >= whole.min(floor) {
                    return format!("[{clock}] {}: {shown}", fit(&self.name, room));
                }
            }
        }
        let room = self
            .columns
            .saturating_sub(fixed + what.counts.chars().count());
        if room >= 2 {
            format!("[{clock}] {}: {}", fit(&self.name, room), what.counts)
        } else {
            format!("[{clock}] {}", what.counts)
        }
    }
}

/// The figures of an interval that just closed, in parts, so that a line can drop the least
/// useful ones first.
#[derive(Clone, Debug, Default)]
struct Figures {
    /// `1000 of 1000 RPS, 0 errors`, with timeouts and drops when any: never dropped.
    counts: String,
    /// `p50 45.0us`, `p99 120us`, `max 2.93ms` (empty: none, as in the warmup's line).
    latencies: Option<[String; 3]>,
}

impl Figures {
    /// The ways to show them, the fullest first: every latency, without the maximum, the
    /// p99 alone, the counts alone.
    fn choices(&self) -> Vec<String> {
        let counts = &self.counts;
        let mut choices = Vec::new();
        if let Some([p50, p99, max]) = &self.latencies {
            choices.push(format!("{counts} | {p50} {p99} {max}"));
            choices.push(format!("{counts} | {p50} {p99}"));
            choices.push(format!("{counts} | {p99}"));
        }
        choices.push(counts.clone());
        choices
    }

    /// The fullest choice within `columns` (the counts alone when none fits).
    fn within(&self, columns: usize) -> String {
        let choices = self.choices();
        let fits = choices.iter().find(|c| c.chars().count() <= columns);
        fits.unwrap_or(&self.counts).clone()
    }
}

/// `text` cut to `columns` characters, the last one `~` when cut.
fn fit(text: &str, columns: usize) -> String {
    if text.chars().count() <= columns {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(columns.saturating_sub(1)).collect();
    cut.push('~');
    cut
}

/// The figures of an interval that just closed, `1000 of 1000 RPS, 0 errors | p50 45.0us p99
/// 120us max 2.93ms`: the rate achieved beside the rate the schedule meant for it (a ramp's,
/// a spike's; the rate alone in a closed model, which schedules none), the faults (timeouts
/// and drops only when there are any), response-time percentiles. In the `drain` after the
/// schedule nothing is scheduled: the line counts the calls that ended in it.
fn figures(row: &IntervalStats, drain: bool) -> Figures {
    use crate::base::units::format_ms;
    let seconds = row.end_s - row.start_s;
    let rate = |rps: f64| {
        if rps >= 99.95 {
            format!("{rps:.0}")
        } else {
            format!("{rps:.1}")
        }
    };
    let mut counts = if drain {
        format!(
            "{} ended after the window, {} errors",
            row.completed, row.errors
        )
    } else if row.scheduled > 0.0 && seconds > 0.0 {
        format!(
            "{} of {} RPS, {} errors",
            rate(row.achieved_rps),
            rate(row.scheduled / seconds),
            row.errors
        )
    } else {
        format!("{} RPS, {} errors", rate(row.achieved_rps), row.errors)
    };
    if row.timeouts > 0 {
        counts.push_str(&format!(", {} timeouts", row.timeouts));
    }
    if row.dropped > 0 {
        counts.push_str(&format!(", {} dropped", row.dropped));
    }
    let r = &row.response_time_ms;
    let latencies = (row.completed > 0).then(|| {
        [
            format!("p50 {}", format_ms(r.at(0.5))),
            format!("p99 {}", format_ms(r.at(0.99))),
            format!("max {}", format_ms(r.max)),
        ]
    });
    Figures { counts, latencies }
}
