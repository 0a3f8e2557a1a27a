#!/usr/bin/env bash
# Runs the recipes' own commands on this machine, without Slurm or Kubernetes: slurm.sbatch
# with a stand-in `srun` that starts each task with SLURM_PROCID/SLURM_NTASKS, and the shell
# commands of kubernetes.yaml's shard pods (JOB_COMPLETION_INDEX, OPENPACE_SHARDS) and of the
# merge Job, with /results and /scenario in a temporary directory. Checks that every shard
# wrote its report and that the merge holds the whole schedule. Needs python3 with PyYAML.
#
#   tools/cluster/check-recipes.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
bin=$PWD/target/release/openpace
work=$(mktemp -d -t openpace-recipes.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/scenario.json" <<'JSON'
{"name": "recipe check", "target": "sleep:2ms", "target_rps": 400, "duration_seconds": 3,
 "warmup_seconds": 0.5, "num_workers": 2}
JSON
intended() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenarios"][0]["requests"]["intended"])' "$1"
}

# Slurm: 3 tasks.
mkdir -p "$work/bin"
cat > "$work/bin/srun" <<'SRUN'
#!/usr/bin/env bash
n=3
while [[ $1 == --* ]]; do shift; done
for ((i = 0; i < n; i++)); do SLURM_PROCID=$i SLURM_NTASKS=$n "$@" & done
s=0; for ((i = 0; i < n; i++)); do wait -n || s=$?; done; exit $s
SRUN
chmod +x "$work/bin/srun"
(cd "$work" && PATH="$work/bin:$PATH" SLURM_JOB_ID=check START_DELAY=2 OPENPACE=$bin \
  bash "$OLDPWD/tools/cluster/slurm.sbatch" scenario.json > slurm.log 2>&1)
echo "slurm.sbatch: $(ls "$work/results/check" | tr '\n' ' ')"
echo "  merged intended $(intended "$work/results/check/merged.json") (400 RPS x 3 s = 1200)"

# Kubernetes: 2 pods, then the merge Job.
python3 - "$bin" "$work" <<'PY'
import json, os, subprocess, sys, time
import yaml
bin, work = sys.argv[1], sys.argv[2]
values = {"${SHARDS}": "2", "${OPENPACE_IMAGE}": "check", "${RUN_ID}": "check",
          "${START_AT}": str(int(time.time()) + 3)}
def load(name):
    text = open(f"tools/cluster/{name}").read()
    for k, v in values.items():
        text = text.replace(k, v)
    return list(yaml.safe_load_all(text))
def command(job):
    args = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    return args.replace("/results", f"{work}/k8s").replace("/scenario/scenario.json", f"{work}/scenario.json")
env = dict(os.environ, PATH=os.path.dirname(bin) + ":" + os.environ["PATH"], OPENPACE_SHARDS="2")
shards = [d for d in load("kubernetes.yaml") if d["kind"] == "Job"][0]
pods = [subprocess.Popen(["/bin/sh", "-c", command(shards)], env=dict(env, JOB_COMPLETION_INDEX=str(i)))
        for i in range(2)]
codes = [p.wait() for p in pods]
merge = subprocess.run(["/bin/sh", "-c", command(load("kubernetes-merge.yaml")[0])], env=env,
                       capture_output=True, text=True)
merged = json.loads(merge.stdout)
print(f"kubernetes.yaml: pods exited {codes}, merge Job exited {merge.returncode}; "
      f"{' '.join(sorted(os.listdir(f'{work}/k8s/check')))}")
print(f"  merged intended {merged['scenarios'][0]['requests']['intended']} (1200), from the "
      f"merge Job's log; launcher {json.load(open(f'{work}/k8s/check/run-1.json'))['shard']['launcher']}")
PY
