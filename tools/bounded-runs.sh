#!/usr/bin/env bash
# Runs that used to have no upper bound (issue 11), with one openpace binary:
#
#   tools/bounded-runs.sh [OPENPACE [TESTSERVER]]     (default: this checkout's release build)
#
# Each should end by its window + its timeout + about a second; a SIGINT during the drain
# should end the run within about a second with exit 130; a 10 MB body sent on 64
# connections should cost about 10 MB, not 10 MB per connection.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -eq 0 ]]; then cargo build --release --quiet; fi
openpace=${1:-target/release/openpace}
testserver=${2:-target/release/openpace-testserver}
log=$(mktemp); log2=$(mktemp); report=$(mktemp --suffix .json); body=$(mktemp)
"$testserver" --hang-every 1 > "$log" 2>&1 & server=$!
"$testserver" > "$log2" 2>&1 & server2=$!
trap 'kill $server $server2 2>/dev/null; rm -f "$log" "$log2" "$report" "$body"' EXIT
sleep 0.3
addr=$(head -1 "$log" | awk '{print $3}')
addr2=$(head -1 "$log2" | awk '{print $3}')

timed() {
  local start end code=0
  start=$(date +%s.%N)
  timeout 120 "$@" > /dev/null 2>&1 || code=$?
  end=$(date +%s.%N)
  printf '%6.2f s (exit %s)\n' "$(echo "$end - $start" | bc)" "$code"
}
printf '%-62s' "server that never answers: 1 s window, 1 s timeout, 1 conn"
timed "$openpace" run --target "http://$addr/" --rate 20 --duration 1s --timeout 1s \
  --connections 1 --warmup 0 --quiet --out none
printf '%-62s' "sleep:100ms, 1 worker, 100 RPS for 2 s, 1 s timeout"
timed "$openpace" run --target sleep:100ms --workers 1 --rate 100 --duration 2s --timeout 1s \
  --warmup 0 --quiet --out none
printf '%-62s' "abort_on_fail, spin:1ms at 10,000 RPS for 3 s"
timed "$openpace" run --target spin:1ms --rate 10000 --duration 3s --warmup 0 --abort-on-fail \
  --quiet --out none
printf '%-62s' "SIGINT 1.5 s into a drain of 5 s calls (0.5 s window)"
"$openpace" run --target sleep:5s --workers 4 --rate 8 --duration 0.5s --warmup 0 --quiet \
  --out "$report" > /dev/null 2>&1 & run=$!
sleep 1.5
start=$(date +%s.%N); kill -INT $run; code=0; wait $run || code=$?; end=$(date +%s.%N)
printf '%6.2f s after the signal (exit %s, interrupted: %s)\n' "$(echo "$end - $start" | bc)" \
  "$code" "$(grep -o '"interrupted": [a-z]*' "$report" | head -1 | awk '{print $2}')"
printf '%-62s' "10 MB body, POST on 64 connections for 1 s: peak RSS"
head -c 10485760 /dev/zero > "$body"
"$openpace" run --target "http://$addr2/" --method POST --body-file "$body" --connections 64 \
  --workers 2 --rate 64 --duration 1s --warmup 0 --quiet --out "$report" > /dev/null 2>&1 || true
printf '%6s MB\n' "$(grep -o '"max_rss_mb": [0-9.]*' "$report" | awk '{printf "%.0f", $2}')"
