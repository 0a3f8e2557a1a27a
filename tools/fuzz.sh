#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, through cargo-fuzz) of everything openpace parses from
# outside: HTTP responses, TCP framing, config files and flags, core lists, thresholds,
# durations, target specs, saved reports (render and merge) and histogram encodings.
#
#   tools/fuzz.sh [SECONDS] [TARGET[=SECONDS]...]   default: 60 s for each of the ten targets
#
# The closing figures of issue 11 (>= 10 M executions each, on a 2-vCPU VM, one core):
#   tools/fuzz.sh 60 http_response=300 tcp_framing=150 config_json=250 config_flags=1200 \
#     core_list=250 threshold=150 duration=60 target_spec=120 merge_reader=450 histogram=900
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (its coverage flags); on
# a stable-only machine RUSTC_BOOTSTRAP=1 stands in for nightly. Seeds are in fuzz/corpus/;
# what a run discovers goes to target/fuzz-corpus/ (not committed). A crash is saved under
# fuzz/artifacts/TARGET/; copy it to fuzz/regressions/TARGET/ once fixed, where
# `cargo test --release --test fuzz_regressions` replays it. Prints executions and crashes
# per target; exits 1 when anything crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(http_response tcp_framing redis_reply memcached_reply h2_frames config_json config_flags
           core_list threshold duration target_spec merge_reader histogram)
fi
if cargo +nightly --version > /dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
command -v cargo-fuzz > /dev/null || { echo "tools/fuzz.sh: install cargo-fuzz first (cargo install cargo-fuzz)"; exit 2; }

# Safe Rust needs no address sanitizer; overflow checks and debug assertions find more.
build=(-O -a -s none)
(cd fuzz && "${fuzz[@]}" build "${build[@]}")
crashed=0
printf '%-16s %14s %10s %8s %s\n' target executions "exec/s" crashes "(seconds)"
for spec in "${targets[@]}"; do
  t=${spec%%=*}
  [[ "$spec" == *=* ]] && limit=${spec#*=} || limit=$seconds
  scratch="target/fuzz-corpus/$t"
  mkdir -p "$scratch" "fuzz/artifacts/$t"
  log=$(mktemp)
  # -rss_limit_mb: an input that makes openpace use 2 GB is a finding, not noise.
  (cd fuzz && "${fuzz[@]}" run "${build[@]}" "$t" "../$scratch" "corpus/$t" -- \
      -max_total_time="$limit" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
      > "$log" 2>&1) || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  printf '%-16s %14s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes" "($limit)"
  if [[ $crashes -gt 0 || -z "${execs:-}" ]]; then
    crashed=1
    grep -m5 -E 'panicked|ERROR|SUMMARY|deadly' "$log" | sed 's/^/    /' || true
  fi
  rm -f "$log"
done
exit $crashed
