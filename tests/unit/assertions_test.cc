// Specification of assertion evaluation, on synthetic observations.
#include <catch2/catch.hpp>

#include <cmath>
#include <unordered_map>

#include "harness/assertions.h"
#include "harness/run_output.h"

using namespace ingestlab;

namespace {

constexpr int64_t kStart = 1'700'000'000'000;

PublishRecord Pub(const std::string& id, int64_t at_ms, const std::string& expect = "applied",
                  const std::string& reason = "") {
  PublishRecord p;
  p.event_id = id;
  p.service = "billing";
  p.type = "billing.purchase.completed";
  p.transport = "nats";
  p.subject = "billing.purchase.completed";
  p.publish_ms = kStart + at_ms;
  p.event_time_ms = p.publish_ms;
  p.acked = true;
  p.expect = expect;
  p.expect_reason = reason;
  p.payload = "{\"id\":\"" + id + "\"}";
  return p;
}

AppliedRow Row(const std::string& id, int64_t committed_ms) {
  AppliedRow r;
  r.event_id = id;
  r.type = "billing.purchase.completed";
  r.committed_at_ms = kStart + committed_ms;
  r.event_time_ms = kStart;
  return r;
}

DeadLetterRow Dead(const std::string& payload, const std::string& reason, int64_t at_ms) {
  DeadLetterRow d;
  d.payload = payload;
  d.reason = reason;
  d.error = "test";
  d.dead_at_ms = kStart + at_ms;
  return d;
}

AssertionSpec Spec(const std::string& kind, std::map<std::string, double> numbers = {}) {
  AssertionSpec s;
  s.kind = kind;
  s.numbers = std::move(numbers);
  return s;
}

// 100 events published 10 ms apart, each committed 5 ms (90 of them) to 50 ms (10) later.
RunObservations HealthyRun() {
  RunObservations obs;
  obs.start_ms = kStart;
  obs.load_stop_ms = kStart + 1000;
  obs.drained_ms = kStart + 1200;
  for (int i = 0; i < 100; ++i) {
    const std::string id = "billing-1-" + std::to_string(i);
    obs.publishes.push_back(Pub(id, i * 10));
    obs.applied.push_back(Row(id, i * 10 + (i % 10 == 9 ? 50 : 5)));
  }
  // A producer-side duplicate of event 3 and a malformed payload that must be dead-lettered.
  obs.publishes.push_back(Pub("billing-1-3", 500, "duplicate"));
  PublishRecord bad = Pub("", 600, "dead_letter", "parse");
  bad.payload = "{not json";
  obs.publishes.push_back(bad);
  obs.dead_letters.push_back(Dead("{not json", "parse", 610));
  obs.counters.applied = 100;
  obs.counters.duplicates = 1;
  obs.state_checked = true;
  return obs;
}

const AssertionResult& Only(const Evaluation& ev) {
  REQUIRE(ev.results.size() == 1);
  return ev.results[0];
}

// A disruptive fault on `target` from 0.2 s, undone at 0.3 s.
FaultWindow DisruptiveFault(const std::string& action, const std::string& target) {
  FaultWindow f;
  f.action = action;
  f.target = target;
  f.at_s = 0.2;
  f.recovered_s = 0.3;
  f.disruptive = true;
  return f;
}

}  // namespace

TEST_CASE("percentiles use the nearest rank") {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  LatencySummary s = SummarizeLatencies(v);
  CHECK(s.count == 100);
  CHECK(s.p50 == 50);
  CHECK(s.p95 == 95);
  CHECK(s.p99 == 99);
  CHECK(s.max == 100);
  std::vector<double> empty;
  CHECK(SummarizeLatencies(empty).count == 0);
}

TEST_CASE("a healthy run passes every assertion") {
  RunObservations obs = HealthyRun();
  AssertionSpec dl = Spec("dead_letters");
  dl.expected = true;
  auto ev = EvaluateAssertions(
      {Spec("no_loss"), Spec("exactly_once"), dl, Spec("latency", {{"p50_ms", 10}, {"p99_ms", 60}}),
       Spec("throughput", {{"min_eps", 90}}), Spec("lag_drained_within", {{"seconds", 1}})},
      obs);
  for (const auto& r : ev.results) {
    INFO(r.name << ": " << r.detail);
    CHECK(r.passed);
  }
  CHECK(ev.all_passed());
  CHECK(ev.offending.empty());
}

TEST_CASE("no_loss counts acked events that never arrived") {
  RunObservations obs = HealthyRun();
  obs.applied.erase(obs.applied.begin() + 42);
  obs.dead_letters.clear();
  // A publish that was never acked is not counted as lost.
  PublishRecord lost_in_flight = Pub("billing-1-999", 900);
  lost_in_flight.acked = false;
  obs.publishes.push_back(lost_in_flight);
  auto ev = EvaluateAssertions({Spec("no_loss")}, obs);
  const auto& r = Only(ev);
  CHECK_FALSE(r.passed);
  CHECK(r.measured == 2);  // billing-1-42 and the malformed event's dead letter
  CHECK(r.threshold == 0);
  REQUIRE(ev.offending.size() == 2);
  bool named = false;
  for (const auto& o : ev.offending) named = named || o.event_id == "billing-1-42";
  CHECK(named);
  CHECK_THAT(r.detail, Catch::Contains("2 missing"));
  CHECK_THAT(r.detail, Catch::Contains("1 publishes not acked"));
}

TEST_CASE("exactly_once catches two outcomes for one id, counter drift and state mismatches") {
  SECTION("an id both applied and dead-lettered") {
    RunObservations obs = HealthyRun();
    DeadLetterRow dead = Dead(obs.publishes[7].payload, "schema", 900);
    dead.event_id = obs.publishes[7].event_id;
    obs.dead_letters.push_back(dead);
    auto ev = EvaluateAssertions({Spec("exactly_once")}, obs);
    CHECK_FALSE(Only(ev).passed);
    REQUIRE_FALSE(ev.offending.empty());
    CHECK(ev.offending[0].problem == "applied and dead-lettered");
  }
  SECTION("the applied counter disagrees with the rows") {
    RunObservations obs = HealthyRun();
    obs.counters.applied = 103;
    CHECK_FALSE(Only(EvaluateAssertions({Spec("exactly_once")}, obs)).passed);
    // After a kill the counter may only be lower than the rows.
    obs.counters.complete = false;
    obs.counters.applied = 60;
    CHECK(Only(EvaluateAssertions({Spec("exactly_once")}, obs)).passed);
    obs.counters.applied = 120;
    CHECK_FALSE(Only(EvaluateAssertions({Spec("exactly_once")}, obs)).passed);
  }
  SECTION("the final state differs from the reference model") {
    RunObservations obs = HealthyRun();
    obs.state_mismatches.push_back({"customers.lifetime_value", "cust-1-3", "120.00", "240.00"});
    auto ev = EvaluateAssertions({Spec("exactly_once")}, obs);
    CHECK(Only(ev).measured == 1);
    CHECK(ev.offending[0].problem == "state mismatch");
  }
}

TEST_CASE("exactly_once for a system of the user's own goes by the applied counts it reports") {
  RunObservations obs = HealthyRun();
  obs.external_system = true;
  obs.state_checked = false;
  obs.state_note = "skipped: no ingestd tables";
  obs.counters = CounterTotals{};
  obs.counters.complete = false;
  for (const auto& row : obs.applied) obs.applied_counts[row.event_id] = 1;
  SECTION("each id applied once passes without counters or a reference model") {
    auto ev = EvaluateAssertions({Spec("exactly_once")}, obs);
    INFO(Only(ev).detail);
    CHECK(Only(ev).passed);
    CHECK_THAT(Only(ev).detail, Catch::Contains("skipped: no ingestd tables"));
  }
  SECTION("an id applied three times is one violation, named with its bytes") {
    obs.applied_counts["billing-1-5"] = 3;
    auto ev = EvaluateAssertions({Spec("exactly_once")}, obs);
    CHECK_FALSE(Only(ev).passed);
    CHECK(Only(ev).measured == 1);
    CHECK_THAT(Only(ev).detail, Catch::Contains("1 of them more than once (2 extra applications)"));
    REQUIRE(ev.offending.size() == 1);
    CHECK(ev.offending[0].event_id == "billing-1-5");
    CHECK(ev.offending[0].observed == "applied 3 times");
    CHECK(ev.offending[0].payload == "{\"id\":\"billing-1-5\"}");
  }
  SECTION("an id applied and on the dead-letter subject") {
    DeadLetterRow dead = Dead(obs.publishes[7].payload, "parse", 900);
    dead.event_id = obs.publishes[7].event_id;
    obs.dead_letters.push_back(dead);
    auto ev = EvaluateAssertions({Spec("exactly_once")}, obs);
    CHECK(Only(ev).measured == 1);
    CHECK(ev.offending[0].problem == "applied and dead-lettered");
  }
  SECTION("rows without a commit time are left out of latency, not counted as 0 ms") {
    for (auto& row : obs.applied) row.committed_at_ms = 0;
    obs.applied[0].committed_at_ms = kStart + 40;  // published at 0
    const std::vector<double> latencies = EventLatenciesMs(obs);
    REQUIRE(latencies.size() == 1);
    CHECK(latencies[0] == 40);
  }
}

TEST_CASE("dead_letters: expected matches reasons and flags surprises") {
  AssertionSpec spec = Spec("dead_letters");
  spec.expected = true;
  SECTION("a wrong reason") {
    RunObservations obs = HealthyRun();
    obs.dead_letters[0].reason = "schema";
    auto ev = EvaluateAssertions({spec}, obs);
    CHECK(Only(ev).measured == 1);
    CHECK(ev.offending[0].problem == "dead letter with wrong reason");
  }
  SECTION("an unexpected dead letter of a good event") {
    RunObservations obs = HealthyRun();
    DeadLetterRow extra = Dead("{\"id\":\"billing-1-5\"}", "max_deliveries", 700);
    extra.event_id = "billing-1-5";
    obs.dead_letters.push_back(extra);
    auto ev = EvaluateAssertions({spec}, obs);
    CHECK(Only(ev).measured == 1);
    CHECK(ev.offending[0].problem == "unexpected dead letter");
    CHECK(ev.offending[0].event_id == "billing-1-5");
  }
  SECTION("an expected dead letter that never reached its DLQ") {
    RunObservations obs = HealthyRun();
    REQUIRE(Only(EvaluateAssertions({spec}, obs)).passed);
    obs.dead_letters[0].published = false;
    auto ev = EvaluateAssertions({spec}, obs);
    CHECK(Only(ev).measured == 1);
    CHECK(Only(ev).detail.find("1 not on their DLQ") != std::string::npos);
    CHECK(ev.offending[0].problem == "dead letter not on its DLQ");
  }
  SECTION("an expected dead letter whose DLQ copy was refused for good") {
    RunObservations obs = HealthyRun();
    obs.dead_letters[0].publish_error = "nats: no responders";  // settled, but not on the DLQ
    auto ev = EvaluateAssertions({spec}, obs);
    CHECK_FALSE(Only(ev).passed);
    REQUIRE_FALSE(ev.offending.empty());
    CHECK(ev.offending[0].observed == "refused by the DLQ: nats: no responders");
  }
  SECTION("counts per reason and a maximum") {
    RunObservations obs = HealthyRun();
    AssertionSpec counts = Spec("dead_letters");
    counts.reasons = {{"parse", 1}, {"schema", 0}};
    CHECK(Only(EvaluateAssertions({counts}, obs)).passed);
    counts.reasons = {{"parse", 2}};
    CHECK_FALSE(Only(EvaluateAssertions({counts}, obs)).passed);
    CHECK_FALSE(Only(EvaluateAssertions({Spec("dead_letters", {{"max", 0}})}, obs)).passed);
  }
}

TEST_CASE("latency compares percentiles with thresholds, optionally in a window") {
  RunObservations obs = HealthyRun();
  auto ev = EvaluateAssertions({Spec("latency", {{"p99_ms", 25}})}, obs);
  const auto& r = Only(ev);
  CHECK_FALSE(r.passed);
  CHECK(r.measured == 50);
  CHECK(r.threshold == 25);
  CHECK(r.unit == "ms");
  CHECK_THAT(r.detail, Catch::Contains("p99 50 ms"));
  // Events 0..8 published in the first 90 ms all took 5 ms.
  auto window = EvaluateAssertions(
      {Spec("latency", {{"p99_ms", 25}, {"window_from_s", 0}, {"window_to_s", 0.09}})}, obs);
  CHECK(Only(window).passed);
  CHECK(Only(window).measured == 5);
  SECTION("no events to measure fails") {
    RunObservations empty;
    empty.start_ms = kStart;
    auto none = EvaluateAssertions({Spec("latency", {{"p99_ms", 25}})}, empty);
    CHECK_FALSE(Only(none).passed);
    CHECK(std::isinf(Only(none).measured));
  }
}

TEST_CASE("added latency is judged against the probe, and scales with a slow broker only when asked") {
  // HealthyRun commits 5 ms (or 50 ms) after publish; the probe saw each message 2 ms after
  // publish on a quiet machine, 40 ms after on a busy one.
  RunObservations quiet = HealthyRun();
  for (const auto& p : quiet.publishes) {
    if (p.expect == "applied") quiet.probe_delivered_ms[p.event_id] = p.publish_ms + 2;
  }
  auto ev = EvaluateAssertions({Spec("latency", {{"added_p99_ms", 20}})}, quiet);
  CHECK_FALSE(Only(ev).passed);  // event 9 etc.: 50 - 2 = 48 ms added
  CHECK(Only(ev).measured == 48);
  CHECK(Only(ev).threshold == 20);
  // With scale_with_broker 1.5 and a quiet broker (p99 2 ms), 1.5 x 2 < 20: the threshold stays.
  auto scaled_quiet =
      EvaluateAssertions({Spec("latency", {{"added_p99_ms", 20}, {"scale_with_broker", 1.5}})}, quiet);
  CHECK_FALSE(Only(scaled_quiet).passed);
  CHECK(Only(scaled_quiet).threshold == 20);

  // A busy machine: the broker itself took 40 ms to deliver, ingestd then added up to 10 ms more.
  RunObservations busy = HealthyRun();
  for (auto& r : busy.applied) r.committed_at_ms += 40;
  for (const auto& p : busy.publishes) {
    if (p.expect == "applied") busy.probe_delivered_ms[p.event_id] = p.publish_ms + 40;
  }
  auto unscaled = EvaluateAssertions({Spec("latency", {{"added_p99_ms", 5}})}, busy);
  CHECK_FALSE(Only(unscaled).passed);
  CHECK(Only(unscaled).measured == 50);
  auto scaled =
      EvaluateAssertions({Spec("latency", {{"added_p99_ms", 5}, {"scale_with_broker", 1.5}})}, busy);
  CHECK(Only(scaled).threshold == 60);  // 1.5 x the broker's own p99 of 40 ms
  CHECK(Only(scaled).passed);
  CHECK_THAT(Only(scaled).detail, Catch::Contains("raised to 1.5 x the broker's own p99"));
}

TEST_CASE("throughput, reconnection and drain are measured from commit times") {
  RunObservations obs = HealthyRun();
  SECTION("throughput") {
    auto ev = EvaluateAssertions({Spec("throughput", {{"min_eps", 150}})}, obs);
    CHECK_FALSE(Only(ev).passed);
    CHECK(Only(ev).measured == Approx(100).margin(1));
  }
  SECTION("reconnection after a fault is undone") {
    obs.faults.push_back(DisruptiveFault("kill_ingestd", "ingestd-0"));
    // Nothing commits (or dead-letters) between 300 ms and 800 ms.
    obs.dead_letters[0].dead_at_ms = kStart + 900;
    for (auto& row : obs.applied) {
      if (row.committed_at_ms >= kStart + 300 && row.committed_at_ms < kStart + 800) {
        row.committed_at_ms = kStart + 800;
      }
    }
    auto ev = EvaluateAssertions({Spec("reconnect_within", {{"seconds", 0.4}})}, obs);
    CHECK_FALSE(Only(ev).passed);
    CHECK(Only(ev).measured == Approx(0.5));
    CHECK(Only(EvaluateAssertions({Spec("reconnect_within", {{"seconds", 1}})}, obs)).passed);
  }
  SECTION("reconnection is judged on the path the fault disrupted") {
    obs.faults.push_back(DisruptiveFault("pause_nats", "nats-0"));
    // Odd events travel over Kafka and keep committing; NATS events stall until 900 ms.
    for (size_t i = 0; i < obs.publishes.size(); ++i) {
      if (i % 2) obs.publishes[i].transport = "kafka";
    }
    std::unordered_map<std::string, std::string> transport;
    for (const auto& p : obs.publishes) transport[p.event_id] = p.transport;
    for (auto& row : obs.applied) {
      if (transport[row.event_id] == "nats" && row.committed_at_ms >= kStart + 300 &&
          row.committed_at_ms < kStart + 900) {
        row.committed_at_ms = kStart + 900;
      }
    }
    obs.dead_letters[0].dead_at_ms = kStart + 950;
    auto ev = EvaluateAssertions({Spec("reconnect_within", {{"seconds", 0.4}})}, obs);
    CHECK_FALSE(Only(ev).passed);  // Kafka commits at 305 ms do not count for a NATS fault
    CHECK(Only(ev).measured == Approx(0.6));
    CHECK_THAT(Only(ev).detail, Catch::Contains("nats events committed again"));
    SECTION("a Kafka fault is judged by Kafka commits") {
      obs.faults[0].action = "kafka_broker_down";
      obs.faults[0].target = "broker-1";
      CHECK(Only(EvaluateAssertions({Spec("reconnect_within", {{"seconds", 0.4}})}, obs)).passed);
    }
  }
  SECTION("with two instances, a fault on one is judged by that instance's own counter") {
    obs.faults.push_back(DisruptiveFault("kill_ingestd", "ingestd-1"));
    obs.ingestd_instances = 2;
    // ingestd-0 keeps applying; ingestd-1 restarts from 0 and applies again only at 2.0 s.
    obs.instance_applied["ingestd-0"] = {{0.1, 10}, {1.0, 60}, {2.0, 90}};
    obs.instance_applied["ingestd-1"] = {{0.1, 5}, {1.0, 0}, {2.0, 7}};
    auto ev = EvaluateAssertions({Spec("reconnect_within", {{"seconds", 1}})}, obs);
    CHECK_FALSE(Only(ev).passed);
    CHECK(Only(ev).measured == Approx(1.7));
    obs.instance_applied["ingestd-1"] = {{0.1, 5}, {1.0, 3}, {2.0, 7}};
    CHECK(Only(EvaluateAssertions({Spec("reconnect_within", {{"seconds", 1}})}, obs)).passed);
    obs.instance_applied["ingestd-1"] = {{0.1, 5}, {1.0, 0}, {2.0, 0}};
    CHECK(std::isinf(
        Only(EvaluateAssertions({Spec("reconnect_within", {{"seconds", 10}})}, obs)).measured));
  }
  SECTION("a run with nothing to measure does not pass") {
    auto ev = EvaluateAssertions({Spec("reconnect_within", {{"seconds", 10}})}, obs);
    CHECK_FALSE(Only(ev).passed);
    CHECK_THAT(Only(ev).detail, Catch::Contains("nothing measured"));
  }
  SECTION("drain") {
    auto ev = EvaluateAssertions({Spec("lag_drained_within", {{"seconds", 0.1}})}, obs);
    CHECK_FALSE(Only(ev).passed);
    CHECK(Only(ev).measured == Approx(0.2));
    obs.drained_ms = 0;
    CHECK(std::isinf(
        Only(EvaluateAssertions({Spec("lag_drained_within", {{"seconds", 10}})}, obs)).measured));
  }
}

TEST_CASE("a max_deliveries dead letter is excused only when its own dependency was never acked") {
  RunObservations obs = HealthyRun();
  auto add = [&](const std::string& id, const std::string& type, const std::string& data,
                 bool acked) {
    PublishRecord p = Pub(id, 700);
    p.type = type;
    p.acked = acked;
    p.payload = R"({"specversion":"1.0","id":")" + id + R"(","type":")" + type +
                R"(","data":)" + data + "}";
    obs.publishes.push_back(p);
    return p;
  };
  auto dead = [&](const PublishRecord& p) {
    DeadLetterRow d = Dead(p.payload, "max_deliveries", 900);
    d.event_id = p.event_id;
    obs.dead_letters.push_back(d);
  };
  AssertionSpec spec = Spec("dead_letters");
  spec.expected = true;

  SECTION("the invoice an invoice.paid names was never acked") {
    add("billing-1-500", "billing.invoice.issued", R"({"invoice_id":"inv-9","customer_id":"c1"})",
        false);
    dead(add("billing-1-501", "billing.invoice.paid", R"({"invoice_id":"inv-9","amount":5})", true));
    CHECK(ExcusedDeadLetterIds(obs).count("billing-1-501") == 1);
    auto ev = EvaluateAssertions({spec}, obs);
    CHECK(Only(ev).passed);
    CHECK_THAT(Only(ev).detail, Catch::Contains("dependency was never acked"));
    SECTION("but not when the invoice was acked") {
      obs.publishes[obs.publishes.size() - 2].acked = true;
      CHECK(ExcusedDeadLetterIds(obs).empty());
      CHECK_FALSE(Only(EvaluateAssertions({spec}, obs)).passed);
    }
  }
  SECTION("sharing some other id with an unacked publish is no excuse") {
    // The unacked publish names the same customer and invoice id, but the dead event's own
    // dependency is a purchase that was acked.
    add("billing-1-600", "billing.invoice.issued", R"({"invoice_id":"p-1","customer_id":"c1"})",
        false);
    add("billing-1-601", "billing.purchase.completed",
        R"({"purchase_id":"p-1","customer_id":"c1","amount":3})", true);
    dead(add("billing-1-602", "billing.purchase.refunded",
             R"({"purchase_id":"p-1","amount":3,"invoice_id":"p-1"})", true));
    CHECK(ExcusedDeadLetterIds(obs).empty());
    CHECK_FALSE(Only(EvaluateAssertions({spec}, obs)).passed);
  }
  SECTION("an unacked dependent of the same entity is no excuse either") {
    add("crm-1-1", "crm.lead.created", R"({"lead_id":"l-1","email":"a@b.c"})", true);
    add("crm-1-2", "crm.lead.updated", R"({"lead_id":"l-1","status":"qualified"})", false);
    dead(add("crm-1-3", "crm.lead.converted", R"({"lead_id":"l-1","contact_id":"k-1"})", true));
    CHECK(ExcusedDeadLetterIds(obs).empty());
  }
  SECTION("a chain: the revoke of a role whose assignment waited for an unacked user") {
    add("auth-1-1", "auth.user.created", R"({"user_id":"u-1","email":"a@b.c"})", false);
    dead(add("auth-1-2", "auth.user.role.assigned", R"({"user_id":"u-1","role_id":"r-1"})", true));
    dead(add("auth-1-3", "auth.user.role.revoked", R"({"user_id":"u-1","role_id":"r-1"})", true));
    const auto excused = ExcusedDeadLetterIds(obs);
    CHECK(excused.count("auth-1-2") == 1);
    CHECK(excused.count("auth-1-3") == 1);
  }
  SECTION("an event with no dependency is never excused") {
    add("billing-1-700", "billing.invoice.issued", R"({"invoice_id":"inv-7","customer_id":"c1"})",
        false);
    dead(add("billing-1-701", "billing.purchase.completed",
             R"({"purchase_id":"p-7","customer_id":"c1","amount":1,"invoice_id":"inv-7"})", true));
    CHECK(ExcusedDeadLetterIds(obs).empty());
  }
}

TEST_CASE("JUnit output has one testcase per assertion and failures name the measured value") {
  RunOutcome run;
  run.scenario = "lat<ency>";
  run.seed = 4;
  run.run_dir = "runs/latency-4";
  run.verdict = "fail";
  run.duration_s = 12.5;
  RunObservations obs = HealthyRun();
  run.evaluation = EvaluateAssertions({Spec("no_loss"), Spec("latency", {{"p99_ms", 25}})}, obs);
  const std::string xml = FormatJUnit({run});
  CHECK_THAT(xml, Catch::Contains("tests=\"2\" failures=\"1\""));
  CHECK_THAT(xml, Catch::Contains("classname=\"ingestlab.lat&lt;ency&gt;\" name=\"no loss\""));
  CHECK_THAT(xml, Catch::Contains("<failure message=\"measured 50 ms, threshold &lt;= 25 ms\""));
  SECTION("a run that could not be carried out is an error testcase") {
    RunOutcome broken;
    broken.scenario = "broken";
    broken.verdict = "error";
    broken.error = "nats-server failed to start";
    const std::string e = FormatJUnit({broken});
    CHECK_THAT(e, Catch::Contains("errors=\"1\""));
    CHECK_THAT(e, Catch::Contains("<error message=\"nats-server failed to start\""));
  }
  SECTION("the summary marks passes and failures") {
    const std::string summary = FormatRunSummary(run, /*color=*/false);
    CHECK_THAT(summary, Catch::Contains("✓ no loss"));
    CHECK_THAT(summary, Catch::Contains("✗ latency p99"));
    CHECK_THAT(summary, Catch::Contains("FAIL"));
    // A failed run says how to reproduce it from its log; a passing one does not.
    CHECK_THAT(summary, Catch::Contains("reproduce: ingestlab replay runs/latency-4"));
    CHECK_THAT(summary, Catch::Contains("ingestlab shrink runs/latency-4"));
    RunOutcome passed = run;
    passed.verdict = "pass";
    CHECK_THAT(FormatRunSummary(passed, false), !Catch::Contains("ingestlab replay"));
  }
  SECTION("a system under test without metrics shows no counters rather than zeros") {
    run.result = {{"metrics", {{"published", 10}, {"retries", 0}, {"reconnects", 0}}},
                  {"duration_s", 1.0}};
    CHECK_THAT(FormatRunSummary(run, false), Catch::Contains("retries / reconnects"));
    run.result["system"] = {{"command", {"node", "app.js"}}, {"counters", false}};
    const std::string summary = FormatRunSummary(run, false);
    CHECK_THAT(summary, !Catch::Contains("retries / reconnects"));
    CHECK_THAT(summary, !Catch::Contains("duplicates / redeliveries"));
    CHECK_THAT(summary, Catch::Contains("none: the system under test exports no metrics"));
  }
}
