#!/usr/bin/env bash
# The highest constant rate at which the default scenario (the feature extractor, 8 workers)
# still holds p95 < 100 ms on this machine, measured with openpace itself: runs the default
# scenario for 10 s (after 2 s warmup) at rising rates and stops at the first that fails.
#
#   tools/features-capacity.sh [START] [STEP] [MAX]     defaults: 50 25 600
set -euo pipefail
cd "$(dirname "$0")/.."
start=${1:-50} step=${2:-25} max=${3:-600}

cargo build --release --quiet
report=$(mktemp -t openpace-capacity.XXXXXX.json)
trap 'rm -f "$report"' EXIT
held=none
for ((rate = start; rate <= max; rate += step)); do
  ./target/release/openpace run --rate "$rate" --duration 10 --quiet --out "$report" || true
  p95=$(grep -o '"p95": [0-9.e+-]*' "$report" | head -1 | awk '{print $2}')
  achieved=$(grep -o '"achieved_rps": [0-9.]*' "$report" | head -1 | awk '{print $2}')
  ok=$(awk -v p="$p95" 'BEGIN { print (p < 100) ? "yes" : "no" }')
  printf '%5d RPS: achieved %9s RPS, response p95 %10.2f ms  %s\n' "$rate" "$achieved" "$p95" \
    "$([ "$ok" = yes ] && echo holds || echo FAILS)"
  [ "$ok" = yes ] || break
  held=$rate
done
echo "highest rate holding p95 < 100 ms: $held RPS"
