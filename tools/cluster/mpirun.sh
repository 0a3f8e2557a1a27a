#!/usr/bin/env bash
# N openpace shards under Open MPI's mpirun, a common start instant, then the exact merge.
#
#   tools/cluster/mpirun.sh 4 scenario.json [hostfile]
#
# The line that matters:
#
#   mpirun -n N [--hostfile H] openpace run CONFIG --shard auto --start-at T --out 'dir/run-{shard}.json'
#   openpace merge dir/run-*.json --out dir/merged.json
#
# Each rank reads OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE (PMI_RANK / PMI_SIZE under
# MPICH or Intel MPI). openpace uses no MPI calls: mpirun only starts the processes. The
# shards write on a filesystem the merge can read (shared, or copy the files back first).
# `--allow-run-as-root` lets it run in a container as root; `--oversubscribe` lets the
# shards outnumber the cores (this repository's test runs 2 shards on a 2-core machine).
# Several ranks on one host each take their own slice of the cores (OMPI_COMM_WORLD_LOCAL_*);
# with more than one rank per host, `--bind-to none` lets openpace split each host's cores
# evenly, where Open MPI's default for more than 2 ranks binds every rank to a whole socket.
set -euo pipefail

N=${1:?usage: tools/cluster/mpirun.sh N CONFIG.json [HOSTFILE]}
CONFIG=${2:?usage: tools/cluster/mpirun.sh N CONFIG.json [HOSTFILE]}
HOSTFILE=${3:-}
OPENPACE=${OPENPACE:-$(dirname "$0")/../../target/release/openpace}
OUT=${OUT:-results/mpi-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
START=$(($(date +%s) + ${START_DELAY:-10}))

hosts=()
if [ -n "$HOSTFILE" ]; then hosts=(--hostfile "$HOSTFILE"); fi
# Shards whose own thresholds fail exit 1; the merged verdict is the campaign's.
mpirun --allow-run-as-root --oversubscribe --bind-to none -n "$N" "${hosts[@]}" \
    "$OPENPACE" run "$CONFIG" --shard auto --start-at "$START" \
    --out "$OUT/run-{shard}.json" --quiet || true

"$OPENPACE" merge "$OUT"/run-*.json --out "$OUT/merged.json"
