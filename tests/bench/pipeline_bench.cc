// Pipeline throughput: Submit → settled for 100k CloudEvents through the real EnvelopeDecoder,
// the embedded schemas and the SQLite Store (WAL, on a temp file), in batches the size a broker
// fetch delivers. Reports events/s ("items_per_second").
//   build/tests/pipeline_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "system/metrics.h"
#include "system/pipeline.h"
#include "system/schema.h"
#include "system/store.h"
#include "tests/support/bench_common.h"

namespace ingestlab {
namespace {

constexpr int kEvents = 100'000;
constexpr int kCustomers = 2'000;

std::string PurchaseEvent(int i) {
  const std::string customer = "cust-" + std::to_string(i % kCustomers);
  return R"({"specversion":"1.0","id":"bench-purchase-)" + std::to_string(i) +
         R"(","source":"billing-service","type":"billing.purchase.completed",)"
         R"("time":"2026-11-23T19:00:00.000Z","subject":")" +
         customer + R"(","orgid":"org-1","data":{"purchase_id":"p-)" + std::to_string(i) +
         R"(","customer_id":")" + customer +
         R"(","amount":19.99,"currency":"USD","product_name":"Widget","quantity":1}})";
}

std::string FocusPing(int i) {
  const std::string learner = "learner-" + std::to_string(i % kCustomers);
  return R"({"specversion":"1.0","id":"bench-ping-)" + std::to_string(i) +
         R"(","source":"focus-service","type":"focus.ping","time":"2026-11-23T19:00:00.000Z",)"
         R"("subject":")" +
         learner + R"(","data":{"session_id":"s-)" + std::to_string(i % kCustomers) +
         R"(","learner_id":")" + learner + R"(","focused":true}})";
}

std::vector<std::vector<RawMessage>> MakeBatches(std::string (*make)(int), int batch_size) {
  std::vector<std::vector<RawMessage>> batches;
  for (int i = 0; i < kEvents; i += batch_size) {
    std::vector<RawMessage> batch;
    for (int j = i; j < std::min(kEvents, i + batch_size); ++j) {
      RawMessage m;
      m.payload = make(j);
      m.subject = "bench";
      m.origin = "nats:BENCH:" + std::to_string(j + 1);
      batch.push_back(std::move(m));
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

// A store that accepts everything: isolates the queue, decoder, schemas and settlement cost.
class NullStore final : public Store {
 public:
  Status Begin() override { return Status::Ok(); }
  Status Commit() override { return Status::Ok(); }
  void Rollback() override {}
  Result<ApplyOutcome> ApplyEvent(const Event&, const RawMessage&) override {
    return ApplyOutcome::kApplied;
  }
  Result<DeadLetterState> RecordDeadLetter(const DeadLetterRecord&) override {
    return DeadLetterState::kNew;
  }
  Status MarkInFlight(std::string_view, const std::vector<std::string_view>&) override {
    return Status::Ok();
  }
  Status ClearInFlight(std::string_view, const std::vector<std::string_view>&) override {
    return Status::Ok();
  }
  Result<std::vector<std::pair<std::string, int>>> RecoverCrashes(std::string_view) override {
    return std::vector<std::pair<std::string, int>>{};
  }
  Status RecordFailure(std::string_view, int, std::string_view) override { return Status::Ok(); }
  Result<std::vector<MessageFailure>> MessageFailures() override {
    return std::vector<MessageFailure>{};
  }
  Result<std::string> StateDigest() override { return std::string(); }
};

void RunPipeline(benchmark::State& state, std::string (*make)(int), bool null_store = false) {
  const int batch_size = static_cast<int>(state.range(0));
  const auto schemas = testing::EmbeddedSchemas(state);
  if (!schemas) return;
  const auto dir = testing::BenchScratchDir("pipeline_bench");
  int64_t applied = 0;
  int run = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batches = MakeBatches(make, batch_size);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    StoreOptions store_options;
    store_options.path = (dir / ("ingest-" + std::to_string(run++) + ".db")).string();
    auto store = null_store ? Result<std::unique_ptr<Store>>(std::make_unique<NullStore>())
                            : Store::Open(store_options);
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
    Metrics metrics;
    std::mutex mu;
    std::condition_variable cv;
    int settled = 0;
    Pipeline pipeline(PipelineOptions{}, store->get(), schemas.get(), &metrics, &Clock::System());
    pipeline.Start();
    state.ResumeTiming();

    for (auto& messages : batches) {
      InboundBatch batch;
      batch.messages = std::move(messages);
      const int n = static_cast<int>(batch.messages.size());
      batch.on_settled = [&, n](std::vector<Settlement>&&) {
        std::lock_guard<std::mutex> lock(mu);
        settled += n;
        cv.notify_all();
      };
      pipeline.Submit(std::move(batch));
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return settled == kEvents; });
    }

    state.PauseTiming();
    pipeline.Stop();
    const auto* commits = metrics.histogram("ingest_batch_size", "", Metrics::BatchSizeBounds());
    state.counters["txn_size"] = commits->sum() / std::max<int64_t>(1, commits->count());
    int64_t run_applied = 0;
    for (const char* type : {"billing.purchase.completed", "focus.ping"}) {
      run_applied += metrics.counter("ingest_applied_total", "", {{"type", type}})->value();
    }
    applied += run_applied;
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.counters["applied"] =
      static_cast<double>(applied) / static_cast<double>(state.iterations());
}

void BM_PipelinePurchases(benchmark::State& state) { RunPipeline(state, PurchaseEvent); }
void BM_PipelineFocusPings(benchmark::State& state) { RunPipeline(state, FocusPing); }
void BM_PipelineWithoutStore(benchmark::State& state) { RunPipeline(state, PurchaseEvent, true); }

BENCHMARK(BM_PipelinePurchases)
    ->Arg(100)
    ->Arg(1000)
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_PipelineWithoutStore)
    ->Arg(1000)
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_PipelineFocusPings)
    ->Arg(1000)
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace ingestlab

BENCHMARK_MAIN();
