//! How [`LoadTestRunner::run`] carries a run out, step by step: plan the cores and check the
//! targets, spawn each scenario's workers and its lane of the timing loop, start the timing
//! loop and the resource sampler, collect on the timing loop's core, and finish the result
//! (clock, shard, resources, saturation, the last notification).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};

use super::exporter::Exporter;
use super::log_writer::LogWriter;
use super::net_worker::{NetWorker, Wake};
use super::notify::{self, Notifier};
use super::pin::{self, CorePlan};
use super::precise::{self, PreciseRun};
use super::sleeper::Sleeper;
use super::stop::RunStop;
use super::supervise::{ScenarioRun, Supervisor};
use super::timer::{Lane, TimerOutcome, TimingLoop, handoff_lead_ns};
use super::watch::Outlets;
use super::window::SpinWindow;
use super::worker::{Source, Worker};
use super::{LoadTestRunner, NET_BATCH_NS, queue_capacity, seconds_to_ns, verdict_message, watch};
use crate::base::clock::{RunClock, clock_info, unix_now};
use crate::base::host::{Confined, allowed_cores, hostname};
use crate::base::host_check::{self, HostTree, MeasuringCores, Steal};
use crate::base::sys::{self, MemoryLock, REALTIME_PRIORITY};
use crate::base::{Model, Timestamps, WaitMode, tstamp};
use crate::config::LoadTestConfig;
use crate::error::{ConfigError, Error, Origin};
use crate::metrics::RunResult;
use crate::metrics::request_log::{Entry, Header, HeaderScenario, LogTap};
use crate::metrics::sample::{SampleSpec, TARGET as SAMPLE_TARGET};
use crate::metrics::saturation;
use crate::metrics::stats::{IntervalCursor, TimerStats, WorkerStats};
use crate::monitor::{MonitorConfig, ResourceMonitor};
use crate::schedule::{RateProfile, Schedule};
use crate::shard::ShardInfo;
use crate::targets::net::h2::H2Pool;
use crate::targets::net::probe::{Agreed, Probe};
use crate::targets::net::template::Vars;
use crate::targets::net::{Driver, Peer, Pool, PoolConfig};
use crate::targets::{NetPlan, Request, TargetContext};

/// What every thread of a run is started with.
pub(super) struct Spawn<'a> {
    pub clock: RunClock,
    pub stop: &'a Arc<RunStop>,
    pub warnings: &'a Arc<Mutex<Vec<String>>>,
    pub plan: &'a CorePlan,
    /// Workers per scenario.
    pub counts: &'a [usize],
    /// With `--log-requests`: every worker's end of the log, for the writer to drain.
    pub log_taps: Option<&'a Mutex<Vec<Receiver<Entry>>>>,
}

/// A scenario's instants, in ns on the run clock.
#[derive(Clone, Copy)]
struct Window {
    warmup_ns: u64,
    end_ns: u64,
    interval_ns: u64,
    timeout_ns: u64,
}

impl Window {
    fn of(config: &LoadTestConfig) -> Window {
        let warmup_ns = seconds_to_ns(config.warmup_seconds);
        Window {
            warmup_ns,
            end_ns: warmup_ns + seconds_to_ns(config.duration_seconds),
            interval_ns: seconds_to_ns(config.metrics_collection_interval),
            timeout_ns: seconds_to_ns(config.request_timeout_seconds),
        }
    }
}

/// The scenario a worker serves: its index in the run, its config and its seed.
#[derive(Clone, Copy)]
struct Place<'a> {
    index: usize,
    config: &'a LoadTestConfig,
    seed: u64,
    /// Which requests the workers keep in send order.
    sample: SampleSpec,
}

/// What a worker of either kind is built from.
struct WorkerParts {
    clock: RunClock,
    stats: Arc<WorkerStats>,
    source: Source,
    window: Window,
    stop: Arc<RunStop>,
    shares_core: bool,
}

type Body = Box<dyn FnOnce() + Send>;

/// A scenario's started workers: their recorders, and the wakers of network workers.
type Started = (Vec<Arc<WorkerStats>>, Vec<Arc<Wake>>);

impl LoadTestRunner {
    /// Checks that `--realtime`, `--busy-poll` and `--timestamps` may be had (the timing thread
    /// and the sockets take them when they start) and takes `--mlock`'s lock, held until the returned
    /// guard drops: each refusal is a config error naming its flag and what would permit it.
    /// Warnings (the poll cannot busy-poll on this kernel) go into `warnings`.
    pub(super) fn privileges(
        &self,
        warnings: &mut Vec<String>,
    ) -> Result<Option<MemoryLock>, Error> {
        if self.run.run.realtime {
            sys::may_realtime(REALTIME_PRIORITY).map_err(|e| {
                let needs = format!(
                    "SCHED_FIFO needs CAP_SYS_NICE (root) or `ulimit -r {REALTIME_PRIORITY}`, \
                     and a container may forbid it altogether"
                );
                refused(("realtime", "realtime"), "true", e, &needs)
            })?;
        }
        let busy_poll_us = self.run.scenarios.iter().map(|s| s.busy_poll_us).max();
        if let Some(usecs) = busy_poll_us.filter(|&us| us > 0) {
            sys::may_busy_poll(usecs).map_err(|e| {
                let needs = "this kernel wants CAP_NET_ADMIN (root) to raise SO_BUSY_POLL above \
                             net.core.busy_read";
                refused(("busy-poll", "busy_poll_us"), &usecs.to_string(), e, needs)
            })?;
            let poll = mio::Poll::new().map_err(|e| Error::run("opening a poll", e))?;
            if let Err(e) = sys::set_epoll_busy_poll(std::os::fd::AsRawFd::as_raw_fd(&poll), usecs)
            {
                warnings.push(format!(
                    "--busy-poll: the sockets busy-poll, but the workers' epoll cannot ({e}; it \
                     needs Linux 6.9 or later)"
                ));
            }
        }
        let stamps = self
            .run
            .scenarios
            .iter()
            .any(|s| s.timestamps == Timestamps::Kernel);
        if stamps {
            tstamp::may_stamp().map_err(|e| {
                let needs = "SO_TIMESTAMPING with software stamps (Linux 3.17 or later)";
                refused(("timestamps", "timestamps"), "kernel", e, needs)
            })?;
        }
        if !self.run.run.mlock {
            return Ok(None);
        }
        MemoryLock::lock().map(Some).map_err(|e| {
            let needs = "mlockall needs CAP_IPC_LOCK (root) or `ulimit -l unlimited`";
            refused(("mlock", "mlock"), "true", e, needs)
        })
    }

    /// Checks the shard plan, confines a co-located shard to its cores, plans the cores and
    /// checks that every built-in target can be reached.
    pub(super) fn plan(&mut self) -> Result<(Option<Confined>, CorePlan), Error> {
        self.run.check_sharding(&self.cluster)?;
        let (confined, placement) = self.confine_colocated();
        let mut plan = pin::plan(&self.run, allowed_cores(), pin::can_pin)?;
        plan.warnings.extend(placement);
        for index in 0..self.run.scenarios.len() {
            if self.targets[index].is_some() {
                continue;
            }
            let config = &self.run.scenarios[index];
            let what = format!(
                "reaching the target {} of \"{}\"",
                config.target, config.name
            );
            let stopped = || self.stop.requests() > 0;
            let agreed = config
                .target
                .preflight(&stopped)
                .map_err(|probe| match probe {
                    Probe::Interrupted => Error::Interrupted(format!("while {what}")),
                    Probe::Failed(why) => Error::run(what, why),
                })?;
            if let Agreed::Http11(why) = agreed {
                let config = &mut self.run.scenarios[index];
                plan.warnings.push(format!(
                    "\"{}\": {why}: this run speaks HTTP/1.1 to it",
                    config.name
                ));
                config.target.fall_back_to_http1();
            }
        }
        Ok((confined, plan))
    }

    /// Starts scenario `index`'s workers (their handles go to `handles`) and returns its lane
    /// of the timing loop (open model only) and what the collector needs of it.
    pub(super) fn spawn_scenario(
        &self,
        index: usize,
        config: &LoadTestConfig,
        spawn: &Spawn<'_>,
        handles: &mut Vec<JoinHandle<()>>,
    ) -> Result<(Option<Lane>, ScenarioRun), Error> {
        let original = config;
        let config = &*precise::planned(original);
        let end_limit = Arc::new(AtomicU64::new(u64::MAX));
        let net = match &self.targets[index] {
            None => config.target.network(),
            Some(_) => None,
        };
        let window = Window::of(config);
        let profile = config.rate_profile().with_warmup(config.warmup_seconds);
        let batch_ns = match (&net, self.run.wait()) {
            (Some(_), WaitMode::Hybrid | WaitMode::Sleep) => NET_BATCH_NS,
            _ => 0,
        };
        let lead_ns = handoff_lead_ns(self.run.wait(), net.is_some());
        let (tx, rx) = bounded(queue_capacity(profile.peak_rps(), lead_ns, batch_ns));
        let seed = config.seed.unwrap_or_else(|| fresh_seed(index));
        let share = match (config.model, self.cluster.shard) {
            (Model::Open, Some(shard)) => 1.0 / f64::from(shard.count),
            _ => 1.0,
        };
        let sample = sample_spec(config, &profile, share);
        let (stats, wakes) = self.spawn_workers(
            Place {
                index,
                config,
                seed,
                sample,
            },
            spawn,
            net.as_ref(),
            &rx,
            handles,
        )?;
        let timer_stats = Arc::new(TimerStats::new());
        let lane = (config.model == Model::Open).then(|| {
            let mut schedule = Schedule::new(profile, config.arrival, seed);
            if let Some(shard) = self.cluster.shard {
                schedule = schedule.sharded(u64::from(shard.index), u64::from(shard.count));
            }
            Lane::new(
                schedule,
                tx,
                timer_stats.clone(),
                window.warmup_ns,
                window.interval_ns,
                window.timeout_ns,
                config.max_backlog,
            )
            .with_lead(lead_ns)
            .with_network(wakes, batch_ns)
            .with_end(end_limit.clone())
        });
        let scenario = ScenarioRun {
            config: config.clone(),
            target_name: self.target_names[index]
                .clone()
                .unwrap_or_else(|| config.target.to_string()),
            seed,
            warmup_ns: window.warmup_ns,
            end_ns: window.end_ns,
            workers: stats,
            worker_cores: spawn.plan.workers[index].clone(),
            timer_stats,
            share,
            sample_every: sample.every(),
            precise: PreciseRun::of(original, window.warmup_ns, end_limit),
            net_lead_ns: (net.is_some()
                && config.model == Model::Open
                && self.run.wait() != WaitMode::Spin)
                .then_some(lead_ns),
        };
        Ok((lane, scenario))
    }

    /// Starts scenario `index`'s workers, network workers when `net` says how to reach the
    /// target; returns their recorders and (network) the wakers the timing loop hands over
    /// with.
    fn spawn_workers(
        &self,
        place: Place<'_>,
        spawn: &Spawn<'_>,
        net: Option<&NetPlan>,
        rx: &Receiver<Request>,
        handles: &mut Vec<JoinHandle<()>>,
    ) -> Result<Started, Error> {
        let Place { index, config, .. } = place;
        let window = Window::of(config);
        let count = config.worker_count();
        let connections = config.connections().unwrap_or(count);
        let addr = match net {
            Some(plan) => Some(Peer::resolve(&plan.authority).map_err(|why| {
                Error::run(format!("resolving the target of \"{}\"", config.name), why)
            })?),
            None => None,
        };
        if net.is_some() {
            raise_fd_limit(connections, spawn.warnings);
        }
        let mut stats = Vec::with_capacity(count);
        let mut wakes = Vec::new();
        let names = config.target.request_names().len();
        for i in 0..count {
            let tap = spawn.log_taps.map(|taps| {
                let (tap, rx) = LogTap::new(index as u16, i as u16);
                if let Ok(mut taps) = taps.lock() {
                    taps.push(rx);
                }
                tap
            });
            let recorder = WorkerStats::with_sample(place.sample)
                .with_names(names)
                .with_log(tap)
                .with_timestamps(config.timestamps == Timestamps::Kernel);
            let parts = WorkerParts {
                clock: spawn.clock,
                stats: Arc::new(recorder),
                source: match config.model {
                    Model::Open => Source::Open {
                        rx: rx.clone(),
                        wait: self.run.wait(),
                    },
                    Model::Closed => Source::Closed {
                        next_seq: i as u64,
                        stride: count as u64,
                        end_ns: window.end_ns,
                    },
                },
                window,
                stop: spawn.stop.clone(),
                shares_core: spawn.plan.worker_shares_core(index, i, spawn.counts),
            };
            stats.push(parts.stats.clone());
            let body = match (net, &addr) {
                (Some(plan), Some(peer)) => {
                    let share = connections / count + usize::from(i < connections % count);
                    let run = Vars {
                        seq: 0,
                        seed: place.seed,
                        shard: self.cluster.shard.map_or(0, |s| s.index),
                    };
                    let (body, wake) = net_worker(parts, plan, (peer.clone(), share, run), config)?;
                    wakes.push(wake);
                    body
                }
                _ => self.call_worker(parts, place, i, count)?,
            };
            let name = format!("openpace-w{index}.{i}");
            let core = spawn.plan.worker_core(index, i);
            let what = "starting a worker thread";
            handles.push(start_pinned(name, core, spawn.warnings, body, what)?);
        }
        Ok((stats, wakes))
    }

    /// An in-process worker: builds its target (a panicking factory fails the run).
    fn call_worker(
        &self,
        parts: WorkerParts,
        place: Place<'_>,
        i: usize,
        count: usize,
    ) -> Result<Body, Error> {
        let Place {
            index,
            config,
            seed,
            ..
        } = place;
        let factory = self.targets[index]
            .clone()
            .unwrap_or_else(|| config.target.factory());
        let ctx = TargetContext {
            scenario: index,
            worker: i,
            workers: count,
            clock: parts.clock,
            request_timeout: Duration::from_secs_f64(config.request_timeout_seconds),
            seed,
        };
        let target = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory(&ctx)))
            .map_err(|_| {
                Error::run(
                    format!("building the target of scenario \"{}\"", config.name),
                    "the target's factory panicked",
                )
            })?;
        let worker = Worker {
            clock: parts.clock,
            stats: parts.stats,
            target,
            source: parts.source,
            warmup_ns: parts.window.warmup_ns,
            cursor: IntervalCursor::new(parts.window.warmup_ns, parts.window.interval_ns),
            timeout_ns: parts.window.timeout_ns,
            max_retries: config.max_retries,
            stop: parts.stop,
            shares_core: parts.shares_core,
        };
        Ok(Box::new(move || worker.run()))
    }

    /// Starts the timing loop on its core; its outcome arrives on the returned channel.
    pub(super) fn start_timing_loop(
        &self,
        spawn: &Spawn<'_>,
        lanes: Vec<Lane>,
    ) -> Result<Receiver<TimerOutcome>, Error> {
        let sleeper =
            Sleeper::new(spawn.stop).map_err(|e| Error::run("setting up the timing loop", e))?;
        let drain_ns = self
            .run
            .scenarios
            .iter()
            .map(|s| seconds_to_ns(s.request_timeout_seconds))
            .max()
            .unwrap_or(0);
        let timing = TimingLoop::new(
            spawn.clock,
            self.run.wait(),
            lanes,
            sleeper,
            spawn.stop.clone(),
            drain_ns,
        );
        let (done_tx, done_rx) = bounded(1);
        let realtime = self.run.run.realtime;
        let warnings = spawn.warnings.clone();
        let body: Body = Box::new(move || {
            // Checked by `privileges` before the run: a refusal now is the unexpected kind.
            let realtime = realtime
                && sys::realtime_fifo(REALTIME_PRIORITY)
                    .map_err(|e| {
                        if let Ok(mut w) = warnings.lock() {
                            w.push(format!("--realtime: SCHED_FIFO refused ({e}); ran without"));
                        }
                    })
                    .is_ok();
            let mut outcome = timing.run();
            outcome.realtime = realtime;
            let _ = done_tx.send(outcome);
        });
        let name = "openpace-timer".to_string();
        start_pinned(
            name,
            spawn.plan.timer,
            spawn.warnings,
            body,
            "starting the timing thread",
        )?;
        Ok(done_rx)
    }

    /// Opens `--log-requests`'s file before anything starts (a path that takes no file stops
    /// the run unstarted, exit 3).
    pub(super) fn open_log(&self) -> Result<Option<(std::path::PathBuf, std::fs::File)>, Error> {
        let Some(path) = &self.run.run.log_requests else {
            return Ok(None);
        };
        match std::fs::File::create(path) {
            Ok(file) => Ok(Some((path.clone(), file))),
            Err(e) => Err(Error::run(
                format!("opening --log-requests {}", path.display()),
                e,
            )),
        }
    }

    /// Starts the request log's writer on `file` (if the run keeps a log), draining the
    /// workers' `taps`.
    pub(super) fn start_log(
        &self,
        file: Option<(std::path::PathBuf, std::fs::File)>,
        start: &Start,
        taps: &Mutex<Vec<Receiver<Entry>>>,
    ) -> Result<Option<LogWriter>, Error> {
        let Some((path, file)) = file else {
            return Ok(None);
        };
        let taps = taps
            .lock()
            .map(|mut taps| std::mem::take(&mut *taps))
            .unwrap_or_default();
        let header = Header {
            origin_unix_s: start.origin_unix_s,
            scenarios: self
                .run
                .scenarios
                .iter()
                .map(|s| HeaderScenario {
                    name: s.name.clone(),
                    names: s.target.request_names(),
                })
                .collect(),
        };
        LogWriter::start(&path, file, header, taps)
            .map(Some)
            .map_err(|e| Error::run("starting the request log's thread", e))
    }

    /// Starts the resource sampler (a failure to start is a warning: no resource series).
    pub(super) fn start_monitor(&self, spawn: &Spawn<'_>) -> ResourceMonitor {
        let first = &self.run.scenarios[0];
        let mut monitor = ResourceMonitor::new(
            MonitorConfig {
                cpu: self.run.scenarios.iter().any(|s| s.monitor_cpu),
                memory: self.run.scenarios.iter().any(|s| s.monitor_memory),
                network: self.run.scenarios.iter().any(|s| s.monitor_network),
                target_pid: self.run.run.monitor_pid,
                // The shortest interval of any scenario, so that each scenario's rows have
                // samples of their own (saturation::assess matches them by time).
                interval_ns: self
                    .run
                    .scenarios
                    .iter()
                    .map(|s| seconds_to_ns(s.metrics_collection_interval))
                    .min()
                    .unwrap_or(1_000_000_000),
                start_ns: seconds_to_ns(first.warmup_seconds),
            },
            spawn.clock,
            spawn.plan.timer,
        );
        if let Err(e) = monitor.start_monitoring() {
            if let Ok(mut w) = spawn.warnings.lock() {
                w.push(format!(
                    "the resource sampler did not start ({e}): no resource series"
                ));
            }
        }
        monitor
    }

    /// Starts the notify command, then collects on the timing loop's core until the run is
    /// over.
    pub(super) fn collect(
        &self,
        spawn: &Spawn<'_>,
        scenarios: Vec<ScenarioRun>,
        timer_done: Receiver<TimerOutcome>,
        exporter: Option<Exporter>,
    ) -> Result<(RunResult, Outlets), Error> {
        let notifier = match &self.run.run.notify_cmd {
            Some(command) => match Notifier::start(command.clone()) {
                Ok(n) => Some(n),
                Err(e) => return Err(Error::run("starting the notify command's thread", e)),
            },
            None => None,
        };
        let stop = spawn.stop.clone();
        let outlets = Outlets { notifier, exporter };
        let watch = watch::Watch::new(&self.run.scenarios, self.progress, stop.clone(), outlets);
        let timer_core = spawn.plan.timer;
        let supervisor = Supervisor {
            clock: spawn.clock,
            stop,
            wait: self.run.wait(),
            timer_core,
            allowed_cores: spawn.plan.allowed.len(),
            warnings: spawn.warnings.clone(),
        };
        // The collector shares the timing loop's core: its brief runs once per interval then
        // delay a hand-off, which the lead absorbs, instead of a worker's call.
        let warnings = spawn.warnings.clone();
        std::thread::Builder::new()
            .name("openpace-collector".to_string())
            .spawn(move || {
                pin_or_warn(timer_core, &warnings);
                supervisor.collect(scenarios, timer_done, watch)
            })
            .map_err(|e| Error::run("starting the collector thread", e))?
            .join()
            .map_err(|_| Error::run("collecting results", "the collector panicked"))
    }

    /// Completes the collected result: origin, clock, shard, resources and what they say
    /// about saturation, the last notification; joins the workers that finished.
    pub(super) fn finish(
        &self,
        mut result: RunResult,
        start: &Start,
        mut monitor: ResourceMonitor,
        outlets: Outlets,
        handles: Vec<JoinHandle<()>>,
    ) -> RunResult {
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
        check_host(&mut result);
        let samples = std::mem::take(&mut result.resources.monitor.samples);
        saturation::assess(&mut result, &samples);
        result.resources.monitor.samples = samples;
        if let Some(mut exporter) = outlets.exporter {
            exporter.finish(&result.scenarios, || self.stop.requests() > 0);
        }
        if let Some(mut notifier) = outlets.notifier {
            notifier.send(verdict_message(&result));
            let problems = notifier.finish(notify::END_GRACE);
            result.warnings.extend(problems);
        }
        // Workers that finished are joined; any still stuck in a call are left behind.
        for handle in handles.into_iter().filter(|h| h.is_finished()) {
            let _ = handle.join();
        }
        result
    }
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
    pub(super) fn start(&self, setup: Duration) -> Result<Start, Error> {
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

/// A network worker: its own pool of `share` connections on its own poll, and the waker the
/// timing loop uses to hand it requests.
fn net_worker(
    parts: WorkerParts,
    plan: &NetPlan,
    (peer, share, run): (Peer, usize, Vars),
    config: &LoadTestConfig,
) -> Result<(Body, Arc<Wake>), Error> {
    let pool_config = PoolConfig {
        peer,
        connections: share,
        open_all: config.opens_all_connections(),
        connect_timeout_ns: plan.connect_timeout.as_nanos() as u64,
        max_response_bytes: plan.max_response_bytes,
        request_timeout_ns: parts.window.timeout_ns,
        max_retries: config.max_retries,
        seed: run.seed,
        shard: run.shard,
        busy_poll_us: config.busy_poll_us,
        timestamps: config.timestamps == Timestamps::Kernel,
    };
    let setup = |e| Error::run("setting up a network worker's poll", e);
    let pool: Box<dyn Driver> = match &plan.http2 {
        // A closed model's caller is a connection: one request of its own at a time.
        Some(h2) => Box::new(
            H2Pool::new(
                pool_config,
                streams_of(config, h2),
                h2.exchange.clone(),
                parts.clock,
            )
            .map_err(setup)?
            .with_tls(plan.tls.clone()),
        ),
        None => Box::new(
            Pool::new(pool_config, &plan.exchange, parts.clock)
                .map_err(setup)?
                .with_tls(plan.tls.clone()),
        ),
    };
    let wake = Wake::new(pool.waker().map_err(setup)?);
    let worker = NetWorker {
        clock: parts.clock,
        stats: parts.stats,
        pool,
        source: parts.source,
        warmup_ns: parts.window.warmup_ns,
        cursor: IntervalCursor::new(parts.window.warmup_ns, parts.window.interval_ns),
        timeout_ns: parts.window.timeout_ns,
        stop: parts.stop,
        wake: wake.clone(),
        shares_core: parts.shares_core,
        busy_from_ns: 0,
        window: SpinWindow::new(),
    };
    Ok((Box::new(move || worker.run()), wake))
}

/// Starts thread `name`, pinned to `core` (a warning if it cannot be), running `body`.
fn start_pinned(
    name: String,
    core: Option<usize>,
    warnings: &Arc<Mutex<Vec<String>>>,
    body: Body,
    what: &str,
) -> Result<JoinHandle<()>, Error> {
    let warnings = warnings.clone();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            pin_or_warn(core, &warnings);
            body();
        })
        .map_err(|e| Error::run(what, e))
}

/// When a run's clock starts, as [`LoadTestRunner::start`] decided it.
pub(super) struct Start {
    /// From now until the clock's origin.
    pub delay: Duration,
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

/// Raises the soft limit on open files to fit `connections` sockets (and some to spare), up
/// Which requests a scenario's workers keep in send order: sized by the requests its
/// schedule plans (this shard's `share` of them); the closed model has no schedule, so its
/// sample is its first requests.
fn sample_spec(config: &LoadTestConfig, profile: &RateProfile, share: f64) -> SampleSpec {
    let planned = match config.model {
        Model::Open => (profile.total() * share) as u64,
        Model::Closed => SAMPLE_TARGET,
    };
    SampleSpec::for_schedule(planned, config.worker_count())
}

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

/// Runs the host check on the run's cores: its line goes into the report, and the failed
/// checks that matter for this run's figures (judged by its fastest scenario's response p50)
/// into `host.unfit`, which flags every interval.
fn check_host(result: &mut RunResult) {
    let mut workers: Vec<usize> = result
        .scenarios
        .iter()
        .flat_map(|s| s.worker_cores.iter().copied())
        .collect();
    workers.sort_unstable();
    workers.dedup();
    let cores = MeasuringCores {
        timer: result.timer_core,
        workers,
    };
    let tree = HostTree::real();
    let checks = host_check::check(&tree, &cores, Steal::SinceBoot);
    result.host.check = Some(host_check::summary(&checks));
    let p50_us = result
        .scenarios
        .iter()
        .filter(|s| s.response_time_ms.count > 0)
        .map(|s| s.response_time_ms.at(0.5) * 1e3)
        .fold(f64::INFINITY, f64::min);
    result.host.unfit = host_check::matters_for_run(&tree, &cores, p50_us);
}

/// A privilege the kernel refused to `--FLAG` (config field `field`, set to `value`): a
/// config error saying why and what would permit it.
/// The streams an HTTP/2 connection of scenario `config` carries: `streams`, or 1 in the
/// closed model, where each connection is one caller.
fn streams_of(config: &LoadTestConfig, h2: &crate::targets::H2Plan) -> usize {
    match config.model {
        Model::Closed => 1,
        Model::Open => h2.streams,
    }
}

fn refused((flag, field): (&str, &str), value: &str, why: std::io::Error, needs: &str) -> Error {
    ConfigError::invalid(
        &Origin::Flag(format!("--{flag}")),
        field,
        value,
        format!("not here: the kernel refused ({why}); {needs}"),
    )
    .into()
}
