//! The resource monitor: what openpace's own process, threads and host did during a run.
//!
//! [`ResourceMonitor`] (the design's API: `start_monitoring`, `stop_monitoring`,
//! `get_current_metrics`, `get_summary`) runs a sampler thread, kept off the timing loop's
//! core, that reads procfs at every interval boundary of the latency time series: process CPU
//! (user/system), RSS, context switches and page faults; CPU and preemptions of each thread;
//! per-core host CPU with steal and iowait, load average and available memory; network
//! counters (`monitor_network`); and optionally another process (`--monitor-pid`). Parsing is
//! in [`procfs`], the sample types in [`sample`]. [`ProcessUsage`] gives whole-run totals.
//!
//! Peak memory is `VmHWM`, not `getrusage`'s `ru_maxrss`: Linux carries `ru_maxrss` over from
//! the parent through fork and exec, so under `cargo run` it reported cargo's own 40 MB
//! instead of openpace's 7 MB.

pub mod procfs;
mod sampler;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::base::clock::{RunClock, thread_cpu_ns};
pub use crate::metrics::resources as sample;
pub use crate::metrics::resources::{ResourceReport, ResourceSample, ResourceSummary};
use crate::metrics::result::Resources;
pub use sampler::MonitorConfig;
use sampler::Sampler;

/// One `getrusage(RUSAGE_SELF)` reading.
#[derive(Clone, Copy, Debug)]
pub struct ProcessUsage {
    user_ns: u64,
    system_ns: u64,
    max_rss_kb: u64,
}

impl ProcessUsage {
    /// Reads the process's usage so far.
    pub fn now() -> ProcessUsage {
        let usage = crate::base::sys::self_usage();
        ProcessUsage {
            user_ns: usage.user_ns,
            system_ns: usage.system_ns,
            max_rss_kb: peak_rss_kb().unwrap_or(usage.max_rss_kb),
        }
    }

    /// What was used since `start`, over `wall_ns` of wall time.
    pub fn since(&self, start: &ProcessUsage, wall_ns: u64) -> Resources {
        let user = self.user_ns.saturating_sub(start.user_ns) as f64;
        let system = self.system_ns.saturating_sub(start.system_ns) as f64;
        Resources {
            cpu_user_s: Some(user / 1e9),
            cpu_system_s: Some(system / 1e9),
            cpu_pct: Some(100.0 * (user + system) / wall_ns.max(1) as f64),
            max_rss_mb: Some(self.max_rss_kb as f64 / 1024.0),
            monitor: ResourceReport::default(),
        }
    }
}

/// The running sampler thread.
struct Running {
    stop: Sender<()>,
    handle: JoinHandle<(Vec<String>, u64)>,
    started_ns: u64,
}

/// Samples resources in a background thread; see the module doc.
pub struct ResourceMonitor {
    config: MonitorConfig,
    clock: RunClock,
    samples: Arc<Mutex<Vec<ResourceSample>>>,
    running: Option<Running>,
    report: Option<ResourceReport>,
    avoid_core: Option<usize>,
}

impl ResourceMonitor {
    /// A monitor that will sample as `config` says, on `clock`, on any core but
    /// `avoid_core` (the timing loop's).
    pub fn new(
        config: MonitorConfig,
        clock: RunClock,
        avoid_core: Option<usize>,
    ) -> ResourceMonitor {
        ResourceMonitor {
            config,
            clock,
            samples: Arc::new(Mutex::new(Vec::new())),
            running: None,
            report: None,
            avoid_core,
        }
    }

    /// Starts the sampler thread (once): a first reading now, then one at every interval
    /// boundary.
    pub fn start_monitoring(&mut self) -> std::io::Result<()> {
        if self.running.is_some() || self.report.is_some() {
            return Ok(());
        }
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let (config, clock, samples, avoid) = (
            self.config,
            self.clock,
            self.samples.clone(),
            self.avoid_core,
        );
        // The first reading is taken here, not in the thread: what happens after this call
        // returns is counted even if the thread is slow to be scheduled.
        let mut sampler = Sampler::new(config, clock);
        let first = sampler.reading();
        let handle = std::thread::Builder::new()
            .name("openpace-sample".to_string())
            .spawn(move || {
                if let Some(core) = avoid {
                    crate::base::host::avoid_core(core);
                }
                let notes =
                    sample_until_stopped((config, clock), sampler, first, &samples, &stopped);
                (notes, thread_cpu_ns())
            })?;
        self.running = Some(Running {
            stop,
            handle,
            started_ns: self.clock.now_ns(),
        });
        Ok(())
    }

    /// Takes a last reading, stops the thread and returns everything sampled.
    pub fn stop_monitoring(&mut self) -> ResourceReport {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let (notes, cpu_ns) = running.handle.join().unwrap_or_default();
            let samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
            let wall = self
                .clock
                .now_ns()
                .saturating_sub(running.started_ns)
                .max(1);
            self.report = Some(ResourceReport {
                summary: ResourceSummary::of(&samples),
                samples,
                notes,
                sampler_cpu_pct: 100.0 * cpu_ns as f64 / wall as f64,
            });
        }
        self.report.clone().unwrap_or_default()
    }

    /// The latest sample, if one has been taken.
    pub fn get_current_metrics(&self) -> Option<ResourceSample> {
        self.samples.lock().ok()?.last().cloned()
    }

    /// Averages and maxima of the samples so far.
    pub fn get_summary(&self) -> ResourceSummary {
        self.samples
            .lock()
            .map(|s| ResourceSummary::of(&s))
            .unwrap_or_default()
    }
}

/// The sampler thread's loop; returns its notes.
fn sample_until_stopped(
    (config, clock): (MonitorConfig, RunClock),
    mut sampler: Sampler,
    mut previous: sampler::Reading,
    samples: &Mutex<Vec<ResourceSample>>,
    stopped: &Receiver<()>,
) -> Vec<String> {
    let interval = config.interval_ns.max(1);
    // The first boundary after now: samples then line up with the latency intervals.
    let now = clock.now_ns();
    let mut boundary = if now < config.start_ns {
        config.start_ns
    } else {
        config.start_ns + ((now - config.start_ns) / interval + 1) * interval
    };
    loop {
        let wait = Duration::from_nanos(boundary.saturating_sub(clock.now_ns()));
        let last = match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        let mut reading = sampler.reading();
        if !last {
            reading.nominal_ns = boundary;
            boundary += interval;
        }
        let sample = sampler.sample(&previous, &reading);
        // A final reading soon after a boundary says little (CPU time counts in 10 ms ticks)
        // and is dropped, unless there is no other sample.
        let keep = !last
            || sample.end_s - sample.start_s >= 0.1
            || samples.lock().map(|s| s.is_empty()).unwrap_or(true);
        if keep {
            if let Ok(mut s) = samples.lock() {
                s.push(sample);
            }
        }
        previous = reading;
        if last {
            return std::mem::take(&mut sampler.notes);
        }
    }
}

/// `VmHWM` of this process: the peak resident set of its own address space, in kB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_grows_with_work() {
        let start = ProcessUsage::now();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed().as_millis() < 30 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let r = ProcessUsage::now().since(&start, 30_000_000);
        assert!(r.cpu_user_s.unwrap() + r.cpu_system_s.unwrap() > 0.0);
        assert!(r.max_rss_mb.unwrap() > 0.0);
    }
}
