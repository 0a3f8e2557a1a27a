//! Resource readings of the openpace process, from `getrusage` and `/proc/self/status`.
//!
//! This is the part of the resource monitor the engine needs for every run's summary: CPU
//! time (user and system) and peak resident memory of the whole process. Readings are taken
//! on the collector's thread, never on the timing core or a worker.
//!
//! Peak memory is `VmHWM`, not `getrusage`'s `ru_maxrss`: Linux carries `ru_maxrss` over from
//! the parent through fork and exec, so under `cargo run` it reported cargo's own 40 MB
//! instead of openpace's 7 MB.

use crate::metrics::result::Resources;

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
        // SAFETY: rusage is plain data, fully written by a successful getrusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer; RUSAGE_SELF always exists.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
        ProcessUsage {
            user_ns: ns(usage.ru_utime),
            system_ns: ns(usage.ru_stime),
            max_rss_kb: peak_rss_kb().unwrap_or(usage.ru_maxrss as u64),
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
