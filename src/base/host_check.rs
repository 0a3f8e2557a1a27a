//! The host check: what on this machine will move a latency measurement, read before it is
//! trusted.
//!
//! pyperf's `system show` is the model: each check reads a few files under `/sys` and `/proc`,
//! says what it found, whether that is fine for measuring microseconds, the files it read and
//! what to change. The checks are about the *measuring cores* (the timing loop's and the
//! workers'): their frequency governor and limits, turbo, the SMT siblings they share, whether
//! they are isolated from the scheduler, the timer tick and RCU callbacks, the NIC interrupts
//! routed to them, their C-states' exit latency; and about the machine: transparent huge
//! pages, the timer slack, the clocksource, and whether it is a VM (with the steal time seen).
//!
//! Everything is read through a [`HostTree`] rooted at `/`, or at a directory that mimics it,
//! so that the cases a VM cannot show (a powersave governor, SMT, NIC queues) are tested on
//! a fake tree. A file that cannot be read makes its check [`Status::Unknown`], never a guess.
//!
//! [`matters_for_run`] picks the failed checks that make a run's figures suspect: the timing
//! loop sharing an SMT core with a worker, and a governor that holds the clock low
//! (`powersave`, `conservative`) under a target answering within a millisecond.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::host::{core_list as join, parse_core_list};

/// Version of the `openpace host --json` document.
pub const HOST_CHECK_SCHEMA_VERSION: u32 = 1;

/// The deepest C-state exit latency that does not show in a microsecond measurement, µs.
pub const CSTATE_LIMIT_US: u64 = 10;

/// The root of the files the checks read: `/` on a real host.
#[derive(Clone, Debug)]
pub struct HostTree {
    root: PathBuf,
}

impl HostTree {
    /// This host's files.
    pub fn real() -> HostTree {
        HostTree::at("/")
    }

    /// A tree that mimics `/` under `root` (for tests).
    pub fn at(root: impl Into<PathBuf>) -> HostTree {
        HostTree { root: root.into() }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.root.join(file.trim_start_matches('/'))
    }

    /// The trimmed content of `file` (an absolute path as on the host), if readable.
    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.path(file))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The bytes of `file`, if readable.
    fn bytes(&self, file: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(file)).ok()
    }

    /// The entries of directory `dir`, sorted; empty when unreadable.
    fn list(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(dir))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by_key(|n| natural_key(n));
        names
    }

    /// Where the symbolic link `file` points, as a host path.
    fn resolve(&self, file: &str) -> Option<String> {
        let target = std::fs::canonicalize(self.path(file)).ok()?;
        let root = std::fs::canonicalize(&self.root).ok()?;
        let inside = target.strip_prefix(&root).ok()?;
        Some(format!("/{}", inside.display()))
    }
}

/// Sorts `state10` after `state9` and `cpu10` after `cpu2`.
fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    (stem.to_string(), number.parse().unwrap_or(0))
}

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine for measuring microseconds.
    Ok,
    /// Will move the numbers: the advice says what to change.
    Warn,
    /// The files were not there or not readable (common in VMs and containers).
    Unknown,
}

impl Status {
    /// A short word for the text report.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Unknown => "?",
        }
    }
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked: `governor`, `turbo`, `smt`, `isolation`, `irq`, `thp`,
    /// `timer_slack`, `cstates`, `clocksource`, `virtualization`.
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// What was found, in words.
    pub found: String,
    /// The files read.
    pub files: Vec<String>,
    /// What to change (empty when nothing needs to).
    pub advice: String,
}

impl Check {
    fn new(name: &str, status: Status, found: impl Into<String>, files: Vec<String>) -> Check {
        Check {
            name: name.to_string(),
            status,
            found: found.into(),
            files,
            advice: String::new(),
        }
    }

    fn advise(mut self, advice: impl Into<String>) -> Check {
        self.advice = advice.into();
        self
    }
}

/// The cores whose timing is measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasuringCores {
    /// The timing loop's core, when pinned.
    pub timer: Option<usize>,
    /// The workers' cores, when pinned.
    pub workers: Vec<usize>,
}

impl MeasuringCores {
    /// The timing loop's core and the workers', each once, in order.
    pub fn all(&self) -> Vec<usize> {
        let mut cores: Vec<usize> = self.timer.into_iter().chain(self.workers.clone()).collect();
        cores.sort_unstable();
        cores.dedup();
        cores
    }

    fn named(&self) -> String {
        match self.all().as_slice() {
            [] => "no pinned core".to_string(),
            [one] => format!("core {one}"),
            many => format!("cores {}", join(many)),
        }
    }
}

/// The `openpace host --json` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    /// [`HOST_CHECK_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `openpace <version>`.
    pub tool: String,
    /// The cores checked.
    pub cores: MeasuringCores,
    /// Every check, in a fixed order.
    pub checks: Vec<Check>,
    /// One line: how many checks passed, which to change, how many could not be read.
    pub summary: String,
}

/// How long `host` watches the steal counter, when it does.
pub enum Steal {
    /// Only the total since boot (a run: its own sampler watches the steal while it runs).
    SinceBoot,
    /// Also over this many milliseconds now.
    Watch(u64),
}

/// Runs every check on `tree` for `cores`.
pub fn check(tree: &HostTree, cores: &MeasuringCores, steal: Steal) -> Vec<Check> {
    vec![
        governor(tree, cores),
        turbo(tree),
        smt(tree, cores),
        isolation(tree, cores),
        irq(tree, cores),
        thp(tree),
        timer_slack(tree),
        cstates(tree, cores),
        clocksource(tree),
        virtualization(tree, steal),
    ]
}

/// The report of `openpace host`.
pub fn report(tree: &HostTree, cores: &MeasuringCores, steal: Steal) -> HostReport {
    let checks = check(tree, cores, steal);
    HostReport {
        schema_version: HOST_CHECK_SCHEMA_VERSION,
        tool: format!("openpace {}", env!("CARGO_PKG_VERSION")),
        cores: cores.clone(),
        summary: summary(&checks),
        checks,
    }
}

/// One line: `6 ok, 2 to change (governor, smt), 2 not readable (turbo, irq)`.
pub fn summary(checks: &[Check]) -> String {
    let names = |status| {
        checks
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
    };
    let (warn, unknown) = (names(Status::Warn), names(Status::Unknown));
    let ok = checks.len() - warn.len() - unknown.len();
    let mut line = format!("{ok} ok");
    if !warn.is_empty() {
        line += &format!(", {} to change ({})", warn.len(), warn.join(", "));
    }
    if !unknown.is_empty() {
        line += &format!(", {} not readable ({})", unknown.len(), unknown.join(", "));
    }
    line
}

/// The failed checks that make a run's figures suspect, each in words: the timing loop on
/// an SMT sibling of a worker's core (they share one core's pipeline), and a governor that
/// holds the clock low when the target answers within a millisecond (`response_p50_us`).
pub fn matters_for_run(
    tree: &HostTree,
    cores: &MeasuringCores,
    response_p50_us: f64,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(timer) = cores.timer {
        let siblings = siblings_of(tree, timer).unwrap_or_default();
        let shared: Vec<usize> = cores
            .workers
            .iter()
            .copied()
            .filter(|w| *w != timer && siblings.contains(w))
            .collect();
        if !shared.is_empty() {
            reasons.push(format!(
                "the timing loop (core {timer}) shares an SMT core with a worker (core {})",
                join(&shared)
            ));
        }
    }
    if response_p50_us < 1_000.0 {
        for core in cores.all() {
            let file = format!("/sys/devices/system/cpu/cpu{core}/cpufreq/scaling_governor");
            if let Some(g) = tree.read(&file).filter(|g| holds_clock_low(g)) {
                reasons.push(format!(
                    "core {core} runs the {g} governor under a target answering within 1 ms"
                ));
            }
        }
    }
    reasons
}

fn holds_clock_low(governor: &str) -> bool {
    matches!(governor, "powersave" | "conservative")
}

fn cpu(core: usize, file: &str) -> String {
    format!("/sys/devices/system/cpu/cpu{core}/{file}")
}

fn governor(tree: &HostTree, cores: &MeasuringCores) -> Check {
    let mut files = Vec::new();
    let mut found = Vec::new();
    let mut scaling = false;
    for core in cores_or_first(cores) {
        let (g, lo, hi) = (
            cpu(core, "cpufreq/scaling_governor"),
            cpu(core, "cpufreq/scaling_min_freq"),
            cpu(core, "cpufreq/scaling_max_freq"),
        );
        let Some(governor) = tree.read(&g) else {
            files.push(g);
            continue;
        };
        let mhz = |f: &str| {
            tree.read(f)
                .and_then(|k| k.parse::<u64>().ok())
                .map(|k| k / 1000)
        };
        let (min, max) = (mhz(&lo), mhz(&hi));
        let pinned = min.is_some() && min == max;
        scaling |= governor != "performance" && !pinned;
        found.push(match (min, max) {
            (Some(a), Some(b)) => format!("core {core}: {governor}, {a}-{b} MHz"),
            _ => format!("core {core}: {governor}"),
        });
        files.extend([g, lo, hi]);
    }
    if found.is_empty() {
        return Check::new(
            "governor",
            Status::Unknown,
            "no cpufreq: a VM's vCPU, or a clock the kernel does not scale",
            files,
        );
    }
    let status = if scaling { Status::Warn } else { Status::Ok };
    Check::new("governor", status, found.join("; "), files).advise(if scaling {
        "the clock follows the load: `cpupower frequency-set -g performance` (or write \
         performance to scaling_governor), or pin it (scaling_min_freq = scaling_max_freq)"
    } else {
        ""
    })
}

/// The measuring cores, or core 0 when none is pinned.
fn cores_or_first(cores: &MeasuringCores) -> Vec<usize> {
    let all = cores.all();
    if all.is_empty() { vec![0] } else { all }
}

fn turbo(tree: &HostTree) -> Check {
    const NO_TURBO: &str = "/sys/devices/system/cpu/intel_pstate/no_turbo";
    const BOOST: &str = "/sys/devices/system/cpu/cpufreq/boost";
    let files = vec![NO_TURBO.to_string(), BOOST.to_string()];
    let on = match (tree.read(NO_TURBO), tree.read(BOOST)) {
        (Some(no_turbo), _) => no_turbo == "0",
        (None, Some(boost)) => boost == "1",
        (None, None) => {
            return Check::new(
                "turbo",
                Status::Unknown,
                "neither intel_pstate nor cpufreq boost is exposed",
                files,
            );
        }
    };
    if on {
        Check::new("turbo", Status::Warn, "on", files).advise(
            "the clock rises and falls with temperature and load on other cores: echo 1 > \
             intel_pstate/no_turbo (or 0 > cpufreq/boost)",
        )
    } else {
        Check::new("turbo", Status::Ok, "off", files)
    }
}

fn siblings_of(tree: &HostTree, core: usize) -> Option<Vec<usize>> {
    let text = tree.read(&cpu(core, "topology/thread_siblings_list"))?;
    parse_core_list(&text)
}

fn smt(tree: &HostTree, cores: &MeasuringCores) -> Check {
    let measuring = cores_or_first(cores);
    let files: Vec<String> = measuring
        .iter()
        .map(|&c| cpu(c, "topology/thread_siblings_list"))
        .collect();
    let mut shared = Vec::new();
    for &core in &measuring {
        let Some(siblings) = siblings_of(tree, core) else {
            return Check::new("smt", Status::Unknown, "no CPU topology", files);
        };
        for s in siblings.into_iter().filter(|&s| s != core) {
            let whose = if cores.timer == Some(s) {
                "the timing loop's"
            } else if cores.workers.contains(&s) {
                "a worker's"
            } else {
                "not openpace's"
            };
            shared.push(format!("core {core} shares its core with {s} ({whose})"));
        }
    }
    if shared.is_empty() {
        return Check::new(
            "smt",
            Status::Ok,
            "no SMT sibling on the measuring cores",
            files,
        );
    }
    Check::new("smt", Status::Warn, shared.join("; "), files).advise(
        "siblings share one core's pipeline and caches: turn SMT off (echo off > \
         /sys/devices/system/cpu/smt/control) or keep each sibling idle (isolcpus) and off \
         openpace's other threads",
    )
}

fn isolation(tree: &HostTree, cores: &MeasuringCores) -> Check {
    const ISOLATED: &str = "/sys/devices/system/cpu/isolated";
    const NOHZ: &str = "/sys/devices/system/cpu/nohz_full";
    const CMDLINE: &str = "/proc/cmdline";
    let files = vec![ISOLATED.to_string(), NOHZ.to_string(), CMDLINE.to_string()];
    let list = |file: &str| {
        tree.read(file)
            .map(|t| parse_core_list(&t).unwrap_or_default())
    };
    let Some(isolated) = list(ISOLATED) else {
        return Check::new(
            "isolation",
            Status::Unknown,
            "isolated cores not readable",
            files,
        );
    };
    let nohz = list(NOHZ).unwrap_or_default();
    let rcu = tree
        .read(CMDLINE)
        .and_then(|line| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("rcu_nocbs="))
                .map(|l| parse_core_list(l).unwrap_or_default())
        })
        .unwrap_or_default();
    let measuring = cores.all();
    let missing = |set: &[usize]| -> Vec<usize> {
        measuring
            .iter()
            .copied()
            .filter(|c| !set.contains(c))
            .collect()
    };
    let (a, b, c) = (missing(&isolated), missing(&nohz), missing(&rcu));
    let found = format!(
        "isolcpus: {}; nohz_full: {}; rcu_nocbs: {}",
        or_none(&isolated),
        or_none(&nohz),
        or_none(&rcu)
    );
    if measuring.is_empty() {
        return Check::new("isolation", Status::Warn, found, files)
            .advise("no core is pinned: give the timing loop and workers cores (--timer-core, --worker-cores)");
    }
    if a.is_empty() && b.is_empty() && c.is_empty() {
        return Check::new("isolation", Status::Ok, found, files);
    }
    let list = join(&measuring);
    Check::new("isolation", Status::Warn, found, files).advise(format!(
        "the scheduler, the timer tick and RCU callbacks still run on {}: boot with \
         isolcpus={list} nohz_full={list} rcu_nocbs={list}",
        cores.named()
    ))
}

fn or_none(cores: &[usize]) -> String {
    if cores.is_empty() {
        "none".to_string()
    } else {
        join(cores)
    }
}

/// The IRQs of the host's network devices: `(device, irq)`, from their MSI lists.
fn nic_irqs(tree: &HostTree) -> (Vec<(String, u32)>, Vec<String>) {
    let mut irqs = Vec::new();
    let mut files = Vec::new();
    for dev in tree.list("/sys/class/net") {
        let Some(device) = tree.resolve(&format!("/sys/class/net/{dev}/device")) else {
            continue; // virtual: lo, bridges, ifb
        };
        // A virtio NIC's device is a child of the PCI function that owns the vectors.
        let parent = Path::new(&device)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for dir in [format!("{device}/msi_irqs"), format!("{parent}/msi_irqs")] {
            let numbers = tree.list(&dir);
            if numbers.is_empty() {
                continue;
            }
            files.push(dir);
            irqs.extend(
                numbers
                    .iter()
                    .filter_map(|n| n.parse().ok())
                    .map(|n| (dev.clone(), n)),
            );
            break;
        }
    }
    (irqs, files)
}

fn irq(tree: &HostTree, cores: &MeasuringCores) -> Check {
    let (irqs, mut files) = nic_irqs(tree);
    if irqs.is_empty() {
        files.push("/sys/class/net".to_string());
        return Check::new(
            "irq",
            Status::Ok,
            "no network device with interrupts (loopback only)",
            files,
        );
    }
    let measuring = cores.all();
    let mut landing = Vec::new();
    let mut unreadable = 0;
    for (dev, n) in &irqs {
        let file = format!("/proc/irq/{n}/smp_affinity_list");
        match tree.read(&file).and_then(|t| parse_core_list(&t)) {
            Some(set) => {
                let on: Vec<usize> = measuring
                    .iter()
                    .copied()
                    .filter(|c| set.contains(c))
                    .collect();
                if !on.is_empty() {
                    landing.push(format!("{dev} irq {n} -> {}", join(&on)));
                }
            }
            None => unreadable += 1,
        }
        files.push(file);
    }
    if unreadable == irqs.len() {
        return Check::new("irq", Status::Unknown, "IRQ affinity not readable", files);
    }
    if landing.is_empty() {
        let found = format!("{} NIC interrupts, none on {}", irqs.len(), cores.named());
        return Check::new("irq", Status::Ok, found, files);
    }
    let found = format!(
        "{} of {} NIC interrupts may land on {}: {}",
        landing.len(),
        irqs.len(),
        cores.named(),
        landing.join(", ")
    );
    Check::new("irq", Status::Warn, found, files).advise(format!(
        "route them elsewhere: echo OTHER_CORES > /proc/irq/N/smp_affinity_list (and stop \
         irqbalance), so that no packet's interrupt preempts {}",
        cores.named()
    ))
}

fn thp(tree: &HostTree) -> Check {
    const THP: &str = "/sys/kernel/mm/transparent_hugepage/enabled";
    let files = vec![THP.to_string()];
    let Some(text) = tree.read(THP) else {
        return Check::new("thp", Status::Unknown, "not readable", files);
    };
    let chosen = text
        .split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or(text);
    if chosen == "always" {
        Check::new("thp", Status::Warn, "always", files).advise(
            "khugepaged compacts memory behind the process's back: echo madvise > \
             /sys/kernel/mm/transparent_hugepage/enabled",
        )
    } else {
        Check::new("thp", Status::Ok, chosen, files)
    }
}

fn timer_slack(tree: &HostTree) -> Check {
    const SLACK: &str = "/proc/self/timerslack_ns";
    let files = vec![SLACK.to_string()];
    match tree.read(SLACK).and_then(|t| t.parse::<u64>().ok()) {
        None => Check::new("timer_slack", Status::Unknown, "not readable", files),
        Some(ns) => Check::new(
            "timer_slack",
            Status::Ok,
            format!(
                "{ns} ns for the process; openpace's waits use a timerfd, which the slack \
                 does not delay"
            ),
            files,
        ),
    }
}

fn cstates(tree: &HostTree, cores: &MeasuringCores) -> Check {
    const DRIVER: &str = "/sys/devices/system/cpu/cpuidle/current_driver";
    let mut files = vec![DRIVER.to_string()];
    let driver = tree.read(DRIVER);
    let mut deepest: Option<(String, u64)> = None;
    for core in cores_or_first(cores) {
        let dir = cpu(core, "cpuidle");
        for state in tree.list(&dir).iter().filter(|s| s.starts_with("state")) {
            let at = |f: &str| tree.read(&format!("{dir}/{state}/{f}"));
            files.push(format!("{dir}/{state}/latency"));
            let (Some(name), Some(latency)) = (
                at("name"),
                at("latency").and_then(|l| l.parse::<u64>().ok()),
            ) else {
                continue;
            };
            if at("disable").as_deref() == Some("1") {
                continue;
            }
            if deepest.as_ref().is_none_or(|(_, l)| latency > *l) {
                deepest = Some((name, latency));
            }
        }
    }
    let driver = driver.unwrap_or_else(|| "none".to_string());
    let Some((name, latency)) = deepest else {
        return Check::new(
            "cstates",
            Status::Unknown,
            format!("driver {driver}; no idle states listed"),
            files,
        );
    };
    // The PM QoS limit (a process holding /dev/cpu_dma_latency open, as cyclictest does)
    // keeps the cores out of states slower to leave than it: a native-endian s32, in us.
    const QOS: &str = "/dev/cpu_dma_latency";
    files.push(QOS.to_string());
    let qos = tree
        .bytes(QOS)
        .and_then(|b| Some(i32::from_ne_bytes(b.get(..4)?.try_into().ok()?)))
        .filter(|&us| us >= 0)
        .map(|us| us as u64);
    let limit = match qos {
        Some(us) if us < latency => {
            format!("; a PM QoS limit of {us} us keeps the cores out of it")
        }
        Some(_) => "; no PM QoS limit below it".to_string(),
        None => "; PM QoS limit not readable".to_string(),
    };
    let found =
        format!("driver {driver}; deepest enabled state {name}, {latency} us to wake{limit}");
    if latency.min(qos.unwrap_or(u64::MAX)) <= CSTATE_LIMIT_US {
        return Check::new("cstates", Status::Ok, found, files);
    }
    Check::new("cstates", Status::Warn, found, files).advise(format!(
        "an idle core takes up to {latency} us to wake: disable the deeper states (echo 1 > \
         .../cpuidle/stateN/disable), boot with intel_idle.max_cstate=1, or hold \
         /dev/cpu_dma_latency open with 0 written to it while measuring"
    ))
}

fn clocksource(tree: &HostTree) -> Check {
    const CURRENT: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
    let files = vec![CURRENT.to_string()];
    let Some(source) = tree.read(CURRENT) else {
        return Check::new("clocksource", Status::Unknown, "not readable", files);
    };
    match source.as_str() {
        "tsc" | "kvm-clock" | "hyperv_clocksource_tsc_page" | "arch_sys_counter" => Check::new(
            "clocksource",
            Status::Ok,
            format!("{source} (read without a system call)"),
            files,
        ),
        _ => Check::new("clocksource", Status::Warn, source, files).advise(
            "each clock read is a system call or a slow device read: use tsc where the kernel \
             offers it (available_clocksource; clocksource=tsc tsc=reliable at boot)",
        ),
    }
}

/// The `steal` and total ticks of the `cpu` line of /proc/stat.
fn steal_and_total(tree: &HostTree) -> Option<(u64, u64)> {
    let (total, _) = super::host::parse_proc_stat(&tree.read("/proc/stat")?)?;
    Some((total.steal, total.total()))
}

fn virtualization(tree: &HostTree, steal: Steal) -> Check {
    const CPUINFO: &str = "/proc/cpuinfo";
    const STAT: &str = "/proc/stat";
    let files = vec![CPUINFO.to_string(), STAT.to_string()];
    let Some(cpuinfo) = tree.read(CPUINFO) else {
        return Check::new("virtualization", Status::Unknown, "not readable", files);
    };
    let vm = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "hypervisor"));
    let share = |(s, t): (u64, u64)| 100.0 * s as f64 / t.max(1) as f64;
    let before = steal_and_total(tree);
    let mut seen = before
        .map(|b| format!("steal {:.2}% since boot", share(b)))
        .unwrap_or_default();
    let mut stole = before.is_some_and(|(s, _)| s > 0);
    if let (Steal::Watch(ms), Some(b)) = (steal, before) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        if let Some(a) = steal_and_total(tree) {
            let now = share((a.0 - b.0, a.1 - b.1));
            stole |= a.0 > b.0;
            seen += &format!(", {now:.2}% in the last {ms} ms");
        }
    }
    if !vm && !stole {
        return Check::new(
            "virtualization",
            Status::Ok,
            format!("bare metal; {seen}"),
            files,
        );
    }
    let what = if vm {
        "a VM (the hypervisor flag)"
    } else {
        "steal time seen"
    };
    Check::new(
        "virtualization",
        Status::Warn,
        format!("{what}; {seen}"),
        files,
    )
    .advise(
        "the hypervisor can hold a vCPU for milliseconds at any time: measure on bare metal \
         or dedicated vCPUs, and rerun (--repeat) to see such spells in the spread",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (host path, content) under a fresh directory.
    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, HostTree) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let file = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        let tree = HostTree::at(dir.path());
        (dir, tree)
    }

    fn cores(timer: usize, workers: &[usize]) -> MeasuringCores {
        MeasuringCores {
            timer: Some(timer),
            workers: workers.to_vec(),
        }
    }

    fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn an_empty_tree_reads_unknown_not_a_guess() {
        let (_dir, t) = tree(&[]);
        let checks = check(&t, &cores(0, &[1]), Steal::SinceBoot);
        assert_eq!(checks.len(), 10);
        for name in [
            "governor",
            "turbo",
            "smt",
            "isolation",
            "thp",
            "timer_slack",
            "cstates",
            "clocksource",
            "virtualization",
        ] {
            assert_eq!(find(&checks, name).status, Status::Unknown, "{name}");
        }
        assert!(summary(&checks).starts_with("1 ok, 9 not readable ("));
    }

    /// A bare-metal host set up the way a precision user would not want it: every check that
    /// a VM cannot show fails, and says what to change.
    #[test]
    fn a_badly_tuned_host_fails_each_check_and_says_what_to_change() {
        let cpu0 = "/sys/devices/system/cpu/cpu0";
        let pci = "/sys/devices/pci0000:00/0000:00:03.0";
        let (dir, t) = tree(&[
            (&format!("{cpu0}/cpufreq/scaling_governor"), "powersave\n"),
            (&format!("{cpu0}/cpufreq/scaling_min_freq"), "800000\n"),
            (&format!("{cpu0}/cpufreq/scaling_max_freq"), "3500000\n"),
            (
                "/sys/devices/system/cpu/cpu4/cpufreq/scaling_governor",
                "performance\n",
            ),
            ("/sys/devices/system/cpu/intel_pstate/no_turbo", "0\n"),
            (&format!("{cpu0}/topology/thread_siblings_list"), "0,4\n"),
            (
                "/sys/devices/system/cpu/cpu4/topology/thread_siblings_list",
                "0,4\n",
            ),
            ("/sys/devices/system/cpu/isolated", "4\n"),
            ("/sys/devices/system/cpu/nohz_full", "(null)\n"),
            ("/proc/cmdline", "quiet isolcpus=4 rcu_nocbs=2-5\n"),
            (&format!("{pci}/virtio2/net/eth0/ifindex"), "2\n"),
            (&format!("{pci}/msi_irqs/37"), "msix\n"),
            (&format!("{pci}/msi_irqs/38"), "msix\n"),
            ("/proc/irq/37/smp_affinity_list", "0-7\n"),
            ("/proc/irq/38/smp_affinity_list", "1\n"),
            (
                "/sys/kernel/mm/transparent_hugepage/enabled",
                "[always] madvise never\n",
            ),
            ("/proc/self/timerslack_ns", "50000\n"),
            (
                "/sys/devices/system/cpu/cpuidle/current_driver",
                "intel_idle\n",
            ),
            (&format!("{cpu0}/cpuidle/state0/name"), "POLL"),
            (&format!("{cpu0}/cpuidle/state0/latency"), "0"),
            (&format!("{cpu0}/cpuidle/state1/name"), "C1"),
            (&format!("{cpu0}/cpuidle/state1/latency"), "2"),
            (&format!("{cpu0}/cpuidle/state2/name"), "C6"),
            (&format!("{cpu0}/cpuidle/state2/latency"), "133"),
            (&format!("{cpu0}/cpuidle/state3/name"), "C10"),
            (&format!("{cpu0}/cpuidle/state3/latency"), "890"),
            (&format!("{cpu0}/cpuidle/state3/disable"), "1"),
            (
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                "hpet\n",
            ),
            ("/proc/cpuinfo", "processor : 0\nflags : fpu sse2 avx2\n"),
            ("/proc/stat", "cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 1 2 3\n"),
        ]);
        // No PM QoS limit (the kernel's default, 2,000 s).
        std::fs::create_dir_all(dir.path().join("dev")).unwrap();
        std::fs::write(
            dir.path().join("dev/cpu_dma_latency"),
            2_000_000_000i32.to_ne_bytes(),
        )
        .unwrap();
        // /sys/class/net/eth0/device links to the virtio device under its PCI function.
        let eth0 = dir.path().join("sys/class/net/eth0");
        std::fs::create_dir_all(&eth0).unwrap();
        let device = dir.path().join(&pci[1..]).join("virtio2");
        std::os::unix::fs::symlink(device, eth0.join("device")).unwrap();
        let on = cores(0, &[4]);
        let checks = check(&t, &on, Steal::SinceBoot);
        let status = |name| find(&checks, name).status;
        assert_eq!(status("governor"), Status::Warn);
        assert!(
            find(&checks, "governor")
                .found
                .contains("core 0: powersave, 800-3500 MHz")
        );
        assert_eq!(status("turbo"), Status::Warn);
        assert_eq!(status("smt"), Status::Warn);
        assert!(
            find(&checks, "smt")
                .found
                .contains("core 0 shares its core with 4 (a worker's)")
        );
        assert_eq!(status("isolation"), Status::Warn);
        assert!(
            find(&checks, "isolation")
                .advice
                .contains("isolcpus=0,4 nohz_full=0,4")
        );
        assert_eq!(status("irq"), Status::Warn);
        assert!(
            find(&checks, "irq").found.contains("eth0 irq 37 -> 0,4"),
            "{:?}",
            find(&checks, "irq")
        );
        assert!(!find(&checks, "irq").found.contains("irq 38"));
        assert_eq!(status("thp"), Status::Warn);
        assert_eq!(status("timer_slack"), Status::Ok);
        assert_eq!(status("cstates"), Status::Warn);
        // The disabled C10 does not count; C6 does.
        assert!(find(&checks, "cstates").found.contains("C6, 133 us"));
        assert!(
            find(&checks, "cstates")
                .found
                .contains("no PM QoS limit below it")
        );
        // A process holding /dev/cpu_dma_latency at 0 keeps the cores out of C6.
        std::fs::write(dir.path().join("dev/cpu_dma_latency"), 0i32.to_ne_bytes()).unwrap();
        let c = cstates(&t, &on);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(
            c.found
                .contains("a PM QoS limit of 0 us keeps the cores out of it")
        );
        assert_eq!(status("clocksource"), Status::Warn);
        assert_eq!(status("virtualization"), Status::Ok);
        for c in checks.iter().filter(|c| c.status == Status::Warn) {
            assert!(!c.advice.is_empty(), "{} gives no advice", c.name);
            assert!(!c.files.is_empty(), "{} names no file", c.name);
        }
        let why = matters_for_run(&t, &on, 40.0);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("timing loop (core 0) shares an SMT core with a worker (core 4)"));
        assert!(why[1].contains("core 0 runs the powersave governor"));
        // A slow target: the governor no longer matters, the siblings still do.
        assert_eq!(matters_for_run(&t, &on, 5_000.0).len(), 1);
        // The timing loop and its worker on one core: no sibling is shared.
        assert!(matters_for_run(&t, &cores(4, &[4]), 5_000.0).is_empty());
    }

    #[test]
    fn a_tuned_host_passes() {
        let cpu2 = "/sys/devices/system/cpu/cpu2";
        let (_dir, t) = tree(&[
            (&format!("{cpu2}/cpufreq/scaling_governor"), "performance"),
            (
                "/sys/devices/system/cpu/cpu3/cpufreq/scaling_governor",
                "schedutil",
            ),
            (
                "/sys/devices/system/cpu/cpu3/cpufreq/scaling_min_freq",
                "3000000",
            ),
            (
                "/sys/devices/system/cpu/cpu3/cpufreq/scaling_max_freq",
                "3000000",
            ),
            ("/sys/devices/system/cpu/cpufreq/boost", "0"),
            (&format!("{cpu2}/topology/thread_siblings_list"), "2"),
            (
                "/sys/devices/system/cpu/cpu3/topology/thread_siblings_list",
                "3",
            ),
            ("/sys/devices/system/cpu/isolated", "2-3"),
            ("/sys/devices/system/cpu/nohz_full", "2-3"),
            ("/proc/cmdline", "isolcpus=2-3 nohz_full=2-3 rcu_nocbs=2-3"),
            (
                "/sys/kernel/mm/transparent_hugepage/enabled",
                "always [madvise] never",
            ),
            ("/proc/self/timerslack_ns", "1"),
            (&format!("{cpu2}/cpuidle/state0/name"), "POLL"),
            (&format!("{cpu2}/cpuidle/state0/latency"), "0"),
            (
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                "tsc",
            ),
            ("/proc/cpuinfo", "flags : fpu"),
            ("/proc/stat", "cpu  100 0 50 1000 0 0 0 0 0 0"),
        ]);
        let checks = check(&t, &cores(2, &[3]), Steal::Watch(1));
        for c in &checks {
            assert_eq!(c.status, Status::Ok, "{c:?}");
        }
        assert_eq!(summary(&checks), "10 ok");
    }
}
