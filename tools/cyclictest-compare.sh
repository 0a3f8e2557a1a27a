#!/usr/bin/env bash
# The kernel's own timer latency beside openpace's timing loop, on the same core.
#
# Runs `cyclictest -m -a CORE -i 1000 -D 15` (rt-tests, installed from Debian's packages if
# missing) and then `openpace calibrate` with the timing loop on that core, and prints
# cyclictest's min, p50, p99, p99.99 and max wake-up latency (from its histogram) beside the
# timer lateness of each of openpace's wait modes.
#
#   tools/cyclictest-compare.sh [CORE]      default core 1
set -euo pipefail
cd "$(dirname "$0")/.."
core=${1:-1}
other=$(( core == 0 ? 1 : 0 ))

if ! command -v cyclictest >/dev/null; then
  apt-get update -qq && apt-get install -y -qq rt-tests >/dev/null
fi
cargo build --release --quiet

histogram=$(mktemp -t cyclictest.XXXXXX)
calibration=$(mktemp -t openpace-calibration.XXXXXX.json)
trap 'rm -f "$histogram" "$calibration"' EXIT

cyclictest -m -a "$core" -i 1000 -D 15 -q -h 20000 > "$histogram"
awk -v core="$core" '
  /^[0-9]+ [0-9]+/ { n[$1 + 0] = $2 + 0; total += $2 }
  /^# Min Latencies/ { min = $4 + 0 }
  /^# Max Latencies/ { max = $4 + 0 }
  /^# Histogram Overflows/ { over = $4 + 0 }
  END {
    total += over
    split("0.5 0.99 0.9999", qs, " ")
    for (i = 1; i <= 3; i++) {
      want = qs[i] * total; seen = 0; p[i] = "overflow (>20 ms)"
      for (us = 0; us < 20000; us++) { seen += n[us]; if (seen >= want) { p[i] = us; break } }
    }
    printf "cyclictest, core %d, 1 ms period, %d wake-ups (us): min %s  p50 %s  p99 %s  p99.99 %s  max %s\n",
      core, total, min, p[1], p[2], p[3], max
  }' "$histogram"

./target/release/openpace calibrate --timer-core "$core" --worker-core "$other" --quiet \
  --out "$calibration"
python3 - "$calibration" <<'PY' 2>/dev/null || grep -A6 '"timer_lateness_us"' "$calibration"
import json, sys
report = json.load(open(sys.argv[1]))
for m in report["modes"]:
    t = m["timer_lateness_us"]
    print(f"openpace timer lateness, {m['mode']:>6} mode (us): min {t['min']:.1f}  p50 {t['p50']:.1f}  "
          f"p99 {t['p99']:.1f}  p99.99 {t['p99_99']:.1f}  max {t['max']:.1f}")
PY
