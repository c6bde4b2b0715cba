// Store::ApplyEvent throughput: batches of 1,000 mixed events (focus pings, purchases, refunds,
// tickets, logins, CRM leads, customer-dialect events), one transaction per batch, on a
// temp-dir database in WAL mode — the writer thread's hot path without decoding.
//   ./build/tests/apply_bench --benchmark_counters_tabular=true
// items_per_second is events applied per second.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>
#include <vector>

#include "system/store.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;
using ingestlab::testing::EventFixture;
using ingestlab::testing::TestEvent;

namespace {

constexpr int kBatchSize = 1000;
constexpr int kBatches = 80;

// Event i of batch `batch`; `kind` picks the shape (0-9, as i % 10 does in the mixed batch).
std::string BenchEvent(int batch, int i, int kind) {
  const std::string n = std::to_string(batch) + "_" + std::to_string(i);
  const std::string customer = "cust_" + std::to_string((batch * kBatchSize + i) % 5000);
  const int64_t t = 1'700'000'000'000 + (batch * kBatchSize + i) * 20;
  const std::string head = R"({"id":"evt_)" + n + R"(","source":"bench","org_id":"org_1",)" +
                           R"("customer_id":")" + customer + R"(","time_ms":)" + std::to_string(t) +
                           R"(,"origin":"nats:BENCH:)" + n + R"(",)";
  switch (kind) {
    case 0:
    case 1:
    case 2:
      return head + R"("type":"focus.ping","data":{"session_id":"sess_)" + std::to_string(i % 50) +
             R"(","learner_id":")" + customer +
             R"(","focused":true,"app":"reader","tab":"chapter-3"}})";
    case 3:
      return head + R"("type":"billing.purchase.completed","data":{"purchase_id":"pur_)" + n +
             R"(","customer_id":")" + customer +
             R"(","amount":49.99,"currency":"USD","product_name":"Widget Pro",)"
             R"("product_sku":"WGT-100","quantity":1}})";
    case 4:
      return head + R"("type":"support.ticket.opened","data":{"ticket_id":"tkt_)" + n +
             R"(","customer_id":")" + customer +
             R"(","title":"Device does not power on","description":"The device stopped )"
             R"(powering on after the last firmware update. Tried a different cable.",)"
             R"("priority":"high","channel":"email"}})";
    case 5:
      return head + R"("type":"auth.user.login.failed","data":{"email":"user)" + std::to_string(i) +
             R"(@example.com","reason":"invalid_password"}})";
    case 6:
      return head + R"("type":"crm.lead.created","data":{"lead_id":"lead_)" + n +
             R"(","email":"lead@corp.example","name":"Lee Ad","company":"Corp",)"
             R"("lead_source":"web","status":"new"}})";
    case 7:
      return head + R"("type":"customer.purchase.recorded","data":{"purchase_id":"ord_)" + n +
             R"(","product_name":"Gadget","quantity":2,"price":10.5,"total":21,)"
             R"("customer_name":"Jo Doe","email":"jo@example.com"}})";
    case 8:
      if (i >= 10 && i % 10 == 8) {  // refunds the purchase five events back (kind 3)
        return head + R"("type":"billing.purchase.refunded","data":{"purchase_id":"pur_)" +
               std::to_string(batch) + "_" + std::to_string(i - 5) +
               R"(","amount":10,"reason":"damaged"}})";
      }
      [[fallthrough]];
    default:
      return head + R"("type":"customer.event.recorded","data":{"page":"/pricing","ms":1234}})";
  }
}

struct BenchStore {
  BenchStore() : dir(testing::MakeTempDir("bench")) {
    StoreOptions options;
    options.path = dir + "/ingest.db";
    auto opened = Store::Open(options);
    if (!opened.ok()) throw std::runtime_error(opened.status().ToString());
    store = std::move(opened.value());
  }
  ~BenchStore() {
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string dir;
  std::unique_ptr<Store> store;
};

void ApplyBatch(benchmark::State& state, Store& store, const std::vector<const TestEvent*>& batch,
                ApplyOutcome expected) {
  if (!store.Begin().ok()) state.SkipWithError("Begin failed");
  for (const TestEvent* te : batch) {
    auto outcome = store.ApplyEvent(te->event, te->msg);
    if (!outcome.ok() || *outcome != expected) {
      state.SkipWithError(outcome.ok() ? "unexpected outcome"
                                       : outcome.status().ToString().c_str());
      break;
    }
  }
  if (!store.Commit().ok()) state.SkipWithError("Commit failed");
}

// kind < 0: the mixed batch (30% focus pings, 10% each of the rest).
void ApplyBatches(benchmark::State& state, int kind) {
  EventFixture fixture;
  std::vector<std::vector<const TestEvent*>> batches(kBatches);
  for (int b = 0; b < kBatches; ++b) {
    for (int i = 0; i < kBatchSize; ++i) {
      batches[b].push_back(&fixture.Make(BenchEvent(b, i, kind < 0 ? i % 10 : kind)));
    }
  }
  BenchStore bench;
  size_t next = 0;
  for (auto _ : state) {
    ApplyBatch(state, *bench.store, batches[next++ % kBatches], ApplyOutcome::kApplied);
  }
  state.SetItemsProcessed(state.iterations() * kBatchSize);
}

void BM_ApplyMixedBatch(benchmark::State& state) { ApplyBatches(state, -1); }
BENCHMARK(BM_ApplyMixedBatch)->Iterations(kBatches)->Unit(benchmark::kMillisecond)->UseRealTime();

// One event shape per batch, to see what each handler costs. Arg = kind:
// 0 focus.ping, 3 billing.purchase.completed, 4 support.ticket.opened,
// 5 auth.user.login.failed, 6 crm.lead.created, 7 customer.purchase.recorded,
// 9 customer.event.recorded.
void BM_ApplySingleTypeBatch(benchmark::State& state) {
  ApplyBatches(state, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_ApplySingleTypeBatch)
    ->Arg(0)
    ->Arg(3)
    ->Arg(4)
    ->Arg(5)
    ->Arg(6)
    ->Arg(7)
    ->Arg(9)
    ->Iterations(kBatches / 4)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Redeliveries: every id already in `events`; measures the duplicate-detection path.
void BM_ApplyRedeliveredBatch(benchmark::State& state) {
  EventFixture fixture;
  std::vector<const TestEvent*> batch;
  for (int i = 0; i < kBatchSize; ++i) batch.push_back(&fixture.Make(BenchEvent(0, i, i % 10)));
  BenchStore bench;
  ApplyBatch(state, *bench.store, batch, ApplyOutcome::kApplied);
  for (auto _ : state) ApplyBatch(state, *bench.store, batch, ApplyOutcome::kRedelivered);
  state.SetItemsProcessed(state.iterations() * kBatchSize);
}
BENCHMARK(BM_ApplyRedeliveredBatch)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
