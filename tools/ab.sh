#!/usr/bin/env bash
# `openpace ab` measured: interleaved rounds of two identical nginx configs (no row should
# differ, exit 0 under --fail-if-slower "p99 > 5%"), and of an in-process target against one
# 20% and one 10% slower (spin:exp:200us against 240us and 220us): which rows are found
# slower, the exit code under --fail-if-slower "service p50 > 5%", and what the rounds could
# have detected.
#
# Usage: tools/ab.sh            (nginx installed)
# Environment: OPENPACE (default target/release/openpace, built if missing), ROUNDS (5),
#              RATE (20000 against nginx), SECS (5), PORT (18090), SERVER_CORE (0)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/nginx.sh

OPENPACE=${OPENPACE:-target/release/openpace}
ROUNDS=${ROUNDS:-5}
RATE=${RATE:-20000}
SECS=${SECS:-5}
PORT=${PORT:-18090}
SERVER_CORE=${SERVER_CORE:-0}
[ -x "$OPENPACE" ] || cargo build --release --bin openpace
work=$(mktemp -d)
nginx_pid=
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; rm -rf "$work"' EXIT
nginx_start "$work/nginx" "$PORT" "$SERVER_CORE"

config() { # NAME TARGET RATE
    cat >"$work/$1.json" <<JSON
{"name": "ab", "target": "$2", "target_rps": $3, "duration_seconds": $SECS,
 "warmup_seconds": 1, "metrics_collection_interval": 1}
JSON
}

# The verdicts of a comparison's rows, counted, and the given rows in full.
tally() { # JSON ROWS...
    python3 - "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
verdicts = {}
for s in c["scenarios"]:
    for m in s["metrics"]:
        for p in m["percentiles"]:
            verdicts[p["verdict"]] = verdicts.get(p["verdict"], 0) + 1
            if f'{m["metric"]} {p["percentile"]}' in sys.argv[2:]:
                d = p["detectable_pct"]
                print(f'  {m["metric"]} {p["percentile"]}: {p["difference_pct"]:+.1f}% '
                      f'{p["difference_ci95"]} {p["verdict"]}, detects '
                      f'{"n/a" if d is None else f">= {d:.1f}%"}')
print("  rows:", ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))
for l in c["limits"]:
    print(f'  [{"FAIL" if l["failed"] else "pass"}] {l["limit"]}: {l["detail"]}')
PY
}

run_ab() { # LABEL A B LIMIT
    local code=0
    "$OPENPACE" ab "$work/$2.json" "$work/$3.json" --rounds "$ROUNDS" --fail-if-slower "$4" \
        --out-dir "$work/rounds-$1" --format json --out "$work/$1.json.out" --quiet || code=$?
    echo "$1: exit $code"
    tally "$work/$1.json.out" "response_time p50" "response_time p99" "service_time p50" \
        "service_time p90"
}

config nginx-a "http://127.0.0.1:$PORT/" "$RATE"
config nginx-b "http://127.0.0.1:$PORT/" "$RATE"
run_ab identical-nginx nginx-a nginx-b "p99 > 5%"
config spin-200 spin:exp:200us 1000
config spin-240 spin:exp:240us 1000
config spin-220 spin:exp:220us 1000
run_ab spin-20pct spin-200 spin-240 "service p50 > 5%"
run_ab spin-10pct spin-200 spin-220 "service p50 > 5%"
