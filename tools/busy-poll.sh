#!/usr/bin/env bash
# --busy-poll against nginx on loopback: ROUNDS rounds of two SECS-s runs at RATE RPS, without
# and with `--busy-poll USECS`, alternating, default flags otherwise (nginx pinned to core 0,
# openpace's default core plan). Prints response and service p50/p99 (us) and the workers' CPU.
#
# Usage: tools/busy-poll.sh   Environment: ROUNDS (3), SECS (4), RATE (10000), USECS (50),
#                             PORT (18183), OPENPACE (this checkout's release build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-4}
RATE=${RATE:-10000}
USECS=${USECS:-50}
PORT=${PORT:-18183}
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
s = json.load(open(sys.argv[1]))["scenarios"][0]
r, v = s["response_time_ms"], s["service_time_ms"]
print("  %-18s response p50 %6.1f p99 %7.1f | service p50 %6.1f p99 %7.1f | workers %.2f s CPU"
      % (sys.argv[2], r["p50"] * 1e3, r["p99"] * 1e3, v["p50"] * 1e3, v["p99"] * 1e3, s["worker_cpu_s"]))
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "nginx on core 0; $RATE RPS for ${SECS}s; net.core.busy_read=$(cat /proc/sys/net/core/busy_read) busy_poll=$(cat /proc/sys/net/core/busy_poll)"
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    one "without"
    one "--busy-poll $USECS" --busy-poll "$USECS"
done
