//! The vocabulary of a sharded campaign, in one place: who a run is in it ([`Shard`]: shard
//! `I` of `N`, from `--shard` or the launcher's environment, [`Launcher`]), how it takes part
//! ([`ClusterPlan`]: its shard, its place among shards on the same host ([`Colocated`]), the
//! common start instant), and what its result says of it ([`ShardInfo`]). The engine reads
//! the plan, a result carries the info, `cluster` merges and verifies the campaign; the rule
//! that a sharded config needs a fixed Poisson seed is the config's
//! (`RunConfig::check_sharding`).

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Origin};

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
    pub(crate) const ENV: [(Launcher, &'static str, &'static str); 4] = [
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
