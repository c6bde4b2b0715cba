#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit, integration, scenario) under ctest,
# except the scenario suite itself (label `suite`), which is the main job: scripts/suite.sh.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure --timeout 600 -LE suite "$@"
