#!/usr/bin/env bash
# One flag's effect against nginx on loopback: ROUNDS rounds of two SECS-s runs at RATE RPS,
# without and with FLAGS, alternating, default flags otherwise (nginx pinned to core 0,
# openpace's default core plan). Prints response and service p50/p99 (us), the framework
# overhead, the workers' and the whole process's CPU, and what a request log kept. A FLAGS word
# `@DIR` stands for the run's scratch folder (a request log's place: `--log-requests
# @DIR/requests.log`).
#
# Usage: tools/with-without.sh FLAGS...   Environment: ROUNDS (3), SECS (4), RATE (10000),
#                                         PORT (18185), OPENPACE (this checkout's release build)
# tools/busy-poll.sh and tools/request-log.sh call it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-4}
RATE=${RATE:-10000}
PORT=${PORT:-18185}
. tools/nginx.sh
nginx_bench "$PORT" 0
flags=("${@//@DIR/$dir}")

# one NAME [FLAGS...]: a run; prints its figures.
one() {
    local name=$1
    shift
    "$OPENPACE" run --target "http://127.0.0.1:$PORT/" --rate "$RATE" --duration "${SECS}s" \
        --quiet --out "$dir/r.json" "$@" >/dev/null 2>&1 || true
    python3 - "$dir/r.json" "$name" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
s = run["scenarios"][0]
r, v, res = s["response_time_ms"], s["service_time_ms"], run["resources"]
log = run.get("request_log")
kept = "" if log is None else " | log %d of %d lines" % (log["written"], log["requests"])
print("  %-16s response p50 %6.1f p99 %7.1f | service p50 %6.1f p99 %7.1f us | overhead %5.2f%%"
      " | workers %.2f s, process %.2f s CPU%s"
      % (sys.argv[2][:16], r["p50"] * 1e3, r["p99"] * 1e3, v["p50"] * 1e3, v["p99"] * 1e3,
         s["overhead_pct"], s["worker_cpu_s"], res["cpu_user_s"] + res["cpu_system_s"], kept))
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "nginx on core 0; $RATE RPS for ${SECS}s; with: ${*}"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    one "without"
    one "${1}" "${flags[@]}"
    rm -f "$dir"/*.log
done
