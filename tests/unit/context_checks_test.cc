// Specification of the context assertions (context_consistent, context_latency,
// breaker_opened_within, breaker_closed_within) on synthetic observations, and of the scenario
// keys that set them up.
#include <catch2/catch.hpp>

#include <string>

#include "harness/assertions.h"
#include "harness/context_checks.h"
#include "harness/scenario.h"
#include "simulators/encoding.h"

using namespace ingestlab;

namespace {

constexpr int64_t kStart = 1'700'000'000'000;

// A purchase of `amount` by `customer` of org-1, published at `at_ms` after the start.
PublishRecord Purchase(const std::string& id, const std::string& customer, double amount,
                       int64_t at_ms) {
  sim::GeneratedEvent e;
  e.service = "billing";
  e.type = "billing.purchase.completed";
  e.id = id;
  e.event_time_ms = kStart + at_ms;
  e.customer_id = customer;
  e.entity_key = customer;
  e.data = {{"purchase_id", "pur-" + id}, {"customer_id", customer}, {"amount", amount},
            {"currency", "USD"},          {"product_name", "Desk"},  {"quantity", 1}};
  PublishRecord p;
  p.event_id = id;
  p.service = "billing";
  p.type = e.type;
  p.transport = "nats";
  p.subject = e.type;
  p.publish_ms = kStart + at_ms;
  p.event_time_ms = e.event_time_ms;
  p.acked = true;
  p.payload = sim::Encode(e, sim::Dialect::kCloudEvents, "org-1");
  return p;
}

AppliedRow Applied(const std::string& id, const std::string& customer, int64_t committed_ms) {
  AppliedRow r;
  r.event_id = id;
  r.type = "billing.purchase.completed";
  r.customer_id = customer;
  r.committed_at_ms = kStart + committed_ms;
  return r;
}

// cust-1 buys for 10 (committed at 1 s) and for 5 (committed at 3 s).
RunObservations TwoPurchases() {
  RunObservations obs;
  obs.start_ms = kStart;
  obs.publishes = {Purchase("p1", "cust-1", 10, 900), Purchase("p2", "cust-1", 5, 2900)};
  obs.applied = {Applied("p1", "cust-1", 1000), Applied("p2", "cust-1", 3000)};
  return obs;
}

ContextRead Read(int64_t start_ms, int64_t end_ms, int status, double lifetime_value = 0,
                 const std::string& token_org = "org-1") {
  ContextRead r;
  r.start_ms = kStart + start_ms;
  r.end_ms = kStart + end_ms;
  r.instance = "ingestd-0";
  r.customer_id = "cust-1";
  r.customer_org = "org-1";
  r.token_org = token_org;
  r.status = status;
  if (status == 200) {
    r.response_org = token_org;
    r.has_lifetime_value = true;
    r.lifetime_value = lifetime_value;
  }
  return r;
}

AssertionSpec Spec(const std::string& kind, std::map<std::string, double> numbers = {}) {
  AssertionSpec s;
  s.kind = kind;
  s.numbers = std::move(numbers);
  return s;
}

const AssertionResult& Only(const Evaluation& ev) {
  REQUIRE(ev.results.size() == 1);
  return ev.results[0];
}

// The one result of judging `obs` by `spec`.
AssertionResult Judge(const AssertionSpec& spec, const RunObservations& obs) {
  const Evaluation ev = EvaluateAssertions({spec}, obs);
  return Only(ev);
}

FaultWindow Downstream(const std::string& action, const std::string& target, double at_s,
                       double recovered_s, std::map<std::string, std::string> params = {}) {
  FaultWindow f;
  f.action = action;
  f.target = target;
  f.at_s = at_s;
  f.recovered_s = recovered_s;
  f.params = std::move(params);
  return f;
}

BreakerSample Breaker(double t_s, const std::string& service, const std::string& state,
                      double opened_total) {
  return {t_s, "ingestd-0", service, state, opened_total};
}

}  // namespace

TEST_CASE("context_consistent accepts every read a committed prefix explains") {
  RunObservations obs = TwoPurchases();
  obs.context_reads = {
      Read(100, 105, 404),        // before any commit: no customer yet
      Read(2100, 2110, 200, 10),  // after the first purchase
      Read(2990, 3010, 200, 10),  // the second commits during the read: either state
      Read(2995, 3020, 200, 15),
      Read(5000, 5004, 200, 15),          // after both
      Read(5000, 5004, 404, 0, "org-2"),  // another tenant: 404, as for an unknown id
  };
  const ContextConsistency c = CheckContextReads(obs, 1000);
  CHECK(c.reads == 6);
  CHECK(c.ok == 6);
  CHECK(c.cross_tenant == 1);
  CHECK(c.problems.empty());
  const AssertionResult r = Judge(Spec("context_consistent"), obs);
  CHECK(r.passed);
  CHECK(r.measured == 0);
}

TEST_CASE("context_consistent catches a stale answer, a wrong 404 and a leak to another tenant") {
  RunObservations obs = TwoPurchases();
  SECTION("a value older than every state the read may show (a stale cache)") {
    obs.context_reads = {Read(5000, 5004, 200, 10)};
    const ContextConsistency c = CheckContextReads(obs, 1000);
    CHECK(c.stale == 1);
    REQUIRE(c.problems.size() == 1);
    CHECK(c.problems[0].problem == "stale context");
    CHECK(c.problems[0].observed == "lifetime_value 10.00");
    CHECK(c.problems[0].expected.find("lifetime_value 15.00") != std::string::npos);
    const Evaluation ev = EvaluateAssertions({Spec("context_consistent")}, obs);
    CHECK_FALSE(Only(ev).passed);
    CHECK(Only(ev).measured == 1);
    REQUIRE(ev.offending.size() == 1);
    CHECK(ev.offending[0].event_id == "cust-1");
  }
  SECTION("within the slack, the older value is still allowed") {
    obs.context_reads = {Read(3500, 3504, 200, 10)};
    CHECK(CheckContextReads(obs, 1000).stale == 0);
    CHECK(CheckContextReads(obs, 100).stale == 1);
  }
  SECTION("a value no state has (a wrong sum)") {
    obs.context_reads = {Read(2100, 2110, 200, 11)};
    CHECK(CheckContextReads(obs, 1000).stale == 1);
  }
  SECTION("404 for a customer committed before the read") {
    obs.context_reads = {Read(2100, 2110, 404)};
    CHECK(CheckContextReads(obs, 1000).stale == 1);
  }
  SECTION("200 for a customer not stored yet") {
    obs.context_reads = {Read(100, 105, 200, 0)};
    const ContextConsistency c = CheckContextReads(obs, 1000);
    CHECK(c.stale == 1);
    CHECK(c.problems.at(0).observed.find("not yet stored") != std::string::npos);
  }
  SECTION("another tenant's token answered with the customer") {
    obs.context_reads = {Read(5000, 5004, 200, 15, "org-2")};
    const ContextConsistency c = CheckContextReads(obs, 1000);
    CHECK(c.leaks == 1);
    CHECK(c.problems.at(0).problem == "another tenant's customer");
  }
  SECTION("an answer naming another organisation than the token's") {
    ContextRead r = Read(5000, 5004, 200, 15);
    r.response_org = "org-2";
    obs.context_reads = {r};
    CHECK(CheckContextReads(obs, 1000).leaks == 1);
  }
  SECTION("an unanswered read fails, unless an instance was down then") {
    obs.context_reads = {Read(2000, 7000, 0)};
    obs.context_reads[0].error = "Read timeout";
    CHECK(CheckContextReads(obs, 1000).failed == 1);
    FaultWindow kill = Downstream("kill_ingestd", "ingestd-0", 1.5, 4);
    kill.disruptive = true;
    obs.faults = {kill};
    const ContextConsistency c = CheckContextReads(obs, 1000);
    CHECK(c.failed == 0);
    CHECK(c.excused == 1);
  }
  SECTION("a server error fails") {
    obs.context_reads = {Read(5000, 5004, 503)};
    CHECK(CheckContextReads(obs, 1000).failed == 1);
  }
}

TEST_CASE("context_consistent with no reads checks nothing and fails") {
  RunObservations obs = TwoPurchases();
  const AssertionResult r = Judge(Spec("context_consistent"), obs);
  CHECK_FALSE(r.passed);
  CHECK(r.detail == "no context reads were made");
}

TEST_CASE("context_latency gates the percentiles of every read") {
  RunObservations obs = TwoPurchases();
  for (int i = 0; i < 100; ++i) obs.context_reads.push_back(Read(i * 10, i * 10 + 3, 404));
  for (int i = 0; i < 4; ++i) obs.context_reads.push_back(Read(2000, 2900, 404));  // slow
  CHECK(Judge(Spec("context_latency", {{"p95_ms", 500}}), obs).passed);
  const AssertionResult max = Judge(Spec("context_latency", {{"max_ms", 500}}), obs);
  CHECK_FALSE(max.passed);
  CHECK(max.measured == 900);
  for (int i = 0; i < 10; ++i) obs.context_reads.push_back(Read(2000, 2900, 404));
  CHECK_FALSE(Judge(Spec("context_latency", {{"p95_ms", 500}}), obs).passed);
  obs.context_reads.clear();
  CHECK_FALSE(Judge(Spec("context_latency", {{"p95_ms", 500}}), obs).passed);
}

TEST_CASE("context_latency holds throughout: a slow stretch fails though the whole run passes") {
  RunObservations obs = TwoPurchases();
  for (int i = 0; i < 200; ++i) obs.context_reads.push_back(Read(i * 100, i * 100 + 3, 404));
  for (int i = 0; i < 10; ++i) {  // 10 of the 60 reads between 5 s and 10 s wait 900 ms
    obs.context_reads.push_back(Read(6000 + i * 100, 6900 + i * 100, 404));
  }
  const AssertionResult r = Judge(Spec("context_latency", {{"p95_ms", 500}}), obs);
  CHECK_FALSE(r.passed);
  CHECK(r.measured == 900);
  CHECK(r.detail.find("p95 3 ms") != std::string::npos);  // the whole run's
  CHECK(r.detail.find("worst in 5s..10s (60 reads)") != std::string::npos);
}

TEST_CASE("breaker assertions time each breaker from its fault's start and end") {
  RunObservations obs;
  obs.start_ms = kStart;
  obs.faults = {Downstream("downstream_down", "crm", 10, 20)};
  const AssertionSpec opened = Spec("breaker_opened_within", {{"seconds", 5}});
  const AssertionSpec closed = Spec("breaker_closed_within", {{"seconds", 8}});
  SECTION("opens 1 s into the fault, closes 6 s after it") {
    obs.breaker_samples = {Breaker(9.8, "crm", "closed", 0), Breaker(11, "crm", "open", 1),
                           Breaker(19, "crm", "open", 2), Breaker(26, "crm", "closed", 2)};
    const AssertionResult o = Judge(opened, obs);
    CHECK(o.passed);
    CHECK(o.measured == Approx(1));
    const AssertionResult c = Judge(closed, obs);
    CHECK(c.passed);
    CHECK(c.measured == Approx(6));
  }
  SECTION("a breaker that opened and closed between two looks shows in its opened count") {
    obs.breaker_samples = {Breaker(9.8, "crm", "closed", 3), Breaker(12, "crm", "closed", 4)};
    CHECK(Judge(opened, obs).measured == Approx(2));
  }
  SECTION("a breaker that never opens, or never closes again, fails") {
    obs.breaker_samples = {Breaker(9.8, "crm", "closed", 0), Breaker(15, "crm", "closed", 0),
                           Breaker(30, "crm", "open", 1)};
    const AssertionResult o = Judge(opened, obs);
    CHECK_FALSE(o.passed);
    CHECK(o.measured == Approx(20));  // seen open only at 30 s
    obs.breaker_samples = {Breaker(11, "crm", "open", 1), Breaker(35, "crm", "open", 1)};
    CHECK_FALSE(Judge(closed, obs).passed);
  }
  SECTION("every service of target all is judged") {
    obs.faults = {Downstream("downstream_error", "all", 10, 20, {{"rate", "1"}})};
    obs.breaker_samples = {Breaker(11, "crm", "open", 1), Breaker(11, "email", "open", 1),
                           Breaker(11, "scheduling", "closed", 0)};
    CHECK_FALSE(Judge(opened, obs).passed);
  }
  SECTION("faults that let some calls through are not judged; with none, nothing is checked") {
    obs.faults = {Downstream("downstream_slow", "crm", 10, 20, {{"latency", "100ms"}}),
                  Downstream("downstream_error", "crm", 10, 20, {{"rate", "0.5"}})};
    obs.breaker_samples = {Breaker(11, "crm", "closed", 0)};
    const AssertionResult o = Judge(opened, obs);
    CHECK_FALSE(o.passed);
    CHECK(o.detail.find("no downstream fault") != std::string::npos);
    obs.faults[0].params["latency"] = "1s";  // slower than the 200 ms timeout: every call fails
    CHECK_FALSE(Judge(opened, obs).passed);
    obs.breaker_samples.push_back(Breaker(12, "crm", "open", 1));
    CHECK(Judge(opened, obs).passed);
  }
}

TEST_CASE("a context section, organisations and downstream faults parse") {
  const std::string base = R"(name: ctx
duration: 30s
services:
  - name: billing
  - name: support
    org: org-2
    customers: 50
)";
  auto s = ParseScenario(base + R"(context: {rate: 40, cross_tenant: 0.2}
timeline:
  - {at: 5s, action: downstream_slow, target: scheduling, for: 5s, params: {latency: 1s}}
  - {at: 6s, action: downstream_error, target: all, for: 5s, params: {rate: 0.5}}
  - {at: 7s, action: downstream_down, target: crm, for: 5s}
assertions:
  - context_latency: {p95_ms: 500}
  - breaker_opened_within: 5s
  - breaker_closed_within: 10s
  - context_consistent: {slack: 2s}
)",
                         "ctx.yaml");
  REQUIRE(s.ok());
  REQUIRE(s->context);
  CHECK(s->context->rate == 40);
  CHECK(s->context->cross_tenant == 0.2);
  CHECK(s->topology.context);
  CHECK(s->context->services.size() == 2);  // kept for a replay, which drops s->services
  CHECK(s->services[0].org == "org-1");
  CHECK(s->services[1].org == "org-2");
  CHECK(s->timeline.size() == 3);
  CHECK(s->assertions[3].numbers.at("slack_ms") == 2000);
  // ingestd is given the downstream services and the tokens' file.
  const SystemSpec sys = s->SystemUnderTest();
  auto has = [&](const std::string& arg) {
    return std::find(sys.command.begin(), sys.command.end(), arg) != sys.command.end();
  };
  CHECK(has("{downstream_crm}"));
  CHECK(has("{context_config}"));
  // Another organisation's services draw other customers.
  const auto org1 = ServiceCustomerIds(7, s->services[0]);
  const auto org2 = ServiceCustomerIds(7, s->services[1]);
  CHECK(org1.size() == 200);
  CHECK(org2.size() == 50);
  CHECK(std::find(org1.begin(), org1.end(), org2[0]) == org1.end());
  CHECK(ServiceSeed(7, s->services[0]) == 7);

  auto error_of = [&](const std::string& tail) {
    auto r = ParseScenario(base + tail, "ctx.yaml");
    REQUIRE_FALSE(r.ok());
    return r.status().message();
  };
  CHECK_THAT(error_of("timeline:\n  - {at: 5s, action: downstream_down, target: crm, for: 5s}\n"),
             Catch::Contains("needs a 'context' section"));
  CHECK_THAT(error_of("assertions:\n  - context_consistent\n"),
             Catch::Contains("needs a 'context' section"));
  CHECK_THAT(error_of("context: {rate: 5}\ntimeline:\n  - {at: 5s, action: downstream_down, "
                      "target: billing, for: 5s}\n"),
             Catch::Contains("must be crm, scheduling, email or all"));
  CHECK_THAT(error_of("context: {rate: 5}\ntimeline:\n  - {at: 5s, action: downstream_down, "
                      "target: crm}\n"),
             Catch::Contains("downstream_down needs 'for'"));
  CHECK_THAT(error_of("context: {rate: 5}\ntimeline:\n  - {at: 5s, action: downstream_slow, "
                      "target: crm, for: 5s}\n"),
             Catch::Contains("needs params: {latency: 1s}"));
  CHECK_THAT(error_of("context: {rate: 5}\ntimeline:\n  - {at: 5s, action: downstream_error, "
                      "target: crm, for: 5s, params: {rate: 2}}\n"),
             Catch::Contains("share from 0 to 1"));
  CHECK_THAT(error_of("context: {rate: 0}\n"), Catch::Contains("'rate' must be in (0, 1000]"));
  CHECK_THAT(error_of("context: {rate: 5, cross: 1}\n"), Catch::Contains("unknown key 'cross'"));
  CHECK_THAT(error_of("context: {rate: 5}\nassertions:\n  - breaker_opened_within\n"),
             Catch::Contains("must be a duration"));
  CHECK_THAT(error_of("context: {rate: 5}\nassertions:\n  - context_latency: {p90_ms: 5}\n"),
             Catch::Contains("unknown key 'p90_ms'"));
  auto bad_org = ParseScenario(
      "name: x\nduration: 5s\nservices:\n  - {name: billing, org: \"a b\"}\n", "x.yaml");
  REQUIRE_FALSE(bad_org.ok());
  CHECK_THAT(bad_org.status().message(), Catch::Contains("'org' must be"));
}
