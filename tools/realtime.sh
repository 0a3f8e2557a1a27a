#!/usr/bin/env bash
# The timing loop's wake-up lateness with and without --realtime (SCHED_FIFO), on a quiet
# core and beside a CPU hog on the same core (a `sh` busy loop pinned there: the noisy
# neighbour a shared host has). Each of ROUNDS rounds runs `openpace calibrate --modes
# hybrid,sleep --duration SECS` four ways, alternating, and prints the timing loop's lateness
# (p50, p99, max, us) of each mode. Needs the privilege --realtime needs (root, or ulimit -r).
#
# Usage: tools/realtime.sh   Environment: ROUNDS (3), SECS (8), TIMER_CORE (0),
#                            WORKER_CORE (1), OPENPACE (this checkout's release build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-8}
TIMER_CORE=${TIMER_CORE:-0}
WORKER_CORE=${WORKER_CORE:-1}
. tools/nginx.sh
openpace_binary
dir=$(mktemp -d)
hog_pid=
trap '[ -z "${hog_pid:-}" ] || kill "$hog_pid" 2>/dev/null; rm -rf "$dir"' EXIT

# one NAME [--realtime]: a calibration; prints its timing-loop lateness per mode.
one() {
    local name=$1
    shift
    "$OPENPACE" calibrate --modes hybrid,sleep --duration "${SECS}s" --timer-core "$TIMER_CORE" \
        --worker-core "$WORKER_CORE" --quiet --out "$dir/c.json" "$@" >/dev/null
    python3 - "$dir/c.json" "$name" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
cells = []
for m in c["modes"]:
    l = m["timer_lateness_us"]
    cells.append("%s p50 %.1f p99 %.1f max %.0f" % (m["mode"], l["p50"], l["p99"], l["max"]))
print("  %-22s %s" % (sys.argv[2], " | ".join(cells)))
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "timing loop on core $TIMER_CORE, worker on core $WORKER_CORE; ${SECS}s calibrations; lateness in us"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    one "quiet"
    one "quiet, --realtime" --realtime
    taskset -c "$TIMER_CORE" sh -c 'while :; do :; done' &
    hog_pid=$!
    one "hog on its core"
    one "hog, --realtime" --realtime
    kill "$hog_pid"
    wait "$hog_pid" 2>/dev/null || true
    hog_pid=
done
