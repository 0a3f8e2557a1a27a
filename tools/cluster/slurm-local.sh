#!/usr/bin/env bash
# A real single-node Slurm on this host, from Debian's packages, running the Slurm recipe:
#
#   tools/cluster/slurm-local.sh [OPENPACE]     (root; default: this checkout's release build)
#
# Starts munged, slurmctld and slurmd with a config written here (ProctrackType linuxproc,
# TaskPlugin none, one node with this machine's CPUs, a partition with OverSubscribe), submits
# tools/cluster/slurm.sbatch with two tasks on the one node through `sbatch --wait`, and checks
# that the merged report holds the whole schedule: both shards, and every intended request
# of RATE x SECS. Stops the daemons and removes its files on exit. Installs slurm-wlm and
# munge if they are missing. Prints the merged counts; exit 0 when they add up.
# Environment: RATE (1000), SECS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
if [[ $# -eq 0 ]]; then cargo build --release --quiet; fi
openpace=$(realpath "${1:-target/release/openpace}")
RATE=${RATE:-1000}
SECS=${SECS:-3}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

dir=$(mktemp -d /tmp/openpace-slurm.XXXXXX)
chmod 755 "$dir"
node=$(hostname -s)
cpus=$(nproc)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

# munge: a key of our own and a daemon that runs as root (it would otherwise insist on its
# own user and directories).
mkdir -p "$dir/munge"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$dir/munge"
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/seed"
pids+=("$(cat "$dir/munge/munged.pid")")

mkdir -p "$dir/state" "$dir/spool" "$dir/jobs"
cat > "$dir/slurm.conf" <<CONF
ClusterName=openpace
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ReturnToService=2
MpiDefault=none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
    [[ -s $dir/slurmctld.pid && -s $dir/slurmd.pid ]] && break
    sleep 0.1
done
pids+=("$(cat "$dir/slurmctld.pid")" "$(cat "$dir/slurmd.pid")")
for _ in $(seq 100); do
    sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)' && break
    sleep 0.2
done
sinfo -N -o '%N %T %c' || true

cat > "$dir/jobs/scenario.json" <<JSON
{"name": "slurm", "target": "noop", "target_rps": $RATE, "duration_seconds": $SECS,
 "warmup_seconds": 0, "num_workers": 1, "metrics_collection_interval": 1}
JSON
# The recipe as a user submits it, two tasks on this one node: the command line overrides
# its #SBATCH lines for the node count and tasks per node.
cd "$dir/jobs"
started=$(date +%s.%N)
status=0
timeout 300 sbatch --wait --nodes=1 --ntasks=2 --ntasks-per-node=2 \
    --export=ALL,OPENPACE="$openpace",START_DELAY=3 \
    "$root/tools/cluster/slurm.sbatch" "$dir/jobs/scenario.json" || status=$?
ended=$(date +%s.%N)
echo "sbatch --wait: exit $status after $(python3 -c "print('%.1f' % ($ended - $started))") s"
cat "$dir"/jobs/openpace-*.log 2>/dev/null | tail -5 || true
merged=$(ls "$dir"/jobs/results/*/merged.json)
python3 - "$merged" "$RATE" "$SECS" <<'PY'
import json, sys
path, rate, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
r = json.load(open(path))
s, m = r["scenarios"][0], r["merged"]
q = s["requests"]
expected = round(rate * secs)
print(f"merged {m['shard_count']} shards (partial: {m['partial']}): {q['intended']} intended of "
      f"{expected} scheduled, {q['completed']} completed, {q['ok']} ok, {q['dropped']} dropped; "
      f"response p50 {s['response_time_ms']['p50']:.4f} ms, p99 {s['response_time_ms']['p99']:.4f} ms")
assert m["shard_count"] == 2 and not m["partial"], m
assert q["intended"] == expected and q["completed"] == expected and q["ok"] == expected, q
PY
exit "$status"
