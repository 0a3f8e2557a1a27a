//! Which core each thread runs on.
//!
//! By default the timing loop takes the first core the calling thread may run on (its
//! affinity mask, so `taskset` is respected) and the workers share the rest, one worker per
//! core in turn. A named core that the machine lacks was rejected by validation (exit 2); one
//! the machine has but the kernel will not pin to (outside the cgroup's cpuset) is an error
//! here (exit 3), found by trying. When pinning is impossible (a single usable core, or the
//! kernel refuses), openpace warns once and runs unpinned.

use crate::base::WaitMode;
use crate::config::RunConfig;
use crate::error::Error;

/// Cores for the timing loop and each scenario's workers; `None` means unpinned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CorePlan {
    /// The timing loop's core.
    pub timer: Option<usize>,
    /// Per scenario, the cores its workers take in turn (empty: unpinned).
    pub workers: Vec<Vec<usize>>,
    /// Cores this process may run on.
    pub allowed: Vec<usize>,
    /// What the user should know about the plan.
    pub warnings: Vec<String>,
}

impl CorePlan {
    /// The core of worker `index` of `scenario`.
    pub fn worker_core(&self, scenario: usize, index: usize) -> Option<usize> {
        let cores = &self.workers[scenario];
        (!cores.is_empty()).then(|| cores[index % cores.len()])
    }

    /// Whether openpace's timing loop or another worker runs on the core of worker `index`
    /// of `scenario` (true when it is unpinned), given each scenario's worker count.
    pub fn worker_shares_core(&self, scenario: usize, index: usize, counts: &[usize]) -> bool {
        let Some(core) = self.worker_core(scenario, index) else {
            return true;
        };
        let workers: usize = counts
            .iter()
            .enumerate()
            .map(|(s, &n)| {
                (0..n)
                    .filter(|&i| self.worker_core(s, i) == Some(core))
                    .count()
            })
            .sum();
        workers + usize::from(self.timer == Some(core)) > 1
    }
}

/// Whether a thread can be pinned to `core`: tried on a short-lived thread, because the
/// calling thread's own mask may be narrower than what the kernel allows.
pub(crate) fn can_pin(core: usize) -> bool {
    std::thread::spawn(move || pin_current(core))
        .join()
        .unwrap_or(false)
}

/// Plans the cores of a validated run. Unnamed cores come from `allowed`; named ones are
/// checked with `can_pin`.
pub(crate) fn plan(
    run: &RunConfig,
    allowed: Vec<usize>,
    can_pin: impl Fn(usize) -> bool,
) -> Result<CorePlan, Error> {
    let usable = |field: &str, core: usize| -> Result<usize, Error> {
        if can_pin(core) {
            Ok(core)
        } else {
            Err(Error::run(
                format!("pinning to {field} {core}"),
                format!(
                    "the kernel refused to pin a thread to core {core} (this thread may use \
                     {}); check the cgroup's cpuset",
                    list(&allowed)
                ),
            ))
        }
    };
    let mut warnings = Vec::new();
    let timer = match run.timer_core() {
        Some(core) => Some(usable("timer_core", core)?),
        None if allowed.len() >= 2 => Some(allowed[0]),
        None => None,
    };
    let spare: Vec<usize> = allowed
        .iter()
        .copied()
        .filter(|&c| Some(c) != timer)
        .collect();
    let mut workers = Vec::new();
    for scenario in &run.scenarios {
        let cores = match &scenario.worker_cores {
            Some(named) => named
                .iter()
                .map(|&c| usable("worker core", c))
                .collect::<Result<Vec<_>, _>>()?,
            None if timer.is_some() => spare.clone(),
            None => Vec::new(),
        };
        if timer.is_some_and(|t| cores.contains(&t)) {
            warnings.push(format!(
                "scenario \"{}\": a worker shares core {} with the timing loop; dispatch \
                 delays will include the time they take from each other",
                scenario.name,
                timer.unwrap_or_default()
            ));
        }
        workers.push(cores);
    }
    if run.wait() == WaitMode::Spin {
        let mut load = std::collections::BTreeMap::new();
        for (scenario, cores) in run.scenarios.iter().zip(&workers) {
            for core in cores.iter().cycle().take(scenario.worker_count()) {
                *load.entry(*core).or_insert(0) += 1;
            }
        }
        if let Some((core, n)) = load.into_iter().find(|&(_, n)| n > 1) {
            warnings.push(format!(
                "spin mode with {n} spinning workers on core {core}: threads sharing a core \
                 take turns in scheduler time slices of milliseconds; give each worker its \
                 own core, or use hybrid"
            ));
        }
    }
    if timer.is_none() {
        warnings.push(format!(
            "running unpinned: this process may use only {} core(s) ({}), so the timing loop \
             and the workers share them",
            allowed.len(),
            list(&allowed)
        ));
    }
    Ok(CorePlan {
        timer,
        workers,
        allowed,
        warnings,
    })
}

/// Pins the calling thread; false if the kernel refused.
pub(crate) fn pin_current(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// Cores as `0,1,2` for messages.
pub(crate) fn list(cores: &[usize]) -> String {
    if cores.is_empty() {
        "none reported".to_string()
    } else {
        crate::base::host::core_list(cores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadTestConfig;

    fn run_with(timer_core: Option<usize>, worker_cores: Option<Vec<usize>>) -> RunConfig {
        let mut run = RunConfig::single(LoadTestConfig {
            worker_cores,
            ..LoadTestConfig::default()
        });
        run.run.timer_core = timer_core;
        run
    }

    #[test]
    fn timer_takes_the_first_core_and_workers_the_rest() {
        let plan = plan(&run_with(None, None), vec![0, 1, 2], |_| true).unwrap();
        assert_eq!(plan.timer, Some(0));
        assert_eq!(plan.workers, vec![vec![1, 2]]);
        assert_eq!(plan.worker_core(0, 3), Some(2));
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn a_single_core_runs_unpinned_with_a_warning() {
        let plan = plan(&run_with(None, None), vec![0], |_| true).unwrap();
        assert_eq!(plan.timer, None);
        assert_eq!(plan.worker_core(0, 0), None);
        assert!(plan.warnings[0].contains("unpinned"));
    }

    #[test]
    fn a_core_the_kernel_refuses_is_a_run_error() {
        let err = plan(&run_with(Some(3), None), vec![0, 1], |c| c < 2).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("core 3"), "{err}");
    }

    #[test]
    fn spinning_workers_sharing_a_core_are_flagged() {
        let mut run = run_with(None, None);
        run.run.wait = WaitMode::Spin;
        let plan = plan(&run, vec![0, 1], |_| true).unwrap();
        assert!(
            plan.warnings[0].contains("4 spinning workers on core 1"),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn sharing_the_timer_core_is_allowed_but_flagged() {
        let plan = plan(&run_with(Some(0), Some(vec![0])), vec![0, 1], |_| true).unwrap();
        assert_eq!(plan.workers, vec![vec![0]]);
        assert!(plan.warnings[0].contains("shares core 0"));
    }
}
