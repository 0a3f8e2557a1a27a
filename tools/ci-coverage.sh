#!/usr/bin/env bash
# How often the 95% intervals of real runs hold the analytic truth (issue 14):
#
#   tools/ci-coverage.sh [RUNS [OPENPACE]]     (default: 20 runs, this checkout's release build)
#
# Each run: spin:exp:200us at 1,000 RPS for 5 s with its own seed. The target busy-waits an
# exponential time with mean 200 us, so its service time's true p50, p90 and p99 are
# 200 us x ln 2, ln 10 and ln 100 (138.6, 460.5 and 921.0 us); a run's service time is that
# busy time plus whatever the host adds (preemption), so on a busy machine the intervals
# lean high. Prints each run's intervals and, per percentile, how many of the runs hold the
# truth. Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
if [[ $# -lt 2 ]]; then cargo build --release --quiet; fi
openpace=${2:-target/release/openpace}
report=$(mktemp --suffix .json)
trap 'rm -f "$report"' EXIT

declare -A held=([p50]=0 [p90]=0 [p99]=0)
declare -A truth_ms=([p50]=0.1386294 [p90]=0.4605170 [p99]=0.9210340)
for ((i = 1; i <= runs; i++)); do
  "$openpace" run --target spin:exp:200us --rate 1000 --duration 5s --seed "$i" \
    --arrival poisson --out "$report" --quiet || true
  line="run $i:"
  for p in p50 p90 p99; do
    lo=$(jq ".scenarios[0].service_time_ms.ci95.$p[0]" "$report")
    hi=$(jq ".scenarios[0].service_time_ms.ci95.$p[1]" "$report")
    if awk -v lo="$lo" -v hi="$hi" -v t="${truth_ms[$p]}" 'BEGIN { exit !(lo <= t && t <= hi) }'; then
      held[$p]=$((held[$p] + 1))
      mark=ok
    else
      mark=MISS
    fi
    line+=$(printf '  %s [%.4f, %.4f] %s' "$p" "$lo" "$hi" "$mark")
  done
  echo "$line"
done
for p in p50 p90 p99; do
  printf '%s: %d of %d runs hold the analytic %s ms\n' "$p" "${held[$p]}" "$runs" "${truth_ms[$p]}"
done
