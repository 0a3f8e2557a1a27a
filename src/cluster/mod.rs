//! Beyond one machine: openpace as N cooperating shards under the user's own launcher.
//!
//! openpace has no master/worker protocol. Slurm, `mpirun` or a Kubernetes Indexed Job
//! starts N copies; each learns its shard `I` of `N` ([`Shard::resolve`]: `--shard I/N`, or
//! the launcher's environment), sends the requests of the one global schedule whose index `k`
//! has `k mod N = I` (so the union of the shards is exactly what one generator would have
//! sent), starts at a common wall-clock instant (`--start-at`, [`ClusterPlan`]) and writes
//! its own report. [`merge`] then adds the reports' histograms and counts into one result,
//! exactly, and re-evaluates every threshold on it.
//!
//! This module reads the environment and the realtime clock; it never touches the engine's
//! hot path: the engine only asks the schedule for every `N`th instant.

pub mod merge;
pub mod verify;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{ConfigError, Origin};
use crate::schedule::Arrival;

pub use merge::{MergeOptions, merge};

/// Who told a shard its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Launcher {
    /// `--shard I/N` on the command line (or the library).
    Flag,
    /// Slurm: `SLURM_PROCID`, `SLURM_NTASKS`.
    Slurm,
    /// Open MPI: `OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`.
    OpenMpi,
    /// A PMI launcher (MPICH, Intel MPI): `PMI_RANK`, `PMI_SIZE`.
    Pmi,
    /// A Kubernetes Indexed Job: `JOB_COMPLETION_INDEX`, with the count from `--shards` or
    /// `OPENPACE_SHARDS`.
    Kubernetes,
}

impl Launcher {
    /// The name reports print.
    pub fn name(self) -> &'static str {
        match self {
            Launcher::Flag => "--shard",
            Launcher::Slurm => "Slurm",
            Launcher::OpenMpi => "Open MPI",
            Launcher::Pmi => "PMI",
            Launcher::Kubernetes => "Kubernetes Indexed Job",
        }
    }

    /// The environment variables that give index and count, in the order they are tried.
    const ENV: [(Launcher, &'static str, &'static str); 4] = [
        (Launcher::Slurm, "SLURM_PROCID", "SLURM_NTASKS"),
        (
            Launcher::OpenMpi,
            "OMPI_COMM_WORLD_RANK",
            "OMPI_COMM_WORLD_SIZE",
        ),
        (Launcher::Pmi, "PMI_RANK", "PMI_SIZE"),
        (
            Launcher::Kubernetes,
            "JOB_COMPLETION_INDEX",
            "OPENPACE_SHARDS",
        ),
    ];
}

/// One shard's identity: it sends request `k` of the schedule when `k % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
    /// Where the identity came from.
    pub launcher: Launcher,
}

impl Shard {
    /// The shard identity from the `--shard` flag (`I/N`, `auto`, `none` or absent),
    /// `--shards`, and the environment read through `env`. Without `--shard`, the launcher's
    /// variables are used when present (`auto`); with none, or with `none` (one process in a
    /// launcher's allocation that is meant to send the whole schedule), the run is not sharded. An inconsistent
    /// identity (I >= N, N = 0, a value that is not a number, `auto` with no launcher) is a
    /// config error naming where it came from.
    pub fn resolve(
        flag: Option<&str>,
        shards_flag: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Shard>, ConfigError> {
        let bad = |origin: &str, value: &str, allowed: &str| {
            Err(ConfigError::invalid(
                &Origin::Flag(origin.to_string()),
                "shard",
                format!("\"{value}\""),
                allowed,
            ))
        };
        match flag.map(str::trim) {
            Some("none") => return Ok(None),
            Some("auto") | None => {}
            Some(text) => {
                let Some((i, n)) = text.split_once('/') else {
                    return bad("--shard", text, "I/N (e.g. 0/4), auto or none");
                };
                let (Ok(index), Ok(count)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>())
                else {
                    return bad("--shard", text, "I/N with whole numbers, e.g. 0/4");
                };
                return Shard::checked(index, count, Launcher::Flag)
                    .map(Some)
                    .or_else(|why| bad("--shard", text, &why));
            }
        }
        for (launcher, index_var, count_var) in Launcher::ENV {
            let Some(index_text) = env(index_var) else {
                continue;
            };
            let (count_text, count_origin) = match launcher {
                Launcher::Kubernetes => match shards_flag {
                    Some(n) => (Some(n.to_string()), "--shards".to_string()),
                    None => (env(count_var), format!("environment {count_var}")),
                },
                _ => (env(count_var), format!("environment {count_var}")),
            };
            let index_origin = format!("environment {index_var}");
            let Ok(index) = index_text.trim().parse::<u32>() else {
                return bad(
                    &index_origin,
                    &index_text,
                    "a whole number, the shard's index",
                );
            };
            let Some(count_text) = count_text else {
                return bad(
                    &count_origin,
                    "",
                    &format!("the number of shards ({index_var} is set but {count_var} is not)"),
                );
            };
            let Ok(count) = count_text.trim().parse::<u32>() else {
                return bad(
                    &count_origin,
                    &count_text,
                    "a whole number, the number of shards",
                );
            };
            return Shard::checked(index, count, launcher)
                .map(Some)
                .or_else(|why| bad(&index_origin, &format!("{index}/{count}"), &why));
        }
        if flag.is_some() {
            return bad(
                "--shard",
                "auto",
                "auto only under a launcher that sets SLURM_PROCID, OMPI_COMM_WORLD_RANK, \
                 PMI_RANK or JOB_COMPLETION_INDEX; otherwise I/N",
            );
        }
        Ok(None)
    }

    fn checked(index: u32, count: u32, launcher: Launcher) -> Result<Shard, String> {
        if count == 0 {
            return Err("at least one shard (N >= 1)".into());
        }
        if index >= count {
            return Err(format!(
                "an index below the shard count: 0 to {}",
                count - 1
            ));
        }
        Ok(Shard {
            index,
            count,
            launcher,
        })
    }
}

/// This shard's place among the shards its launcher started on the same host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colocated {
    /// Its local rank on this host, from 0.
    pub rank: u32,
    /// How many shards run on this host.
    pub size: u32,
    /// The variables it came from.
    pub source: &'static str,
}

impl Colocated {
    /// The local rank and count from the launcher's environment: Open MPI
    /// (`OMPI_COMM_WORLD_LOCAL_RANK`, `OMPI_COMM_WORLD_LOCAL_SIZE`), MPICH's Hydra
    /// (`MPI_LOCALRANKID`, `MPI_LOCALNRANKS`), Slurm (`SLURM_LOCALID` with this node's entry of
    /// `SLURM_TASKS_PER_NODE`, found by `SLURM_NODEID`). `None` when absent, unreadable, or
    /// alone on the host.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<Colocated> {
        let number = |name: &str| env(name)?.trim().parse::<u32>().ok();
        let found = if let (Some(rank), Some(size)) = (
            number("OMPI_COMM_WORLD_LOCAL_RANK"),
            number("OMPI_COMM_WORLD_LOCAL_SIZE"),
        ) {
            Some((rank, size, "OMPI_COMM_WORLD_LOCAL_RANK/SIZE"))
        } else if let (Some(rank), Some(size)) =
            (number("MPI_LOCALRANKID"), number("MPI_LOCALNRANKS"))
        {
            Some((rank, size, "MPI_LOCALRANKID/MPI_LOCALNRANKS"))
        } else if let (Some(rank), Some(node), Some(per_node)) = (
            number("SLURM_LOCALID"),
            number("SLURM_NODEID"),
            env("SLURM_TASKS_PER_NODE"),
        ) {
            slurm_tasks_on_node(&per_node, node)
                .map(|size| (rank, size, "SLURM_LOCALID/SLURM_TASKS_PER_NODE"))
        } else {
            None
        };
        let (rank, size, source) = found?;
        (size > 1 && rank < size).then_some(Colocated { rank, size, source })
    }

    /// The cores this shard takes of `allowed` (the cores its launcher let it use): slice
    /// `rank` of `size` near-equal contiguous slices, so that shards sharing a mask never share
    /// a core. With more shards than cores, core `rank mod cores` alone, so that the shards
    /// spread evenly rather than all pinning to the same first two. `None` with a single core:
    /// the launcher bound the shard already, and its binding stands.
    pub fn slice(&self, allowed: &[usize]) -> Option<Vec<usize>> {
        let (n, size, rank) = (allowed.len(), self.size as usize, self.rank as usize);
        if n < 2 {
            return None;
        }
        if n < size {
            return Some(vec![allowed[rank % n]]);
        }
        let start = rank * n / size;
        let end = (rank + 1) * n / size;
        Some(allowed[start..end].to_vec())
    }
}

/// Tasks on node `node` from Slurm's `SLURM_TASKS_PER_NODE` (`2(x3),1`: nodes 0-2 run 2,
/// node 3 runs 1).
fn slurm_tasks_on_node(text: &str, node: u32) -> Option<u32> {
    let mut first = 0u32;
    for part in text.split(',') {
        let (tasks, repeat) = match part.split_once("(x") {
            Some((tasks, rest)) => (tasks, rest.strip_suffix(')')?.parse::<u32>().ok()?),
            None => (part, 1),
        };
        let tasks = tasks.trim().parse::<u32>().ok()?;
        if node < first + repeat {
            return Some(tasks);
        }
        first += repeat;
    }
    None
}

/// How a run takes part in a sharded campaign.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClusterPlan {
    /// This run's shard; `None`: the whole schedule.
    pub shard: Option<Shard>,
    /// Start at this wall-clock instant (Unix seconds) and run on the monotonic clock from
    /// there; `None`: start at once.
    pub start_at_unix_s: Option<f64>,
    /// How late a shard may find `start_at` and still run (the report records the offset).
    pub start_tolerance_s: f64,
    /// Shards on the same host: each takes its own slice of the cores (unless the config
    /// names cores).
    pub colocated: Option<Colocated>,
}

impl Default for ClusterPlan {
    fn default() -> Self {
        ClusterPlan {
            shard: None,
            start_at_unix_s: None,
            start_tolerance_s: DEFAULT_START_TOLERANCE_S,
            colocated: None,
        }
    }
}

/// Default of `--start-tolerance`.
pub const DEFAULT_START_TOLERANCE_S: f64 = 0.25;

impl ClusterPlan {
    /// Checks that `run` can be sharded: Poisson arrivals need a fixed seed, or every shard
    /// would draw its own schedule and their union would be none.
    pub fn check(&self, run: &RunConfig) -> Result<(), ConfigError> {
        let Some(shard) = self.shard.filter(|s| s.count > 1) else {
            return Ok(());
        };
        for (config, origin) in run.scenarios.iter().zip(&run.origins) {
            if config.arrival == Arrival::Poisson && config.seed.is_none() {
                return Err(ConfigError::invalid(
                    origin,
                    "seed",
                    "null",
                    format!(
                        "a fixed seed: with Poisson arrivals and {} shards every shard must draw \
                         the same schedule",
                        shard.count
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What a shard's report says about its identity and start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
    /// Where the identity came from.
    pub launcher: Launcher,
    /// The host it ran on.
    pub host: String,
    /// The common start instant asked for (Unix seconds), if any.
    pub start_at_unix_s: Option<f64>,
    /// How far after `start_at` this shard's clock origin fell, in ms (0 without one).
    pub start_offset_ms: f64,
}

/// The clock a run's wall-clock instants come from, and how far it can be trusted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Where wall-clock instants come from.
    pub source: String,
    /// Whether the kernel says the clock is synchronized (NTP or PTP discipline), if it says.
    pub synchronized: Option<bool>,
    /// The kernel's estimate of the clock's maximum error, in µs, if it has one.
    pub max_error_us: Option<f64>,
}

/// The realtime clock and its discipline, as the kernel reports them (`adjtimex`).
pub fn clock_info() -> ClockInfo {
    // SAFETY: a zeroed timex with modes 0 only reads the kernel's state.
    let (state, timex) = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        (libc::adjtimex(&mut t), t)
    };
    let source = "CLOCK_REALTIME for the start instant; CLOCK_MONOTONIC from there".to_string();
    if state < 0 {
        return ClockInfo {
            source,
            synchronized: None,
            max_error_us: None,
        };
    }
    ClockInfo {
        source,
        synchronized: Some(state != libc::TIME_ERROR && timex.status & libc::STA_UNSYNC == 0),
        max_error_us: Some(timex.maxerror as f64),
    }
}

/// The realtime clock in Unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Parses `--start-at`: Unix seconds with a fraction (`1795784400.5`), `now+DURATION`
/// (`now+10s`, for trying things by hand), or RFC 3339 (`2026-11-27T13:00:00Z`,
/// `2026-11-27T14:00:00.250+01:00`).
pub fn parse_start_at(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if let Some(delay) = text.strip_prefix("now+") {
        let d = crate::config::parse_duration(delay)?;
        return Ok(unix_now() + d.as_secs_f64());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds > 0.0 {
            return Ok(seconds);
        }
        return Err(format!("`{text}` is not a positive Unix time"));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "`{text}` is neither Unix seconds (e.g. 1795784400.5), now+DURATION nor RFC 3339 \
             (e.g. 2026-11-27T13:00:00Z)"
        )
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to Unix seconds.
fn parse_rfc3339(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &frac[..digits]).parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) as f64 + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An output path for shard `shard`: `{shard}` is replaced by the shard's index (0 when not
/// sharded), so one command line serves every shard. A path without `{shard}` gets
/// `.shard-I` before its extension when there are several shards, so that shards on one
/// host or one shared volume never overwrite each other's reports.
pub fn shard_path(path: &std::path::Path, shard: Option<Shard>) -> std::path::PathBuf {
    let text = path.to_string_lossy();
    let index = shard.map_or(0, |s| s.index);
    if text.contains("{shard}") {
        return std::path::PathBuf::from(text.replace("{shard}", &index.to_string()));
    }
    match shard {
        Some(s) if s.count > 1 => crate::report::with_suffix(path, &format!(".shard-{index}")),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn identity_comes_from_the_flag_or_each_launcher() {
        let flag = Shard::resolve(Some("2/5"), None, env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (flag.index, flag.count, flag.launcher),
            (2, 5, Launcher::Flag)
        );
        let cases = [
            (
                &[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4")][..],
                Launcher::Slurm,
            ),
            (
                &[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "4")][..],
                Launcher::OpenMpi,
            ),
            (&[("PMI_RANK", "1"), ("PMI_SIZE", "4")][..], Launcher::Pmi),
            (
                &[("JOB_COMPLETION_INDEX", "1"), ("OPENPACE_SHARDS", "4")][..],
                Launcher::Kubernetes,
            ),
        ];
        for (vars, launcher) in cases {
            for flag in [None, Some("auto")] {
                let s = Shard::resolve(flag, None, env(vars)).unwrap().unwrap();
                assert_eq!((s.index, s.count, s.launcher), (1, 4, launcher));
            }
        }
        // --shards gives an Indexed Job its count; no launcher and no flag: not sharded.
        let k = Shard::resolve(None, Some("3"), env(&[("JOB_COMPLETION_INDEX", "2")]))
            .unwrap()
            .unwrap();
        assert_eq!((k.index, k.count), (2, 3));
        assert_eq!(Shard::resolve(None, None, env(&[])).unwrap(), None);
        let slurm = env(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "4")]);
        assert_eq!(Shard::resolve(Some("none"), None, slurm).unwrap(), None);
        // The flag wins over the environment.
        let s = Shard::resolve(
            Some("0/2"),
            None,
            env(&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!((s.index, s.count, s.launcher), (0, 2, Launcher::Flag));
    }

    /// Variables a launcher sets, as (name, value).
    type Vars<'a> = &'a [(&'a str, &'a str)];

    #[test]
    fn inconsistent_identities_are_config_errors_naming_their_source() {
        let cases: [(Option<&str>, Vars, &str); 7] = [
            (Some("4/4"), &[], "--shard"),
            (Some("0/0"), &[], "--shard"),
            (Some("1"), &[], "--shard"),
            (Some("a/b"), &[], "--shard"),
            (Some("auto"), &[], "--shard"),
            (
                None,
                &[("SLURM_PROCID", "x"), ("SLURM_NTASKS", "2")],
                "SLURM_PROCID",
            ),
            (None, &[("JOB_COMPLETION_INDEX", "0")], "OPENPACE_SHARDS"),
        ];
        for (flag, vars, needle) in cases {
            let e = Shard::resolve(flag, None, env(vars))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{flag:?} {vars:?}: {e}");
        }
    }

    #[test]
    fn colocated_shards_take_disjoint_slices_of_their_mask() {
        let ompi = env(&[
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "3"),
        ]);
        let c = Colocated::from_env(ompi).unwrap();
        assert_eq!((c.rank, c.size), (1, 3));
        let cores: Vec<usize> = (0..8).collect();
        let slices: Vec<Vec<usize>> = (0..3)
            .map(|rank| Colocated { rank, ..c }.slice(&cores).unwrap())
            .collect();
        assert_eq!(slices, vec![vec![0, 1], vec![2, 3, 4], vec![5, 6, 7]]);
        // Bound to one core each already: the binding stands.
        assert_eq!(c.slice(&[5]), None);
        // More shards than cores: one core each, in turn.
        let spread: Vec<Vec<usize>> = (0..3)
            .map(|rank| Colocated { rank, ..c }.slice(&[4, 5]).unwrap())
            .collect();
        assert_eq!(spread, vec![vec![4], vec![5], vec![4]]);
        // Slurm: node 3 of "2(x3),1" runs one task, so it is alone; node 1 runs two.
        let on_node = |node| {
            [
                ("SLURM_LOCALID", "0"),
                ("SLURM_NODEID", node),
                ("SLURM_TASKS_PER_NODE", "2(x3),1"),
            ]
        };
        assert_eq!(Colocated::from_env(env(&on_node("3"))), None);
        assert_eq!(
            Colocated::from_env(env(&on_node("1"))).map(|c| c.size),
            Some(2)
        );
        let hydra = env(&[("MPI_LOCALRANKID", "0"), ("MPI_LOCALNRANKS", "4")]);
        assert_eq!(Colocated::from_env(hydra).map(|c| c.size), Some(4));
        assert_eq!(Colocated::from_env(env(&[])), None);
    }

    #[test]
    fn start_times_parse_in_every_form() {
        assert_eq!(parse_start_at("1795784400.5").unwrap(), 1_795_784_400.5);
        assert_eq!(parse_start_at("1970-01-01T00:00:10Z").unwrap(), 10.0);
        // 2026-11-27T13:00:00Z = 20784 days after 1970-01-01, plus 13 h.
        assert_eq!(
            parse_start_at("2026-11-27T13:00:00Z").unwrap(),
            (20_784 * 86_400 + 13 * 3600) as f64
        );
        assert_eq!(
            parse_start_at("2026-11-27T14:00:00.250+01:00").unwrap(),
            (20_784 * 86_400 + 13 * 3600) as f64 + 0.25
        );
        let soon = parse_start_at("now+10s").unwrap() - unix_now();
        assert!((9.0..=10.0).contains(&soon), "{soon}");
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-27T13:00:00",
            "-5",
        ] {
            assert!(parse_start_at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_patterns_in_paths_take_the_index() {
        let p = std::path::Path::new("results/run-{shard}.json");
        let s = Shard {
            index: 3,
            count: 8,
            launcher: Launcher::Flag,
        };
        assert_eq!(
            shard_path(p, Some(s)),
            std::path::Path::new("results/run-3.json")
        );
        assert_eq!(
            shard_path(p, None),
            std::path::Path::new("results/run-0.json")
        );
        let plain = std::path::Path::new("results/run.json");
        assert_eq!(
            shard_path(plain, Some(s)),
            std::path::Path::new("results/run.shard-3.json")
        );
        assert_eq!(shard_path(plain, None), plain);
        let one = Shard {
            count: 1,
            index: 0,
            ..s
        };
        assert_eq!(shard_path(plain, Some(one)), plain);
    }
}
