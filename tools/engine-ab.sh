#!/usr/bin/env bash
# The engine's hot-path bars for another commit and for this checkout, run alternately:
#
#   tools/engine-ab.sh COMMIT [ROUNDS]       (default: 3 rounds)
#
# Each round runs both binaries, old then new, on the same cores (timer 0, worker 1, spin):
# noop offered 16,000,000 RPS for 3 s (what one worker sustains is the figure; bar: >= 2 M) and noop at
# 100,000 RPS for 3 s (dispatch delay p50; bar: < 1 us). Alternating puts a drifting VM's
# drift on both sides (see tools/bench-ab.sh). Prints each run, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?usage: tools/engine-ab.sh COMMIT [ROUNDS]}
rounds=${2:-3}
tree=$(mktemp -d)
out=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1; rm -rf "$tree" "$out"' EXIT
git worktree add --detach "$tree" "$commit" >/dev/null 2>&1
(cd "$tree" && CARGO_TARGET_DIR="$tree/target" cargo build --release --quiet --bin openpace)
cargo build --release --quiet --bin openpace
old="$tree/target/release/openpace"
new=./target/release/openpace

field() { # FILE NAME: the first number after "NAME": in a JSON report
  grep -o "\"$2\": [0-9.e+-]*" "$1" | head -1 | awk '{print $2}'
}
dispatch_p50() { # FILE: the scenario's dispatch delay p50, us
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenarios"][0]["dispatch_delay_us"]["p50"])' "$1"
}
for ((r = 1; r <= rounds; r++)); do
  for side in old new; do
    binary=$old; [[ $side == new ]] && binary=$new
    common=(--target noop --duration 3 --warmup 0.5 --workers 1 --wait spin --timer-core 0
      --worker-cores 1 --quiet --threshold "achieved_rate >= 0 * target")
    "$binary" run "${common[@]}" --rate 16000000 --out "$out/peak.json" || true
    "$binary" run "${common[@]}" --rate 100000 --out "$out/100k.json" || true
    printf '%s round %d: noop sustained %s RPS; dispatch p50 at 100k RPS %s us\n' "$side" "$r" \
      "$(field "$out/peak.json" sustained_rps)" "$(dispatch_p50 "$out/100k.json")" | tee -a "$out/log"
  done
done
echo
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for side in old new; do
  printf '%s (median of %d rounds): noop sustained %s RPS, dispatch p50 at 100k RPS %s us\n' \
    "$side" "$rounds" \
    "$(grep "^$side " "$out/log" | sed 's/.*sustained \([0-9.e+]*\) RPS.*/\1/' | median)" \
    "$(grep "^$side " "$out/log" | sed 's/.* \([0-9.e+-]*\) us$/\1/' | median)"
done
