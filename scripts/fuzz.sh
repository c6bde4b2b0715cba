#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (tests/fuzz/) with libFuzzer under ASan+UBSan, each
# target for SECONDS (default 20) on a scratch copy of its corpus (build-asan/fuzz-runs/<target>/;
# tests/fuzz/corpus/ is never modified). Builds build-asan first (shared with scripts/sanitize.sh
# asan). A crash, hang (> 10 s), or more than 2 GB of memory fails the target and leaves the
# input in build-asan/fuzz-runs/<target>/artifacts/.
# Usage: scripts/fuzz.sh [SECONDS] [ctest args...]   e.g. scripts/fuzz.sh 3600 -R fuzz_schema
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sanitizer_build.sh

seconds=20
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
install_sanitizer_packages
export_sanitizer_options
build_asan
cd build-asan
# -V: each target's summary (executions, coverage, exec/s, peak memory) stays in the job's log.
INGESTLAB_FUZZ_SECONDS=$seconds ctest -V --timeout $((seconds * 2 + 300)) -L fuzz "$@"
