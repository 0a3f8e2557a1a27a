//! The sampler thread: reads procfs at each interval boundary and turns two readings into a
//! [`ResourceSample`].
//!
//! Readings are cumulative counters (CPU ticks, switches, faults, bytes); a sample is the
//! difference between two readings over the time between them. A file that cannot be read is
//! noted once and its metric left out (`None`) from then on.

use std::collections::{BTreeMap, HashSet};

use super::procfs::{
    CpuTimes, MemInfo, NetCounters, Switches, TaskStat, page_size, parse_loadavg, parse_meminfo,
    parse_net_dev, parse_proc_stat, parse_stat, parse_switches, ticks_per_second,
};
use crate::base::clock::RunClock;
use crate::metrics::resources::{
    CoreSample, HostSample, NetworkSample, ProcessSample, ResourceSample, TargetProcessSample,
    ThreadSample,
};

/// What to sample and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Process, thread and host CPU.
    pub cpu: bool,
    /// Process memory and the host's available memory.
    pub memory: bool,
    /// Network counters.
    pub network: bool,
    /// Another process to watch (`--monitor-pid`).
    pub target_pid: Option<u32>,
    /// Sampling interval, ns.
    pub interval_ns: u64,
    /// Where the intervals start on the run clock (the end of warmup), so that samples line
    /// up with the latency time series.
    pub start_ns: u64,
}

/// Cumulative counters at one instant.
pub(crate) struct Reading {
    /// When it was taken: rates are computed over these.
    at_ns: u64,
    /// The interval boundary it stands for (`at_ns` for readings off the boundaries): the
    /// sample's label, so that samples line up with the latency intervals exactly.
    pub nominal_ns: u64,
    process: Option<TaskStat>,
    switches: Option<Switches>,
    /// tid -> (name, CPU ticks, involuntary switches).
    threads: BTreeMap<u32, (String, u64, u64)>,
    cpu: Option<(CpuTimes, Vec<CpuTimes>)>,
    meminfo: Option<MemInfo>,
    loadavg: Option<[f64; 3]>,
    network: Option<BTreeMap<String, NetCounters>>,
    target: Option<TaskStat>,
}

/// Reads procfs for the sampler thread and remembers what failed.
pub(crate) struct Sampler {
    config: MonitorConfig,
    clock: RunClock,
    ticks: f64,
    page_bytes: u64,
    network_base: Option<BTreeMap<String, NetCounters>>,
    target_alive: bool,
    noted: HashSet<String>,
    /// Notes for the report: unreadable files, a target process that exited.
    pub notes: Vec<String>,
}

impl Sampler {
    pub fn new(config: MonitorConfig, clock: RunClock) -> Sampler {
        Sampler {
            config,
            clock,
            ticks: ticks_per_second(),
            page_bytes: page_size(),
            network_base: None,
            target_alive: config.target_pid.is_some(),
            noted: HashSet::new(),
            notes: Vec::new(),
        }
    }

    /// Reads a procfs file; the first failure for a given metric is noted.
    fn read(&mut self, path: &str, metric: &str) -> Option<String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                if self.noted.insert(metric.to_string()) {
                    self.notes
                        .push(format!("cannot read {path} ({e}): {metric} marked missing"));
                }
                None
            }
        }
    }

    /// Parses what `read` returned, noting text that does not parse.
    fn parse<T>(
        &mut self,
        text: Option<String>,
        metric: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let parsed = f(&text?);
        if parsed.is_none() && self.noted.insert(format!("{metric} (parse)")) {
            self.notes.push(format!(
                "unexpected format while reading {metric}: marked missing"
            ));
        }
        parsed
    }

    /// Takes one reading of every enabled counter.
    pub fn reading(&mut self) -> Reading {
        let c = self.config;
        let at_ns = self.clock.now_ns();
        let stat_text = self.read("/proc/self/stat", "process CPU and faults");
        let process = self.parse(stat_text, "/proc/self/stat", parse_stat);
        let switches = Some(process_switches());
        let threads = if c.cpu {
            self.threads()
        } else {
            BTreeMap::new()
        };
        let cpu = if c.cpu {
            let t = self.read("/proc/stat", "host CPU");
            self.parse(t, "/proc/stat", parse_proc_stat)
        } else {
            None
        };
        let meminfo_text = self.read("/proc/meminfo", "host memory");
        let meminfo = self.parse(meminfo_text, "/proc/meminfo", parse_meminfo);
        let loadavg = if c.cpu {
            let t = self.read("/proc/loadavg", "load average");
            self.parse(t, "/proc/loadavg", parse_loadavg)
        } else {
            None
        };
        let network = if c.network {
            let t = self.read("/proc/net/dev", "network counters");
            self.parse(t, "/proc/net/dev", parse_net_dev)
        } else {
            None
        };
        if self.network_base.is_none() {
            self.network_base = network.clone();
        }
        let target = self.target();
        Reading {
            at_ns,
            nominal_ns: at_ns,
            process,
            switches,
            threads,
            cpu,
            meminfo,
            loadavg,
            network,
            target,
        }
    }

    fn threads(&mut self) -> BTreeMap<u32, (String, u64, u64)> {
        let mut out = BTreeMap::new();
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            if self.noted.insert("threads".into()) {
                self.notes
                    .push("cannot list /proc/self/task: per-thread CPU marked missing".into());
            }
            return out;
        };
        for entry in dir.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            // A thread may end between listing and reading; that is not a failure.
            let base = format!("/proc/self/task/{tid}");
            let stat = std::fs::read_to_string(format!("{base}/stat"))
                .ok()
                .and_then(|t| parse_stat(&t));
            let switches = std::fs::read_to_string(format!("{base}/status"))
                .ok()
                .and_then(|t| parse_switches(&t));
            if let (Some(stat), Some(switches)) = (stat, switches) {
                out.insert(
                    tid,
                    (stat.comm, stat.utime + stat.stime, switches.involuntary),
                );
            }
        }
        out
    }

    fn target(&mut self) -> Option<TaskStat> {
        let pid = self.config.target_pid.filter(|_| self.target_alive)?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|t| parse_stat(&t));
        if stat.is_none() {
            self.target_alive = false;
            let at = self.clock.now_ns() as f64 / 1e9 - self.config.start_ns as f64 / 1e9;
            self.notes.push(format!(
                "target process {pid} exited (or became unreadable) at {at:.2}s; its \
                 sampling ended, the run went on"
            ));
        }
        stat
    }

    /// The sample covering `before` to `after`.
    pub fn sample(&self, before: &Reading, after: &Reading) -> ResourceSample {
        let seconds = (after.at_ns.saturating_sub(before.at_ns) as f64 / 1e9).max(1e-9);
        let c = self.config;
        let pct_of_core = |ticks: u64| 100.0 * ticks as f64 / self.ticks / seconds;
        let delta = |f: fn(&TaskStat) -> u64| -> Option<u64> {
            Some(f(after.process.as_ref()?).saturating_sub(f(before.process.as_ref()?)))
        };
        let memory_total_kb = after.meminfo.map(|m| m.total_kb as f64);
        let rss_mb = after
            .process
            .as_ref()
            .map(|p| (p.rss_pages * self.page_bytes) as f64 / (1024.0 * 1024.0))
            .filter(|_| c.memory);
        let process = ProcessSample {
            cpu_user_pct: delta(|p| p.utime).map(pct_of_core).filter(|_| c.cpu),
            cpu_system_pct: delta(|p| p.stime).map(pct_of_core).filter(|_| c.cpu),
            rss_mb,
            rss_pct: rss_mb
                .zip(memory_total_kb)
                .map(|(rss, total)| 100.0 * rss * 1024.0 / total),
            voluntary_switches: switches_delta(before, after, |s| s.voluntary),
            involuntary_switches: switches_delta(before, after, |s| s.involuntary),
            minor_faults: delta(|p| p.minor_faults).filter(|_| c.memory),
            major_faults: delta(|p| p.major_faults).filter(|_| c.memory),
        };
        let threads = after
            .threads
            .iter()
            .filter_map(|(tid, (name, ticks, invol))| {
                let (_, ticks0, invol0) = before.threads.get(tid)?;
                Some(ThreadSample {
                    name: name.clone(),
                    cpu_pct: pct_of_core(ticks.saturating_sub(*ticks0)),
                    involuntary_switches: invol.saturating_sub(*invol0),
                })
            })
            .collect();
        let host = host_sample(before, after, c.memory);
        let network = self.network_sample(after);
        let target_process = match (&before.target, &after.target, c.target_pid) {
            (Some(a), Some(b), Some(pid)) => Some(TargetProcessSample {
                pid,
                cpu_pct: pct_of_core((b.utime + b.stime).saturating_sub(a.utime + a.stime)),
                rss_mb: (b.rss_pages * self.page_bytes) as f64 / (1024.0 * 1024.0),
                threads: b.num_threads,
            }),
            _ => None,
        };
        let at = |ns: u64| (ns as f64 - c.start_ns as f64) / 1e9;
        ResourceSample {
            start_s: at(before.nominal_ns),
            end_s: at(after.nominal_ns),
            process,
            threads,
            host,
            network,
            target_process,
        }
    }

    /// Bytes and packets per interface since the start of the run.
    fn network_sample(&self, after: &Reading) -> Option<NetworkSample> {
        match (&self.network_base, &after.network) {
            (Some(base), Some(now)) => {
                let interfaces: BTreeMap<String, NetCounters> = now
                    .iter()
                    .map(|(name, counters)| {
                        let start = base.get(name).copied().unwrap_or_default();
                        (name.clone(), counters.since(&start))
                    })
                    .collect();
                let total = interfaces
                    .values()
                    .fold(NetCounters::default(), |sum, c| sum.plus(c));
                Some(NetworkSample { interfaces, total })
            }
            _ => None,
        }
    }
}

/// The host's CPU (all cores, each core), load and memory between two readings.
fn host_sample(before: &Reading, after: &Reading, memory: bool) -> Option<HostSample> {
    match (&before.cpu, &after.cpu) {
        (Some((t0, cores0)), Some((t1, cores1))) => Some(HostSample {
            total: core_sample(t0, t1),
            cores: cores0
                .iter()
                .zip(cores1)
                .map(|(a, b)| core_sample(a, b))
                .collect(),
            load_average: after.loadavg,
            memory_available_mb: after
                .meminfo
                .map(|m| m.available_kb as f64 / 1024.0)
                .filter(|_| memory),
        }),
        _ => None,
    }
}

/// Context switches of the whole process, dead threads included (`/proc/self/status` counts
/// only the main thread's).
fn process_switches() -> Switches {
    let usage = crate::base::sys::self_usage();
    Switches {
        voluntary: usage.voluntary_switches,
        involuntary: usage.involuntary_switches,
    }
}

fn switches_delta(before: &Reading, after: &Reading, f: fn(&Switches) -> u64) -> Option<u64> {
    Some(f(after.switches.as_ref()?).saturating_sub(f(before.switches.as_ref()?)))
}

fn core_sample(before: &CpuTimes, after: &CpuTimes) -> CoreSample {
    let total = after.total().saturating_sub(before.total()).max(1) as f64;
    let pct = |f: fn(&CpuTimes) -> u64| 100.0 * f(after).saturating_sub(f(before)) as f64 / total;
    CoreSample {
        cpu_pct: pct(|t| t.busy()),
        steal_pct: pct(|t| t.steal),
        iowait_pct: pct(|t| t.iowait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU and memory sampled once a second from the origin.
    fn cpu_and_memory() -> MonitorConfig {
        MonitorConfig {
            cpu: true,
            memory: true,
            network: false,
            target_pid: None,
            interval_ns: 1_000_000_000,
            start_ns: 0,
        }
    }

    #[test]
    fn an_unreadable_file_is_noted_once_and_its_metric_is_missing() {
        let config = cpu_and_memory();
        let mut sampler = Sampler::new(config, RunClock::starting_in(std::time::Duration::ZERO));
        assert_eq!(sampler.read("/proc/no/such/file", "the metric"), None);
        assert_eq!(sampler.read("/proc/no/such/file", "the metric"), None);
        assert_eq!(sampler.notes.len(), 1);
        assert!(sampler.notes[0].contains("the metric marked missing"));
        let parsed: Option<u64> = sampler.parse(Some("junk".into()), "junk file", |_| None);
        assert_eq!(parsed, None);
        assert_eq!(sampler.notes.len(), 2);
    }

    #[test]
    fn a_sample_without_readings_has_missing_metrics_not_zeros() {
        let config = cpu_and_memory();
        let sampler = Sampler::new(config, RunClock::starting_in(std::time::Duration::ZERO));
        let empty = || Reading {
            at_ns: 0,
            nominal_ns: 0,
            process: None,
            switches: None,
            threads: BTreeMap::new(),
            cpu: None,
            meminfo: None,
            loadavg: None,
            network: None,
            target: None,
        };
        let sample = sampler.sample(&empty(), &empty());
        assert_eq!(sample.process.cpu_user_pct, None);
        assert_eq!(sample.process.rss_mb, None);
        assert!(sample.host.is_none());
    }
}
