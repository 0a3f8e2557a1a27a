//! Parsers for the procfs files the sampler reads, as pure functions of their text.
//!
//! Each returns `None` when the text is not what the kernel writes, so that a missing or
//! unreadable metric is reported as missing, never as zero.

use std::collections::BTreeMap;

/// Fields of `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskStat {
    /// The command name (between the parentheses).
    pub comm: String,
    /// Minor page faults.
    pub minor_faults: u64,
    /// Major page faults.
    pub major_faults: u64,
    /// User CPU time in clock ticks.
    pub utime: u64,
    /// System CPU time in clock ticks.
    pub stime: u64,
    /// Threads of the process.
    pub num_threads: u64,
    /// Resident pages.
    pub rss_pages: u64,
}

/// Parses a `stat` line. The command name may hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<TaskStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5); field n is fields[n - 3].
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(TaskStat {
        comm,
        minor_faults: field(10)?,
        major_faults: field(12)?,
        utime: field(14)?,
        stime: field(15)?,
        num_threads: field(20)?,
        rss_pages: field(24)?,
    })
}

/// Voluntary and involuntary context switches, from a `status` file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Switches {
    /// The task gave up the CPU (blocked, slept).
    pub voluntary: u64,
    /// The task was preempted.
    pub involuntary: u64,
}

/// Parses the context-switch lines of a `status` file.
pub fn parse_switches(text: &str) -> Option<Switches> {
    Some(Switches {
        voluntary: status_field(text, "voluntary_ctxt_switches:")?,
        involuntary: status_field(text, "nonvoluntary_ctxt_switches:")?,
    })
}

fn status_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// `/proc/meminfo`: total and available memory in kB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// MemTotal.
    pub total_kb: u64,
    /// MemAvailable.
    pub available_kb: u64,
}

/// Parses `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<MemInfo> {
    Some(MemInfo {
        total_kb: status_field(text, "MemTotal:")?,
        available_kb: status_field(text, "MemAvailable:")?,
    })
}

pub use crate::base::host::{CpuTimes, parse_proc_stat};

/// Parses `/proc/loadavg`: the 1, 5 and 15 minute load averages.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut parts = text.split_whitespace().map(|p| p.parse::<f64>().ok());
    Some([parts.next()??, parts.next()??, parts.next()??])
}

pub use crate::metrics::resources::NetCounters;

/// Parses `/proc/net/dev`: counters per interface.
pub fn parse_net_dev(text: &str) -> Option<BTreeMap<String, NetCounters>> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let (name, rest) = line.split_once(':')?;
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        if v.len() < 10 {
            return None;
        }
        out.insert(
            name.trim().to_string(),
            NetCounters {
                rx_bytes: v[0],
                rx_packets: v[1],
                tx_bytes: v[8],
                tx_packets: v[9],
            },
        );
    }
    Some(out)
}

pub use crate::base::sys::{page_size, ticks_per_second};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line = "23525 (we (ird) name) R 23523 23523 1055 0 -1 4194304 98 0 1 0 7 3 0 0 20 0 \
                    4 0 525208 3133440 390 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "we (ird) name");
        assert_eq!((s.minor_faults, s.major_faults), (98, 1));
        assert_eq!((s.utime, s.stime), (7, 3));
        assert_eq!((s.num_threads, s.rss_pages), (4, 390));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_meminfo_loadavg() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(
            parse_switches(status),
            Some(Switches {
                voluntary: 12,
                involuntary: 3
            })
        );
        let meminfo = "MemTotal:       24683656 kB\nMemFree: 1 kB\nMemAvailable:   24434212 kB\n";
        assert_eq!(
            parse_meminfo(meminfo),
            Some(MemInfo {
                total_kb: 24683656,
                available_kb: 24434212
            })
        );
        assert_eq!(
            parse_loadavg("0.22 0.91 1.23 2/79 23527"),
            Some([0.22, 0.91, 1.23])
        );
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn proc_stat_splits_total_and_cores() {
        let text = "cpu  425063 0 13193 606411 1384 0 202 150 0 0\n\
                    cpu0 188933 0 6831 325604 258 0 105 74 0 0\n\
                    cpu1 236129 0 6361 280806 1126 0 97 76 0 0\nintr 1 2\n";
        let (total, cores) = parse_proc_stat(text).unwrap();
        assert_eq!(cores.len(), 2);
        assert_eq!(total.steal, 150);
        assert_eq!(total.system, 13193 + 202);
        assert_eq!(cores[1].iowait, 1126);
        assert_eq!(total.total(), 425063 + 13193 + 202 + 606411 + 1384 + 150);
    }

    #[test]
    fn net_dev_per_interface() {
        let text = "Inter-|   Receive    |  Transmit\n face |bytes packets|bytes packets\n\
                    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n\
                    eth0: 77441300    4281    0    0    0     0          0         0   269893    2634    0    0    0     0       0          0\n";
        let ifaces = parse_net_dev(text).unwrap();
        assert_eq!(ifaces["eth0"].rx_bytes, 77441300);
        assert_eq!(ifaces["eth0"].tx_packets, 2634);
        assert_eq!(ifaces["lo"].tx_bytes, 3193);
        let later = NetCounters {
            rx_bytes: 5000,
            ..ifaces["lo"]
        };
        assert_eq!(later.since(&ifaces["lo"]).rx_bytes, 5000 - 3193);
    }
}
