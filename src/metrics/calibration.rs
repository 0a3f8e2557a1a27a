//! What `openpace calibrate` found about a host: the report's types, so that the report
//! layer can render a calibration, and a run can be printed beside one, without reaching the
//! code that measures (`calibrate`).

use serde::{Deserialize, Serialize};

use super::LatencySummary;
use crate::base::WaitMode;

/// Version of the calibration report's layout.
pub const CALIBRATION_SCHEMA_VERSION: u32 = 1;

/// The machine that was calibrated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationHost {
    /// Host name.
    pub hostname: String,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// CPUs of the machine.
    pub cores: usize,
    /// The cpufreq governor of the timer core, when readable.
    pub governor: Option<String>,
    /// /sys/devices/system/cpu/isolated, when readable ("" when no core is isolated).
    pub isolated_cores: Option<String>,
    /// Core the timing loop ran on (`None`: unpinned).
    pub timer_core: Option<usize>,
    /// Core the worker ran on (`None`: unpinned).
    pub worker_core: Option<usize>,
    /// The timing loop ran under SCHED_FIFO (`calibrate --realtime`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timer_realtime: bool,
    /// The host check on those cores (`openpace host`; absent in older reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::base::host_check::Check>,
}

/// Figures of one wait mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeCalibration {
    /// The wait mode.
    pub mode: WaitMode,
    /// Timing loop lateness (sent − planned hand-off) at 1,000 RPS, µs.
    pub timer_lateness_us: LatencySummary,
    /// Dispatch delay (start − intended) of a noop at 1,000 RPS, µs.
    pub dispatch_delay_us: LatencySummary,
    /// Raw one-way hand-off to a worker waiting as in this mode, messages 1 ms apart, µs.
    pub hand_off_us: LatencySummary,
    /// Framework time per request at 1,000 RPS (noop), µs.
    pub overhead_per_request_us: f64,
    /// CPU of the timing thread at 1,000 RPS, % of a core.
    pub timer_cpu_pct: f64,
}

/// How late this host wakes a network worker that sleeps to an instant (`hybrid` mode), the
/// spin window a worker adapts to it, and what the wake-ups past that window still cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WakeUpFloor {
    /// Timed sleeps of 1 ms on the worker core.
    pub sleeps: u64,
    /// How late they woke, µs.
    pub lateness_us: LatencySummary,
    /// The spin window a network worker ends with here, µs.
    pub spin_window_us: f64,
    /// Mean lateness past the window per sleep, µs: what a request of a network scenario
    /// pays on this host in `hybrid` mode however it is tuned, short of `--wait spin`. Divide
    /// by a run's mean response time for the overhead it sets.
    pub floor_us: f64,
}

/// One step of the search for the highest noop rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateProbe {
    /// Scheduled rate.
    pub rate: f64,
    /// sustained / scheduled (sustained: completed over the window plus the drain).
    pub ratio: f64,
    /// Requests dropped.
    pub dropped: u64,
    /// Whether the rate was held.
    pub held: bool,
}

/// How far a `spin:DUR` target's service time exceeds DUR.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpinError {
    /// DUR, µs.
    pub target_us: f64,
    /// Service time p50 − DUR, µs.
    pub p50_error_us: f64,
    /// Service time p99 − DUR, µs.
    pub p99_error_us: f64,
}

/// Framework overhead a run at a rate should expect.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectedOverhead {
    /// Wait mode.
    pub mode: WaitMode,
    /// Rate of the noop run.
    pub rate: f64,
    /// Framework time per request, µs: divide by a run's mean response time for its share.
    pub per_request_us: f64,
}

/// The calibration report (`openpace calibrate --out FILE` writes it as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// [`CALIBRATION_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `openpace <version>`.
    pub tool: String,
    /// Wall-clock time of the calibration (Unix seconds).
    pub calibrated_at_unix_s: f64,
    /// The machine.
    pub host: CalibrationHost,
    /// Nanoseconds per clock read.
    pub clock_read_ns: f64,
    /// Nanoseconds per record into an HdrHistogram.
    pub hdr_record_ns: f64,
    /// Nanoseconds per record into openpace's recorder.
    pub record_ns: f64,
    /// Figures per wait mode.
    pub modes: Vec<ModeCalibration>,
    /// The highest noop rate one worker held in spin mode.
    pub max_noop_rps: f64,
    /// The search that found it.
    pub rate_search: Vec<RateProbe>,
    /// Overshoot of `spin:10us`, `spin:100us`, `spin:1ms`.
    pub spin_error: Vec<SpinError>,
    /// Framework overhead per request at a few rates.
    pub expected_overhead: Vec<ExpectedOverhead>,
    /// A network worker's wake-ups in `hybrid` mode (when hybrid was calibrated; absent in
    /// reports from before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_ups: Option<WakeUpFloor>,
}

impl CalibrationReport {
    /// The figures of `mode`, if it was calibrated.
    pub fn mode(&self, mode: WaitMode) -> Option<&ModeCalibration> {
        self.modes.iter().find(|m| m.mode == mode)
    }
}

/// The name of a wait mode as in config files.
pub fn mode_name(mode: WaitMode) -> &'static str {
    match mode {
        WaitMode::Spin => "spin",
        WaitMode::Hybrid => "hybrid",
        WaitMode::Sleep => "sleep",
    }
}
