#!/usr/bin/env bash
# What --timestamps kernel costs (issue 31 part 2): the highest rate nginx holds with p99 under
# LIMIT, found by `openpace capacity` (steps of STEP, bisection), without and with
# `--timestamps kernel`, alternating, ROUNDS rounds; default flags otherwise (nginx pinned to
# core 0, openpace's default core plan). Prints each search's answer and the ratio with/without.
#
# Usage: tools/timestamps-cost.sh   Environment: ROUNDS (3), STEP (2s), LIMIT (5ms), LOW (5000),
#                                   HIGH (20000), PORT (18186), OPENPACE (this checkout's build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
STEP=${STEP:-2s}
LIMIT=${LIMIT:-5ms}
LOW=${LOW:-5000}
HIGH=${HIGH:-20000}
PORT=${PORT:-18186}
. tools/nginx.sh
nginx_bench "$PORT" 0

# search NAME [FLAGS...]: a capacity search; prints the rate that passed.
rates=()
search() {
    local name=$1
    shift
    "$OPENPACE" capacity --target "http://127.0.0.1:$PORT/" --low "$LOW" --high "$HIGH" \
        --cap 400000 --step "$STEP" --warmup 500ms --threshold "response p99 < $LIMIT" \
        --out "$dir/cap.json" "$@" >/dev/null 2>&1 || true
    python3 - "$dir/cap.json" "$name" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
passed = c.get("highest_passed") or 0
print("  %-20s %10.0f RPS" % (sys.argv[2], passed))
PY
    rates+=("$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("highest_passed") or 0)' "$dir/cap.json")")
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "nginx on core 0; the highest rate with response p99 < $LIMIT, steps of $STEP"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    search "without"
    search "--timestamps kernel" --timestamps kernel
    python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print("  with / without: %.2f" % (b / a if a else 0))' \
        "${rates[-2]}" "${rates[-1]}"
done
