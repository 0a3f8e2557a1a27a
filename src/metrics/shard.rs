//! Who a shard was and how it started: the part of a result that says where it came from
//! in a sharded campaign.

use serde::{Deserialize, Serialize};

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
