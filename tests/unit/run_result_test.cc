// Specification of a run's check and output phases (harness/run_result.h) on made-up
// observations: the verdict, the clean-shutdown check and the parts of result.json.
#include <catch2/catch.hpp>

#include "harness/run_result.h"

using namespace ingestlab;

namespace {

PublishRecord Publish(const std::string& id, const std::string& service, int64_t publish_ms,
                      const std::string& expect = "applied") {
  PublishRecord p;
  p.event_id = id;
  p.service = service;
  p.acked = true;
  p.publish_ms = publish_ms;
  p.expect = expect;
  p.payload = "payload-" + id;
  return p;
}

AppliedRow Applied(const std::string& id, const std::string& type, int64_t committed_ms) {
  AppliedRow r;
  r.event_id = id;
  r.type = type;
  r.committed_at_ms = committed_ms;
  return r;
}

// Load from t=1,000,000 ms for 10 s: billing's a (10 ms) and b (30 ms), support's c (500 ms,
// committed after load stopped), and one of support's events dead-lettered for schema.
RunObservations Observed() {
  RunObservations obs;
  obs.start_ms = 1'000'000;
  obs.load_stop_ms = 1'010'000;
  obs.publishes = {Publish("a", "billing", 1'000'100), Publish("b", "billing", 1'002'000),
                   Publish("c", "support", 1'009'800),
                   Publish("d", "support", 1'003'000, "dead_letter")};
  obs.applied = {Applied("a", "purchase", 1'000'110), Applied("b", "refund", 1'002'030),
                 Applied("c", "ticket", 1'010'300)};
  DeadLetterRow dl;
  dl.reason = "schema";
  dl.payload = "payload-d";
  obs.dead_letters = {dl};
  obs.counters.duplicates = 2;
  return obs;
}

}  // namespace

TEST_CASE("ingestd stops cleanly only when every instance exited 0") {
  CHECK(CleanShutdownResult({"ingestd-0 exit 0", "ingestd-1 exit 0"}).passed);
  AssertionResult r = CleanShutdownResult({"ingestd-0 exit 0", "ingestd-1 signal 9"});
  CHECK_FALSE(r.passed);
  CHECK(r.measured == 1);
  CHECK(r.detail == "SIGTERM: ingestd-0 exit 0, ingestd-1 signal 9");
  AssertionResult none = CleanShutdownResult({});
  CHECK(none.passed);
  CHECK(none.detail == "no instance was running at the end");
}

TEST_CASE("the verdict is error when the run could not judge, else pass or fail") {
  Evaluation passing;
  passing.results.push_back(CleanShutdownResult({}));
  Evaluation failing = passing;
  failing.results.push_back(CleanShutdownResult({"ingestd-0 signal 9"}));
  CHECK(Verdict(passing, false, false, false, true) == "pass");
  CHECK(Verdict(failing, false, false, false, true) == "fail");
  CHECK(Verdict(passing, true, false, false, true) == "error");    // interrupted
  CHECK(Verdict(passing, false, true, false, true) == "error");    // a timeline action failed
  CHECK(Verdict(passing, false, false, true, true) == "error");    // the load failed
  CHECK(Verdict(passing, false, false, false, false) == "error");  // no reference model
}

TEST_CASE("metrics count, time and attribute what the run observed") {
  const RunObservations obs = Observed();
  LoadTotals totals;
  totals.sent = 5;
  totals.acked = 4;
  totals.failed = 1;
  sim::ServiceRunStats billing, support;
  billing.sent = 2;
  support.sent = 3;
  nlohmann::json m =
      MetricsJson(obs, {10, 30, 500}, totals, {{"billing", billing}, {"support", support}});
  CHECK(m["published"] == 5);
  CHECK(m["acked"] == 4);
  CHECK(m["publish_failed"] == 1);
  CHECK(m["applied"] == 3);
  CHECK(m["duplicates"] == 2.0);
  CHECK(m["dead_letters"]["schema"] == 1);
  CHECK(m["dead_letters"]["parse"] == 0);
  CHECK(m["latency_ms"]["max"] == 500.0);
  CHECK(m["throughput_eps"] == 0.2);  // two of three committed within the 10 s of load
  CHECK(m["per_service"]["billing"]["applied"] == 2);
  CHECK(m["per_service"]["billing"]["p99_ms"].get<double>() <= 30.0);
  CHECK(m["per_service"]["billing"]["p99_ms"].get<double>() > 10.0);
  CHECK(m["per_service"]["support"]["applied"] == 1);
  CHECK(m["per_service"]["support"]["dead_letters"] == 1);
  CHECK(m["per_service"]["support"]["p99_ms"] == 500.0);
  CHECK(m["per_type"]["refund"]["p50_ms"] == 30.0);
  CHECK(m["per_type"].size() == 3);
}

TEST_CASE("series put each commit's latency in the sample second that covers it") {
  const RunObservations obs = Observed();
  RunSeries series;
  for (int t = 1; t <= 11; ++t) {
    series.t_s.push_back(t);
    series.publish_rate.push_back(t * 10);
    series.ingest_rate.push_back(t);
    series.lag.push_back(0);
    series.retries.push_back(0);
    series.dead_letters.push_back(0);
    series.reconnects.push_back(0);
  }
  nlohmann::json sj = SeriesJson(series, obs);
  REQUIRE(sj["t_s"].size() == 11);
  CHECK(sj["publish_rate"][3] == 40.0);
  CHECK(sj["latency_p99_ms"][0] == 10.0);    // a committed at 0.11 s: sample 1 s
  CHECK(sj["latency_p99_ms"][2] == 30.0);    // b at 2.03 s: sample 3 s
  CHECK(sj["latency_p99_ms"][10] == 500.0);  // c at 10.3 s: sample 11 s
  CHECK(sj["latency_p99_ms"][1] == 0.0);
}

TEST_CASE("the latency histogram counts every value once, in the first bucket that holds it") {
  nlohmann::json h = LatencyHistogramJson({0.5, 10, 10, 1e9});
  const auto bounds = h["bounds_ms"].get<std::vector<double>>();
  const auto counts = h["counts"].get<std::vector<int64_t>>();
  REQUIRE(counts.size() == bounds.size() + 1);
  int64_t total = 0;
  for (auto c : counts) total += c;
  CHECK(total == 4);
  CHECK(counts.back() == 1);  // above the last bound
  const size_t ten =
      static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), 10.0) - bounds.begin());
  CHECK(counts[ten] == 2);
}

TEST_CASE("a base result has every field, verdict error, before anything ran") {
  Scenario s;
  s.name = "smoke";
  s.topology.nats_nodes = 3;
  nlohmann::json r = BaseResult(s, 42, "ingestlab run smoke.yaml", 123);
  CHECK(r["verdict"] == "error");
  CHECK(r["seed"] == 42);
  CHECK(r["topology"]["nats_nodes"] == 3);
  for (const char* key : {"assertions", "metrics", "timeline", "series", "latency_histogram",
                          "offending_events", "state_digest", "versions", "command"}) {
    CHECK(r.contains(key));
  }
  CHECK(r["series"]["latency_p99_ms"].is_array());
}
