#!/usr/bin/env bash
# The main job: installs and builds (scripts/setup.sh), then runs the CI scenario suite on the
# embedded infrastructure (real nats-server, librdkafka's mock Kafka cluster, ingestd) and leaves
# one run directory per scenario plus an HTML index in ./runs; then the PostgreSQL subset (the
# same scenarios with ingestd's store on a real PostgreSQL server, POSTGRES_SUBSET) in
# ./runs/postgres.
# Usage: scripts/suite.sh [ingestlab run options...]   e.g. scripts/suite.sh --seed 7
# Exit: 0 every assertion held, 1 some failed, 2 bad usage or scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
build/harness/ingestlab run scenarios/ --out runs --junit runs/junit.xml "$@" || status=$?
POSTGRES_SUBSET=(scenarios/smoke.yaml scenarios/ingestd-kill-loop.yaml
                 scenarios/duplicates-redelivery.yaml scenarios/store-contention.yaml)
build/harness/ingestlab run "${POSTGRES_SUBSET[@]}" --store postgres --out runs/postgres \
  --junit runs/postgres/junit.xml "$@" || status=$?
echo "suite: report runs/index.html and runs/postgres/index.html, JUnit runs/junit.xml and" \
  "runs/postgres/junit.xml (exit $status)"
exit $status
