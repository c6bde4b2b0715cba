// Specification of scenario files: what parses, and the file:line errors for what does not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "harness/fault_injector.h"
#include "harness/scenario.h"

using namespace ingestlab;

namespace {
const char* kValid = R"(name: smoke
description: a little of everything
seed: 7
duration: 20s
topology:
  nats_nodes: 3
  kafka_brokers: 2
  ingestd:
    count: 2
    settings:
      busy_timeout_ms: 50
services:
  - name: billing
    rate: 200
    faults: {duplicate: 0.02, malformed: 0.01}
    dialects: {cloudevents: 0.8, service: 0.2}
  - name: crm
    shape: ramp:10:50
timeline:
  - at: 12s
    action: kill_ingestd
    target: ingestd-1
  - at: 5s
    action: net_latency
    target: nats-0
    for: 3s
    params: {latency: 20ms, jitter: 5ms}
assertions:
  - no_loss
  - exactly_once: true
  - dead_letters: expected
  - latency: {p99_ms: 25, window: {from: 5s, to: 15s}}
  - throughput: {min_eps: 100}
  - reconnect_within: 10s
  - lag_drained_within: 1m
)";
}  // namespace

TEST_CASE("durations are written with units") {
  CHECK(*ParseDurationSeconds("10s") == Approx(10));
  CHECK(*ParseDurationSeconds("250ms") == Approx(0.25));
  CHECK(*ParseDurationSeconds("1.5s") == Approx(1.5));
  CHECK(*ParseDurationSeconds("2m") == Approx(120));
  CHECK(*ParseDurationSeconds("1h") == Approx(3600));
  CHECK(*ParseDurationSeconds("1m30s") == Approx(90));
  CHECK(*ParseDurationSeconds("15") == Approx(15));
  SECTION("bad units and garbage are errors that quote the text") {
    auto r = ParseDurationSeconds("10 sec");
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("10 sec"));
    CHECK_FALSE(ParseDurationSeconds("10d").ok());
    CHECK_FALSE(ParseDurationSeconds("").ok());
    CHECK_FALSE(ParseDurationSeconds("-5s").ok());
    CHECK_FALSE(ParseDurationSeconds("s").ok());
  }
  SECTION("formatting round-trips") {
    CHECK(FormatDurationSeconds(10) == "10s");
    CHECK(FormatDurationSeconds(0.25) == "250ms");
    CHECK(FormatDurationSeconds(120) == "2m");
  }
}

TEST_CASE("a valid scenario parses into its parts") {
  auto r = ParseScenario(kValid, "scenarios/smoke.yaml");
  REQUIRE(r.ok());
  const Scenario& s = *r;
  CHECK(s.name == "smoke");
  CHECK(s.seed == 7);
  CHECK(s.duration_s == Approx(20));
  CHECK(s.topology.nats_nodes == 3);
  CHECK(s.topology.kafka_brokers == 2);
  CHECK(s.topology.ingestd_count == 2);
  REQUIRE(s.topology.ingestd_settings.size() == 1);
  CHECK(s.topology.ingestd_settings[0].first == "busy-timeout-ms");
  CHECK(s.topology.ingestd_settings[0].second == "50");
  REQUIRE(s.services.size() == 2);
  CHECK(s.services[0].faults.at("duplicate") == Approx(0.02));
  CHECK(s.services[0].dialects.at("service") == Approx(0.2));
  CHECK(s.services[0].transport == "nats");
  CHECK(s.services[1].transport == "kafka");  // crm defaults to Kafka
  CHECK(s.services[1].shape == "ramp:10:50");
  REQUIRE(s.timeline.size() == 2);
  // Sorted by time, whatever the file order.
  CHECK(s.timeline[0].action == "net_latency");
  CHECK(s.timeline[0].for_s.value() == Approx(3));
  CHECK(s.timeline[0].NumberParam("latency", 0) == Approx(0.020));
  CHECK(s.timeline[1].target == "ingestd-1");
  REQUIRE(s.assertions.size() == 7);
  CHECK(s.assertions[0].kind == "no_loss");
  CHECK(s.assertions[2].expected);
  CHECK(s.assertions[3].numbers.at("p99_ms") == Approx(25));
  CHECK(s.assertions[3].numbers.at("window_from_s") == Approx(5));
  CHECK(s.assertions[6].numbers.at("seconds") == Approx(60));
  CHECK(s.assertions[6].line == 35);
}

TEST_CASE("mistakes are reported with file, line and the key") {
  auto error_of = [](const std::string& text) {
    auto r = ParseScenario(text, "scenarios/x.yaml");
    REQUIRE_FALSE(r.ok());
    return r.status().message();
  };
  // Each case: a scenario that does not parse, and how its error message starts or what it
  // contains.
  enum Match { kStartsWith, kContains };
  struct Case {
    const char* yaml;
    Match match;
    const char* message;
  };
  auto check_errors = [&](std::initializer_list<Case> cases) {
    for (const Case& c : cases) {
      INFO(c.yaml);
      if (c.match == kStartsWith) {
        CHECK_THAT(error_of(c.yaml), Catch::StartsWith(c.message));
      } else {
        CHECK_THAT(error_of(c.yaml), Catch::Contains(c.message));
      }
    }
  };
  SECTION("unknown top-level key") {
    CHECK(error_of("name: x\nduration: 10s\ndurration: 12s\n") ==
          "scenarios/x.yaml:3: unknown key 'durration' in scenario");
  }
  SECTION("unknown key inside a service") {
    CHECK(error_of("duration: 10s\nservices:\n  - name: billing\n    rat: 5\n") ==
          "scenarios/x.yaml:4: unknown key 'rat' in service");
  }
  SECTION("unknown service, fault and action") {
    check_errors({
        {"duration: 10s\nservices:\n  - name: payroll\n", kStartsWith,
         "scenarios/x.yaml:3: unknown service 'payroll'"},
        {"duration: 10s\nservices:\n  - name: auth\n    faults: {dupe: 0.1}\n", kStartsWith,
         "scenarios/x.yaml:4: unknown key 'dupe' in faults"},
        {"duration: 10s\ntimeline:\n  - at: 1s\n    action: explode\n", kStartsWith,
         "scenarios/x.yaml:4: unknown action 'explode'"},
    });
  }
  SECTION("bad values") {
    check_errors({
        {"duration: ten\n", kStartsWith, "scenarios/x.yaml:1: 'duration'"},
        {"duration: 10s\ntopology:\n  nats_nodes: 2\n", kStartsWith,
         "scenarios/x.yaml:3: 'nats_nodes' must be 1 or 3"},
        {"duration: 10s\nservices:\n  - name: auth\n    faults: {duplicate: 1.5}\n", kContains,
         "share between 0 and 1"},
        {"duration: 10s\ntimeline:\n  - at: 20s\n    action: kill_nats\n", kContains,
         "after the scenario's duration"},
        {"duration: 10s\ntimeline:\n  - at: 2s\n    action: kill_nats\n    target: ingestd-0\n",
         kStartsWith, "scenarios/x.yaml:5: target of kill_nats must look like nats-N"},
        {"duration: 10s\ntimeline:\n  - at: 2s\n    action: net_latency\n    "
         "params: {delay: 5ms}\n",
         kContains, "unknown key 'delay' in params of net_latency"},
    });
  }
  SECTION("assertions") {
    check_errors({
        {"duration: 10s\nassertions:\n  - no_los\n", kStartsWith,
         "scenarios/x.yaml:3: unknown assertion 'no_los'"},
        {"duration: 10s\nassertions:\n  - latency: {p99: 5}\n", kStartsWith,
         "scenarios/x.yaml:3: unknown key 'p99' in latency"},
        {"duration: 10s\nassertions:\n  - reconnect_within: soon\n", kContains,
         "'reconnect_within'"},
    });
    auto added = ParseScenario(
        "duration: 10s\nassertions:\n  - latency: {added_p99_ms: 20, window: {from: 2s}}\n",
        "scenarios/x.yaml");
    REQUIRE(added.ok());
    CHECK(added->assertions[0].numbers.at("added_p99_ms") == 20);
  }
  SECTION("missing duration and broken YAML") {
    check_errors({
        {"name: x\n", kContains, "missing key 'duration'"},
        {"duration: 10s\nservices: [\n", kStartsWith, "scenarios/x.yaml:"},
        {"duration: 10s\nservices: [\n", kContains, "YAML"},
    });
  }
}

TEST_CASE("a system section describes a system under test of the user's own") {
  const std::string text = R"(duration: 10s
topology: {kafka_brokers: 0}
system:
  command: ["node", "{scenario_dir}/server.js", "--port={port}"]
  instances: 2
  env: {NATS_URL: "{nats_urls}", DB: "{dir}/app-{index}.db", LITERAL: "{{x}}"}
  ready: {http: "http://127.0.0.1:{port}/health", timeout: 5s}
  stop: {signal: SIGINT, timeout: 3s}
  state: {http: "http://127.0.0.1:{port}/applied"}
  dead_letters: {subject: "dlq.>"}
timeline:
  - {at: 2s, action: kill_ingestd, target: system-1, for: 1s}
)";
  auto r = ParseScenario(text, "scenarios/x.yaml");
  REQUIRE(r.ok());
  REQUIRE(r->system);
  const SystemSpec& sys = *r->system;
  CHECK(sys.command == std::vector<std::string>{"node", "{scenario_dir}/server.js", "--port={port}"});
  CHECK(sys.instances == 2);
  CHECK(r->topology.ingestd_count == 2);  // the timeline's targets count the instances
  REQUIRE(sys.env.size() == 3);
  CHECK(sys.env[1] == std::pair<std::string, std::string>{"DB", "{dir}/app-{index}.db"});
  CHECK(sys.ready_http == "http://127.0.0.1:{port}/health");
  CHECK(sys.ready_timeout_s == 5);
  CHECK(sys.stop_signal == "INT");
  CHECK(sys.stop_timeout_s == 3);
  CHECK(sys.state_http == "http://127.0.0.1:{port}/applied");
  CHECK(sys.dead_letter_subject == "dlq.>");

  auto sql = ParseScenario(
      "duration: 10s\nsystem:\n  command: [app]\n  state:\n    sql: {sqlite: \"{dir}/a.db\", "
      "applied: \"SELECT id, 1 FROM t\"}\n  dead_letters: {sql: \"SELECT payload, reason FROM dlq\"}\n",
      "scenarios/x.yaml");
  REQUIRE(sql.ok());
  CHECK(sql->system->state_sqlite == "{dir}/a.db");
  CHECK(sql->system->state_query == "SELECT id, 1 FROM t");
  CHECK(sql->system->state_http.empty());
  CHECK(sql->system->stop_signal == "TERM");
  CHECK(sql->system->dead_letter_query == "SELECT payload, reason FROM dlq");
}

TEST_CASE("a bad system section is refused before anything starts") {
  const std::string head = "duration: 10s\nsystem:\n";
  const std::string state = "  state: {http: \"http://127.0.0.1:{port}/applied\"}\n";
  struct Case {
    std::string yaml;
    const char* message;
  };
  const std::vector<Case> cases = {
      {head + state, "scenarios/x.yaml:3: missing key 'command' in system"},
      {head + "  command: []\n" + state, "'command' must be a list"},
      {head + "  command: node app.js\n" + state, "'command' must be a list"},
      {head + "  command: [app]\n", "missing key 'state' in system"},
      {head + "  command: [app]\n  state: {http: \"ftp://x/applied\"}\n",
       "'http' must be an http:// URL"},
      {head + "  command: [app]\n  state: {http: \"http://a/{prot}\"}\n",
       "unknown placeholder {prot}"},
      {head + "  command: [\"{dirr}/app\"]\n" + state, "unknown placeholder {dirr}"},
      {head + "  command: [app]\n  env: {\"1BAD\": x}\n" + state,
       "bad environment variable name '1BAD'"},
      {head + "  command: [app]\n  stop: {signal: USR1}\n" + state, "'signal' must be TERM"},
      {head + "  command: [app]\n  instances: 0\n" + state, "'instances' must be an integer"},
      {head + "  command: [app]\n  state: {http: \"http://a/\", sql: {sqlite: a, applied: b}}\n",
       "'state' must be exactly one of"},
      {head + "  command: [app]\n  state: {sql: {sqlite: a.db}}\n", "needs both 'sqlite'"},
      {head + "  command: [app]\n  ready: {http: \"http://a/{port\"}\n" + state,
       "'{' without '}'"},
      {head + "  command: [app]\n  colour: blue\n" + state, "unknown key 'colour' in system"},
      {head + "  command: [app]\n" + state + "  dead_letters: {sql: \"SELECT 1\"}\n",
       "which this system does not name"},
      {head + "  command: [app]\n" + state + "  dead_letters: {subject: a, sql: b}\n",
       "'dead_letters' must be {subject: SUBJECT} or {sql: QUERY}"},
      {head + "  command: [app]\n" + state +
           "timeline:\n  - {at: 1s, action: kill_ingestd, target: ingestd-0}\n",
       "target of kill_ingestd must look like system-N"},
      {head + "  command: [app]\n" + state +
           "timeline:\n  - {at: 1s, action: kill_ingestd, target: system-1}\n",
       "the topology has 1 system instance: system-0"},
      {head + "  command: [app]\n" + state +
           "timeline:\n  - {at: 1s, action: hold_db_lock, for: 1s}\n",
       "hold_db_lock holds the system's SQLite database: this system names none"},
      {"duration: 10s\ntopology: {ingestd: 2}\nsystem:\n  command: [app]\n" + state,
       "'topology.ingestd' and 'system' exclude each other"},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    auto r = ParseScenario(c.yaml, "scenarios/x.yaml");
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains(c.message));
  }
}

TEST_CASE("without a system section the run tests ingestd, described by the same kind of section") {
  auto r = ParseScenario(R"(duration: 10s
topology:
  kafka_brokers: 0
  ingestd:
    count: 2
    settings: {retry_max_ms: 5000, kafka_property: "a={b}"}
timeline:
  - {at: 1s, action: hold_db_lock, for: 1s}
  - {at: 2s, action: kill_ingestd, target: ingestd-1, for: 1s}
)",
                         "scenarios/x.yaml");
  REQUIRE(r.ok());
  CHECK_FALSE(r->system);
  const SystemSpec sys = r->SystemUnderTest();
  CHECK(sys.name == "ingestd");
  CHECK(sys.instances == 2);
  CHECK(sys.command ==
        std::vector<std::string>{"{ingestd}", "--name", "{name}", "--db", "{dir}/ingest.db",
                                 "--http", "127.0.0.1:{port}", "--nats", "{nats_urls}",
                                 "--retry-max-ms", "5000", "--kafka-property", "a={{b}}"});
  CHECK(sys.state_ingestd == "{dir}/ingest.db");
  CHECK(sys.ready_http == "http://127.0.0.1:{port}/healthz");
  CHECK(sys.metrics_http == "http://127.0.0.1:{port}/metrics");
  CHECK_FALSE(sys.create_streams);
  // A setting's braces are literal: the filled-in value is what the scenario wrote.
  std::map<std::string, std::string> values;
  for (const char* name : kSystemPlaceholders) values[name] = "v";
  CHECK(*ExpandPlaceholders(sys.command.back(), values) == "a={b}");
  // With Kafka, ingestd is given the bootstrap servers.
  TopologySpec with_kafka;
  const SystemSpec kafka = IngestdSystem(with_kafka);
  CHECK(std::find(kafka.command.begin(), kafka.command.end(), "{kafka_bootstrap}") !=
        kafka.command.end());

  // The same, written out as a system section: ingestd's tables, its metrics, its streams.
  auto written = ParseScenario(R"(duration: 10s
system:
  command: ["{ingestd}", --name, "{name}", --db, "{dir}/ingest.db", --http, "127.0.0.1:{port}", --nats, "{nats_urls}"]
  ready: {http: "http://127.0.0.1:{port}/healthz"}
  state: {ingestd: "{dir}/ingest.db"}
  metrics: {http: "http://127.0.0.1:{port}/metrics"}
  create_streams: false
timeline:
  - {at: 1s, action: hold_db_lock, for: 1s}
)",
                               "scenarios/x.yaml");
  REQUIRE(written.ok());
  CHECK(written->system->state_ingestd == "{dir}/ingest.db");
  CHECK(written->system->metrics_http == "http://127.0.0.1:{port}/metrics");
  CHECK_FALSE(written->system->create_streams);
}

TEST_CASE("placeholders are filled, braces escaped, unknown ones refused") {
  const std::map<std::string, std::string> values = {{"port", "8080"}, {"dir", "/runs/a"}};
  CHECK(*ExpandPlaceholders("http://127.0.0.1:{port}/x", values) == "http://127.0.0.1:8080/x");
  CHECK(*ExpandPlaceholders("{dir}/{port}{port}", values) == "/runs/a/80808080");
  CHECK(*ExpandPlaceholders("{{\"a\": 1}}", values) == "{\"a\": 1}");
  CHECK(*ExpandPlaceholders("plain", values) == "plain");
  CHECK_FALSE(ExpandPlaceholders("{nope}", values).ok());
  CHECK_FALSE(ExpandPlaceholders("{port", values).ok());
  CHECK_FALSE(ExpandPlaceholders("port}", values).ok());
}

TEST_CASE("pause_ingestd stops one instance for its 'for:' window") {
  const std::string head =
      "duration: 30s\ntopology:\n  nats_nodes: 3\n  kafka_brokers: 2\n  ingestd: 2\n"
      "timeline:\n";
  auto parse = [&](const std::string& steps) {
    return ParseScenario(head + steps, "scenarios/x.yaml");
  };
  SECTION("parses with a target, a window, and the resume that ends an open-ended pause") {
    auto r = parse(
        "  - {at: 6s, action: pause_ingestd, target: ingestd-1, for: 14s}\n"
        "  - {at: 22s, action: pause_ingestd}\n"
        "  - {at: 25s, action: resume_ingestd, target: all}\n");
    REQUIRE(r.ok());
    REQUIRE(r->timeline.size() == 3);
    CHECK(r->timeline[0].action == "pause_ingestd");
    CHECK(r->timeline[0].target == "ingestd-1");
    CHECK(r->timeline[0].for_s.value() == Approx(14));
    CHECK(r->timeline[1].target.empty());  // the first instance
    CHECK(r->timeline[2].action == "resume_ingestd");
    // The stalled instance interrupts its share of ingestion: reconnect_within measures from
    // the SIGCONT, and an open-ended pause is recovered by resume_ingestd.
    CHECK(FaultInjector::IsDisruptive("pause_ingestd"));
    CHECK_FALSE(FaultInjector::IsDisruptive("resume_ingestd"));
    CHECK(FaultInjector::RecoveryActionFor("pause_ingestd") == "resume_ingestd");
  }
  SECTION("a target index beyond the topology is an error naming the instances there are") {
    auto r = parse("  - {at: 6s, action: pause_ingestd, target: ingestd-2, for: 14s}\n");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() ==
          "scenarios/x.yaml:7: target 'ingestd-2' of pause_ingestd does not exist: the topology "
          "has 2 ingestd instances: ingestd-0..ingestd-1");
    auto one = ParseScenario("duration: 30s\ntimeline:\n  - {at: 1s, action: pause_ingestd, "
                             "target: ingestd-1}\n",
                             "scenarios/x.yaml");
    REQUIRE_FALSE(one.ok());
    CHECK(one.status().message() ==
          "scenarios/x.yaml:3: target 'ingestd-1' of pause_ingestd does not exist: the topology "
          "has 1 ingestd instance: ingestd-0");
    // Huge numbers are refused, not converted.
    CHECK_THAT(parse("  - {at: 6s, action: pause_ingestd, target: ingestd-99999999999999}\n")
                   .status()
                   .message(),
               Catch::Contains("does not exist"));
  }
  SECTION("the same check covers NATS nodes and Kafka brokers (broker ids count from 1)") {
    CHECK_THAT(parse("  - {at: 6s, action: pause_nats, target: nats-3}\n").status().message(),
               Catch::Contains("target 'nats-3' of pause_nats does not exist: the topology has 3 "
                               "NATS nodes: nats-0..nats-2"));
    CHECK_THAT(
        parse("  - {at: 6s, action: kafka_broker_down, target: broker-0}\n").status().message(),
        Catch::Contains("the topology has 2 Kafka brokers: broker-1..broker-2"));
    CHECK(parse("  - {at: 6s, action: kafka_broker_down, target: broker-2, for: 2s}\n").ok());
    CHECK_THAT(ParseScenario("duration: 30s\ntopology: {kafka_brokers: 0}\ntimeline:\n"
                             "  - {at: 1s, action: kafka_rtt, target: broker-1}\n",
                             "scenarios/x.yaml")
                   .status()
                   .message(),
               Catch::Contains("the topology has no Kafka brokers"));
  }
  SECTION("a malformed target or a param is refused") {
    CHECK_THAT(parse("  - {at: 6s, action: pause_ingestd, target: nats-0}\n").status().message(),
               Catch::Contains("target of pause_ingestd must look like ingestd-N or 'all'"));
    CHECK_THAT(parse("  - {at: 6s, action: pause_ingestd, for: 5s, params: {signal: STOP}}\n")
                   .status()
                   .message(),
               Catch::Contains("unknown key 'signal' in params of pause_ingestd"));
    CHECK_THAT(parse("  - {at: 6s, action: pause_ingestd, for: 0s}\n").status().message(),
               Catch::Contains("'for' must be positive"));
  }
}

TEST_CASE("folders expand to the scenario files directly inside them") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("scenario_test_" + std::to_string(::getpid()));
  fs::create_directories(dir / "long");
  std::ofstream(dir / "b.yaml") << "duration: 1s\n";
  std::ofstream(dir / "a.yaml") << "duration: 1s\n";
  std::ofstream(dir / "notes.txt") << "x\n";
  std::ofstream(dir / "long" / "c.yaml") << "duration: 1s\n";
  auto r = ExpandScenarioPaths({dir.string()});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK(fs::path((*r)[0]).filename() == "a.yaml");
  CHECK(fs::path((*r)[1]).filename() == "b.yaml");
  CHECK_FALSE(ExpandScenarioPaths({(dir / "missing.yaml").string()}).ok());
  fs::remove_all(dir);
}
