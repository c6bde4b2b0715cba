// Benchmark helpers for programs that need a real nats-server: a 1-node server in its own
// temporary directory, asynchronous publishing with one wait for every ack, and the
// one-pass registration they all use.
// Thread-safety: one benchmark thread at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <benchmark/benchmark.h>

#include "common/log.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "tests/integration/nats_test_util.h"

namespace ingestlab::testing {

// A whole end-to-end pass per run: one iteration, timed by the wall clock, in milliseconds.
// For BENCHMARK(...)->Apply(OnePass).
inline void OnePass(benchmark::internal::Benchmark* b) {
  b->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
}

struct BenchNats {
  TempDir dir;
  std::unique_ptr<NatsCluster> cluster;
};

// Quiets the log to warnings and starts a 1-node server under a fresh temp dir named for `tag`;
// nullopt, with the benchmark marked as failed, when it cannot start.
inline std::optional<BenchNats> StartBenchNats(benchmark::State& state, const std::string& tag) {
  SetLogLevel(LogLevel::kWarn);
  auto dir = TempDir::Create(tag).value();
  NatsClusterOptions co;
  co.dir = dir.path();
  auto cluster = NatsCluster::Start(co);
  if (!cluster.ok()) {
    state.SkipWithError(cluster.status().message().c_str());
    return std::nullopt;
  }
  return BenchNats{std::move(dir), std::move(cluster).value()};
}

// Publishes without waiting for the ack (WaitAllAcked waits for them all).
inline void PublishAsync(JsTestClient& client, const std::string& subject,
                         const std::string& payload) {
  js_PublishAsync(client.js(), subject.c_str(), payload.data(), static_cast<int>(payload.size()),
                  nullptr);
}

// Waits up to `max_wait_ms` until every asynchronous publish so far is acknowledged.
inline bool WaitAllAcked(JsTestClient& client, int64_t max_wait_ms) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = max_wait_ms;
  return js_PublishAsyncComplete(client.js(), &po) == NATS_OK;
}

}  // namespace ingestlab::testing
