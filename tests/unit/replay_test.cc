// Unit tests for replay planning (speed, --until, --only) and ddmin. (The kcat import tests
// are in log_import_test.cc.)
#include <catch2/catch.hpp>

#include <algorithm>

#include "harness/replay.h"

using namespace ingestlab;

namespace {
sim::EventLog SampleLog() {
  sim::EventLog log;
  for (int i = 0; i < 4; ++i) {
    sim::PublishRecord p;
    p.offset_ms = 1000 * i;
    p.service = i % 2 == 0 ? "billing" : "orders";
    log.publishes.push_back(p);
  }
  sim::FaultRecord f;
  f.offset_ms = 2000;
  f.action = "kill";
  log.faults.push_back(f);
  return log;
}
}  // namespace

TEST_CASE("replay plan scales offsets by speed and orders faults first", "[replay]") {
  harness::ReplayOptions options;
  options.speed = 2.0;
  auto plan = harness::BuildReplayPlan(SampleLog(), options);
  REQUIRE(plan.size() == 5);
  CHECK(plan[0].at_ms == 0);
  CHECK(plan[2].is_fault);
  CHECK(plan[2].at_ms == 1000);
  CHECK(plan[4].at_ms == 1500);
}

TEST_CASE("replay plan at max speed puts every step at zero", "[replay]") {
  harness::ReplayOptions options;
  options.speed = 0;
  for (const auto& step : harness::BuildReplayPlan(SampleLog(), options)) CHECK(step.at_ms == 0);
}

TEST_CASE("replay plan honours until and only", "[replay]") {
  harness::ReplayOptions options;
  options.until_ms = 2000;
  options.only_service = "billing";
  auto plan = harness::BuildReplayPlan(SampleLog(), options);
  REQUIRE(plan.size() == 3);  // billing@0, billing@2000, fault@2000
  CHECK(std::count_if(plan.begin(), plan.end(), [](const auto& s) { return s.is_fault; }) == 1);
}

TEST_CASE("ddmin finds the two culprit elements", "[shrink]") {
  auto fails = [](const std::vector<size_t>& s) {
    return std::count(s.begin(), s.end(), 3u) == 1 && std::count(s.begin(), s.end(), 11u) == 1;
  };
  auto result = harness::Ddmin(16, fails, 200);
  CHECK(result == std::vector<size_t>{3, 11});
}
