//! `openpace calibrate`: measure the host before a campaign.
//!
//! In about 30 s (scaled by `duration`), on the chosen timer and worker cores: the cost of a
//! clock read and of recording a request; for each wait mode, the timing loop's lateness
//! (cyclictest style: min, p50, p99, p99.99, max, at a 1 ms period), the dispatch delay and
//! framework overhead of a noop run at 1,000 RPS, and the raw hand-off latency to an idle
//! worker; the highest noop rate one worker holds (achieved/target >= 0.999, nothing dropped),
//! found by doubling and then bisecting; and how far `spin:DUR` targets overshoot their
//! duration. The report names the CPU, kernel, core count, governor and isolated cores, runs
//! the host check on the calibrated cores (`base::host_check`, as `openpace host` prints it), and
//! `openpace run --calibration FILE` prints a run's figures beside it.

pub mod probes;

use std::time::Duration;

use crate::base::WaitMode;
use crate::base::host_check::{self, HostTree, MeasuringCores, Steal};
use crate::config::{LoadTestConfig, RunConfig, RunSettings};
use crate::engine::LoadTestRunner;
use crate::engine::window::{PROBE_SLEEP_NS, SpinWindow};
use crate::error::{ConfigError, Error, Origin};
use crate::metrics::LatencySummary;
use crate::metrics::atomic_hist::new_histogram;
use crate::targets::TargetSpec;

pub use crate::metrics::calibration::{
    CALIBRATION_SCHEMA_VERSION, CalibrationHost, CalibrationReport, ExpectedOverhead,
    ModeCalibration, RateProbe, SpinError, WakeUpFloor, mode_name,
};

/// What to calibrate.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrateOptions {
    /// Roughly how long calibration takes, in seconds (30 by default).
    pub duration_s: f64,
    /// Core of the timing loop; `None`: as a run would choose.
    pub timer_core: Option<usize>,
    /// Core of the worker; `None`: as a run would choose.
    pub worker_core: Option<usize>,
    /// Wait modes to measure.
    pub modes: Vec<WaitMode>,
    /// Run the timing loop under SCHED_FIFO (`--realtime`), as a run with it would.
    pub realtime: bool,
}

impl CalibrateOptions {
    /// Options from command-line flags, each checked and named in errors.
    pub fn from_flags(
        duration: Option<&str>,
        timer_core: Option<&str>,
        worker_core: Option<&str>,
        modes: Option<&str>,
    ) -> Result<CalibrateOptions, ConfigError> {
        let mut options = CalibrateOptions::default();
        if let Some(text) = duration {
            let seconds = crate::base::units::parse_duration(text)
                .map(|d| d.as_secs_f64())
                .ok()
                .filter(|s| (1.0..=3600.0).contains(s));
            options.duration_s = seconds.ok_or_else(|| {
                ConfigError::invalid(&flag("--duration"), "duration", text, "1s to 1h, e.g. 30s")
            })?;
        }
        let core = |name: &str, text: Option<&str>| -> Result<Option<usize>, ConfigError> {
            let Some(text) = text else { return Ok(None) };
            let cores = crate::base::host::machine_cores();
            match text.parse::<usize>() {
                Ok(c) if c < cores => Ok(Some(c)),
                _ => Err(ConfigError::invalid(
                    &flag(name),
                    name.trim_start_matches('-'),
                    text,
                    format!("a core this machine has: 0 to {}", cores - 1),
                )),
            }
        };
        options.timer_core = core("--timer-core", timer_core)?;
        options.worker_core = core("--worker-core", worker_core)?;
        if let Some(text) = modes {
            options.modes = text
                .split(',')
                .map(|m| match m.trim() {
                    "spin" => Ok(WaitMode::Spin),
                    "hybrid" => Ok(WaitMode::Hybrid),
                    "sleep" => Ok(WaitMode::Sleep),
                    other => Err(ConfigError::invalid(
                        &flag("--modes"),
                        "modes",
                        other,
                        "a list of spin, hybrid, sleep",
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(options)
    }
}

fn flag(name: &str) -> Origin {
    Origin::Flag(name.to_string())
}

/// Reads a calibration report written by `openpace calibrate`, for `--calibration`.
pub fn load_report(path: &std::path::Path) -> Result<CalibrationReport, ConfigError> {
    let file = path.display().to_string();
    let limit = crate::base::input::MAX_INPUT_BYTES;
    let text = crate::base::input::read_text(path, limit).map_err(|e| ConfigError::Unreadable {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| {
        ConfigError::invalid(
            &flag("--calibration"),
            "calibration",
            file,
            format!("a report written by `openpace calibrate --out FILE` ({e})"),
        )
    })
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions {
            duration_s: 30.0,
            timer_core: None,
            worker_core: None,
            modes: vec![WaitMode::Spin, WaitMode::Hybrid, WaitMode::Sleep],
            realtime: false,
        }
    }
}

/// Runs the calibration; `progress` hears what is being measured.
pub fn calibrate(
    options: &CalibrateOptions,
    mut progress: impl FnMut(&str),
) -> Result<CalibrationReport, Error> {
    let engine = Engine::on_cores(options);
    let (timer_core, worker_core) = (engine.timer_core, engine.worker_core);
    let scale = (options.duration_s / 30.0).max(0.02);
    let seconds = |s: f64| s * scale;

    progress("clock and recording cost");
    let clock_read_ns = probes::clock_read_ns();
    let (hdr_record_ns, record_ns) = probes::record_ns();

    let mut modes = Vec::new();
    let mut expected_overhead = Vec::new();
    for &mode in &options.modes {
        progress(&format!(
            "{} mode: timing loop and hand-off",
            mode_name(mode)
        ));
        let (calibration, overhead) = engine.calibrate_mode(mode, seconds(3.6), seconds(1.0))?;
        modes.push(calibration);
        expected_overhead.push(overhead);
    }

    let wake_ups = options.modes.contains(&WaitMode::Hybrid).then(|| {
        progress("a network worker's wake-ups (hybrid mode)");
        let n = (seconds(1.0) / 1.1e-3).clamp(100.0, 3_000.0) as usize;
        wake_up_floor(&probes::wake_ups(worker_core, n, PROBE_SLEEP_NS))
    });

    progress("highest noop rate (spin mode, one worker)");
    let rate_search = engine.search_rate(seconds(1.0))?;
    let max_noop_rps = rate_search
        .iter()
        .filter(|p| p.held)
        .map(|p| p.rate)
        .fold(0.0, f64::max);

    progress("spin:DUR targets");
    let spin_error = engine.spin_errors(seconds(1.5))?;

    progress("framework overhead at 10,000 RPS");
    let run = engine.run(TargetSpec::Noop, 10_000.0, seconds(1.5), WaitMode::Hybrid)?;
    expected_overhead.push(ExpectedOverhead {
        mode: WaitMode::Hybrid,
        rate: 10_000.0,
        per_request_us: run.scenarios[0].overhead.per_request_us,
    });

    Ok(CalibrationReport {
        schema_version: CALIBRATION_SCHEMA_VERSION,
        tool: format!("openpace {}", env!("CARGO_PKG_VERSION")),
        calibrated_at_unix_s: crate::base::clock::unix_now(),
        host: CalibrationHost {
            timer_realtime: options.realtime,
            ..describe_host(timer_core, worker_core)
        },
        clock_read_ns,
        hdr_record_ns,
        record_ns,
        modes,
        max_noop_rps,
        rate_search,
        spin_error,
        expected_overhead,
        wake_ups,
    })
}

/// Replays `late` (wake-up lateness in ns, in the order measured) through a network worker's
/// [`SpinWindow`]: each wake-up pays what it came past the window of its moment.
fn wake_up_floor(late: &[u64]) -> WakeUpFloor {
    let mut window = SpinWindow::new();
    let mut histogram = new_histogram();
    let mut past_ns = 0u64;
    for &l in late {
        past_ns += l.saturating_sub(window.window_ns());
        window.woke(l);
        let _ = histogram.record(l.max(1));
    }
    WakeUpFloor {
        sleeps: late.len() as u64,
        lateness_us: LatencySummary::without_intervals(&histogram, 1e3),
        spin_window_us: window.window_ns() as f64 / 1e3,
        floor_us: past_ns as f64 / late.len().max(1) as f64 / 1e3,
    }
}

/// Engine runs with one worker on the calibrated cores.
struct Engine {
    timer_core: Option<usize>,
    worker_core: Option<usize>,
    realtime: bool,
}

impl Engine {
    /// The cores of the calibration: those named, else the first core this process may use
    /// for the timing loop and the next for the worker (unpinned with only one).
    fn on_cores(options: &CalibrateOptions) -> Engine {
        let allowed = crate::base::host::allowed_cores();
        let timer_core = options
            .timer_core
            .or_else(|| (allowed.len() >= 2).then(|| allowed[0]));
        let worker_core = options.worker_core.or_else(|| {
            allowed
                .iter()
                .copied()
                .find(|&c| Some(c) != timer_core)
                .filter(|_| timer_core.is_some())
        });
        Engine {
            timer_core,
            worker_core,
            realtime: options.realtime,
        }
    }

    /// One wait mode: a noop run at 1,000 RPS for `run_s` and a bare hand-off probe for
    /// `probe_s`.
    fn calibrate_mode(
        &self,
        mode: WaitMode,
        run_s: f64,
        probe_s: f64,
    ) -> Result<(ModeCalibration, ExpectedOverhead), Error> {
        let run = self.run(TargetSpec::Noop, 1_000.0, run_s, mode)?;
        let s = &run.scenarios[0];
        let hand_off = probes::hand_off(
            self.timer_core,
            self.worker_core,
            mode,
            Duration::from_millis(1),
            Duration::from_secs_f64(probe_s),
        );
        let calibration = ModeCalibration {
            mode,
            timer_lateness_us: s.timer_lateness_us,
            dispatch_delay_us: s.dispatch_delay_us,
            hand_off_us: LatencySummary::from_histogram(&hand_off, 1e3),
            overhead_per_request_us: s.overhead.per_request_us,
            timer_cpu_pct: run.framework_cpu.timer_cpu_pct,
        };
        let overhead = ExpectedOverhead {
            mode,
            rate: 1_000.0,
            per_request_us: s.overhead.per_request_us,
        };
        Ok((calibration, overhead))
    }

    /// How far `spin:10us`, `spin:100us` and `spin:1ms` targets' service times stray from
    /// their durations, each run for `seconds`.
    fn spin_errors(&self, seconds: f64) -> Result<Vec<SpinError>, Error> {
        let mut spin_error = Vec::new();
        for (us, rate) in [(10u64, 2_000.0), (100, 2_000.0), (1_000, 200.0)] {
            let target = TargetSpec::Spin(Duration::from_micros(us));
            let run = self.run(target, rate, seconds, WaitMode::Hybrid)?;
            let service = &run.scenarios[0].service_time_ms;
            spin_error.push(SpinError {
                target_us: us as f64,
                p50_error_us: service.at(0.5) * 1e3 - us as f64,
                p99_error_us: service.at(0.99) * 1e3 - us as f64,
            });
        }
        Ok(spin_error)
    }

    fn run(
        &self,
        target: TargetSpec,
        rate: f64,
        seconds: f64,
        wait: WaitMode,
    ) -> Result<crate::RunResult, Error> {
        let config = LoadTestConfig {
            name: format!("calibrate {target} {rate} RPS"),
            target,
            target_rps: rate,
            duration_seconds: seconds.max(0.2),
            warmup_seconds: 0.2,
            num_workers: 1,
            max_retries: 0,
            worker_cores: self.worker_core.map(|c| vec![c]),
            metrics_collection_interval: 1.0,
            monitor_cpu: false,
            monitor_memory: false,
            ..LoadTestConfig::default()
        };
        let settings = RunSettings {
            wait,
            timer_core: self.timer_core,
            realtime: self.realtime,
            ..RunSettings::default()
        };
        LoadTestRunner::from_run_config(RunConfig::single(config).with_settings(settings))?.run()
    }

    /// Doubles the rate from 1M RPS until it is not held, then bisects twice.
    fn search_rate(&self, seconds: f64) -> Result<Vec<RateProbe>, Error> {
        let mut probes = Vec::new();
        let mut probe = |rate: f64| -> Result<bool, Error> {
            let run = self.run(TargetSpec::Noop, rate, seconds, WaitMode::Spin)?;
            let s = &run.scenarios[0];
            // Sustained, not achieved: a generator that falls behind still completes every
            // request, later, and completed / window alone would call that held.
            let ratio = s.sustained_rps / rate;
            let held = ratio >= 0.999 && s.requests.dropped == 0;
            probes.push(RateProbe {
                rate,
                ratio,
                dropped: s.requests.dropped,
                held,
            });
            Ok(held)
        };
        let (mut held, mut failed) = (0.0, None);
        let mut rate = 1e6;
        while rate <= 32e6 {
            if probe(rate)? {
                held = rate;
                rate *= 2.0;
            } else {
                failed = Some(rate);
                break;
            }
        }
        if let Some(mut high) = failed {
            for _ in 0..2 {
                let middle = ((held + high) / 2.0 / 1e5).round() * 1e5;
                if middle <= held || middle >= high {
                    break;
                }
                if probe(middle)? {
                    held = middle;
                } else {
                    high = middle;
                }
            }
        }
        Ok(probes)
    }
}

fn describe_host(timer_core: Option<usize>, worker_core: Option<usize>) -> CalibrationHost {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let cpu_model = read("/proc/cpuinfo")
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    CalibrationHost {
        hostname: crate::base::host::hostname(),
        cpu_model,
        kernel: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
        cores: crate::base::host::machine_cores(),
        governor: read(&format!(
            "/sys/devices/system/cpu/cpu{}/cpufreq/scaling_governor",
            timer_core.unwrap_or(0)
        )),
        isolated_cores: read("/sys/devices/system/cpu/isolated"),
        timer_core,
        worker_core,
        timer_realtime: false,
        checks: host_check::check(
            &HostTree::real(),
            &MeasuringCores {
                timer: timer_core,
                workers: worker_core.into_iter().collect(),
            },
            Steal::Watch(200),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_what_each_wake_up_came_past_the_window_of_its_moment() {
        // A quiet host: every wake-up inside the window, no floor.
        let quiet = wake_up_floor(&[10_000; 100]);
        assert_eq!(quiet.floor_us, 0.0);
        assert_eq!(quiet.spin_window_us, 20.0);
        assert_eq!(quiet.sleeps, 100);
        // A host 1 ms late every time: 950 µs past the initial 50 µs window for the first 8,
        // then 500 µs past the capped window.
        let late = wake_up_floor(&[1_000_000; 100]);
        assert_eq!(late.spin_window_us, 500.0);
        assert!((late.floor_us - 536.0).abs() < 1e-9, "{}", late.floor_us);
        assert_eq!(wake_up_floor(&[]).floor_us, 0.0);
    }
}
