#!/usr/bin/env bash
# Checks that compose/ingestd.Dockerfile's runtime stage installs the Debian package of every
# shared library the built ingestd links directly (its ELF NEEDED entries), so the image starts
# after a library's soname moves. Libraries of debian:bookworm-slim's own packages are exempt.
# Also checks that its build stage installs every -dev package scripts/setup.sh installs (the
# CMake configure step needs them), but the test-only ones named below.
# Usage: compose/check-runtime-libs.sh build/system/ingestd
set -euo pipefail
binary=${1:?usage: compose/check-runtime-libs.sh PATH/TO/ingestd}
dockerfile="$(dirname "$0")/ingestd.Dockerfile"
base="libc6 libgcc-s1 libstdc++6 zlib1g"   # in bookworm-slim (zlib1g also installed explicitly)
runtime=$(awk '/^FROM debian:bookworm-slim/ {in_rt=1} in_rt' "$dockerfile")
missing=()
while read -r lib; do
  # (awk reads all its input: an early exit would SIGPIPE the writer and fail the pipeline)
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64/ && !found {print $NF; found=1}')
  [[ -n "$path" ]] || { echo "check-runtime-libs: $lib not found on this machine" >&2; exit 1; }
  # usrmerge: a library is registered under /lib or /usr/lib, whichever its package shipped.
  pkg=$({ dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null ||
          true; } | awk -F: 'NR == 1 {print $1}')
  [[ -n "$pkg" ]] || { echo "check-runtime-libs: no package owns $path" >&2; exit 1; }
  if [[ " $base " == *" $pkg "* ]]; then continue; fi
  grep -qw -- "$pkg" <<<"$runtime" || missing+=("$pkg ($lib)")
done < <(readelf -d "$binary" | awk -F'[][]' '/NEEDED/ {print $2}')
build=$(awk '/^FROM debian:bookworm AS build/ {in_b=1} /^FROM debian:bookworm-slim/ {in_b=0} in_b' "$dockerfile")
test_only="libhowardhinnant-date-dev"
setup="$(dirname "$0")/../scripts/setup.sh"
for pkg in $(sed -n '/^PACKAGES=(/,/^)/p' "$setup" | sed 's/#.*//' | tr ' ' '\n' | grep -- '-dev$'); do
  [[ " $test_only " == *" $pkg "* ]] && continue
  grep -qw -- "$pkg" <<<"$build" || missing+=("$pkg (build stage)")
done
if ((${#missing[@]})); then
  echo "check-runtime-libs: $dockerfile lacks: ${missing[*]}" >&2
  exit 1
fi
echo "check-runtime-libs: every library ingestd needs is installed by the runtime stage"
