// The customer-context API's latency (seed 002's target: p95 under 500 ms), end to end over
// loopback HTTP: 200 customers, each with purchases, tickets, notes and CRM rows written by the
// real handlers into a SQLite store, and the three simulated downstream services live. Each
// iteration is one GET of a random customer's context; p50/p95/p99 are reported as counters.
//   BM_Context/0: downstreams answer at once (after the first read of a customer, from cache)
//   BM_Context/1: the cache is off, so every read asks all three services
//   BM_Context/2: the CRM service is down with its breaker open: partial contexts
// Run: build/tests/context_bench
#include <benchmark/benchmark.h>

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "simulators/downstream_services.h"
#include "system/context_api.h"
#include "system/downstream.h"
#include "system/http_server.h"
#include "system/metrics.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;

namespace {

constexpr int kCustomers = 200;
constexpr char kToken[] = "token-of-org-a-0123456789";

void Fill(testing::StoreHarness& h) {
  auto apply = [&](const std::string& json) {
    if (!h.Apply(json).ok()) std::abort();
  };
  for (int c = 0; c < kCustomers; ++c) {
    const std::string id = "c" + std::to_string(c);
    const std::string head = R"(","org_id":"org_a","customer_id":")" + id + R"(","data":)";
    apply(R"({"id":"cc)" + id + R"(","type":"billing.customer.created)" + head +
          R"({"customer_id":")" + id + R"(","email":")" + id + R"(@acme.io","name":"Ann )" + id +
          R"("}})");
    for (int i = 0; i < 10; ++i) {
      const std::string n = id + "_" + std::to_string(i);
      apply(R"({"id":"p)" + n + R"(","type":"billing.purchase.completed)" + head +
            R"({"purchase_id":"p)" + n + R"(","amount":)" + std::to_string(10 + i) + "}}");
      apply(R"({"id":"t)" + n + R"(","type":"support.ticket.opened)" + head + R"({"ticket_id":"t)" +
            n + R"(","title":"Printer on fire","description":"It )" +
            "started smoking during a long print job and the tray is stuck." + R"("}})");
    }
    apply(R"({"id":"l)" + id + R"(","type":"crm.lead.created)" + head + R"({"lead_id":"L)" + id +
          R"(","email":")" + id + R"(@acme.io"}})");
  }
}

void BM_Context(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  testing::StoreHarness h;
  Fill(h);
  auto services = sim::DownstreamSet::Start(1);
  if (!services.ok()) std::abort();
  Metrics metrics;
  DownstreamOptions options;
  for (const auto& s : (*services)->services()) options.services.emplace_back(s->name(), s->url());
  options.cache_ttl_ms = mode == 1 ? 0 : 60'000;
  Downstreams downstreams(std::move(options), &metrics, &Clock::System());
  if (mode == 2 && !(*services)->SetFault("crm", {0, 0, true}).ok()) std::abort();
  ContextApiOptions api_options;
  api_options.db_path = h.path();
  if (!AddApiToken("org_a", kToken, &api_options.tokens).ok()) std::abort();
  api_options.downstreams = &downstreams;
  ContextApi api(std::move(api_options));
  HttpServer server;
  api.Register(server);
  if (!server.Start("127.0.0.1", 0).ok()) std::abort();
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  const httplib::Headers headers = {{"Authorization", std::string("Bearer ") + kToken}};
  std::mt19937 rng(7);
  std::vector<double> ms;
  for (auto _ : state) {
    const std::string path = "/v1/customers/c" + std::to_string(rng() % kCustomers) + "/context";
    const auto start = std::chrono::steady_clock::now();
    auto res = client.Get(path.c_str(), headers);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    if (!res || res->status != 200) {
      state.SkipWithError("a context read failed");
      break;
    }
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
  };
  state.counters["p50_ms"] = pct(0.50);
  state.counters["p95_ms"] = pct(0.95);
  state.counters["p99_ms"] = pct(0.99);
}

}  // namespace

BENCHMARK(BM_Context)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(2000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
