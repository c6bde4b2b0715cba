#!/usr/bin/env bash
# Checks that compose/ingestd.Dockerfile's runtime stage installs the Debian package of every
# shared library the built ingestd links directly (its ELF NEEDED entries), so the image starts
# after a library's soname moves. Libraries of debian:bookworm-slim's own packages are exempt.
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
if ((${#missing[@]})); then
  echo "check-runtime-libs: $dockerfile's runtime stage lacks: ${missing[*]}" >&2
  exit 1
fi
echo "check-runtime-libs: every library ingestd needs is installed by the runtime stage"
