//! What the resource sampler (`crate::monitor`) reports: one [`ResourceSample`] per interval
//! and a summary. Owned here, with the other result types, so that reports read them without
//! the module that measured them.
//!
//! A metric that could not be read is `None` (`null` in JSON), never zero; the report's
//! notes say why, once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The openpace process during one interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    /// User CPU, % of one core (monitor_cpu).
    pub cpu_user_pct: Option<f64>,
    /// System CPU, % of one core (monitor_cpu).
    pub cpu_system_pct: Option<f64>,
    /// Resident memory at the end of the interval, MB (monitor_memory).
    pub rss_mb: Option<f64>,
    /// ... as % of the host's memory.
    pub rss_pct: Option<f64>,
    /// Voluntary context switches during the interval.
    pub voluntary_switches: Option<u64>,
    /// Involuntary context switches (preemptions) during the interval.
    pub involuntary_switches: Option<u64>,
    /// Minor page faults during the interval.
    pub minor_faults: Option<u64>,
    /// Major page faults during the interval.
    pub major_faults: Option<u64>,
}

/// One thread of openpace during one interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadSample {
    /// Thread name (`openpace-timer`, `openpace-w0.3`, ...).
    pub name: String,
    /// CPU, % of one core.
    pub cpu_pct: f64,
    /// Involuntary context switches (preemptions).
    pub involuntary_switches: u64,
}

/// One core of the host during one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreSample {
    /// Busy (user + system), % of the core.
    pub cpu_pct: f64,
    /// Stolen by the hypervisor, %.
    pub steal_pct: f64,
    /// Waiting for I/O, %.
    pub iowait_pct: f64,
}

/// The whole host during one interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostSample {
    /// All cores together: busy, steal, iowait (% of all cores).
    pub total: CoreSample,
    /// Each core.
    pub cores: Vec<CoreSample>,
    /// 1, 5 and 15 minute load averages at the end of the interval.
    pub load_average: Option<[f64; 3]>,
    /// Memory available at the end of the interval, MB.
    pub memory_available_mb: Option<f64>,
}

/// Network traffic since the start of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkSample {
    /// Per interface.
    pub interfaces: BTreeMap<String, NetCounters>,
    /// All interfaces.
    pub total: NetCounters,
}

/// A process named with `--monitor-pid`, during one interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetProcessSample {
    /// Its pid.
    pub pid: u32,
    /// CPU, % of one core.
    pub cpu_pct: f64,
    /// Resident memory, MB.
    pub rss_mb: f64,
    /// Threads.
    pub threads: u64,
}

/// Everything sampled over one interval, aligned with the latency time series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Start, seconds since the measured window began (negative during warmup).
    pub start_s: f64,
    /// End, seconds since the measured window began.
    pub end_s: f64,
    /// The openpace process.
    pub process: ProcessSample,
    /// Each thread of the process (monitor_cpu).
    pub threads: Vec<ThreadSample>,
    /// The host (monitor_cpu).
    pub host: Option<HostSample>,
    /// Network traffic since the start (monitor_network).
    pub network: Option<NetworkSample>,
    /// The process named with `--monitor-pid`, while it lived.
    pub target_process: Option<TargetProcessSample>,
}

/// The design's `get_summary`: duration, CPU, memory and network over the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceSummary {
    /// Seconds covered by the samples.
    pub duration_seconds: f64,
    /// Mean of the samples' process CPU (user + system), % of one core.
    pub avg_cpu_percent: Option<f64>,
    /// Highest sample.
    pub max_cpu_percent: Option<f64>,
    /// Mean of the samples' RSS, MB.
    pub avg_memory_mb: Option<f64>,
    /// Highest sample.
    pub max_memory_mb: Option<f64>,
    /// Bytes sent on all interfaces during the run (monitor_network).
    pub total_network_bytes_sent: Option<u64>,
    /// Bytes received on all interfaces during the run (monitor_network).
    pub total_network_bytes_recv: Option<u64>,
}

impl ResourceSummary {
    /// Summarises `samples`.
    pub fn of(samples: &[ResourceSample]) -> ResourceSummary {
        let cpu: Vec<f64> = samples
            .iter()
            .filter_map(|s| Some(s.process.cpu_user_pct? + s.process.cpu_system_pct?))
            .collect();
        let memory: Vec<f64> = samples.iter().filter_map(|s| s.process.rss_mb).collect();
        let network = samples.iter().rev().find_map(|s| s.network.as_ref());
        ResourceSummary {
            duration_seconds: match (samples.first(), samples.last()) {
                (Some(a), Some(b)) => b.end_s - a.start_s,
                _ => 0.0,
            },
            avg_cpu_percent: mean(&cpu),
            max_cpu_percent: max(&cpu),
            avg_memory_mb: mean(&memory),
            max_memory_mb: max(&memory),
            total_network_bytes_sent: network.map(|n| n.total.tx_bytes),
            total_network_bytes_recv: network.map(|n| n.total.rx_bytes),
        }
    }
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn max(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().reduce(f64::max)
}

/// The sampler's whole output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceReport {
    /// One sample per interval.
    pub samples: Vec<ResourceSample>,
    /// Averages and maxima.
    pub summary: ResourceSummary,
    /// Metrics that could not be read, processes that went away.
    pub notes: Vec<String>,
    /// CPU the sampler itself used, % of one core.
    pub sampler_cpu_pct: f64,
}

/// Bytes and packets through one network interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

impl NetCounters {
    /// `self - earlier`, counter by counter (0 if a counter went back, as after a reset).
    pub fn since(&self, earlier: &NetCounters) -> NetCounters {
        NetCounters {
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            tx_bytes: self.tx_bytes.saturating_sub(earlier.tx_bytes),
            tx_packets: self.tx_packets.saturating_sub(earlier.tx_packets),
        }
    }

    /// The sum of two counters.
    pub fn plus(&self, other: &NetCounters) -> NetCounters {
        NetCounters {
            rx_bytes: self.rx_bytes + other.rx_bytes,
            rx_packets: self.rx_packets + other.rx_packets,
            tx_bytes: self.tx_bytes + other.tx_bytes,
            tx_packets: self.tx_packets + other.tx_packets,
        }
    }
}
