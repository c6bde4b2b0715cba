// End-to-end NATS throughput of the real ingestd binary: N events pre-published to FOCUS
// (service envelope focus.ping) and BILLING (CloudEvents purchases), then ingestd started; the
// clock runs until every event is committed in SQLite (count(*) FROM events).
// Run: ./build/tests/ingestd_nats_bench
#include <sqlite3.h>

#include <fstream>
#include <thread>

#include <benchmark/benchmark.h>

#include "common/log.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "tests/integration/nats_test_util.h"

using namespace ingestlab;

namespace {

int64_t CountEvents(const std::string& db_path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return 0;
  }
  sqlite3_busy_timeout(db, 1000);
  sqlite3_stmt* st = nullptr;
  int64_t n = 0;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    n = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

void BM_IngestdNatsEndToEnd(benchmark::State& state) {
  SetLogLevel(LogLevel::kWarn);
  const int64_t n = state.range(0);
  auto dir = TempDir::Create("ingestd-bench").value();
  NatsClusterOptions co;
  co.dir = dir.path();
  auto cluster = NatsCluster::Start(co);
  if (!cluster.ok()) {
    state.SkipWithError(cluster.status().message().c_str());
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    const std::string db_path = dir.Sub("ingest.db");
    const std::string port_file = dir.Sub("port");
    SpawnOptions spawn;
    spawn.program = INGESTLAB_INGESTD;
    spawn.args = {"--nats",      (*cluster)->urls(), "--db",    db_path,       "--http",
                  "127.0.0.1:0", "--http-port-file", port_file, "--log-level", "warn"};
    spawn.log_path = dir.Sub("ingestd.log");
    {
      // Create the streams by running ingestd once, then stop it before publishing.
      auto first = ChildProcess::Spawn(spawn);
      testing::WaitUntil([&] { return std::ifstream(port_file).good(); }, 10'000);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      (*first)->Stop(10'000);
    }
    testing::JsTestClient client((*cluster)->urls());
    for (int64_t i = 0; i < n; ++i) {
      std::string payload;
      const char* subject;
      if (i % 2 == 0) {
        subject = "focus.ping";
        payload =
            R"({"id":"p-)" + std::to_string(i) +
            R"(","type":"focus.ping","source":"focus-svc","organization_id":"org-1","timestamp":"2026-11-23T10:00:00Z","data":{"session_id":"s-)" +
            std::to_string(i % 97) + R"(","learner_id":"l-1","focused":true}})";
      } else {
        subject = "billing.purchase.completed";
        payload =
            R"({"specversion":"1.0","id":"b-)" + std::to_string(i) +
            R"(","source":"billing-svc","type":"billing.purchase.completed","time":"2026-11-23T10:00:00Z","subject":"c-)" +
            std::to_string(i % 1000) + R"(","data":{"purchase_id":"pu-)" + std::to_string(i) +
            R"(","customer_id":"c-)" + std::to_string(i % 1000) + R"(","amount":12.5}})";
      }
      js_PublishAsync(client.js(), subject, payload.data(), static_cast<int>(payload.size()),
                      nullptr);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60'000;
    js_PublishAsyncComplete(client.js(), &po);
    state.ResumeTiming();

    auto ingestd = ChildProcess::Spawn(spawn);
    while (CountEvents(db_path) < n) std::this_thread::sleep_for(std::chrono::milliseconds(20));

    state.PauseTiming();
    (*ingestd)->Stop(10'000);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(n * state.iterations());
}
BENCHMARK(BM_IngestdNatsEndToEnd)
    ->Arg(100'000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
