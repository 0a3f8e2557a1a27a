#!/usr/bin/env bash
# System calls and CPU time per request: openpace beside wrk, against the same nginx
# (issue 28, part 2).
#
# nginx (one worker, tools/nginx.sh) is pinned to SERVER_CORE. Each tool runs SECS seconds:
#
#   1. under `strace -f -c` (every thread), for the calls per completed request, by name:
#      openpace at RATE RPS with default flags (open model), wrk -t1 -cCONNS at its own
#      closed-loop pace. strace slows both, so rates under it mean nothing; the counts per
#      request are what the tools do for each one.
#   2. without strace, for CPU time per request (user + system of all threads, from
#      rusage), each at its maximum: wrk closed-loop, openpace in its closed model with the
#      same connections. This VM has no hardware counters (`perf stat -e cycles` says not
#      supported), so CPU time stands in for cycles.
#
# openpace's worker polls without blocking while it spins towards an instant: those
# `epoll_wait` calls with a zero timeout cost nothing a spinning core was not already paying,
# and are counted apart (strace cannot tell them from blocking ones, so the script says how
# many the spin made from the worker's own count of timed sleeps).
#
#   3. with PROFILE=1 (and perf installed): where openpace's CPU goes in that closed-model run,
#      `perf record -e cpu-clock -g` (a software clock: this VM has no hardware counters),
#      the heaviest user-space symbols, each with what it called (system calls included).
#
# With --tls, nginx speaks TLS (tools/nginx.sh: a self-signed P-256 certificate; openpace runs
# with --insecure, wrk never verifies) and both tools load https://.
#
# Usage: tools/syscalls.sh [--short] [--tls]   (--short: 1-s runs, for CI, so that it cannot rot)
# Environment: PORT RATE CONNS SECS SERVER_CORE LOAD_CORE PROFILE OPENPACE
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18184}
RATE=${RATE:-20000}
CONNS=${CONNS:-16}
SECS=${SECS:-5}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
TLS=
for arg in "$@"; do
    case $arg in
        --short) SECS=1 ;;
        --tls) TLS=tls ;;
        *) echo "usage: tools/syscalls.sh [--short] [--tls]" >&2; exit 2 ;;
    esac
done

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v strace >/dev/null || need+=(strace)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
. tools/nginx.sh
openpace_binary
nginx_session "$PORT" "$SERVER_CORE" "$TLS"
URL="http://127.0.0.1:$PORT/"
INSECURE=
if [ -n "$TLS" ]; then
    URL="https://127.0.0.1:$PORT/"
    INSECURE=--insecure
fi

# Runs a command and prints the CPU seconds (user + system, all threads) it used, from
# rusage; its output goes to standard error.
cpu_of() {
    python3 - "$@" <<'PY'
import os, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)
sys.stderr.write(out.stdout)
PY
}

# Completed requests: from openpace's JSON, or wrk's "N requests in".
op_requests() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['scenarios'][0]['requests']['completed'])" "$1"; }
wrk_requests() { grep -o '[0-9]* requests in' "$1" | cut -d' ' -f1; }

# The strace summary of FILE as calls per request, the largest first.
per_request() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
path, requests, who = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = []
for line in open(path):
    parts = line.split()
    if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[-1] not in ("total",):
        calls = int(parts[3])
        rows.append((calls, parts[-1]))
total = sum(c for c, _ in rows)
top = ", ".join("%s %.2f" % (name, c / requests) for c, name in sorted(rows, reverse=True)[:6])
print("%-9s %9d requests  %6.2f calls per request  (%s)" % (who, requests, total / requests, top))
PY
}

echo "host: $(nproc) cores, $(uname -r); nginx on core $SERVER_CORE; the tools on core $LOAD_CORE"
echo "1. system calls per completed request, under strace -f -c (${SECS}s each)"
taskset -c "$LOAD_CORE" strace -f -c -o "$dir/op.strace" "$OPENPACE" run --target "$URL" $INSECURE \
    --rate "$RATE" --duration "${SECS}s" --warmup 0 --quiet --out "$dir/op.json" >/dev/null 2>&1 || true
per_request "$dir/op.strace" "$(op_requests "$dir/op.json")" openpace
python3 - "$dir/op.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["scenarios"][0]
w = s.get("wait") or {}
print("          (of its epoll_wait calls, %d were timed sleeps; the rest polled while spinning)"
      % w.get("wake_ups", 0))
PY
taskset -c "$LOAD_CORE" strace -f -c -o "$dir/wrk.strace" wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL" \
    >"$dir/wrk.out" 2>&1 || true
per_request "$dir/wrk.strace" "$(wrk_requests "$dir/wrk.out")" wrk

echo "2. CPU time per completed request at each tool's maximum, without strace (${SECS}s each):"
echo "   openpace in its closed model (--model closed --concurrency $CONNS, one worker), as wrk runs"
cpu=$(taskset -c "$LOAD_CORE" bash -c "$(declare -f cpu_of); cpu_of '$OPENPACE' run --target '$URL' $INSECURE \
    --model closed --concurrency '$CONNS' --workers 1 --duration '${SECS}s' --warmup 0 --quiet \
    --out '$dir/op.json'" 2>/dev/null)
n=$(op_requests "$dir/op.json")
python3 -c "import sys; print('openpace  %9d requests: %.2f us CPU per request' % (int(sys.argv[1]), float(sys.argv[2]) / int(sys.argv[1]) * 1e6))" "$n" "$cpu"
cpu=$(taskset -c "$LOAD_CORE" bash -c "$(declare -f cpu_of); cpu_of wrk -t1 -c'$CONNS' -d'${SECS}s' '$URL'" 2>"$dir/wrk.out")
n=$(wrk_requests "$dir/wrk.out")
python3 -c "import sys; print('wrk       %9d requests: %.2f us CPU per request' % (int(sys.argv[1]), float(sys.argv[2]) / int(sys.argv[1]) * 1e6))" "$n" "$cpu"

if [ "${PROFILE:-0}" = 1 ]; then
    echo "3. where openpace's CPU goes at its maximum (perf record -e cpu-clock -g, ${SECS}s)"
    taskset -c "$LOAD_CORE" perf record -q -e cpu-clock -F 5000 -g -o "$dir/perf.data" -- \
        "$OPENPACE" run --target "$URL" $INSECURE --model closed --concurrency "$CONNS" --workers 1 \
        --duration "${SECS}s" --warmup 0 --quiet --out none >/dev/null 2>&1
    perf report -i "$dir/perf.data" --children --sort symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9].*\[\.\]' | head -20
fi
