// Kafka throughput against librdkafka's mock cluster in this process (3 brokers, a topic with
// 16 partitions, 100k CloudEvents crm.lead.created v1 produced once):
//   BM_KafkaMockProduce — the same 100k produced by one producer into a fresh 16-partition topic,
//                         the clock running until the flush has every delivery report.
//   BM_KafkaRawConsume — KafkaSource into a sink that settles every batch at once: the
//                         consume + batch + commit rate of the adapter alone.
//   BM_KafkaToSqlite   — KafkaSource → Pipeline (decoder, schemas) → SQLite Store on a temp file,
//                         offsets committed after each transaction: events/s end to end.
// Each iteration is a fresh consumer group reading the topic from the start; the clock runs from
// the first message received to the last one settled (the mock's ~3 s group join is excluded).
// KAFKA_BENCH_PROPS="queued.max.messages.kbytes=65536,..." sets consumer properties: with
// ingestd's 16 MB local queue, librdkafka 2.0 stops fetching for 1 s whenever the queue is full,
// which caps the raw consume of this 40 MB topic near 100k msg/s.
//   build/tests/kafka_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "harness/infra/kafka_cluster.h"
#include "system/kafka/kafka_source.h"
#include "system/metrics.h"
#include "system/pipeline.h"
#include "system/schema.h"
#include "system/store.h"
#include "tests/support/bench_common.h"

namespace ingestlab {
namespace {

const int kEvents = getenv("KAFKA_BENCH_EVENTS") ? atoi(getenv("KAFKA_BENCH_EVENTS")) : 100'000;

constexpr const char* kTopic = "bench.crm.leads";

std::string LeadCreated(int i) {
  const std::string lead = "lead-" + std::to_string(i);
  return R"({"specversion":"1.0","id":"bench-lead-)" + std::to_string(i) +
         R"(","source":"crm","type":"crm.lead.created","time":"2026-11-23T19:00:00.000Z",)"
         R"("orgid":"org-1","subject":")" +
         lead + R"(","data":{"lead_id":")" + lead + R"(","email":")" + lead +
         R"(@example.com","name":"Bench Lead","company":"Acme",)"
         R"("lead_source":"web","status":"new"}})";
}

// The cluster and its data, made once for every benchmark in this program.
KafkaMockCluster* Cluster() {
  static KafkaMockCluster* cluster = [] {
    if (getenv("INGEST_LOG_LEVEL") == nullptr) SetLogLevel(LogLevel::kWarn);
    KafkaClusterOptions options;
    auto c = KafkaMockCluster::Start(options);
    if (!c.ok()) {
      fprintf(stderr, "mock cluster: %s\n", c.status().ToString().c_str());
      std::abort();
    }
    // The mock keeps about 5 MB per partition (older segments are dropped): 16 partitions hold
    // 100k events of ~400 bytes.
    if (!(*c)->CreateTopic(kTopic, 16, 3).ok()) std::abort();
    auto producer = KafkaTestProducer::Create((*c)->bootstrap(),
                                              {{"linger.ms", "5"}, {"batch.num.messages", "5000"}});
    if (!producer.ok()) std::abort();
    for (int i = 0; i < kEvents; ++i) {
      const std::string key = "lead-" + std::to_string(i);
      if (!(*producer)->Produce({kTopic, -1, key, LeadCreated(i), {}}).ok()) std::abort();
    }
    if (!(*producer)->Flush(60'000).ok()) std::abort();
    return c.value().release();
  }();
  return cluster;
}

// Forwards to `next` (or settles at once when next is null), timing the first message in and
// counting settled messages.
class TimingSink final : public BatchSink {
 public:
  explicit TimingSink(BatchSink* next) : next_(next) {}

  bool Submit(InboundBatch batch) override { return TrySubmit(batch); }
  bool TrySubmit(InboundBatch& batch) override {
    const int64_t now = Clock::System().NowMonoNanos();
    int64_t expected = 0;
    first_ns_.compare_exchange_strong(expected, now);
    const size_t n = batch.messages.size();
    if (next_ == nullptr) {
      batch.on_settled(std::vector<Settlement>(n));
      Count(n);
      return true;
    }
    auto original = batch.on_settled;
    batch.on_settled = [this, original, n](std::vector<Settlement>&& s) {
      original(std::move(s));
      Count(n);
    };
    if (next_->TrySubmit(batch)) return true;
    batch.on_settled = std::move(original);
    return false;
  }

  // Seconds from the first message in to the n-th settled; false on timeout.
  bool WaitFor(int64_t n, double* seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(
            lock,
            std::chrono::seconds(getenv("KAFKA_BENCH_TIMEOUT") ? atoi(getenv("KAFKA_BENCH_TIMEOUT"))
                                                               : 120),
            [&] { return settled_ >= n; })) {
      fprintf(stderr, "settled %lld of %lld\n", static_cast<long long>(settled_),
              static_cast<long long>(n));
      return false;
    }
    *seconds = static_cast<double>(last_ns_ - first_ns_.load()) / 1e9;
    return true;
  }

 private:
  void Count(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    settled_ += static_cast<int64_t>(n);
    last_ns_ = Clock::System().NowMonoNanos();
    cv_.notify_all();
  }

  BatchSink* next_;
  std::atomic<int64_t> first_ns_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t settled_ = 0;
  int64_t last_ns_ = 0;
};

void RunKafka(benchmark::State& state, bool with_store) {
  KafkaMockCluster* cluster = Cluster();
  const auto schemas = testing::EmbeddedSchemas(state);
  if (!schemas) return;
  const auto dir = testing::BenchScratchDir("kafka_bench");
  static int run = 0;
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Metrics metrics;
    std::unique_ptr<Store> store;
    std::unique_ptr<Pipeline> pipeline;
    if (with_store) {
      StoreOptions store_options;
      store_options.path = (dir / "ingest.db").string();
      auto opened = Store::Open(store_options);
      if (!opened.ok()) {
        state.SkipWithError(opened.status().ToString().c_str());
        break;
      }
      store = std::move(opened).value();
      pipeline = std::make_unique<Pipeline>(PipelineOptions{}, store.get(), schemas.get(), &metrics,
                                            &Clock::System());
      pipeline->Start();
    }
    TimingSink sink(pipeline.get());
    KafkaOptions options;
    options.bootstrap = cluster->bootstrap();
    options.group_id = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(run++);
    options.topics = {kTopic};
    options.batch_max_messages = static_cast<int>(state.range(0));
    // KAFKA_BENCH_PROPS="key=value,key=value": librdkafka properties for the consumer, as
    // ingestd's --kafka-property passes them, for experiments with its defaults.
    if (const char* props = getenv("KAFKA_BENCH_PROPS")) {
      std::string list(props);
      size_t start = 0;
      while (start < list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        const std::string kv = list.substr(start, comma - start);
        const size_t eq = kv.find('=');
        if (eq != std::string::npos) options.properties[kv.substr(0, eq)] = kv.substr(eq + 1);
        start = comma + 1;
      }
    }
    auto source = KafkaSource::Create(options, &sink, &metrics, &Clock::System());
    if (!source.ok()) {
      state.SkipWithError(source.status().ToString().c_str());
      break;
    }
    if (!(*source)->Start().ok()) {
      state.SkipWithError("kafka source did not start");
      break;
    }
    double seconds = 0;
    const bool done = sink.WaitFor(kEvents, &seconds);
    (*source)->Stop();
    if (pipeline) pipeline->Stop();
    if (!done) {
      state.SkipWithError("not every message was settled within 120 s");
      break;
    }
    state.SetIterationTime(seconds);
    if (with_store) {
      state.counters["applied"] = static_cast<double>(
          metrics.counter("ingest_applied_total", "", {{"type", "crm.lead.created"}})->value());
    }
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations() * kEvents);
}

void BM_KafkaMockProduce(benchmark::State& state) {
  KafkaMockCluster* cluster = Cluster();
  std::vector<std::pair<std::string, std::string>> records;  // key, value
  records.reserve(kEvents);
  for (int i = 0; i < kEvents; ++i) {
    records.emplace_back("lead-" + std::to_string(i), LeadCreated(i));
  }
  static int run = 0;
  for (auto _ : state) {
    const std::string topic = "bench.produce." + std::to_string(run++);
    if (!cluster->CreateTopic(topic, 16, 3).ok()) {
      state.SkipWithError("could not create the topic");
      break;
    }
    auto producer = KafkaTestProducer::Create(cluster->bootstrap(),
                                              {{"linger.ms", "5"}, {"batch.num.messages", "5000"}});
    if (!producer.ok()) {
      state.SkipWithError(producer.status().ToString().c_str());
      break;
    }
    const int64_t start = Clock::System().NowMonoNanos();
    for (const auto& [key, value] : records) {
      if (!(*producer)->Produce({topic, -1, key, value, {}}).ok()) {
        state.SkipWithError("produce failed");
        break;
      }
    }
    if (!(*producer)->Flush(60'000).ok()) {
      state.SkipWithError("flush did not finish within 60 s");
      break;
    }
    state.SetIterationTime(static_cast<double>(Clock::System().NowMonoNanos() - start) / 1e9);
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
}

void BM_KafkaRawConsume(benchmark::State& state) { RunKafka(state, false); }
void BM_KafkaToSqlite(benchmark::State& state) { RunKafka(state, true); }

BENCHMARK(BM_KafkaMockProduce)->Iterations(2)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KafkaRawConsume)
    ->Arg(1000)
    ->Iterations(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KafkaToSqlite)
    ->Arg(1000)
    ->Iterations(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ingestlab

BENCHMARK_MAIN();
