#!/usr/bin/env bash
# The engine's figures on this machine, each printed beside the floor it sits on.
#
#   tools/bench-engine.sh          floors, peak rate, spin-mode precision, default scenario,
#                                  and peak RSS at 100,000 RPS for 10 s
#   tools/bench-engine.sh --long   adds the same RSS run for 10 minutes
#
# Timer on core 0, worker on core 1. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
cargo bench --quiet --bench engine

durations=(10)
[[ "${1:-}" == "--long" ]] && durations+=(600)
report=$(mktemp -t openpace-rss.XXXXXX.json)
trap 'rm -f "$report"' EXIT
echo
for d in "${durations[@]}"; do
  ./target/release/openpace run --target noop --rate 100000 --duration "$d" --warmup 1 \
    --workers 1 --wait spin --timer-core 0 --worker-cores 1 --quiet --out "$report" || true
  rss=$(grep -o '"max_rss_mb": [0-9.]*' "$report" | awk '{print $2}')
  achieved=$(grep -o '"achieved_rps": [0-9.]*' "$report" | head -1 | awk '{print $2}')
  printf '%-44s %-46s %s\n' "noop 100k RPS for ${d}s: peak RSS" "${rss} MB (achieved ${achieved} RPS)" "bar: 32 MB"
done
