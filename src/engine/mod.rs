//! The engine: one pinned timing loop, a fixed pool of pinned workers, and the collector.
//!
//! [`LoadTestRunner::run`] reads plan -> spawn -> collect -> finish (`launch.rs`): it plans
//! cores, builds one target per worker, starts the worker threads, the timing thread and the
//! collector thread (`supervise.rs`, on the timing loop's core), and waits until every request
//! has ended or been given up on. Data flows one way: schedule -> timing loop (`timer.rs`) ->
//! crossbeam channel -> worker (`worker.rs`) -> per-worker recorders -> collector ->
//! [`RunResult`]. A network scenario's workers are network workers (`net_worker.rs`): each
//! drives a pool of connections on its own poll. The engine never formats or prints anything
//! on the hot path; warnings are gathered into the result.

mod exporter;
mod launch;
mod log_writer;
mod net_worker;
mod notify;
mod pin;
mod precise;
pub(crate) mod sleeper;
pub mod stop;
mod supervise;
mod timer;
mod watch;
pub mod wheel;
pub(crate) mod window;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

pub use crate::base::clock;

use crate::base::clock::RunClock;
use crate::base::host::allowed_cores;
use crate::config::{LoadTestConfig, RunConfig};
use crate::error::Error;
use crate::metrics::RunResult;
use crate::shard::ClusterPlan;
use crate::targets::TargetFactory;
use stop::{RunStop, StopHandle};

pub use stop::install_signal_handlers;

/// Cores this process may use that the timing loop leaves to workers: all but one when it
/// may use two or more (the timing loop takes the first), else one it shares.
pub fn spare_cores() -> usize {
    allowed_cores().len().saturating_sub(1).max(1)
}
pub use watch::ProgressMode;

/// Capacity of a scenario's hand-off channel: room for every request of the hand-off lead at
/// the pattern's peak rate, with half as much again for Poisson bursts, so that the backlog
/// (a slower path through the timing loop) is only used when workers fall behind.
fn queue_capacity(peak_rps: f64, lead_ns: u64, batch_ns: u64) -> usize {
    let lead_s = (lead_ns + batch_ns) as f64 / 1e9;
    ((peak_rps * lead_s * 1.5) as usize).clamp(4096, 1 << 20)
}

/// How far ahead of the lead a network lane hands requests over, outside `spin` mode: the
/// timing loop then wakes about once per 0.5 ms at any rate instead of once per request, and
/// the network worker, which keeps time on its own poll, sends each at its instant.
const NET_BATCH_NS: u64 = 500_000;

/// Runs load tests. See the crate documentation for an example.
pub struct LoadTestRunner {
    run: RunConfig,
    targets: Vec<Option<TargetFactory>>,
    target_names: Vec<Option<String>>,
    stop: StopHandle,
    progress: ProgressMode,
    cluster: ClusterPlan,
}

impl LoadTestRunner {
    /// A runner for one scenario, calling the built-in target named in `config.target`
    /// unless [`with_target`](Self::with_target) supplies another. Fails if the config is
    /// invalid.
    pub fn new(config: LoadTestConfig) -> Result<LoadTestRunner, Error> {
        LoadTestRunner::from_run_config(RunConfig::single(config))
    }

    /// A runner for several scenarios that run at the same time.
    pub fn from_run_config(run: RunConfig) -> Result<LoadTestRunner, Error> {
        run.validate()?;
        let n = run.scenarios.len();
        Ok(LoadTestRunner {
            run,
            targets: vec![None; n],
            target_names: vec![None; n],
            stop: StopHandle::default(),
            progress: ProgressMode::Off,
            cluster: ClusterPlan::default(),
        })
    }

    /// Calls the target built by `factory` (once per worker) in every scenario.
    pub fn with_target(mut self, factory: TargetFactory) -> LoadTestRunner {
        for slot in &mut self.targets {
            *slot = Some(factory.clone());
        }
        for name in &mut self.target_names {
            *name = Some("in-process".to_string());
        }
        self
    }

    /// Calls the target built by `factory` in scenario `index` only.
    pub fn with_scenario_target(mut self, index: usize, factory: TargetFactory) -> LoadTestRunner {
        if let Some(slot) = self.targets.get_mut(index) {
            *slot = Some(factory);
            self.target_names[index] = Some("in-process".to_string());
        }
        self
    }

    /// Shows progress and alerts on stderr while the run goes on (off by default).
    pub fn with_progress(mut self, mode: ProgressMode) -> LoadTestRunner {
        self.progress = mode;
        self
    }

    /// Runs as one shard of a campaign and/or from a common wall-clock instant (see
    /// [`crate::cluster`]). Checked when the run starts.
    pub fn with_cluster(mut self, plan: ClusterPlan) -> LoadTestRunner {
        self.cluster = plan;
        self
    }

    /// A handle that stops the run from another thread or a signal handler.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Listens to `handle` for stop requests instead of a handle of its own: one handle (the
    /// one signals are routed to, say) can then stop each of several runs in turn.
    pub fn with_stop_handle(mut self, handle: StopHandle) -> LoadTestRunner {
        self.stop = handle;
        self
    }

    /// The validated configuration.
    pub fn config(&self) -> &RunConfig {
        &self.run
    }

    /// Runs every scenario to the end of its schedule (or a stop request) and returns what
    /// was measured. Fails only if the run cannot start (cores, threads, targets, a shard plan
    /// that does not fit the config, a `start_at` that passed more than its tolerance ago).
    pub fn run(mut self) -> Result<RunResult, Error> {
        let (_confined, mut plan) = self.plan()?;
        let memory_lock = self.privileges(&mut plan.warnings)?;
        install_panic_hook();
        WORKER_PANICS.store(0, Ordering::Relaxed);
        let warnings = Arc::new(Mutex::new(plan.warnings.clone()));
        let stop = Arc::new(RunStop::new(&self.stop));
        let counts: Vec<usize> = self
            .run
            .scenarios
            .iter()
            .map(|s| s.worker_count())
            .collect();
        // Bound before anything starts, so that an address in use stops the run unstarted.
        let exporter = match self.run.run.metrics_listen {
            Some(address) => {
                let names: Vec<String> =
                    self.run.scenarios.iter().map(|s| s.name.clone()).collect();
                let exporter = exporter::Exporter::start(address, &names).map_err(|e| {
                    Error::run(
                        format!("serving live metrics on --metrics-listen {address}"),
                        e,
                    )
                })?;
                if self.progress != ProgressMode::Off {
                    // The port the system chose, for an address like 127.0.0.1:0.
                    crate::base::say(format_args!(
                        "openpace: live metrics at http://{}/metrics",
                        exporter.address()
                    ));
                }
                Some(exporter)
            }
            None => None,
        };
        // Threads start in about a millisecond each; connections opened ahead of the run
        // (`connections: N`) in about 20 µs each on a local network.
        let ahead: usize = self
            .run
            .scenarios
            .iter()
            .filter(|s| s.opens_all_connections())
            .filter_map(|s| s.connections())
            .sum();
        let setup =
            Duration::from_millis(30 + counts.iter().sum::<usize>() as u64 + ahead as u64 / 50);
        let log_file = self.open_log()?;
        let log_taps = Mutex::new(Vec::new());
        let start = self.start(setup)?;
        let clock = RunClock::starting_in(start.delay);
        let spawn = launch::Spawn {
            clock,
            stop: &stop,
            warnings: &warnings,
            plan: &plan,
            counts: &counts,
            log_taps: log_file.is_some().then_some(&log_taps),
        };
        let mut lanes = Vec::new();
        let mut scenarios = Vec::new();
        let mut handles = Vec::new();
        for (index, config) in self.run.scenarios.iter().enumerate() {
            let (lane, scenario) = self.spawn_scenario(index, config, &spawn, &mut handles)?;
            lanes.extend(lane);
            scenarios.push(scenario);
        }
        let log = self.start_log(log_file, &start, &log_taps)?;
        let workers: Vec<_> = scenarios
            .iter()
            .flat_map(|s| s.workers.iter().cloned())
            .collect();
        let timer_done = self.start_timing_loop(&spawn, lanes)?;
        let monitor = self.start_monitor(&spawn);
        let (result, outlets) = self.collect(&spawn, scenarios, timer_done, exporter)?;
        let mut result = self.finish(result, &start, monitor, outlets, handles);
        result.framework_cpu.memory_locked = memory_lock.is_some();
        result.request_log = log.map(|log| log.finish(&workers));
        Ok(result)
    }
}

/// The `--notify-cmd` message sent at the end: the verdict as JSON.
fn verdict_message(result: &RunResult) -> String {
    let scenarios: Vec<serde_json::Value> = result
        .scenarios
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "passed": s.verdict.passed,
                "suspect": s.verdict.suspect,
                "notes": s.verdict.notes,
                "thresholds": s.verdict.thresholds,
                "alerts": s.alerts.len(),
            })
        })
        .collect();
    serde_json::json!({
        "type": "verdict",
        "passed": result.passed,
        "interrupted": result.interrupted,
        "aborted": result.aborted,
        "scenarios": scenarios,
    })
    .to_string()
}

/// Panics caught in worker threads during the current run.
static WORKER_PANICS: AtomicU64 = AtomicU64::new(0);

/// A worker's panics are caught where they happen ([`crate::base::fault::guarded`]): the
/// hook only notes their message and place there, and prints nothing. Other threads' panics
/// go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_worker = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("openpace-w"));
            if in_worker {
                crate::base::fault::note(info);
            } else {
                previous(info);
            }
        }));
    });
}

/// Prints the first panic of a target in a run and keeps the rest quiet: every one counts as
/// an error of kind `panic`, and printing each would put formatting on the hot path.
pub(crate) fn report_target_panic(message: &str) {
    if WORKER_PANICS.fetch_add(1, Ordering::Relaxed) == 0 {
        crate::base::say(format_args!(
            "openpace: a target panicked ({message}); every panic counts as an error of kind \
             `panic` and only this first one is printed"
        ));
    }
}

/// Seconds (validated: finite, non-negative, at most 30 days) to nanoseconds.
pub(crate) fn seconds_to_ns(seconds: f64) -> u64 {
    (seconds * 1e9).round() as u64
}
