#!/usr/bin/env bash
# The hot-path benches of another commit and of this checkout, run alternately:
#
#   tools/bench-ab.sh COMMIT [ROUNDS [FILTER]]     (default: 3 rounds, every bench)
#
# On a VM whose speed drifts, criterion's saved baselines compare two moments, not two builds
# (issue 13: every bench "regressed" 10-50%, Instant::now and hdrhistogram's own record
# included). Alternating old, new, old, new ... puts the drift on both sides. Builds COMMIT in
# a temporary worktree; prints each bench's medians per round (ns) and new/old of their
# medians.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?usage: tools/bench-ab.sh COMMIT [ROUNDS [FILTER]]}
rounds=${2:-3}
filter=${3:-}
tree=$(mktemp -d)
out=$(mktemp)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1; rm -rf "$tree" "$out"' EXIT
git worktree add --detach "$tree" "$commit" >/dev/null 2>&1

bench_binary() { # DIR TARGET_DIR: build the hot_path bench there and print its path
  (cd "$1" && CARGO_TARGET_DIR=$2 cargo bench --bench hot_path --no-run 2>&1) |
    sed -n 's/.*Executable benches\/hot_path.rs (\(.*\))/\1/p' | tail -1
}
old=$(bench_binary "$tree" "$tree/target")
new=$(bench_binary . target)

for ((r = 1; r <= rounds; r++)); do
  for side in old new; do
    binary=$old; [[ $side == new ]] && binary=$new
    # Criterion prints a long name on its own line, then "time: [low median high]".
    "$binary" --bench --measurement-time 2 --warm-up-time 1 --discard-baseline $filter 2>/dev/null |
      awk -v side="$side" '
        /time:/ { if ($1 != "time:") name = $1
                  for (i = 1; i <= NF; i++) if ($i == "time:") { v = $(i + 3); u = $(i + 4) }
                  if (u == "µs" || u == "us") v *= 1000
                  if (u == "ps") v /= 1000
                  print side, name, v; next }
        NF == 1 { name = $1 }' >> "$out"
  done
done

awk '
  { key = $2; vals[key, $1] = vals[key, $1] " " $3; names[key] = 1 }
  function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((n + 1) / 2)]
  }
  END {
    printf "%-40s %-30s %-30s %s\n", "bench", "old (ns)", "new (ns)", "new/old"
    for (k in names) {
      mo = median(vals[k, "old"]); mn = median(vals[k, "new"])
      printf "%-40s %-30s %-30s %.3f\n", k, vals[k, "old"], vals[k, "new"], mn / mo
    }
  }' "$out" | sort
