#!/usr/bin/env bash
# Long runs: does openpace keep its rate and its memory over an hour?
#
#   tools/soak.sh [OPENPACE]        (default: this checkout's release build)
#
# 1. NOOP_SECS (3600) at NOOP_RPS (100,000) against the no-op target, 10-second intervals;
# 2. HTTP_SECS (600) at HTTP_RPS (20,000) against nginx (one worker, pinned to core 0, on
#    127.0.0.1:PORT) with the default flags and --hlog; skipped when HTTP_SECS=0 or nginx is
#    not installed.
#
# The resident set size of the openpace process is read from /proc every 10 s, from 15 s on
# (mid-interval, after the first interval was closed). Printed per
# run: RSS at the first and last sample and their ratio (flat: within 5%), the peak, and the
# rate error, |sustained - scheduled| / scheduled (< 0.1%), with intended/completed counts.
# The CI test (tests/soak.rs) runs it for 60 s of no-op with HTTP_SECS=0.
# Environment: NOOP_SECS NOOP_RPS HTTP_SECS HTTP_RPS PORT OUT (folder kept for the reports)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -eq 0 ]]; then cargo build --release --quiet; fi
openpace=$(realpath "${1:-target/release/openpace}")
NOOP_SECS=${NOOP_SECS:-3600}
NOOP_RPS=${NOOP_RPS:-100000}
HTTP_SECS=${HTTP_SECS:-600}
HTTP_RPS=${HTTP_RPS:-20000}
PORT=${PORT:-18282}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# Runs openpace with the given flags, samples its RSS every 10 s into $OUT/$1.rss, then
# prints the figures from the report $OUT/$1.json.
soak() {
  local name=$1; shift
  "$openpace" run "$@" --interval 10s --quiet --out "$OUT/$name.json" > "$OUT/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  : > "$OUT/$name.rss"
  # Samples fall mid-interval, 5 s after each 10-s boundary: the first after the first
  # interval was closed (which allocates the collector's working buffers once).
  sleep 5
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null >> "$OUT/$name.rss" || true
  done
  wait "$pid" || true
  python3 - "$name" "$OUT/$name.json" "$OUT/$name.rss" <<'PY'
import json, sys
name, report, rss_file = sys.argv[1:4]
rss = [int(x) for x in open(rss_file).read().split()]
s = json.load(open(report))["scenarios"][0]
q = s["requests"]
error = abs(s["sustained_rps"] - s["scheduled_rps"]) / s["scheduled_rps"]
first, last = (rss[0], rss[-1]) if rss else (0, 0)
print(f"{name}: {s['send_window_s']:.0f} s at {s['scheduled_rps']:.0f} RPS scheduled, "
      f"{s['sustained_rps']:.2f} sustained: rate error {100 * error:.4f}%; "
      f"{q['intended']} intended, {q['completed']} completed, {q['dropped']} dropped, "
      f"{q['timeouts']} timeouts")
print(f"{name}: RSS first {first / 1024:.2f} MiB, last {last / 1024:.2f} MiB "
      f"(last/first {last / max(first, 1):.3f}), peak {max(rss or [0]) / 1024:.2f} MiB "
      f"over {len(rss)} samples; suspect intervals {s['suspect_intervals']} of "
      f"{len(s['intervals'])} {dict(s['suspect_reasons'])}, response p50 "
      f"{s['response_time_ms']['p50']:.4f} ms, p99 {s['response_time_ms']['p99']:.4f} ms")
# The worst interval's rate, as the schedule's count against what completed in it.
worst = max((abs(i['completed'] - i['scheduled']) / i['scheduled'], i['start_s'])
            for i in s['intervals'] if i['scheduled'] > 0)
print(f"{name}: worst interval completed {100 * worst[0]:.3f}% off its schedule "
      f"(at {worst[1]:.0f} s); RSS every 10 s: {' '.join(str(r) for r in rss[:3])} ... "
      f"{' '.join(str(r) for r in rss[-3:])} KiB")
PY
}

soak noop --target noop --rate "$NOOP_RPS" --duration "${NOOP_SECS}s"

if [[ $HTTP_SECS -gt 0 ]] && command -v nginx >/dev/null; then
  dir=$(mktemp -d)
  . tools/nginx.sh
  nginx_conf "$dir" "$PORT"
  taskset -c 0 nginx -c "$dir/nginx.conf" & pids+=($!)
  sleep 0.5
  soak http --target "http://127.0.0.1:$PORT/" --rate "$HTTP_RPS" --duration "${HTTP_SECS}s" \
    --hlog "$OUT/http.hlog"
fi
echo "reports in $OUT"
