//! The host a run is on: its name, its cores, and which of them this thread may use.

/// Number of CPUs the machine has (online or not), as the kernel numbers them.
pub fn machine_cores() -> usize {
    // glibc reads /sys/devices/system/cpu for this on every call; the answer does not change.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
        if n < 1 { 1 } else { n as usize }
    })
}

/// The cores the calling thread may run on, as the kernel reports them.
pub fn allowed_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// Cores as `0,1,2`, for messages and reports (empty for none).
pub fn core_list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The host's name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    if !ok {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Lets the calling thread run on every core it may use except `core`; a no-op when that
/// would leave none.
pub fn avoid_core(core: usize) {
    let others: Vec<usize> = allowed_cores().into_iter().filter(|&c| c != core).collect();
    if others.is_empty() {
        return;
    }
    // SAFETY: the set is zeroed, then filled with valid core numbers; pid 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in others {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The calling thread's affinity mask, confined to a set of cores until dropped; threads it
/// starts meanwhile inherit the confined mask.
pub struct Confined {
    saved: libc::cpu_set_t,
}

impl Confined {
    /// Confines the calling thread to `cores`; `None` if the kernel refused.
    pub fn to(cores: &[usize]) -> Option<Confined> {
        // SAFETY: zeroed sets are valid; the kernel fills `saved` and reads `set`, both of the
        // size passed; pid 0 is the calling thread.
        unsafe {
            let mut saved: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut saved) != 0 {
                return None;
            }
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in cores {
                libc::CPU_SET(c, &mut set);
            }
            (libc::sched_setaffinity(0, size, &set) == 0).then_some(Confined { saved })
        }
    }
}

impl Drop for Confined {
    fn drop(&mut self) {
        // SAFETY: restores the mask read in `to`.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.saved);
        }
    }
}

/// The highest core number a list may name: the kernel's CPU set (`CPU_SETSIZE`) holds 1024.
pub const MAX_CORE: usize = 1023;

/// Parses `1,3-5` into `[1, 3, 4, 5]`: each core once, in the order first named. Ranges are
/// checked against [`MAX_CORE`] before they are expanded, so the result never holds more than
/// 1024 cores whatever the text asks for.
pub fn parse_core_list(text: &str) -> Option<Vec<usize>> {
    let mut seen = [false; MAX_CORE + 1];
    let mut cores = Vec::new();
    let mut add = |core: usize| {
        if !std::mem::replace(&mut seen[core], true) {
            cores.push(core);
        }
    };
    for part in text.split(',') {
        let number = |s: &str| s.trim().parse::<usize>().ok().filter(|&c| c <= MAX_CORE);
        match part.trim().split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if lo > hi {
                    return None;
                }
                (lo..=hi).for_each(&mut add);
            }
            None => add(number(part)?),
        }
    }
    Some(cores)
}

/// Cumulative CPU time of one `cpu` line of `/proc/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice.
    pub user: u64,
    /// system + irq + softirq.
    pub system: u64,
    /// idle.
    pub idle: u64,
    /// iowait.
    pub iowait: u64,
    /// steal: time the hypervisor gave to someone else.
    pub steal: u64,
}

impl CpuTimes {
    /// Every tick accounted for.
    pub fn total(&self) -> u64 {
        self.user + self.system + self.idle + self.iowait + self.steal
    }

    /// Ticks spent running something.
    pub fn busy(&self) -> u64 {
        self.user + self.system
    }
}

/// Parses `/proc/stat`: the total line and one line per core, in core order.
pub fn parse_proc_stat(text: &str) -> Option<(CpuTimes, Vec<CpuTimes>)> {
    let mut total = None;
    let mut cores = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("cpu")) {
        let mut parts = line.split_whitespace();
        let name = parts.next()?;
        let v: Vec<u64> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        let times = CpuTimes {
            user: at(0) + at(1),
            system: at(2) + at(5) + at(6),
            idle: at(3),
            iowait: at(4),
            steal: at(7),
        };
        if name == "cpu" {
            total = Some(times);
        } else {
            cores.push(times);
        }
    }
    Some((total?, cores))
}
