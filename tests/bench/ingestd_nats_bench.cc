// End-to-end NATS throughput of the real ingestd binary, each workload pre-published, then
// ingestd started; the clock runs until every event is committed in SQLite (count(*) FROM events):
//   BM_IngestdNatsEndToEnd          — mixed: FOCUS (service envelope focus.ping) and BILLING
//                                     (CloudEvents purchases), half each.
//   BM_IngestdNatsCustomerPurchases — seed 000's own workload: customer-dialect purchases on
//                                     customer.events.<id>.purchase over 5,000 customers, encoded
//                                     and published as the simulators do (no Nats-Msg-Id), each
//                                     also upserting its customer.
//   BM_IngestdNatsLatency           — committed_at - event_time at a steady rate.
//   BM_IngestdNatsScaleOut          — 1, 2 and 4 ingestd sharing one store, SQLite or PostgreSQL,
//                                     on seed 000's purchases.
// Each reports peak_rss_mb: ingestd's VmHWM, read from /proc before it is stopped.
// INGESTD_BENCH_ARGS="--max-txn-messages 16000 ..." appends flags to every ingestd started, for
// experiments with its settings.
// Run: ./build/tests/ingestd_nats_bench  (scripts/bench.sh runs it with the other ceilings)
#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include <benchmark/benchmark.h>

#include "common/clock.h"
#include "common/log.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/postgres_server.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "simulators/encoding.h"
#include "simulators/generators.h"
#include "tests/support/bench_nats.h"
#include "tests/support/pg_session.h"
#include "tests/support/sqlite_query.h"

using namespace ingestlab;

namespace {

using testing::PublishAsync;
using testing::WaitAllAcked;

int64_t CountEvents(const std::string& db_path) {
  return testing::QueryInt(db_path, "SELECT count(*) FROM events");
}

// Appends the whitespace-separated flags of $INGESTD_BENCH_ARGS to args.
void AddExtraArgs(std::vector<std::string>* args) {
  const char* extra = getenv("INGESTD_BENCH_ARGS");
  if (extra == nullptr) return;
  std::istringstream in(extra);
  std::string word;
  while (in >> word) args->push_back(word);
}

// Peak resident set of a live process in MB (VmHWM), or 0 if it cannot be read.
double PeakRssMb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// Polls the store until it holds n events; false after timeout_ms.
bool WaitForEvents(const std::string& db_path, int64_t n, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (CountEvents(db_path) < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// ingestd on `nats` with its database, HTTP port file and log in nats.dir, logging warnings
// only, then `extra` and $INGESTD_BENCH_ARGS.
SpawnOptions IngestdSpawn(const testing::BenchNats& nats, std::vector<std::string> extra = {}) {
  SpawnOptions spawn;
  spawn.program = INGESTLAB_INGESTD;
  spawn.args = {"--nats",
                nats.cluster->urls(),
                "--db",
                nats.dir.Sub("ingest.db"),
                "--http",
                "127.0.0.1:0",
                "--http-port-file",
                nats.dir.Sub("port"),
                "--log-level",
                "warn"};
  spawn.args.insert(spawn.args.end(), extra.begin(), extra.end());
  AddExtraArgs(&spawn.args);
  spawn.log_path = nats.dir.Sub("ingestd.log");
  return spawn;
}

// Starts `spawn` and waits (up to 10 s) for its HTTP port file, then `settle_ms` more.
std::unique_ptr<ChildProcess> SpawnAndSettle(const SpawnOptions& spawn,
                                             const std::string& port_file, int settle_ms) {
  auto child = ChildProcess::Spawn(spawn);
  testing::WaitUntil([&] { return std::ifstream(port_file).good(); }, 10'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
  return std::move(child).value();
}

// Creates the streams by running ingestd once, and stops it before anything is published.
void CreateStreams(const testing::BenchNats& nats, const SpawnOptions& spawn) {
  SpawnAndSettle(spawn, nats.dir.Sub("port"), 300)->Stop(10'000);
}

// Starts ingestd on the pre-published stream and waits (up to 120 s, timed) until `n` events
// are committed; records its peak RSS and stops it untimed.
void DrainTimed(benchmark::State& state, const testing::BenchNats& nats, const SpawnOptions& spawn,
                int64_t n, const char* not_drained) {
  state.ResumeTiming();
  auto ingestd = ChildProcess::Spawn(spawn);
  const bool drained = WaitForEvents(nats.dir.Sub("ingest.db"), n, 120'000);
  state.PauseTiming();
  state.counters["peak_rss_mb"] = PeakRssMb((*ingestd)->pid());
  (*ingestd)->Stop(10'000);
  state.ResumeTiming();
  if (!drained) state.SkipWithError(not_drained);
}

const char* SyncMode(const benchmark::State& state) { return state.range(1) ? "full" : "normal"; }

void BM_IngestdNatsEndToEnd(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto nats = testing::StartBenchNats(state, "ingestd-bench");
  if (!nats) return;
  const SpawnOptions spawn = IngestdSpawn(*nats, {"--synchronous", SyncMode(state)});
  for (auto _ : state) {
    state.PauseTiming();
    CreateStreams(*nats, spawn);
    testing::JsTestClient client(nats->cluster->urls());
    for (int64_t i = 0; i < n; ++i) {
      if (i % 2 == 0) {
        PublishAsync(
            client, "focus.ping",
            R"({"id":"p-)" + std::to_string(i) +
                R"(","type":"focus.ping","source":"focus-svc","organization_id":"org-1","timestamp":"2026-11-23T10:00:00Z","data":{"session_id":"s-)" +
                std::to_string(i % 97) + R"(","learner_id":"l-1","focused":true}})");
      } else {
        PublishAsync(
            client, "billing.purchase.completed",
            R"({"specversion":"1.0","id":"b-)" + std::to_string(i) +
                R"(","source":"billing-svc","type":"billing.purchase.completed","time":"2026-11-23T10:00:00Z","subject":"c-)" +
                std::to_string(i % 1000) + R"(","data":{"purchase_id":"pu-)" + std::to_string(i) +
                R"(","customer_id":"c-)" + std::to_string(i % 1000) + R"(","amount":12.5}})");
      }
    }
    WaitAllAcked(client, 60'000);
    DrainTimed(state, *nats, spawn, n, "not every event was committed within 120 s");
  }
  state.SetItemsProcessed(n * state.iterations());
}
// Second argument: 1 = --synchronous full (the default, an fsync per commit), 0 = normal.
BENCHMARK(BM_IngestdNatsEndToEnd)
    ->ArgNames({"events", "sync_full"})
    ->Args({100'000, 1})
    ->Args({100'000, 0})
    ->Apply(testing::OnePass);

// Seed 000's workload: n customer-dialect purchases (as the simulators encode them) over a pool
// of 5,000 customers, pre-published to CUSTOMER on customer.events.<customer_id>.purchase.
void BM_IngestdNatsCustomerPurchases(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto nats = testing::StartBenchNats(state, "ingestd-purchases");
  if (!nats) return;
  // Encoded once, before the clock: the generator's JSON work is not ingestd's.
  sim::GeneratorOptions go;
  go.seed = 0;
  go.customer_pool_size = 5'000;
  auto generator = sim::MakeGenerator("billing", go).value();
  struct Message {
    std::string subject, payload, id;
  };
  std::vector<Message> messages;
  messages.reserve(static_cast<size_t>(n));
  const int64_t base_ms = 1'795'000'000'000;
  for (int64_t i = 0; i < n; ++i) {
    auto e = generator->Sample("billing.purchase.completed", base_ms + i).value();
    messages.push_back({sim::NatsSubject(e, sim::Dialect::kCustomerEvent).value(),
                        sim::Encode(e, sim::Dialect::kCustomerEvent, go.org_id), e.id});
  }
  const bool with_msg_id = state.range(1) != 0;
  const SpawnOptions spawn = IngestdSpawn(*nats);
  for (auto _ : state) {
    state.PauseTiming();
    CreateStreams(*nats, spawn);
    testing::JsTestClient client(nats->cluster->urls());
    for (const auto& m : messages) {
      if (!with_msg_id) {
        PublishAsync(client, m.subject, m.payload);
        continue;
      }
      natsMsg* msg = nullptr;
      natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.payload.data(),
                     static_cast<int>(m.payload.size()));
      natsMsgHeader_Set(msg, "Nats-Msg-Id", m.id.c_str());
      if (js_PublishMsgAsync(client.js(), &msg, nullptr) != NATS_OK) natsMsg_Destroy(msg);
    }
    WaitAllAcked(client, 60'000);
    DrainTimed(state, *nats, spawn, n, "not every purchase was committed within 120 s");
  }
  size_t bytes = 0;
  for (const auto& m : messages) bytes += m.payload.size();
  state.counters["payload_bytes"] = static_cast<double>(bytes) / static_cast<double>(n);
  state.SetItemsProcessed(n * state.iterations());
}
// Second argument: 0 = as the simulators publish the dialect (no Nats-Msg-Id: ingestd's event
// id is the SHA-256 of the payload, random in key order); 1 = Nats-Msg-Id = the generator's
// event id, which rises with the sequence: what the order of the events' primary key costs.
BENCHMARK(BM_IngestdNatsCustomerPurchases)
    ->ArgNames({"events", "msg_id"})
    ->Args({100'000, 0})
    ->Args({200'000, 0})
    ->Args({200'000, 1})
    ->Apply(testing::OnePass);

// RFC 3339 UTC with milliseconds for a unix-ms timestamp.
std::string Rfc3339Millis(int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm_utc;
  gmtime_r(&secs, &tm_utc);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm_utc);
  char out[80];
  snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(unix_ms % 1000));
  return out;
}

// Latency at a steady rate: events published at `rate`/s for 3 s with `time` = now; the
// store's committed_at - event_time per event gives p50 / p99 (ms).
void BM_IngestdNatsLatency(benchmark::State& state) {
  const int64_t rate = state.range(0);
  const int64_t seconds = 3;
  auto nats = testing::StartBenchNats(state, "ingestd-latency");
  if (!nats) return;
  const std::string db_path = nats->dir.Sub("ingest.db");
  auto ingestd = SpawnAndSettle(IngestdSpawn(*nats, {"--synchronous", SyncMode(state)}),
                                nats->dir.Sub("port"), 500);
  testing::JsTestClient client(nats->cluster->urls());
  Clock& clock = Clock::System();
  double p50 = 0, p99 = 0;
  for (auto _ : state) {
    const int64_t total = rate * seconds;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < total; ++i) {
      const auto due = start + std::chrono::microseconds(i * 1'000'000 / rate);
      std::this_thread::sleep_until(due);
      const std::string payload =
          R"({"specversion":"1.0","id":"lat-)" + std::to_string(i) +
          R"(","source":"billing-svc","type":"billing.purchase.completed","time":")" +
          Rfc3339Millis(clock.NowUnixMillis()) + R"(","subject":"c-1","data":{"purchase_id":"lp-)" +
          std::to_string(i) + R"(","customer_id":"c-)" + std::to_string(i % 500) +
          R"(","amount":1.5}})";
      PublishAsync(client, "billing.purchase.completed", payload);
    }
    WaitAllAcked(client, 30'000);
    if (!WaitForEvents(db_path, total, 60'000)) {
      state.SkipWithError("not every event was committed within 60 s");
      break;
    }
    sqlite3* db = nullptr;
    sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    std::vector<int64_t> lat;
    sqlite3_prepare_v2(db, "SELECT committed_at - event_time FROM events", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) lat.push_back(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    std::sort(lat.begin(), lat.end());
    p50 = static_cast<double>(lat[lat.size() / 2]);
    p99 = static_cast<double>(lat[lat.size() * 99 / 100]);
  }
  state.counters["peak_rss_mb"] = PeakRssMb(ingestd->pid());
  ingestd->Stop(10'000);
  state.counters["p50_ms"] = p50;
  state.counters["p99_ms"] = p99;
  state.SetItemsProcessed(rate * seconds * state.iterations());
}
BENCHMARK(BM_IngestdNatsLatency)
    ->ArgNames({"rate", "sync_full"})
    ->Args({10'000, 1})
    ->Args({10'000, 0})
    ->Apply(testing::OnePass);

// Scale-out: `instances` ingestd sharing one store and one durable consumer, on seed 000's
// purchases (as BM_IngestdNatsCustomerPurchases) pre-published, timed from their start until
// every event is committed. Store 0 = one SQLite file (one host: a single writer at a time),
// 1 = a PostgreSQL server started for the run (docs/ingestd.md, "Several hosts, one PostgreSQL").
void BM_IngestdNatsScaleOut(benchmark::State& state) {
  const bool postgres = state.range(0) != 0;
  const int instances = static_cast<int>(state.range(1));
  const int64_t n = state.range(2);
  auto nats = testing::StartBenchNats(state, "ingestd-scale");
  if (!nats) return;
  std::unique_ptr<PostgresServer> pg;
  std::string db = nats->dir.Sub("ingest.db");
  if (postgres) {
    PostgresOptions options;
    options.log_path = nats->dir.Sub("postgres.log");
    auto started = PostgresServer::Start(options);
    if (!started.ok()) {
      state.SkipWithError(started.status().ToString().c_str());
      return;
    }
    pg = std::move(*started);
    db = pg->url();
  }
  auto count = [&] {
    if (!postgres) return CountEvents(db);
    return testing::PgSession(db).Int("SELECT count(*) FROM events");
  };
  sim::GeneratorOptions go;
  go.seed = 0;
  go.customer_pool_size = 5'000;
  auto generator = sim::MakeGenerator("billing", go).value();
  std::vector<std::pair<std::string, std::string>> messages;
  for (int64_t i = 0; i < n; ++i) {
    auto e = generator->Sample("billing.purchase.completed", 1'795'000'000'000 + i).value();
    messages.emplace_back(sim::NatsSubject(e, sim::Dialect::kCustomerEvent).value(),
                          sim::Encode(e, sim::Dialect::kCustomerEvent, go.org_id));
  }
  std::vector<SpawnOptions> spawns;
  for (int i = 0; i < instances; ++i) {
    const std::string name = "ingestd-" + std::to_string(i);
    SpawnOptions spawn = IngestdSpawn(*nats, {"--name", name});
    for (size_t a = 0; a + 1 < spawn.args.size(); ++a) {
      if (spawn.args[a] == "--db") spawn.args[a + 1] = db;
      if (spawn.args[a] == "--http-port-file") spawn.args[a + 1] = nats->dir.Sub(name + ".port");
    }
    spawn.log_path = nats->dir.Sub(name + ".log");
    spawns.push_back(std::move(spawn));
  }
  for (auto _ : state) {
    state.PauseTiming();
    SpawnAndSettle(spawns[0], nats->dir.Sub("ingestd-0.port"), 300)->Stop(10'000);
    std::remove(nats->dir.Sub("ingestd-0.port").c_str());
    testing::JsTestClient client(nats->cluster->urls());
    for (const auto& [subject, payload] : messages) PublishAsync(client, subject, payload);
    WaitAllAcked(client, 60'000);
    state.ResumeTiming();
    std::vector<std::unique_ptr<ChildProcess>> running;
    for (const SpawnOptions& spawn : spawns) running.push_back(ChildProcess::Spawn(spawn).value());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    bool drained = false;
    while (!(drained = count() >= n) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    state.PauseTiming();
    for (auto& child : running) child->Stop(10'000);
    state.ResumeTiming();
    if (!drained) state.SkipWithError("not every purchase was committed within 180 s");
  }
  state.SetItemsProcessed(n * state.iterations());
}
BENCHMARK(BM_IngestdNatsScaleOut)
    ->ArgNames({"postgres", "instances", "events"})
    ->Args({0, 1, 50'000})
    ->Args({0, 2, 50'000})
    ->Args({0, 4, 50'000})
    ->Args({1, 1, 50'000})
    ->Args({1, 2, 50'000})
    ->Args({1, 4, 50'000})
    ->Apply(testing::OnePass);

}  // namespace

BENCHMARK_MAIN();
