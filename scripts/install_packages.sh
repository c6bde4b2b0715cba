#!/usr/bin/env bash
# Installs the named Debian packages that are not installed yet (apt-get update first, only when
# something is missing). Used by scripts/setup.sh and the sanitizer and fuzz scripts.
# Usage: scripts/install_packages.sh LABEL PACKAGE...   (run as root, or with sudo available)
set -euo pipefail
label=$1
shift
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "$label: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
