// Simulator hot paths: generating + encoding + faulting one message per service, and a whole
// ServiceRun (scheduler, stream, publish bookkeeping, event log) against an in-memory publisher.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <unistd.h>

#include "common/clock.h"
#include "simulators/event_log.h"
#include "simulators/faults.h"
#include "simulators/simulation.h"

using namespace ingestlab;

static void BM_MessageStreamNext(benchmark::State& state, const std::string& service) {
  sim::StreamOptions o;
  o.service = service;
  o.seed = 1;
  o.transport = service == "billing" || service == "crm" ? sim::TransportKind::kKafka
                                                         : sim::TransportKind::kJetStream;
  o.faults = sim::FaultSpec::Parse("duplicate=0.02,malformed=0.01,poison=0.01,out_of_order=0.02")
                 .value();
  auto stream = sim::MessageStream::Create(o).value();
  int64_t t = 1'767'225'600'000;
  size_t bytes = 0;
  for (auto _ : state) {
    auto m = stream->Next(t++);
    bytes += m.payload.size();
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK_CAPTURE(BM_MessageStreamNext, billing, std::string("billing"));
BENCHMARK_CAPTURE(BM_MessageStreamNext, support, std::string("support"));
BENCHMARK_CAPTURE(BM_MessageStreamNext, auth, std::string("auth"));
BENCHMARK_CAPTURE(BM_MessageStreamNext, learning, std::string("learning"));
BENCHMARK_CAPTURE(BM_MessageStreamNext, crm, std::string("crm"));

// 100k messages as fast as the run loop goes (rate far above what it can do), with or without
// the event log.
static void BM_ServiceRun(benchmark::State& state) {
  const bool with_log = state.range(0) != 0;
  const std::string path = "/tmp/ingestlab_sim_bench_" + std::to_string(::getpid()) + ".log";
  for (auto _ : state) {
    sim::MemoryPublisher publisher;
    std::unique_ptr<sim::EventLogWriter> log;
    if (with_log) log = sim::EventLogWriter::Create(path, sim::EventLogHeader{}).value();
    sim::ServiceRunOptions o;
    o.stream.service = "learning";
    o.shape = sim::LoadShape::Parse("constant", 1e7, 0).value();
    o.count = 100'000;
    auto run = sim::ServiceRun::Create(o, &publisher, log.get(), &Clock::System()).value();
    benchmark::DoNotOptimize(run->Run());
  }
  std::remove(path.c_str());
  state.SetItemsProcessed(state.iterations() * 100'000);
}
BENCHMARK(BM_ServiceRun)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(2);

BENCHMARK_MAIN();
