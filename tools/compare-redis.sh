#!/usr/bin/env bash
# openpace against redis-benchmark, on the same redis-server, the same cores and the same
# connection count.
#
# redis-server (no persistence) is pinned to SERVER_CORE; redis-benchmark and openpace take
# turns on LOAD_CORE, where openpace's timing loop and its one worker share the core. For each
# command (PING as a RESP array, redis-benchmark's PING_MBULK; and SET of a 3-byte value to one
# of 100,000 random keys, redis-benchmark's `-t set -r 100000 -d 3`), each of ROUNDS rounds:
#
#   1. redis-benchmark -c CONNS -n REQUESTS -P 1: its closed-loop rate;
#   2. openpace open-model runs of SECS seconds from 0.9 x that rate in 5% steps up (or down)
#      until one holds and the next does not (holds: sustained/target >= 0.99, nothing
#      dropped, every request ok), then two bisections: the highest rate held, within ~1.25%.
#
# Usage: tools/compare-redis.sh   (root, or redis-server and redis-benchmark installed)
# Environment: PORT CONNS SECS ROUNDS REQUESTS SERVER_CORE LOAD_CORE WAIT
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-16479}
CONNS=${CONNS:-50}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-1000000}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
WAIT=${WAIT:-hybrid}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq redis-server redis-tools python3 >/dev/null
fi
cargo build --release --quiet
OPENPACE=target/release/openpace
. tools/bracket.sh

dir=$(mktemp -d)
taskset -c "$SERVER_CORE" redis-server --port "$PORT" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; wait $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

# field FILE EXPR: a Python expression over s (the scenario).
field() {
    python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['scenarios'][0]; print($2)" "$1"
}

# probe RATE: one openpace run of $command; sets ok=yes|no and prints the outcome.
probe() {
    taskset -c "$LOAD_CORE" "$OPENPACE" run --target "redis://127.0.0.1:$PORT" --command "$command" \
        --rate "$1" --duration "${SECS}s" --warmup 1s --connections "$CONNS" --workers 1 \
        --timer-core "$LOAD_CORE" --worker-cores "$LOAD_CORE" --wait "$WAIT" --timeout 2s \
        --retries 0 --quiet --out "$dir/probe.json" >/dev/null 2>&1 || true
    ok=$(field "$dir/probe.json" "'yes' if s['sustained_rps'] >= 0.99 * s['target_rps'] and s['requests']['dropped'] == 0 and s['requests']['ok'] == s['requests']['intended'] else 'no'")
    echo "  openpace $1 RPS ($(python3 -c "print('%.3f' % ($1 / $bench_rps))") x): $(field "$dir/probe.json" "'sustained %.0f, ok %d of %d, p50 %.1f us, p99 %.1f us' % (s['sustained_rps'], s['requests']['ok'], s['requests']['intended'], s['response_time_ms']['p50']*1e3, s['response_time_ms']['p99']*1e3)") -> held: $ok"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "redis-server $(redis-server --version | awk '{print $3}') on core $SERVER_CORE; redis-benchmark and openpace on core $LOAD_CORE; $CONNS connections; openpace --wait $WAIT, ${SECS}s runs"
declare -A summary
for test in ping_mbulk set; do
    case $test in
        ping_mbulk) command=PING ;;
        set) command='SET key:{{rand_int 0 99999}} xxx' ;;
    esac
    for round in $(seq "$ROUNDS"); do
        out=$(taskset -c "$LOAD_CORE" redis-benchmark -p "$PORT" -c "$CONNS" -n "$REQUESTS" \
            -P 1 -r 100000 -d 3 -t "$test" -q 2>/dev/null | tr '\r' '\n' | grep "requests per second" | tail -1)
        bench_rps=$(awk -F'[: ]+' '{for (i=1;i<=NF;i++) if ($i=="requests") {printf "%d", $(i-1)}}' <<<"$out")
        echo "$test round $round: redis-benchmark $bench_rps RPS ($out)"
        highest_held "$bench_rps"
        ratio=$(python3 -c "print('%.2f' % ($best / $bench_rps))")
        echo "  openpace holds $best RPS = $ratio x redis-benchmark"
        summary[$test]+="| $round | $bench_rps | $best | $ratio |"$'\n'
    done
done
for test in ping_mbulk set; do
    echo
    echo "| $test round | redis-benchmark RPS (closed loop) | openpace highest open-model RPS held | ratio |"
    echo "| --- | --- | --- | --- |"
    printf '%s' "${summary[$test]}"
done
