// Specification of the load command's parts that need no infrastructure: the log-bucketed
// histogram, workload parsing, step planning, the saturation search and service weights.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "common/log_histogram.h"
#include "harness/load_command.h"
#include "harness/scenario.h"

using namespace ingestlab;

namespace {

Scenario Parse(const std::string& yaml) {
  auto s = ParseScenario(yaml, "w.yaml");
  INFO(s.status().message());
  REQUIRE(s.ok());
  return s.value();
}

std::string ParseError(const std::string& yaml) {
  auto s = ParseScenario(yaml, "w.yaml");
  REQUIRE_FALSE(s.ok());
  return s.status().message();
}

}  // namespace

TEST_CASE("the histogram's percentiles are never below the true value and at most ~3% above") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(8.0, 1.5);  // microseconds: ~3 ms median, long tail
  std::vector<int64_t> values;
  LogHistogram h;
  for (int i = 0; i < 100'000; ++i) {
    const auto v = static_cast<int64_t>(dist(rng));
    values.push_back(v);
    h.RecordMicros(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0}) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100 * values.size()));
    const double truth_ms = static_cast<double>(values[rank - 1]) / 1000;
    const double got = h.PercentileMillis(p);
    INFO("p" << p << " true " << truth_ms << " got " << got);
    CHECK(got >= truth_ms);
    CHECK(got <= truth_ms * 1.035 + 0.001);
  }
  CHECK(h.count() == 100'000);
  CHECK(h.MaxMillis() == static_cast<double>(values.back()) / 1000);
}

TEST_CASE("the histogram: exact small values, clamping, merge, difference and coarse buckets") {
  LogHistogram h;
  CHECK(h.PercentileMillis(99) == 0);
  for (int64_t us = 0; us < 32; ++us) h.RecordMicros(us);  // exact below 32 µs
  CHECK(h.PercentileMillis(50) == 0.015);
  h.RecordMicros(-5);                          // clamped to 0
  h.RecordMicros(int64_t{10} * 3600'000'000);  // ten hours: clamped to one hour
  CHECK(h.MaxMillis() == 3600'000.0);
  CHECK(h.count() == 34);

  LogHistogram a, b;
  for (int i = 0; i < 10; ++i) a.RecordMillis(1);
  b = a;  // snapshot
  for (int i = 0; i < 10; ++i) a.RecordMillis(100);
  LogHistogram d = a.Minus(b);
  CHECK(d.count() == 10);
  CHECK(d.PercentileMillis(50) >= 100);
  CHECK(d.PercentileMillis(50) <= 103.5);
  LogHistogram m = b;
  m.Merge(d);
  CHECK(m.count() == a.count());
  CHECK(m.PercentileMillis(99) == a.PercentileMillis(99));

  const auto counts = a.CountsFor({0.5, 2, 50, 200});
  REQUIRE(counts.size() == 5);
  CHECK(counts[1] == 10);  // 1 ms in (0.5, 2]
  CHECK(counts[3] == 10);  // 100 ms in (50, 200]
  CHECK(counts[0] + counts[2] + counts[4] == 0);
}

TEST_CASE("a load workload is a scenario with a load section") {
  const Scenario w = Parse(R"(name: w
services:
  - {name: billing, rate: 3, customers: 5000, dialects: {customer: 1}}
  - {name: crm, rate: 1}
load:
  steps: {rates: [100, 200, 400], each: 5s}
  publishers: 2
  warmup: 1s
assertions:
  - latency: {p99_ms: 25}
  - throughput: {min_eps: 150}
  - no_loss
)");
  REQUIRE(w.load);
  CHECK(w.load->mode == "steps");
  CHECK(w.load->steps == std::vector<double>{100, 200, 400});
  CHECK(w.load->step_s == 5);
  CHECK(w.load->publishers == 2);
  CHECK(w.load->warmup_s == 1);
  CHECK(w.services[0].customers == 5000);
  const auto steps = PlanLoadSteps(w);
  REQUIRE(steps.size() == 3);
  CHECK(steps[2].rate_from == 400);
  CHECK(steps[2].duration_s == 5);
  const auto weights = ServiceWeights(w);
  CHECK(weights == std::vector<double>{0.75, 0.25});

  const Scenario ramp = Parse(
      "services: [{name: auth}]\nload: {ramp: {from: 10, to: 90}}\nduration: 20s\n");
  const auto r = PlanLoadSteps(ramp);
  REQUIRE(r.size() == 1);
  CHECK(r[0].rate_from == 10);
  CHECK(r[0].rate_to == 90);
  CHECK(r[0].duration_s == 20);

  SECTION("bad workloads are refused with the line and the key") {
    struct Case {
      const char* yaml;
      const char* message;  // a part of the error message
    };
    const Case cases[] = {
        {"services: [{name: auth}]\nload: {rate: 5, steps: {rates: [1]}}\n",
         "exactly one of rate, ramp, steps, find_max"},
        {"services: [{name: auth}]\nload: {rate: 5}\n", "needs 'duration'"},
        {"services: [{name: auth}]\nload: {rate: -5}\nduration: 5s\n", "w.yaml:2"},
        {"services: [{name: auth}]\nload: {find_max: {p99: 25ms, start: 900, max: 100}}\n",
         "above"},
        {"services: [{name: auth}]\nload: {rate: 5}\nduration: 5s\nassertions: [exactly_once]\n",
         "latency, throughput and no_loss"},
        {"load: {rate: 5}\nduration: 5s\n", "needs 'services'"},
        {"services: [{name: auth}]\nload: {rate: 5, speed: 2}\nduration: 5s\n",
         "unknown key 'speed' in load"},
        {"services: [{name: auth}]\nload: {rate: 5}\nduration: 5s\n"
         "timeline: [{at: 1s, action: kill_ingestd, target: ingestd-0}]\n",
         "no fault timeline"},
    };
    for (const Case& c : cases) {
      INFO(c.yaml);
      CHECK_THAT(ParseError(c.yaml), Catch::Contains(c.message));
    }
  }
}

TEST_CASE("the saturation search doubles until a step fails, then bisects to the precision") {
  LoadSpec l;
  l.start_rate = 1000;
  l.max_rate = 100'000;
  l.precision = 0.1;
  std::vector<std::pair<double, bool>> tried;
  // A system that holds up to 5,300 events/s.
  std::vector<double> rates;
  for (double r = PlanNextFindMaxRate(l, tried); r > 0; r = PlanNextFindMaxRate(l, tried)) {
    rates.push_back(r);
    tried.emplace_back(r, r <= 5300);
    REQUIRE(rates.size() < 20);
  }
  CHECK(rates == std::vector<double>{1000, 2000, 4000, 8000, 6000, 5000, 5500});
  double best = 0;
  for (const auto& [r, ok] : tried) {
    if (ok) best = std::max(best, r);
  }
  CHECK(best == 5000);  // within 10% of the true 5,300

  SECTION("a system that holds everything stops at the maximum") {
    LoadSpec small = l;
    small.max_rate = 3000;
    std::vector<std::pair<double, bool>> all_pass;
    std::vector<double> seen;
    for (double r = PlanNextFindMaxRate(small, all_pass); r > 0;
         r = PlanNextFindMaxRate(small, all_pass)) {
      seen.push_back(r);
      all_pass.emplace_back(r, true);
    }
    CHECK(seen == std::vector<double>{1000, 2000, 3000});
  }
  SECTION("a system that fails the first step bisects downwards") {
    std::vector<std::pair<double, bool>> t = {{1000, false}};
    CHECK(PlanNextFindMaxRate(l, t) == 500);
    t.emplace_back(500, true);
    CHECK(PlanNextFindMaxRate(l, t) == 750);
  }
}

TEST_CASE("every workload in scenarios/load parses as a load workload") {
  int n = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(INGESTLAB_SOURCE_DIR) + "/scenarios/load")) {
    if (entry.path().extension() != ".yaml") continue;
    auto w = LoadScenarioFile(entry.path().string());
    INFO(entry.path().string() << ": " << w.status().message());
    REQUIRE(w.ok());
    CHECK(w->load.has_value());
    CHECK((w->load->mode == "find_max" || !PlanLoadSteps(*w).empty()));
    ++n;
  }
  CHECK(n >= 4);
}
