#!/usr/bin/env bash
# What --log-requests costs, against nginx on loopback: ROUNDS rounds of two SECS-s runs at RATE
# RPS, without and with `--log-requests`, alternating, default flags otherwise (nginx pinned to
# core 0, openpace's default core plan). Prints response p50/p99 (us), the framework overhead,
# the workers' CPU, the whole process's CPU, and what the log kept.
#
# Usage: tools/request-log.sh   Environment: ROUNDS (3), SECS (5), RATE (20000), PORT (18184),
#                               OPENPACE (this checkout's release build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
RATE=${RATE:-20000}
PORT=${PORT:-18184}
if ! command -v nginx >/dev/null || ! command -v python3 >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq nginx python3 >/dev/null
fi
. tools/nginx.sh
openpace_binary
nginx_session "$PORT" 0

# one NAME [FLAGS...]: a run; prints its figures.
one() {
    local name=$1
    shift
    "$OPENPACE" run --target "http://127.0.0.1:$PORT/" --rate "$RATE" --duration "${SECS}s" \
        --quiet --out "$dir/r.json" "$@" >/dev/null 2>&1 || true
    python3 - "$dir/r.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["scenarios"][0]
t = s["response_time_ms"]
res = r["resources"]
log = r.get("request_log")
kept = "" if log is None else " | log %d of %d lines, kept %.3f" % (log["written"], log["requests"], log["kept_share"])
print("  %-16s response p50 %6.1f p99 %7.1f us | overhead %5.2f%% | workers %.2f s CPU | process %.2f s CPU%s"
      % (sys.argv[2], t["p50"] * 1e3, t["p99"] * 1e3, s["overhead_pct"], s["worker_cpu_s"],
         res["cpu_user_s"] + res["cpu_system_s"], kept))
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "nginx on core 0; $RATE RPS for ${SECS}s; log on $(df -h "$dir" | awk 'NR==2 {print $1}')"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    one "without"
    one "--log-requests" --log-requests "$dir/requests.log"
    ls -l "$dir/requests.log" | awk '{printf "  log file: %.1f MB\n", $5 / 1e6}'
    rm -f "$dir/requests.log"
done
