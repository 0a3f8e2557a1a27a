#!/usr/bin/env bash
# openpace against wrk, on the same nginx, the same cores and the same connections.
#
# nginx (one worker) is pinned to SERVER_CORE and answers "ok\n" from memory, with the access
# log off and keepalive_requests raised so that connections are never recycled. wrk and
# openpace take turns on LOAD_CORE, where openpace's timing loop and its one worker share the
# core. Each of ROUNDS rounds runs, SECS seconds each:
#
#   1. wrk -t1 -cCONNS: the closed-loop maximum;
#   2. openpace open-model runs from 0.9 x that maximum, in 5% steps up (or down, if 0.9 x
#      fails) until one holds and the next does not (holds: sustained/target >= 0.99,
#      nothing dropped and response p99 under P99_MS, 1 ms unless set, as issue 28 asks),
#      then two bisections: the highest rate that holds, within ~1.25%;
#      Around wrk's run and a last run at the rate openpace held, nginx's own CPU per request
#      and busy share (its stub_status counter and /proc): how close to its limit each ran;
#   3. openpace at FIXED RPS: response-time and service-time p50/p99/p99.9;
#   4. openpace at FIXED RPS as a newcomer types it, `openpace run --target URL --rate FIXED`
#      (default flags and core plan), beside the best hand-tuned flags found for it,
#      `--workers 1 --connections 16`: p50, p99, framework overhead, suspect intervals.
#
# With --tls, nginx speaks TLS (a self-signed certificate; openpace runs with --insecure, and
# wrk never verifies) and both load https://: the handshakes happen in the warmup, then every
# request is encrypted and decrypted on LOAD_CORE.
#
# With --short (for CI, so that it cannot rot): one round of 1-s runs, and a single probe at
# half wrk's rate in place of the search; its figures mean nothing.
#
# Usage: tools/compare-wrk.sh [--short] [--tls]   (root, or nginx and wrk already installed)
# Environment: PORT CONNS SECS ROUNDS FIXED SERVER_CORE LOAD_CORE WAIT OPENPACE
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18181}
CONNS=${CONNS:-50}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
FIXED=${FIXED:-20000}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
WAIT=${WAIT:-hybrid}
P99_MS=${P99_MS:-1}
WARMUP=2s
SCHEME=http
TLS_FLAGS=()
SHORT=
for arg in "$@"; do
    case $arg in
        --tls) SCHEME=https TLS_FLAGS=(--insecure) ;;
        --short) SHORT=1 SECS=1 ROUNDS=1 WARMUP=0.5s ;;
        *) echo "usage: tools/compare-wrk.sh [--short] [--tls]" >&2; exit 2 ;;
    esac
done

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! command -v python3 >/dev/null ||
    ! command -v curl >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq nginx wrk python3 curl >/dev/null
fi
. tools/nginx.sh
. tools/bracket.sh
# OPENPACE=BINARY compares another build (e.g. the commit before a change) on the same setup.
openpace_binary
nginx_session "$PORT" "$SERVER_CORE" "$([ "$SCHEME" = https ] && echo tls)"
URL="$SCHEME://127.0.0.1:$PORT/"

# openpace RATE OUT: one open-model run on LOAD_CORE, timing loop and worker together.
openpace() {
    taskset -c "$LOAD_CORE" "$OPENPACE" run --target "$URL" --rate "$1" \
        --duration "${SECS}s" --warmup "$WARMUP" --connections "$CONNS" --workers 1 \
        --timer-core "$LOAD_CORE" --worker-cores "$LOAD_CORE" --wait "$WAIT" \
        --timeout 2s --retries 0 "${TLS_FLAGS[@]}" --quiet --out "$2" >/dev/null 2>&1 || true
}

# wrk_run: wrk's closed-loop maximum; sets wrk_out.
wrk_run() { wrk_out=$(taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$URL"); }

# plain OUT [FLAGS...]: a run at FIXED RPS with the default core plan and the given flags.
plain() {
    local out=$1
    shift
    "$OPENPACE" run --target "$URL" --rate "$FIXED" --duration "${SECS}s" --quiet --out "$out" \
        "${TLS_FLAGS[@]}" "$@" >/dev/null 2>&1 || true
}
PLAIN='"%.1f | %.1f | %.2f%% (%.2f us) | %d of %d | %d" % (s["response_time_ms"]["p50"]*1e3, s["response_time_ms"]["p99"]*1e3, s["overhead_pct"], s["overhead"]["per_request_us"], s["suspect_intervals"], len(s["intervals"]), s["network"]["connections_opened"])'

# field FILE EXPR: a Python expression over s (the scenario) and r (the run).
field() {
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['scenarios'][0]; print($2)" "$1"
}

# probe RATE: one openpace run; sets ok=yes|no and prints the outcome.
probe() {
    openpace "$1" "$dir/probe.json"
    ok=$(held "$dir/probe.json")
    echo "  openpace $1 RPS ($(python3 -c "print('%.3f' % ($1 / $wrk_rps))") x wrk): $(field "$dir/probe.json" "'sustained %.0f, dropped %d, p99 %.0f us' % (s['sustained_rps'], s['requests']['dropped'], s['response_time_ms']['p99'] * 1e3)") -> held: $ok"
}

# costed CMD...: runs CMD and sets `server` to what it cost nginx: its CPU per request it
# answered and its share of the wall time it was busy (tools/nginx.sh nginx_cost).
costed() {
    local before after t0 t1
    before=$(nginx_cost)
    t0=$(date +%s%N)
    "$@"
    t1=$(date +%s%N)
    after=$(nginx_cost)
    server=$(python3 -c "
r0, c0 = map(int, '$before'.split()); r1, c1 = map(int, '$after'.split())
cpu_us = (c1 - c0) * 1e6 / $(getconf CLK_TCK)
print('nginx %.1f us CPU per request, busy %.0f%%' % (cpu_us / max(r1 - r0 - 1, 1), 100 * cpu_us / (($t1 - $t0) / 1e3)))")
}

held() { field "$1" "'yes' if s['sustained_rps'] >= 0.99 * s['target_rps'] and s['requests']['dropped'] == 0 and s['response_time_ms']['p99'] < $P99_MS else 'no'"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "nginx on core $SERVER_CORE; wrk and openpace on core $LOAD_CORE; $CONNS connections; ${SECS}s runs; openpace --wait $WAIT"
wrk_all=()
op_all=()
for round in $(seq "$ROUNDS"); do
    costed wrk_run
    wrk_rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$wrk_out")
    wrk_lat=$(awk '/ 50%/ {p50=$2} / 99%/ {p99=$2} END {print "p50 " p50 ", p99 " p99}' <<<"$wrk_out")
    echo "round $round: wrk ${wrk_rps} RPS (closed loop, its own latency $wrk_lat; $server)"
    wrk_all+=("$wrk_rps")

    # The highest open-model rate that holds, from 0.9 x wrk's maximum (tools/bracket.sh).
    if [ -n "$SHORT" ]; then
        costed probe $((wrk_rps / 2))
        echo "    $server"
        best=$([ "$ok" = yes ] && echo $((wrk_rps / 2)) || echo 0)
    else
        highest_held "$wrk_rps"
    fi
    echo "  openpace holds ${best} RPS = $(python3 -c "print('%.2f' % ($best / $wrk_rps))") x wrk"
    # What the server pays per request at that rate, against what it paid under wrk.
    if [ "$best" -gt 0 ] && [ -z "$SHORT" ]; then
        costed probe "$best"
        echo "    again at $best RPS: $server"
    fi
    op_all+=("$best")

    openpace "$FIXED" "$dir/fixed-$round.json"
    plain "$dir/default-$round.json"
    plain "$dir/tuned-$round.json" --workers 1 --connections 16
    echo "  default flags at $FIXED RPS: p50 | p99 us | overhead | suspect | connections: $(field "$dir/default-$round.json" "$PLAIN")"
    echo "  --workers 1 --connections 16: p50 | p99 us | overhead | suspect | connections: $(field "$dir/tuned-$round.json" "$PLAIN")"
    field "$dir/fixed-$round.json" "'  at %d RPS: response p50/p99/p99.9 %.1f/%.1f/%.1f us, service %.1f/%.1f/%.1f us, p50 difference %.1f us, held: %s' % (s['target_rps'], *(s['response_time_ms'][k]*1e3 for k in ('p50','p99','p99_9')), *(s['service_time_ms'][k]*1e3 for k in ('p50','p99','p99_9')), (s['response_time_ms']['p50']-s['service_time_ms']['p50'])*1e3, 'yes' if s['sustained_rps'] >= 0.99*s['target_rps'] else 'no')"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wrk_med=$(median "${wrk_all[@]}")
op_med=$(median "${op_all[@]}")
ratios=()
for i in "${!wrk_all[@]}"; do
    ratios+=("$(python3 -c "print('%.2f' % (${op_all[$i]} / ${wrk_all[$i]}))")")
done
join() { local IFS='|'; echo "$*" | sed 's/|/ | /g'; }
echo
rounds=()
for round in $(seq "$ROUNDS"); do rounds+=("round $round"); done
echo "| RPS | $(join "${rounds[@]}") | median |"
echo "| --- | $(join $(for _ in $(seq "$ROUNDS"); do echo ---; done)) | --- |"
echo "| wrk closed-loop maximum | $(join "${wrk_all[@]}") | $wrk_med |"
echo "| openpace highest open-model rate held | $(join "${op_all[@]}") | $op_med |"
echo "| openpace / wrk | $(join "${ratios[@]}") | $(python3 -c "print('%.2f' % ($op_med / $wrk_med))") |"
echo
echo "| at $FIXED RPS, us | response p50 | service p50 | difference | response p99 | service p99 | response p99.9 | service p99.9 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for round in $(seq "$ROUNDS"); do
    field "$dir/fixed-$round.json" "'| round $round | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |' % (s['response_time_ms']['p50']*1e3, s['service_time_ms']['p50']*1e3, (s['response_time_ms']['p50']-s['service_time_ms']['p50'])*1e3, s['response_time_ms']['p99']*1e3, s['service_time_ms']['p99']*1e3, s['response_time_ms']['p99_9']*1e3, s['service_time_ms']['p99_9']*1e3)"
done
echo
echo "| at $FIXED RPS, default core plan | response p50 us | response p99 us | overhead | suspect intervals | connections opened |"
echo "| --- | --- | --- | --- | --- | --- |"
for round in $(seq "$ROUNDS"); do
    echo "| round $round, default flags | $(field "$dir/default-$round.json" "$PLAIN") |"
    echo "| round $round, --workers 1 --connections 16 | $(field "$dir/tuned-$round.json" "$PLAIN") |"
done
