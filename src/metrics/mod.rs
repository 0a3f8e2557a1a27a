//! Measurements: per-thread recorders, the collector, and the results they produce.
//!
//! Workers and the timing loop record into preallocated, single-writer HdrHistogram recorders
//! (3 significant digits, nanoseconds) and counters ([`stats`]). The collector
//! (`collector.rs`) reads them once per interval, off the hot path, into exact interval and
//! run-total histograms, and builds a [`RunResult`]. Memory is fixed per worker: it does not
//! grow with the number of requests, only (by one row per interval) with the run's length.
//!
//! Three views of each request are kept, as wrk2 keeps two: response time (end − intended,
//! corrected for coordinated omission), service time (end − start, what the target took) and
//! dispatch delay (start − intended). Framework overhead is the time the framework added to a
//! request (timer lateness, hand-off, the worker's bookkeeping; not time spent queueing behind a
//! busy target) as a share of its response time.

// The lock-free recorder reads and writes its counts through raw atomics.
#[allow(unsafe_code)]
pub mod atomic_hist;
pub mod calibration;
pub mod capacity;
pub(crate) mod collector;
pub mod compare;
pub mod confidence;
pub mod encoding;
pub mod figures;
pub mod honest;
pub mod percentile;
pub mod precision;
pub mod repeated;
pub mod request_log;
pub mod resources;
pub mod result;
pub mod sample;
pub mod saturation;
pub(crate) mod spill;
pub mod stats;
pub mod threshold;
pub mod validity;
pub mod verdict;

pub use result::{
    EncodedHistograms, IntervalStats, LatencySummary, PerformanceMetrics, RequestCounts, RunResult,
    ScenarioResult, ThresholdResult, Verdict,
};
