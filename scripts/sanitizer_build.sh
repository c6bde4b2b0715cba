# Shared by scripts/sanitize.sh and scripts/fuzz.sh (sourced, not run): installs what the clang
# sanitizer builds need and configures/builds them.

# Debian packages beyond scripts/setup.sh's: clang with its sanitizer and libFuzzer runtimes,
# lld (links the instrumented test executables much faster than GNU ld), llvm (llvm-symbolizer,
# which turns sanitizer stack traces into file:line).
SANITIZER_PACKAGES=(clang-14 libclang-rt-14-dev lld-14 llvm-14)

install_sanitizer_packages() {
  scripts/setup.sh --install-only
  scripts/install_packages.sh sanitizers "${SANITIZER_PACKAGES[@]}"
}

# configure_sanitizer_build DIR SANITIZE [cmake args...]
configure_sanitizer_build() {
  local dir=$1 sanitize=$2
  shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DINGESTLAB_SANITIZE="$sanitize" "$@" >/dev/null
}

# The ASan+UBSan build with the fuzz targets (one build serves both scripts), built for the
# unit and integration tests and the fuzz targets only.
build_asan() {
  configure_sanitizer_build build-asan address,undefined -DINGESTLAB_FUZZ=ON
  local targets
  targets=$(cd build-asan && ctest -N -L 'unit|integration|fuzz' |
            awk '/Test +#/ {print $3}' | grep -E '^(unit|integration|fuzz)_')
  cmake --build build-asan -j"$(nproc)" --target $targets
}

# Runtime options: every finding fails the process that hit it, with a symbolized stack.
export_sanitizer_options() {
  local supp
  supp="$(pwd)/tests/sanitizers"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
  export TSAN_OPTIONS="suppressions=$supp/tsan.supp:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
}

# Reports go to files in DIR (one per process) instead of stderr, so that findings in the
# processes the tests start (ingestd, ingestlab), whose stderr the tests may not show, fail the
# job too. check_sanitizer_reports prints them and fails when there are any.
send_sanitizer_reports_to() {
  local dir=$1
  rm -rf "$dir"
  mkdir -p "$dir"
  ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$dir/asan"
  UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$dir/ubsan"
  TSAN_OPTIONS="$TSAN_OPTIONS:log_path=$dir/tsan"
}

check_sanitizer_reports() {
  local dir=$1 f n=0
  for f in "$dir"/*; do
    [[ -s "$f" ]] || continue
    n=$((n + 1))
    echo "==== sanitizer report $f"
    cat "$f"
  done
  if ((n > 0)); then
    echo "sanitizers: $n process(es) reported findings (above; files in $dir)"
    return 1
  fi
  echo "sanitizers: no findings"
}
