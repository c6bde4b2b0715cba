#!/usr/bin/env bash
# Sanitizer jobs: builds with clang into their own folder and runs tests there.
#   scripts/sanitize.sh asan   ASan+UBSan (build-asan, shared with scripts/fuzz.sh): the unit and
#                              integration tests (ctest -L 'unit|integration')
#   scripts/sanitize.sh tsan   TSan (build-tsan): the tests that run ingestd's threads: the
#                              pipeline, the store, the HTTP server, the JetStream and Kafka
#                              sources (a broker outage included) and ingestd end to end on NATS
#                              and on Kafka
# Usage: scripts/sanitize.sh asan|tsan [ctest args...]   e.g. scripts/sanitize.sh asan -R envelope
# Any finding fails the test that hit it. Suppressions (tests/sanitizers/) cover only the
# internals of uninstrumented third-party libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sanitizer_build.sh

TSAN_TESTS=(unit_pipeline_test unit_store_test unit_http_test unit_dead_letter_outbox_test
            unit_offset_tracker_test integration_jetstream_source_test
            integration_kafka_source_test integration_kafka_outage_test
            integration_ingestd_nats_test integration_ingestd_kafka_test)

mode=${1:-}
if [[ "$mode" != asan && "$mode" != tsan ]]; then
  echo "usage: scripts/sanitize.sh asan|tsan [ctest args...]" >&2
  exit 2
fi
shift
install_sanitizer_packages
export_sanitizer_options
case "$mode" in
  asan)
    build_asan
    dir=build-asan
    # Left to the other jobs, to keep CI inside its budget: the Node.js example consumer's test
    # (a minute driving a consumer that is not C++; the test job runs it), and the Kafka
    # source's rebalance cases and ingestd end to end on Kafka (80 s and 50 s, mostly waiting
    # out group sessions; the test job and TSan run them, and ASan still runs the Kafka source
    # through kafka_outage and kafka_mock_child, and ingestd end to end on NATS).
    selection=(-L 'unit|integration'
               -E '^(integration_example_consumer_test|integration_kafka_source_test|integration_ingestd_kafka_test)$')
    ;;
  tsan)
    configure_sanitizer_build build-tsan thread
    cmake --build build-tsan -j"$(nproc)" --target "${TSAN_TESTS[@]}"
    dir=build-tsan
    selection=(-R "^($(IFS='|'; echo "${TSAN_TESTS[*]}"))\$")
    ;;
esac
reports="$(pwd)/$dir/sanitizer-reports"
send_sanitizer_reports_to "$reports"
status=0
(cd "$dir" && ctest --output-on-failure --timeout 900 "${selection[@]}" "$@") || status=$?
check_sanitizer_reports "$reports" || status=1
exit $status
