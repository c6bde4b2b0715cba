// Raw JetStream ceilings on a real nats-server, with no ingestd in the way:
//   BM_JetStreamPublish  — N messages published asynchronously to FOCUS by one client, the clock
//                          running until the last ack from the stream has arrived.
//   BM_JetStreamFetchAck — JetStreamSource over N pre-published messages, into a sink that acks
//                          every batch at once on its own thread: messages/s from Start until
//                          every message has been delivered and acked.
// Run: ./build/tests/jetstream_source_bench [--benchmark_filter=...]
#include <atomic>
#include <thread>

#include <benchmark/benchmark.h>

#include "common/clock.h"
#include "common/log.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "system/nats/jetstream_source.h"
#include "tests/support/batch_worker.h"
#include "tests/support/bench_nats.h"

using namespace ingestlab;

namespace {

// Settles every batch with kAck on a worker thread, like the pipeline's writer.
class AckingSink final : public BatchSink {
 public:
  bool Submit(InboundBatch batch) override { return worker_.Submit(std::move(batch)); }
  bool TrySubmit(InboundBatch& batch) override { return Submit(std::move(batch)); }
  int64_t settled() const { return settled_.load(); }

 private:
  std::atomic<int64_t> settled_{0};
  testing::BatchWorker worker_{[this](InboundBatch b) {
    const size_t n = b.messages.size();
    b.on_settled(std::vector<Settlement>(n));
    settled_ += static_cast<int64_t>(n);
  }};
};

// FOCUS's options for a source on `nats` whose consumers are named for `durable_prefix`.
JetStreamOptions FocusOptions(const testing::BenchNats& nats, const std::string& durable_prefix) {
  JetStreamOptions options;
  options.urls = {nats.cluster->urls()};
  options.streams = {"FOCUS"};
  options.durable_prefix = durable_prefix;
  return options;
}

// Creates the streams as ingestd does: a source started and stopped at once.
void CreateStreams(const JetStreamOptions& options, AckingSink& sink, Metrics& metrics) {
  auto setup = JetStreamSource::Create(options, &sink, &metrics, &Clock::System());
  (*setup)->Start();
  (*setup)->Stop();
}

// Publishes `n` 200-byte focus.ping messages asynchronously; whether all were acked in 60 s.
bool PublishPings(testing::JsTestClient& client, int64_t n) {
  const std::string payload(200, 'x');
  for (int64_t i = 0; i < n; ++i) testing::PublishAsync(client, "focus.ping", payload);
  return testing::WaitAllAcked(client, 60'000);
}

void BM_JetStreamPublish(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto nats = testing::StartBenchNats(state, "js-publish-bench");
  if (!nats) return;
  {
    Metrics metrics;
    AckingSink sink;
    CreateStreams(FocusOptions(*nats, "bench-setup"), sink, metrics);
  }
  testing::JsTestClient client(nats->cluster->urls());
  for (auto _ : state) {
    if (!PublishPings(client, n)) {
      state.SkipWithError("not every publish was acknowledged within 60 s");
      break;
    }
  }
  state.SetItemsProcessed(n * state.iterations());
}
BENCHMARK(BM_JetStreamPublish)->Arg(200'000)->Apply(testing::OnePass);

void BM_JetStreamFetchAck(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto nats = testing::StartBenchNats(state, "js-bench");
  if (!nats) return;
  int64_t total = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Metrics metrics;
    static AckingSink sink;  // counts across iterations
    JetStreamOptions options = FocusOptions(*nats, "bench" + std::to_string(total));
    {
      // Create the streams, then pre-publish asynchronously.
      CreateStreams(options, sink, metrics);
      testing::JsTestClient client(nats->cluster->urls());
      PublishPings(client, n);
    }
    options.durable_prefix = "bench-run" + std::to_string(total);
    auto source = JetStreamSource::Create(options, &sink, &metrics, &Clock::System());
    state.ResumeTiming();
    (*source)->Start();
    // A fresh DeliverAll consumer reads every message in the stream: n per iteration so far.
    const int64_t expected = total + n;
    while (sink.settled() < expected) std::this_thread::sleep_for(std::chrono::microseconds(200));
    (*source)->Stop();
    state.PauseTiming();
    total += n;
    (*source).reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(total);
}
BENCHMARK(BM_JetStreamFetchAck)->Arg(200'000)->Apply(testing::OnePass);

}  // namespace

BENCHMARK_MAIN();
