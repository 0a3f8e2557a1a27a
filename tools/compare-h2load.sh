#!/usr/bin/env bash
# openpace against h2load (nghttp2), over HTTP/2 on the same nginx, the same cores, the same
# connections and streams (issue 30 part 5).
#
# nginx (one worker) is pinned to SERVER_CORE and answers "ok\n" from memory over HTTP/2, with
# prior knowledge (h2c) or over TLS (h2, a self-signed certificate: openpace runs with
# --insecure, h2load never verifies). h2load and openpace take turns on LOAD_CORE. For each
# protocol and each stream count in STREAMS, ROUNDS rounds of SECS-second runs:
#
#   1. h2load -t1 -cCONNS -mSTREAMS -DSECS: its closed-loop maximum (it reports no latency
#      percentiles, only min/max/mean/sd);
#   2. openpace open-model runs with the same connections and streams, from 0.9 x that maximum
#      in 5% steps (tools/bracket.sh) to the highest rate that holds: sustained/target >= 0.99,
#      nothing dropped, response p99 under P99_MS (5 ms unless set: at 100 streams a
#      connection the server's queue is part of the latency);
#   3. openpace at FIXED RPS: response and service p50 and p99.
#
# Usage: tools/compare-h2load.sh   (root, or nginx and nghttp2-client already installed)
# Environment: PORT CONNS STREAMS MODES SECS ROUNDS FIXED SERVER_CORE LOAD_CORE P99_MS OPENPACE
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18191}
CONNS=${CONNS:-4}
STREAMS=${STREAMS:-"10 100"}
MODES=${MODES:-"h2c h2"}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
FIXED=${FIXED:-10000}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
P99_MS=${P99_MS:-5}

if ! command -v nginx >/dev/null || ! command -v h2load >/dev/null || ! command -v python3 >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq nginx nghttp2-client python3 >/dev/null
fi
. tools/nginx.sh
. tools/bracket.sh
openpace_binary

field() {
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['scenarios'][0]; print($2)" "$1"
}
held() { field "$1" "'yes' if s['sustained_rps'] >= 0.99 * s['target_rps'] and s['requests']['dropped'] == 0 and s['response_time_ms']['p99'] < $P99_MS else 'no'"; }

# openpace RATE OUT: one open-model run on LOAD_CORE, timing loop and worker together.
openpace() {
    taskset -c "$LOAD_CORE" "$OPENPACE" run --target "$URL" --http2 --streams "$streams" \
        --rate "$1" --duration "${SECS}s" --warmup 1s --connections "$CONNS" --workers 1 \
        --timer-core "$LOAD_CORE" --worker-cores "$LOAD_CORE" --timeout 2s --retries 0 \
        "${TLS_FLAGS[@]}" --quiet --out "$2" >/dev/null 2>&1 || true
}

# probe RATE: one openpace run; sets ok=yes|no and prints the outcome.
probe() {
    openpace "$1" "$work/probe.json"
    ok=$(held "$work/probe.json")
    echo "    openpace $1 RPS ($(python3 -c "print('%.3f' % ($1 / $h2_rps))") x h2load): $(field "$work/probe.json" "'sustained %.0f, dropped %d, p99 %.2f ms' % (s['sustained_rps'], s['requests']['dropped'], s['response_time_ms']['p99'])") -> held: $ok"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r); $(h2load --version | head -1)"
echo "nginx on core $SERVER_CORE; h2load and openpace on core $LOAD_CORE; $CONNS connections; ${SECS}s runs"
rows=()
work=$(mktemp -d)
for mode in $MODES; do
    nginx_dir=$(mktemp -d)
    nginx_start "$nginx_dir" "$PORT" "$SERVER_CORE" "$mode"
    trap 'kill ${nginx_pid:-} 2>/dev/null; rm -rf "$work" "$nginx_dir"' EXIT
    if [ "$mode" = h2 ]; then URL="https://127.0.0.1:$PORT/" TLS_FLAGS=(--insecure); else URL="http://127.0.0.1:$PORT/" TLS_FLAGS=(); fi
    for streams in $STREAMS; do
        h2_all=() op_all=() ratios=() fixed_all=()
        for round in $(seq "$ROUNDS"); do
            out=$(taskset -c "$LOAD_CORE" h2load -t1 -c"$CONNS" -m"$streams" -D"$SECS" --warm-up-time=1 "$URL" 2>&1)
            h2_rps=$(awk '/^finished in/ {gsub(",", "", $4); printf "%d", $4}' <<<"$out")
            echo "$mode, $streams streams, round $round: h2load ${h2_rps} RPS ($(grep -m1 '^time for request' <<<"$out" | xargs))"
            highest_held "$h2_rps"
            echo "  openpace holds ${best} RPS = $(python3 -c "print('%.2f' % ($best / $h2_rps))") x h2load"
            h2_all+=("$h2_rps") op_all+=("$best")
            ratios+=("$(python3 -c "print('%.2f' % ($best / $h2_rps))")")
            openpace "$FIXED" "$work/fixed.json"
            fixed_all+=("$(field "$work/fixed.json" "'%.0f/%.0f/%.0f/%.0f' % (s['response_time_ms']['p50']*1e3, s['service_time_ms']['p50']*1e3, s['response_time_ms']['p99']*1e3, s['service_time_ms']['p99']*1e3)")")
        done
        rows+=("| $mode, -m $streams | $(IFS=,; echo "${h2_all[*]}" | sed 's/,/, /g') | $(IFS=,; echo "${op_all[*]}" | sed 's/,/, /g') | $(IFS=,; echo "${ratios[*]}" | sed 's/,/, /g') | $(IFS=,; echo "${fixed_all[*]}" | sed 's/,/, /g') |")
    done
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
done
echo
echo "| protocol, streams | h2load max RPS (rounds) | openpace highest held | ratio | at $FIXED RPS: response/service p50, response/service p99 (us) |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
