// Unit tests for replay planning (the scenario and timed publishes a replay drives: speed,
// --speed max, --until, --only, shrink subsets, undo entries folded into `for`), the grouping
// shrink uses, the comparison of outcomes, and ddmin. (The kcat import tests are in
// log_import_test.cc; replay end to end is tests/scenario/replay_test.cc.)
#include <catch2/catch.hpp>

#include <algorithm>

#include "harness/replay.h"

using namespace ingestlab;

namespace {

const char* kScenarioYaml = R"(name: sample
seed: 9
duration: 10s
topology: {nats_nodes: 1, kafka_brokers: 1, ingestd: 1}
services:
  - name: billing
    rate: 10
timeline:
  - at: 2s
    action: pause_nats
    target: nats-0
    for: 3s
assertions:
  - no_loss
  - exactly_once
)";

sim::PublishRecord Publish(int64_t offset_ms, const std::string& service, const std::string& id,
                           const std::string& customer, const std::string& expected = "applied") {
  sim::PublishRecord p;
  p.offset_ms = offset_ms;
  p.service = service;
  p.event_id = id;
  p.transport = service == "crm" ? "kafka" : "jetstream";
  p.payload = R"({"specversion":"1.0","id":")" + id + R"(","subject":")" + customer + R"("})";
  p.expected = expected;
  return p;
}

// billing@0 (c1), crm@1000 (c2), pause_nats@2000 + undo@5000, billing@3000 (c1),
// billing@4000 duplicate of the first, crm@6000 (c3).
sim::EventLog SampleLog() {
  sim::EventLog log;
  log.header.scenario = "sample";
  log.header.seed = 9;
  log.header.scenario_yaml = kScenarioYaml;
  log.publishes = {Publish(0, "billing", "b-1", "c1"), Publish(1000, "crm", "k-1", "c2"),
                   Publish(3000, "billing", "b-2", "c1"),
                   Publish(4000, "billing", "b-1", "c1", "duplicate"),
                   Publish(6000, "crm", "k-2", "c3")};
  sim::FaultRecord apply;
  apply.offset_ms = 2000;
  apply.action = "pause_nats";
  apply.target = "nats-0";
  apply.params = {{"for_s", 3.0}};
  sim::FaultRecord undo = apply;
  undo.offset_ms = 5000;
  undo.action = "undo_pause_nats";
  log.faults = {apply, undo};
  return log;
}

std::vector<int64_t> Times(const harness::ReplayProgram& p) {
  std::vector<int64_t> out;
  for (const auto& t : p.publishes) out.push_back(t.at_ms);
  return out;
}

}  // namespace

TEST_CASE("a replay keeps the topology and assertions and takes its load and faults from the log",
          "[replay]") {
  auto program = harness::BuildReplayProgram(SampleLog(), "", {});
  REQUIRE(program.ok());
  const Scenario& s = program->scenario;
  CHECK(s.name == "sample");
  CHECK(s.seed == 9);
  CHECK(s.topology.kafka_brokers == 1);
  CHECK(s.assertions.size() == 2);
  CHECK(s.services.empty());
  REQUIRE(s.timeline.size() == 1);  // the undo entry became the step's `for`
  CHECK(s.timeline[0].action == "pause_nats");
  CHECK(s.timeline[0].target == "nats-0");
  CHECK(s.timeline[0].at_s == Approx(2.0));
  REQUIRE(s.timeline[0].for_s.has_value());
  CHECK(*s.timeline[0].for_s == Approx(3.0));
  CHECK(s.timeline[0].params.count("for_s") == 0);
  CHECK(Times(*program) == std::vector<int64_t>{0, 1000, 3000, 4000, 6000});
  CHECK(program->faults == 1);
  CHECK_FALSE(program->partial);
  CHECK(s.duration_s == Approx(6.0).margin(0.01));
}

TEST_CASE("replay speed scales every time", "[replay]") {
  harness::ReplayOptions options;
  options.speed = 2.0;
  auto program = harness::BuildReplayProgram(SampleLog(), "", options);
  REQUIRE(program.ok());
  CHECK(Times(*program) == std::vector<int64_t>{0, 500, 1500, 2000, 3000});
  CHECK(program->scenario.timeline[0].at_s == Approx(1.0));
  CHECK(*program->scenario.timeline[0].for_s == Approx(1.5));
}

TEST_CASE("at max speed messages go back to back but a fault keeps its window", "[replay]") {
  harness::ReplayOptions options;
  options.speed = 0;
  auto program = harness::BuildReplayProgram(SampleLog(), "", options);
  REQUIRE(program.ok());
  const auto& step = program->scenario.timeline.at(0);
  // Before the fault: no waiting. The fault at 0; the message after it waits min(gap, 2 s);
  // the undo keeps the recorded 3 s window; after it, min(gap 1 s, 2 s).
  CHECK(step.at_s == Approx(0.0));
  CHECK(*step.for_s == Approx(3.0));
  CHECK(Times(*program) == std::vector<int64_t>{0, 0, 1000, 2000, 4000});
}

TEST_CASE("until and only leave entries out and make the replay partial", "[replay]") {
  harness::ReplayOptions options;
  options.until_ms = 3000;
  options.only_service = "billing";
  auto program = harness::BuildReplayProgram(SampleLog(), "", options);
  REQUIRE(program.ok());
  CHECK(program->partial);
  REQUIRE(program->publishes.size() == 2);  // billing@0, billing@3000
  CHECK(program->publishes[0].index == 0);
  CHECK(program->publishes[1].index == 2);
  // The fault is kept, but its undo (at 5 s) is past --until: the pause stays open-ended.
  REQUIRE(program->scenario.timeline.size() == 1);
  CHECK_FALSE(program->scenario.timeline[0].for_s.has_value());
}

TEST_CASE("a shrink subset without an original expects its duplicate to be applied", "[replay]") {
  harness::ReplaySubset subset;
  subset.publishes = std::vector<size_t>{3, 4};  // the duplicate of b-1, and k-2
  subset.faults = std::vector<size_t>{};
  auto program = harness::BuildReplayProgram(SampleLog(), "", {}, subset);
  REQUIRE(program.ok());
  CHECK(program->partial);
  CHECK(program->scenario.timeline.empty());
  REQUIRE(program->publishes.size() == 2);
  CHECK(program->publishes[0].expected == "applied");
  CHECK(program->publishes[1].expected.empty());  // as recorded

  subset.publishes = std::vector<size_t>{0, 3};  // with its original it stays a duplicate
  program = harness::BuildReplayProgram(SampleLog(), "", {}, subset);
  REQUIRE(program.ok());
  CHECK(program->publishes[1].expected.empty());
}

TEST_CASE("a log without a scenario needs one given", "[replay]") {
  sim::EventLog log = SampleLog();
  log.header.scenario_yaml.clear();
  auto program = harness::BuildReplayProgram(log, "", {});
  REQUIRE_FALSE(program.ok());
  CHECK(program.status().message().find("--scenario") != std::string::npos);
  CHECK(harness::BuildReplayProgram(log, kScenarioYaml, {}).ok());
  CHECK_FALSE(harness::BuildReplayProgram(log, "name: [unclosed", {}).ok());
}

TEST_CASE("shrink groups a customer's events and an event's copies together", "[shrink]") {
  sim::EventLog log = SampleLog();
  sim::PublishRecord not_json;
  not_json.event_id = "k-2";
  not_json.payload = "\x01not json";
  log.publishes.push_back(not_json);  // falls back to its event id
  const auto groups = harness::PublishGroups(log);
  REQUIRE(groups.size() == 4);
  CHECK(groups[0] == std::vector<size_t>{0, 2, 3});  // customer c1, with b-1's duplicate
  CHECK(groups[1] == std::vector<size_t>{1});
  CHECK(groups[2] == std::vector<size_t>{4});
  CHECK(groups[3] == std::vector<size_t>{5});
  CHECK(harness::FaultUnits(log) == std::vector<size_t>{0});
}

TEST_CASE("outcomes are compared by assertion, verdict and digest", "[replay]") {
  nlohmann::json a = {
      {"verdict", "fail"},
      {"state_digest", "aaaa"},
      {"assertions",
       {{{"name", "no loss"}, {"passed", true}}, {{"name", "exactly once"}, {"passed", false}}}}};
  CHECK(harness::CompareResults(a, a, true).empty());
  CHECK(harness::FailedAssertions(a) == std::vector<std::string>{"exactly once"});
  nlohmann::json b = a;
  b["state_digest"] = "bbbb";
  CHECK(harness::CompareResults(a, b, false).empty());
  REQUIRE(harness::CompareResults(a, b, true).size() == 1);
  // With the digest apart, counts that differ say where: here publishes that failed.
  a["metrics"] = {{"acked", 100}, {"publish_failed", 0}, {"dead_letters", {{"parse", 1}}}};
  b["metrics"] = {{"acked", 90}, {"publish_failed", 10}, {"dead_letters", {{"parse", 1}}}};
  const auto with_counts = harness::CompareResults(a, b, true);
  REQUIRE(with_counts.size() == 3);
  CHECK(with_counts[0] == "acked 100 originally, 90 in the replay");
  CHECK(with_counts[1] == "publish_failed 0 originally, 10 in the replay");
  a.erase("metrics");
  b.erase("metrics");
  b["assertions"][1]["passed"] = true;
  b["verdict"] = "pass";
  const auto diffs = harness::CompareResults(a, b, false);
  REQUIRE(diffs.size() == 2);
  CHECK(diffs[0] == "assertion 'exactly once' failed originally, passed in the replay");
  CHECK(diffs[1] == "verdict fail originally, pass in the replay");
}

TEST_CASE("ddmin finds the two culprit elements", "[shrink]") {
  auto fails = [](const std::vector<size_t>& s) {
    return std::count(s.begin(), s.end(), 3u) == 1 && std::count(s.begin(), s.end(), 11u) == 1;
  };
  auto result = harness::Ddmin(16, fails, 200);
  CHECK(result == std::vector<size_t>{3, 11});
}

TEST_CASE("ddmin stops at its test budget", "[shrink]") {
  int calls = 0;
  auto fails = [&](const std::vector<size_t>& s) {
    ++calls;
    return std::count(s.begin(), s.end(), 7u) == 1;
  };
  auto result = harness::Ddmin(1000, fails, 5);
  CHECK(calls <= 5);
  CHECK(std::count(result.begin(), result.end(), 7u) == 1);
  CHECK(result.size() < 1000);
}
