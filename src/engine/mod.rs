//! The engine: one pinned timing loop, a fixed pool of pinned workers, and the collector.
//!
//! [`LoadTestRunner::run`] plans cores, builds one target per worker, starts the worker
//! threads, the timing thread and the collector thread (`supervise.rs`, on the timing loop's
//! core), and waits until every request has ended or been given up on. Data flows one way:
//! schedule -> timing loop ([`timer`]) -> crossbeam channel -> worker ([`worker`]) ->
//! per-worker recorders -> collector -> [`RunResult`]. A network scenario's workers are
//! network workers ([`net_worker`]): each drives a pool of connections on its own poll. The engine never formats or prints
//! anything on the hot path; warnings are gathered into the result.

mod net_worker;
mod notify;
mod pin;
pub(crate) mod sleeper;
pub mod stop;
mod supervise;
mod timer;
mod watch;
pub mod wheel;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use crossbeam_channel::bounded;

pub use crate::base::clock;

use crate::base::clock::{RunClock, clock_info, unix_now};
use crate::base::host::{allowed_cores, hostname};
use crate::base::{Model, WaitMode};
use crate::config::shard::ClusterPlan;
use crate::config::{LoadTestConfig, RunConfig};
use crate::error::Error;
use crate::metrics::RunResult;
use crate::metrics::saturation;
use crate::metrics::shard::ShardInfo;
use crate::metrics::stats::{IntervalCursor, TimerStats, WorkerStats};
use crate::monitor::{MonitorConfig, ResourceMonitor};
use crate::schedule::Schedule;
use crate::targets::net::{Pool, PoolConfig, resolve};
use crate::targets::{TargetContext, TargetFactory};
use net_worker::{NetWorker, Wake};
use sleeper::Sleeper;
use stop::{RunStop, StopHandle};
use supervise::{ScenarioRun, Supervisor};
use timer::{Lane, TimingLoop};
use worker::{Source, Worker};

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
fn queue_capacity(peak_rps: f64, wait: WaitMode, batch_ns: u64) -> usize {
    let lead_s = (timer::handoff_lead_ns(wait) + batch_ns) as f64 / 1e9;
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
    pub fn run(self) -> Result<RunResult, Error> {
        self.cluster.check(&self.run)?;
        let (_confined, placement) = self.confine_colocated();
        let mut plan = pin::plan(&self.run, allowed_cores(), pin::can_pin)?;
        plan.warnings.extend(placement);
        for (index, config) in self.run.scenarios.iter().enumerate() {
            if self.targets[index].is_none() {
                config.target.preflight().map_err(|why| {
                    Error::run(
                        format!(
                            "reaching the target {} of \"{}\"",
                            config.target, config.name
                        ),
                        why,
                    )
                })?;
            }
        }
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
        let workers_total: usize = counts.iter().sum();
        let setup = Duration::from_millis(30 + workers_total as u64);
        let start = self.start(setup)?;
        let clock = RunClock::starting_in(start.delay);
        let mut lanes = Vec::new();
        let mut scenarios = Vec::new();
        let mut handles = Vec::new();
        for (index, config) in self.run.scenarios.iter().enumerate() {
            let net = match &self.targets[index] {
                None => config.target.network(),
                Some(_) => None,
            };
            let seed = config.seed.unwrap_or_else(|| fresh_seed(index));
            let warmup_ns = seconds_to_ns(config.warmup_seconds);
            let end_ns = warmup_ns + seconds_to_ns(config.duration_seconds);
            let interval_ns = seconds_to_ns(config.metrics_collection_interval);
            let timeout_ns = seconds_to_ns(config.request_timeout_seconds);
            let timer_stats = Arc::new(TimerStats::new());
            let count = config.worker_count();
            let profile = config.rate_profile().with_warmup(config.warmup_seconds);
            let batch_ns = match (&net, config.wait) {
                (Some(_), WaitMode::Hybrid | WaitMode::Sleep) => NET_BATCH_NS,
                _ => 0,
            };
            let (tx, rx) = bounded(queue_capacity(profile.peak_rps(), config.wait, batch_ns));
            let connections = config.connections().unwrap_or(count);
            let addr = match &net {
                Some(plan) => Some(resolve(&plan.authority).map_err(|why| {
                    Error::run(format!("resolving the target of \"{}\"", config.name), why)
                })?),
                None => None,
            };
            if net.is_some() {
                raise_fd_limit(connections, &warnings);
            }
            let mut stats = Vec::with_capacity(count);
            let mut wakes = Vec::new();
            for i in 0..count {
                let worker_stats = Arc::new(WorkerStats::new());
                stats.push(worker_stats.clone());
                let source = match config.model {
                    Model::Open => Source::Open {
                        rx: rx.clone(),
                        wait: config.wait,
                    },
                    Model::Closed => Source::Closed {
                        next_seq: i as u64,
                        stride: count as u64,
                        end_ns,
                    },
                };
                let cursor = IntervalCursor::new(warmup_ns, interval_ns);
                let shares_core = plan.worker_shares_core(index, i, &counts);
                let body: Box<dyn FnOnce() + Send> = match (&net, addr) {
                    (Some(plan), Some(addr)) => {
                        let share = connections / count + usize::from(i < connections % count);
                        let pool_config = PoolConfig {
                            addr,
                            connections: share,
                            connect_timeout_ns: plan.connect_timeout.as_nanos() as u64,
                            request_timeout_ns: timeout_ns,
                            max_retries: config.max_retries,
                        };
                        let setup = |e| Error::run("setting up a network worker's poll", e);
                        let pool = Pool::new(pool_config, &plan.exchange, clock).map_err(setup)?;
                        let wake = Wake::new(pool.waker().map_err(setup)?);
                        wakes.push(wake.clone());
                        let worker = NetWorker {
                            clock,
                            stats: worker_stats,
                            pool,
                            source,
                            warmup_ns,
                            cursor,
                            timeout_ns,
                            stop: stop.clone(),
                            wake,
                            shares_core,
                            busy_from_ns: 0,
                        };
                        Box::new(move || worker.run())
                    }
                    _ => {
                        let factory = self.targets[index]
                            .clone()
                            .unwrap_or_else(|| config.target.factory());
                        let ctx = TargetContext {
                            scenario: index,
                            worker: i,
                            workers: count,
                            clock,
                            request_timeout: Duration::from_secs_f64(
                                config.request_timeout_seconds,
                            ),
                        };
                        let target = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            factory(&ctx)
                        }))
                        .map_err(|_| {
                            Error::run(
                                format!("building the target of scenario \"{}\"", config.name),
                                "the target's factory panicked",
                            )
                        })?;
                        let worker = Worker {
                            clock,
                            stats: worker_stats,
                            target,
                            source,
                            warmup_ns,
                            cursor,
                            timeout_ns,
                            max_retries: config.max_retries,
                            stop: stop.clone(),
                            shares_core,
                        };
                        Box::new(move || worker.run())
                    }
                };
                let core = plan.worker_core(index, i);
                let warnings = warnings.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("openpace-w{index}.{i}"))
                    .spawn(move || {
                        pin_or_warn(core, &warnings);
                        body();
                    })
                    .map_err(|e| Error::run("starting a worker thread", e))?;
                handles.push(handle);
            }
            if config.model == Model::Open {
                let mut schedule = Schedule::new(profile, config.arrival, seed);
                if let Some(shard) = self.cluster.shard {
                    schedule = schedule.sharded(u64::from(shard.index), u64::from(shard.count));
                }
                lanes.push(
                    Lane::new(
                        schedule,
                        tx,
                        timer_stats.clone(),
                        warmup_ns,
                        interval_ns,
                        timeout_ns,
                        config.max_backlog,
                    )
                    .with_network(wakes, batch_ns),
                );
            }
            scenarios.push(ScenarioRun {
                config: config.clone(),
                target_name: self.target_names[index]
                    .clone()
                    .unwrap_or_else(|| config.target.to_string()),
                seed,
                warmup_ns,
                end_ns,
                workers: stats,
                worker_cores: plan.workers[index].clone(),
                timer_stats,
                share: match (config.model, self.cluster.shard) {
                    (Model::Open, Some(shard)) => 1.0 / f64::from(shard.count),
                    _ => 1.0,
                },
            });
        }
        let sleeper =
            Sleeper::new(&stop).map_err(|e| Error::run("setting up the timing loop", e))?;
        let drain_ns = self
            .run
            .scenarios
            .iter()
            .map(|s| seconds_to_ns(s.request_timeout_seconds))
            .max()
            .unwrap_or(0);
        let timing = TimingLoop::new(
            clock,
            self.run.wait(),
            lanes,
            sleeper,
            stop.clone(),
            drain_ns,
        );
        let (done_tx, done_rx) = bounded(1);
        let timer_core = plan.timer;
        let timer_warnings = warnings.clone();
        std::thread::Builder::new()
            .name("openpace-timer".to_string())
            .spawn(move || {
                pin_or_warn(timer_core, &timer_warnings);
                let _ = done_tx.send(timing.run());
            })
            .map_err(|e| Error::run("starting the timing thread", e))?;
        let first = &self.run.scenarios[0];
        let mut monitor = ResourceMonitor::new(
            MonitorConfig {
                cpu: self.run.scenarios.iter().any(|s| s.monitor_cpu),
                memory: self.run.scenarios.iter().any(|s| s.monitor_memory),
                network: self.run.scenarios.iter().any(|s| s.monitor_network),
                target_pid: first.monitor_pid,
                interval_ns: seconds_to_ns(first.metrics_collection_interval),
                start_ns: seconds_to_ns(first.warmup_seconds),
            },
            clock,
            timer_core,
        );
        if let Err(e) = monitor.start_monitoring() {
            if let Ok(mut w) = warnings.lock() {
                w.push(format!(
                    "the resource sampler did not start ({e}): no resource series"
                ));
            }
        }
        let notifier = match &first.notify_cmd {
            Some(command) => match notify::Notifier::start(command.clone()) {
                Ok(n) => Some(n),
                Err(e) => return Err(Error::run("starting the notify command's thread", e)),
            },
            None => None,
        };
        let watch = watch::Watch::new(&self.run.scenarios, self.progress, stop.clone(), notifier);
        let supervisor = Supervisor {
            clock,
            stop,
            wait: self.run.wait(),
            timer_core,
            allowed_cores: plan.allowed.len(),
            warnings: warnings.clone(),
        };
        // The collector shares the timing loop's core: its brief runs once per interval then
        // delay a hand-off, which the lead absorbs, instead of a worker's call.
        let collector_warnings = warnings.clone();
        let result = std::thread::Builder::new()
            .name("openpace-collector".to_string())
            .spawn(move || {
                pin_or_warn(timer_core, &collector_warnings);
                supervisor.collect(scenarios, done_rx, watch)
            })
            .map_err(|e| Error::run("starting the collector thread", e))?
            .join()
            .map_err(|_| Error::run("collecting results", "the collector panicked"))?;
        let (mut result, notifier) = result;
        result.origin_unix_s = start.origin_unix_s;
        result.clock = clock_info();
        result.shard = self.cluster.shard.map(|shard| ShardInfo {
            index: shard.index,
            count: shard.count,
            launcher: shard.launcher,
            host: hostname(),
            start_at_unix_s: self.cluster.start_at_unix_s,
            start_offset_ms: start.offset_ms,
        });
        if start.offset_ms > 0.0 {
            result.warnings.push(format!(
                "started {:.1} ms after --start-at (tolerance {} s): this shard's instants are \
                 that much later than its peers'",
                start.offset_ms, self.cluster.start_tolerance_s
            ));
        }
        result.resources.monitor = monitor.stop_monitoring();
        let samples = std::mem::take(&mut result.resources.monitor.samples);
        saturation::assess(&mut result, &samples);
        result.resources.monitor.samples = samples;
        if let Some(mut notifier) = notifier {
            notifier.send(verdict_message(&result));
            let problems = notifier.finish(notify::END_GRACE);
            result.warnings.extend(problems);
        }
        // Workers that finished are joined; any still stuck in a call are left behind.
        for handle in handles.into_iter().filter(|h| h.is_finished()) {
            let _ = handle.join();
        }
        Ok(result)
    }
}

impl LoadTestRunner {
    /// For a shard that shares its host with other shards of its launcher: confines this
    /// thread, and so every thread of the run, to the shard's own slice of the cores it may
    /// use (restored when the guard drops), and says so. Without this, every shard would pin
    /// its timing loop to the same first core. Cores named in the config are left as named.
    fn confine_colocated(&self) -> (Option<crate::base::host::Confined>, Option<String>) {
        let Some(c) = self.cluster.colocated else {
            return (None, None);
        };
        let allowed = allowed_cores();
        let names_cores = self.run.timer_core().is_some()
            || self.run.scenarios.iter().any(|s| s.worker_cores.is_some());
        let whose = format!(
            "{} shards on this host (local rank {} by {})",
            c.size, c.rank, c.source
        );
        if names_cores {
            let note = format!(
                "{whose}: the config names cores, so every shard on this host uses the same \
                 ones; give each its own or let openpace split them"
            );
            return (None, Some(note));
        }
        let Some(slice) = c.slice(&allowed) else {
            return (None, None);
        };
        match crate::base::host::Confined::to(&slice) {
            Some(guard) => {
                let note = format!(
                    "{whose}: this shard runs on core(s) {} of the {} it may use",
                    pin::list(&slice),
                    allowed.len()
                );
                (Some(guard), Some(note))
            }
            None => (
                None,
                Some(format!(
                    "{whose}: could not confine this shard to its cores"
                )),
            ),
        }
    }

    /// Decides the clock's origin: `setup` from now, or the plan's `start_at` when that is
    /// later. Waits (interruptibly) until `start_at` is near, so that threads are started only
    /// just before it; refuses when `start_at` has passed by more than the tolerance, since a
    /// shifted schedule would misalign the merged campaign without anyone noticing.
    fn start(&self, setup: Duration) -> Result<Start, Error> {
        let setup_s = setup.as_secs_f64();
        let Some(at) = self.cluster.start_at_unix_s else {
            return Ok(Start::after(setup, 0.0));
        };
        // Threads are started within `setup`; wake a little before that to leave them room.
        let wake_at = at - setup_s - 0.05;
        loop {
            let left = wake_at - unix_now();
            if left <= 0.0 || self.stop.requests() > 0 {
                break;
            }
            std::thread::sleep(Duration::from_secs_f64(left.min(0.05)));
        }
        let now = unix_now();
        if self.stop.requests() > 0 {
            // Stopped while waiting: start at once, so that nothing waits for the instant.
            return Ok(Start::after(setup, 0.0));
        }
        if at - now >= setup_s {
            return Ok(Start {
                delay: Duration::from_secs_f64(at - now),
                origin_unix_s: at,
                offset_ms: 0.0,
            });
        }
        let late_s = now + setup_s - at;
        if late_s > self.cluster.start_tolerance_s {
            return Err(Error::run(
                format!("starting at --start-at {at:.3}"),
                format!(
                    "that instant passed {late_s:.3} s before this shard could start, more than \
                     the tolerance of {} s; running now would shift this shard's schedule \
                     against its peers'. Give a later --start-at (e.g. now+30s for every shard) \
                     or a larger --start-tolerance",
                    self.cluster.start_tolerance_s
                ),
            ));
        }
        Ok(Start::after(setup, late_s * 1e3))
    }
}

/// When a run's clock starts, as [`LoadTestRunner::start`] decided it.
struct Start {
    /// From now until the clock's origin.
    delay: Duration,
    /// The origin in Unix seconds.
    origin_unix_s: f64,
    /// How far after the asked-for `start_at` the origin falls, in ms (0 without one).
    offset_ms: f64,
}

impl Start {
    /// An origin `setup` from now.
    fn after(setup: Duration, offset_ms: f64) -> Start {
        Start {
            delay: setup,
            origin_unix_s: unix_now() + setup.as_secs_f64(),
            offset_ms,
        }
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

/// Prints the first panic of a target per run and keeps the rest quiet: they are counted as
/// errors of kind `panic`, and printing each would put formatting on the hot path.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_worker = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("openpace-w"));
            if !in_worker {
                return previous(info);
            }
            if WORKER_PANICS.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!(
                    "openpace: a target panicked; every panic counts as an error of kind \
                     `panic` and only this first one is printed:"
                );
                previous(info);
            }
        }));
    });
}

/// Raises the soft limit on open files to fit `connections` sockets (and some to spare), up
/// to the hard limit; warns when even that is too low.
fn raise_fd_limit(connections: usize, warnings: &Mutex<Vec<String>>) {
    let needed = connections as u64 + 256;
    if let Some(hard) = crate::base::sys::raise_open_files(needed) {
        if let Ok(mut w) = warnings.lock() {
            w.push(format!(
                "{connections} connections need about {needed} open files but the hard limit \
                 (ulimit -Hn) is {hard}: connections past it fail with kind `io`"
            ));
        }
    }
}

fn pin_or_warn(core: Option<usize>, warnings: &Mutex<Vec<String>>) {
    if let Some(core) = core {
        if !pin::pin_current(core) {
            let name = std::thread::current().name().unwrap_or("?").to_string();
            if let Ok(mut w) = warnings.lock() {
                w.push(format!(
                    "thread {name} could not be pinned to core {core}; it runs unpinned"
                ));
            }
        }
    }
}

fn fresh_seed(index: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Seconds (validated: finite, non-negative, at most 30 days) to nanoseconds.
pub(crate) fn seconds_to_ns(seconds: f64) -> u64 {
    (seconds * 1e9).round() as u64
}
