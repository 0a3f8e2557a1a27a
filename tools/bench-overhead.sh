#!/usr/bin/env bash
# openpace's own cost at every rate, with default flags, against nginx (issue 28, part 1).
#
# nginx (one worker, tools/nginx.sh) is pinned to SERVER_CORE; openpace runs as a newcomer
# types it, `openpace run --target URL --rate R`, with its default core plan. For each rate
# in RATES, RUNS runs of SECS seconds after a 1-s warmup, each printing the report's own
# figures: overhead_pct, dispatch delay (mean, p50, p99, max), how late the host woke the
# sleeping workers (p99, max), the spin window they adapted to it, the timing loop's stalls,
# the host's CPU steal, and the cause the summary's overhead note gave when it was over 5%
# (host-held: 99% on time, a few held for ms; woken-late: wake-ups past the spin window;
# loop-late, hand-off, shared-cores).
# Then `openpace calibrate` prints the host's wake-up lateness and the floor it sets.
#
# Usage: tools/bench-overhead.sh [--short]   (--short: one 1-s run at 100 and 1,000 RPS, for
#        CI, so that the script cannot rot; its figures are read, never asserted)
# Environment: PORT RATES RUNS SECS SERVER_CORE CALIBRATE, EXTRA (flags added to every run,
#              e.g. EXTRA="--wait spin"), OPENPACE (a binary to measure
#              instead of this tree's, e.g. an older build for a before/after)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18183}
RATES=${RATES:-10 100 1000 20000}
RUNS=${RUNS:-5}
SECS=${SECS:-4}
SERVER_CORE=${SERVER_CORE:-0}
CALIBRATE=${CALIBRATE:-10s}
read -ra extra <<<"${EXTRA:-}"
if [ "${1:-}" = --short ]; then
    RATES="100 1000"
    RUNS=1
    SECS=1
    CALIBRATE=1s
fi

if ! command -v nginx >/dev/null || ! command -v python3 >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq nginx python3 >/dev/null
fi
. tools/nginx.sh
openpace_binary
nginx_session "$PORT" "$SERVER_CORE"

echo "host: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "nginx on core $SERVER_CORE; openpace with default flags${EXTRA:+ and $EXTRA}; ${SECS}s runs after a 1-s warmup"
printf '%6s  %8s  %-36s  %-22s  %-12s  %s\n' rate overhead "dispatch delay us: mean p50 p99 max" \
    "wake-ups us: p99 max" "window us" "stalls steal% overhead note"
for rate in $RATES; do
    for _ in $(seq "$RUNS"); do
        "$OPENPACE" run --target "http://127.0.0.1:$PORT/" --rate "$rate" --duration "${SECS}s" \
            --warmup 1s --quiet --out "$dir/r.json" "${extra[@]}" >/dev/null 2>&1 || true
        python3 - "$dir/r.json" "$rate" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["scenarios"][0]
dd = s["dispatch_delay_us"]
w = s.get("wait") or {}
late = w.get("wake_lateness_us") or {}
window = w.get("spin_window_us") or [0, 0]
steal = max([x["host"]["total"]["steal_pct"] for x in d["resources"]["samples"]] or [0])
# The overhead note's cause, when there is one.
text = json.dumps(d, ensure_ascii=False)
causes = [("take turns on", "shared-cores"), ("99% of requests started within", "host-held"),
          ("out of reach", "woken-late"), ("timing loop handed", "loop-late"),
          ("hand-off to the workers", "hand-off")]
note = text.split("FRAMEWORK OVERHEAD: ", 1)[1] if "FRAMEWORK OVERHEAD: " in text else ""
reach = next((name for key, name in causes if key in note), "-")
print("%6s  %7.2f%%  %7.1f %6.1f %7.1f %8.0f    %8.1f %9.0f    %4.0f-%-5.0f  %d %5.1f %s" % (
    sys.argv[2], s["overhead_pct"], dd["avg"], dd["p50"], dd["p99"], dd["max"],
    late.get("p99", 0), late.get("max", 0), window[0], window[1],
    len(d.get("stalls", [])), steal, reach))
PY
    done
done

echo
echo "calibrate ($CALIBRATE): the host's wake-up lateness and the floor it sets"
"$OPENPACE" calibrate --duration "$CALIBRATE" --modes hybrid --out none 2>&1 |
    grep -E "hybrid mode|timer lateness|dispatch delay|floor" || true
