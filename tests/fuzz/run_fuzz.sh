#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a scratch copy of its corpus and regressions
# (the committed corpus is never modified). ctest's `fuzz` label calls this per target.
# Usage: run_fuzz.sh BINARY TARGET FUZZ_DIR WORK_DIR SECONDS
#   INGESTLAB_FUZZ_SECONDS in the environment overrides SECONDS.
# Exit: 0 nothing found; non-zero with the reproducer under WORK_DIR/TARGET/artifacts/.
set -euo pipefail
binary=$1 target=$2 fuzz_dir=$3 work_dir=$4
seconds=${INGESTLAB_FUZZ_SECONDS:-$5}

run_dir="$work_dir/$target"
rm -rf "$run_dir"
mkdir -p "$run_dir/corpus" "$run_dir/artifacts"
for src in "$fuzz_dir/corpus/$target" "$fuzz_dir/regressions/$target"; do
  if [[ -d "$src" ]]; then
    find "$src" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$run_dir/corpus/" \;
  fi
done
dict=()
if [[ -f "$fuzz_dir/$target.dict" ]]; then dict=(-dict="$fuzz_dir/$target.dict"); fi

echo "fuzz_$target: ${seconds}s on $(ls "$run_dir/corpus" | wc -l) seed inputs in $run_dir"
status=0
# Inputs up to 64 KB: deep nesting and long fields need room; the killers in regressions/ are
# larger and still run as seeds.
"$binary" "$run_dir/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$run_dir/artifacts/" >"$run_dir/log" 2>&1 || status=$?
grep -E '^#[0-9]+[[:space:]]+DONE|^stat::peak_rss_mb' "$run_dir/log" || true
if ((status != 0)); then
  tail -n 60 "$run_dir/log"
  echo "fuzz_$target: FAILED (exit $status); reproducer(s):"
  ls -1 "$run_dir/artifacts/"
  echo "add the file to tests/fuzz/regressions/$target/ and fix the cause"
fi
exit $status
