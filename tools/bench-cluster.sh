#!/usr/bin/env bash
# Sharded runs under mpirun on this one machine, merged, beside the figures they must equal.
#
#   tools/bench-cluster.sh
#
# 1. 2 shards x noop, 20,000 RPS in all for 10 s, once as mpirun binds them (a core each) and
#    once unbound (--bind-to none: openpace splits the cores between co-located shards):
#    merged intended count against rate x duration, merged achieved rate, each shard's and
#    the merge's response p99 / p99.9.
# 2. 16 shards on 2 cores (oversubscribed), 16,000 RPS in all for 5 s, 100 ms intervals: the
#    same counts, the spread of the shards' start offsets, and how long the merge takes.
# Needs mpirun (apt-get install -y openmpi-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/openpace
dir=$(mktemp -d -t openpace-cluster.XXXXXX)
trap 'rm -rf "$dir"' EXIT

field() { # field FILE NAME: the first number of "NAME": in FILE
  grep -o "\"$2\": [0-9.e+-]*" "$1" | head -1 | awk '{print $2}'
}
p99s() { # p99 and p99.9 of the response time, ms
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['scenarios'][0]['response_time_ms']; print(f\"p99 {s['p99']:.3f} ms, p99.9 {s['p99_9']:.3f} ms\")" "$1"
}

campaign() { # campaign NAME SHARDS RATE SECONDS INTERVAL [MPIRUN FLAGS...]
  local name=$1 n=$2 rate=$3 seconds=$4 interval=$5
  shift 5
  local start
  start=$(python3 -c 'import time; print(f"{time.time() + 2:.3f}")')
  mpirun --allow-run-as-root --oversubscribe "$@" -n "$n" "$bin" run --target noop --workers 1 \
    --warmup 1 --rate "$rate" --duration "$seconds" --interval "$interval" --quiet \
    --shard auto --start-at "$start" --out "$dir/$name-{shard}.json" || true
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" merge "$dir/$name"-*.json --out "$dir/$name-merged.json" --quiet || true
  t1=$(date +%s.%N)
  local m=$dir/$name-merged.json
  echo "$name: $n shards, $rate RPS for ${seconds}s ${*:+(mpirun $*)}"
  echo "  merged intended $(field "$m" intended) (rate x duration = $((rate * seconds))), achieved $(field "$m" achieved_rps) RPS"
  echo "  merged response $(p99s "$m")"
  for ((i = 0; i < n && i < 2; i++)); do
    echo "  shard $i response $(p99s "$dir/$name-$i.json"), achieved $(field "$dir/$name-$i.json" achieved_rps) RPS"
  done
  python3 - "$m" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["merged"]
offsets = [s["origin_offset_ms"] for s in m["shards"]]
late = [s["start_offset_ms"] for s in m["shards"]]
print(f"  origin offsets {min(offsets):.3f} to {max(offsets):.3f} ms; started after start-at: max {max(late):.1f} ms")
PY
  printf '  merge of %d reports (%s bytes each): %.0f ms\n' "$n" \
    "$(stat -c %s "$dir/$name-0.json")" "$(echo "($t1 - $t0) * 1000" | bc -l)"
}

campaign two 2 20000 10 1
campaign two-unbound 2 20000 10 1 --bind-to none
campaign sixteen 16 16000 5 0.1
