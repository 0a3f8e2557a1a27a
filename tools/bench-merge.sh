#!/usr/bin/env bash
# openpace merge at scale: one real shard report (noop, 1,000 RPS for 5 s, 1-s intervals,
# shard 0 of N) copied to N shard identities, then merged; prints the wall time and the peak
# resident memory of the merge for each N.
#
#   tools/bench-merge.sh [N ...]        (default: 100 1000 10000)
#   OPENPACE=path/to/openpace tools/bench-merge.sh ...   (another build's merge, e.g. an older
#                                                         commit's, on the same reports)
#
# The copies differ only in their shard index, which is all the merge checks between shards;
# each is verified in full as any report is.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin openpace
bin=$PWD/target/release/openpace
merger=${OPENPACE:-$bin}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
counts=("$@")
((${#counts[@]})) || counts=(100 1000 10000)
for n in "${counts[@]}"; do
  rm -rf "$dir/shards" && mkdir -p "$dir/shards"
  "$bin" run --target noop --rate 1000 --duration 5 --interval 1 --shard "0/$n" --quiet \
    --out "$dir/shards/s.json" >/dev/null || true
  python3 - "$dir/shards" "$n" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
src = os.path.join(d, "s.shard-0.json")
text = open(src).read()
report = json.loads(text)
for i in range(1, n):
    report["shard"]["index"] = i
    with open(os.path.join(d, f"s.shard-{i}.json"), "w") as f:
        json.dump(report, f)
PY
  size=$(du -sh "$dir/shards" | cut -f1)
  /usr/bin/time -f "%e %M" -o "$dir/time" "$merger" merge --quiet --max-input-bytes 64MiB \
    --out "$dir/merged.json" "$dir"/shards/s.shard-*.json >/dev/null 2>"$dir/err" || {
      cat "$dir/err"; exit 1; }
  read -r secs kb <"$dir/time"
  echo "merge of $n shards ($size of reports): ${secs} s, peak RSS $((kb / 1024)) MB"
done
