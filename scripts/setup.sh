#!/usr/bin/env bash
# Installs every dependency from Debian packages and builds ingestlab into ./build.
# Usage: scripts/setup.sh [--no-install | --install-only]
#   (run as root, or with sudo available, for the install)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  nats-server libnats-dev            # NATS JetStream: the real server and the C client
  librdkafka-dev kcat                # Kafka client (and its mock cluster); kcat for users
  libsqlite3-dev sqlite3             # the store, and a shell to query it
  postgresql libpq-dev               # the store across hosts: a real server, and libpq
  nlohmann-json3-dev libsimdjson-dev # JSON: nlohmann for config and files, simdjson on the hot path
  libcpp-httplib-dev                 # /healthz and /metrics
  libyaml-cpp-dev                    # scenario files
  libcli11-dev                       # command-line parsing (ingestlab load)
  libre2-dev                         # schema patterns on untrusted fields: linear-time regexes
  libssl-dev                         # SHA-256 (OpenSSL's EVP, SHA extensions picked at run time)
  zlib1g-dev                         # gzip-compressed event logs
  catch2 libbenchmark-dev            # tests and benchmarks
  libhowardhinnant-date-dev          # the reference the time-format tests compare against
  chromium                           # renders HTML reports in the report tests
  docker-compose                     # validates compose/ (no engine needed)
  jq                                 # scripts/mutants.sh reads each run's result.json
)

if [[ "${1:-}" != "--no-install" ]]; then
  scripts/install_packages.sh setup "${PACKAGES[@]}"
  # examples/contextiq-node, a consumer in Node.js that the tests run: Node.js and npm come with
  # the machine (Debian's packages otherwise); its one package, the pure-JavaScript NATS client,
  # is pinned by package-lock.json.
  command -v npm >/dev/null || scripts/install_packages.sh setup nodejs npm
  npm ci --prefix examples/contextiq-node --no-audit --no-fund --loglevel=error
fi

if [[ "${1:-}" == "--install-only" ]]; then exit 0; fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
echo "setup: built into ./build"
