#!/usr/bin/env bash
# Do openpace's numbers hold when the same command runs again? RUNS identical runs against one
# nginx, then for each percentile of the response time:
#
#   spread      (max - min) / median of the RUNS estimates, and their coefficient of variation
#   half-width  the median of the printed 95% intervals' half-widths, % of the estimate
#   inclusion   of the RUNS x (RUNS - 1) ordered pairs, how often another run's estimate falls
#               inside a run's printed interval (two independent estimates of one quantity:
#               about 83% when the intervals are right)
#   compare     `openpace compare` over every unordered pair: how many of its rows (3 metrics x
#               6 percentiles) say slower or faster; identical runs should say so in about 5%
#
# nginx (one worker, "ok\n" from memory) is pinned to SERVER_CORE; openpace runs with default
# flags: `run --target URL --rate RATE --duration SECS --warmup 1s --seed I`.
#
# Usage: tools/repeatability.sh            (nginx installed; python3 for the tally)
# Environment: OPENPACE (the binary; default target/release/openpace, built if missing),
#              RUNS (8), RATE (20000), SECS (5s), PORT (18089), SERVER_CORE (0), EXTRA (more
#              flags for every run, e.g. "--repeat 3"), OUT (a directory to keep the reports)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/nginx.sh

OPENPACE=${OPENPACE:-target/release/openpace}
RUNS=${RUNS:-8}
RATE=${RATE:-20000}
SECS=${SECS:-5s}
PORT=${PORT:-18089}
SERVER_CORE=${SERVER_CORE:-0}
EXTRA=${EXTRA:-}
[ -x "$OPENPACE" ] || cargo build --release --bin openpace
work=$(mktemp -d)
OUT=${OUT:-$work/reports}
mkdir -p "$OUT"
nginx_pid=
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; rm -rf "$work"' EXIT
nginx_start "$work/nginx" "$PORT" "$SERVER_CORE"

for i in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    "$OPENPACE" run --target "http://127.0.0.1:$PORT/" --rate "$RATE" --duration "$SECS" \
        --warmup 1s --seed "$i" --quiet --out "$OUT/run-$i.json" $EXTRA || true
done
pairs=0
for i in $(seq 1 "$RUNS"); do
    for j in $(seq $((i + 1)) "$RUNS"); do
        "$OPENPACE" compare "$OUT/run-$i.json" "$OUT/run-$j.json" --format json \
            --out "$OUT/compare-$i-$j.json" --quiet || true
        pairs=$((pairs + 1))
    done
done

python3 - "$OUT" "$RUNS" <<'PY'
import itertools, json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
reports = [json.load(open(f"{out}/run-{i}.json")) for i in range(1, runs + 1)]
print(f"{runs} runs; response time, ms")
print(f"{'pct':>6} {'median':>9} {'spread':>8} {'CV':>6} {'half-width':>11} {'inclusion':>10}")
for key, name in [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9")]:
    est = [r["scenarios"][0]["response_time_ms"][key] for r in reports]
    cis = [(r["scenarios"][0]["response_time_ms"].get("ci95") or {}).get(key) for r in reports]
    med = statistics.median(est)
    spread = 100 * (max(est) - min(est)) / med
    cv = 100 * statistics.stdev(est) / statistics.mean(est)
    halves = [100 * (hi - lo) / 2 / e for e, ci in zip(est, cis) if ci for lo, hi in [ci]]
    half = f"{statistics.median(halves):.1f}%" if halves else "n/a"
    inside = sum(1 for i, j in itertools.permutations(range(runs), 2)
                 if cis[i] and cis[i][0] <= est[j] <= cis[i][1])
    print(f"{name:>6} {med:9.4f} {spread:7.1f}% {cv:5.1f}% {half:>11} {inside:>4} of {runs * (runs - 1)}")
rows = different = 0
for i, j in itertools.combinations(range(1, runs + 1), 2):
    c = json.load(open(f"{out}/compare-{i}-{j}.json"))
    for s in c["scenarios"]:
        for m in s["metrics"]:
            for p in m["percentiles"]:
                rows += 1
                different += p["verdict"] in ("slower", "faster")
print(f"compare, {runs * (runs - 1) // 2} pairs of identical runs: {different} of {rows} rows "
      f"slower or faster ({100 * different / max(rows, 1):.1f}%)")
PY
