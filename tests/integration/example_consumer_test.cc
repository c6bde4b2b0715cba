// examples/contextiq-node, the Node.js consumer written as shared seed 000 describes it, run
// against a real nats-server through a kill -9 and a duplicate publish, in both of its modes:
// - core (seed 000's design: core NATS subscription in a queue group) loses every event
//   published while it is down and applies a re-published event twice;
// - jetstream (a durable consumer, ack after the store write, de-duplication by event id) loses
//   nothing and applies each event once.
// Needs node and the example's packages (scripts/setup.sh runs `npm ci` for it).
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <httplib.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "harness/system_probe.h"
#include "tests/integration/nats_test_util.h"
#include "tests/support/cli.h"
#include "tests/integration/test_nats.h"

using namespace ingestlab;
using ingestlab::testing::JsTestClient;
using ingestlab::testing::WaitUntil;

namespace {

const std::string kExampleDir = std::string(INGESTLAB_SOURCE_DIR) + "/examples/contextiq-node";

// One instance of the example consumer, started with `mode` against `urls`, its journal and log
// in `dir`. Its state probe (/applied) is read as event id → times applied.
class ExampleConsumer {
 public:
  ExampleConsumer(std::string mode, std::string urls, const TempDir& dir)
      : mode_(std::move(mode)), urls_(std::move(urls)), dir_(dir) {}

  void Start() {
    INFO("the example's packages are missing: scripts/setup.sh installs them (npm ci)");
    REQUIRE(std::filesystem::exists(kExampleDir + "/node_modules/nats"));
    auto port = FreeLoopbackPort();
    REQUIRE(port.ok());
    port_ = *port;
    SpawnOptions spawn;
    spawn.program = "node";
    spawn.args = {kExampleDir + "/server/index.js"};
    spawn.env = {{"MODE", mode_},
                 {"NATS_URL", urls_},
                 {"DB", dir_.Sub(mode_ + ".jsonl")},
                 {"PORT", std::to_string(port_)},
                 {"ACK_WAIT_MS", "1000"}};
    spawn.log_path = dir_.Sub(mode_ + ".log");
    auto child = ChildProcess::Spawn(spawn);
    REQUIRE(child.ok());
    process_ = std::move(child).value();
    const bool healthy = WaitUntil([&] { return Get("/health").find("\"ok\"") != std::string::npos; },
                                   15'000);
    INFO(process_->LogTail());
    REQUIRE(healthy);
  }

  void Kill() {
    REQUIRE(process_->Signal(SIGKILL).ok());
    REQUIRE(process_->WaitExit(5'000).ok());
  }

  // The state probe: event id → times applied (empty while the probe does not answer).
  std::map<std::string, int64_t> Applied() {
    std::map<std::string, int64_t> counts;
    auto probed = ProbeHttp("http://127.0.0.1:" + std::to_string(port_) + "/applied", 2000);
    if (!probed.ok()) return counts;
    for (const ProbedEvent& e : *probed) counts[e.event_id] = e.count;
    return counts;
  }

  // Waits until every id in `ids` has been applied at least once; false on timeout.
  bool AwaitApplied(const std::vector<std::string>& ids, int64_t timeout_ms = 20'000) {
    return WaitUntil(
        [&] {
          const auto applied = Applied();
          for (const auto& id : ids) {
            if (!applied.contains(id)) return false;
          }
          return true;
        },
        timeout_ms);
  }

  std::string LogTail() const { return process_ ? process_->LogTail(3000) : ""; }

 private:
  std::string Get(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(2, 0);
    auto res = client.Get(path.c_str());
    return res && res->status == 200 ? res->body : "";
  }

  std::string mode_, urls_;
  const TempDir& dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// Publishes customer events `prefix`0 .. `prefix`(n-1) to the CUSTOMER stream, each with its id
// as Nats-Msg-Id (the customer-event envelope of shared seed 000); returns the ids.
std::vector<std::string> PublishBatch(JsTestClient& js, const std::string& prefix, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    const std::string id = prefix + std::to_string(i);
    const std::string customer = "cust-" + std::to_string(i % 5);
    const std::string body = nlohmann::json{{"customer_id", customer},
                                            {"event_type", "purchase"},
                                            {"timestamp", 1'700'000'000 + i},
                                            {"source_service", "shop"},
                                            {"data", {{"amount", 12.5}}}}
                                 .dump();
    REQUIRE(js.Publish("customer.events." + customer + ".purchase", body, {{"Nats-Msg-Id", id}}) ==
            NATS_OK);
    ids.push_back(id);
  }
  return ids;
}

// A CloudEvents event with id `id`, published twice without Nats-Msg-Id, so the broker keeps
// both copies: a producer retry that reaches the stream twice.
void PublishTwice(JsTestClient& js, const std::string& id) {
  const std::string body = nlohmann::json{{"specversion", "1.0"},
                                          {"id", id},
                                          {"source", "shop"},
                                          {"type", "billing.purchase.completed"},
                                          {"subject", "cust-1"},
                                          {"data", {{"amount", 40}}}}
                               .dump();
  for (int copy = 0; copy < 2; ++copy) {
    REQUIRE(js.Publish("customer.events.cust-1.purchase", body) == NATS_OK);
  }
}

// How many times `id` was applied (0: never).
int64_t Count(const std::map<std::string, int64_t>& applied, const std::string& id) {
  auto it = applied.find(id);
  return it == applied.end() ? 0 : it->second;
}

struct Outcome {
  std::map<std::string, int64_t> applied;
  std::vector<std::string> before, while_down, after;
};

// Batch `before` applied, kill -9, batch `while_down` published, restart, batch `after` and the
// twice-published event; waits for `after` (and, for the durable mode, everything) to apply.
Outcome RunKillAndDuplicate(const std::string& mode) {
  ingestlab::testing::TestNats nats("example_" + mode);
  JsTestClient js(nats.cluster->urls());
  js.AddStream("CUSTOMER", {"customer.events.>"});
  ExampleConsumer consumer(mode, nats.cluster->urls(), nats.dir);
  consumer.Start();
  Outcome o;
  o.before = PublishBatch(js, "before-", 200);
  INFO(consumer.LogTail());
  REQUIRE(consumer.AwaitApplied(o.before));
  consumer.Kill();
  o.while_down = PublishBatch(js, "down-", 200);
  consumer.Start();
  o.after = PublishBatch(js, "after-", 200);
  PublishTwice(js, "dup-1");
  o.after.push_back("dup-1");
  REQUIRE(consumer.AwaitApplied(o.after));
  if (mode == "jetstream") REQUIRE(consumer.AwaitApplied(o.while_down));
  // Long enough for a second copy of dup-1 to land if it is going to.
  WaitUntil([] { return false; }, 500);
  o.applied = consumer.Applied();
  return o;
}

}  // namespace

TEST_CASE("seed 000's core NATS consumer loses what is published while it is down and applies a "
          "re-published event twice",
          "[example]") {
  const Outcome o = RunKillAndDuplicate("core");
  for (const auto& id : o.before) CHECK(Count(o.applied, id) == 1);
  for (const auto& id : o.while_down) CHECK(Count(o.applied, id) == 0);
  CHECK(Count(o.applied, "dup-1") == 2);
}

TEST_CASE("the durable JetStream variant loses nothing across kill -9 and applies each event once",
          "[example]") {
  const Outcome o = RunKillAndDuplicate("jetstream");
  for (const auto* batch : {&o.before, &o.while_down, &o.after}) {
    for (const auto& id : *batch) {
      INFO(id);
      CHECK(Count(o.applied, id) == 1);
    }
  }
  CHECK(o.applied.size() == o.before.size() + o.while_down.size() + o.after.size());
}

namespace {

// `ingestlab run SCENARIO --quiet --out DIR`: the exit code and result.json.
struct ScenarioOutcome {
  int exit_code = -1;
  std::string output;
  nlohmann::json result;
};

ScenarioOutcome RunThroughAdapter(const std::string& scenario, const std::filesystem::path& out,
                                  const std::string& name) {
  ScenarioOutcome o;
  auto run = ingestlab::testing::RunIngestlab("run " + scenario + " --quiet --out " + out.string());
  o.exit_code = run.exit_code;
  o.output = run.output;
  std::ifstream in(out / name / "result.json");
  if (in) o.result = nlohmann::json::parse(in, nullptr, false);
  return o;
}

const nlohmann::json* Assertion(const nlohmann::json& result, const std::string& kind) {
  if (!result.contains("assertions")) return nullptr;
  for (const auto& a : result.at("assertions")) {
    if (a.value("kind", "") == kind) return &a;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("through the system-under-test adapter, seed 000's core consumer fails no_loss and "
          "exactly_once, naming the events with their bytes; the durable variant passes the same "
          "scenario",
          "[example][adapter]") {
  INFO("the example's packages are missing: scripts/setup.sh installs them (npm ci)");
  REQUIRE(std::filesystem::exists(kExampleDir + "/node_modules/nats"));
  const auto out = ingestlab::testing::FreshTempDir("adapter-examples");
  const std::string dir = std::string(INGESTLAB_SOURCE_DIR) + "/scenarios/examples/";

  const ScenarioOutcome core = RunThroughAdapter(dir + "contextiq-core.yaml", out, "contextiq-core-11");
  INFO(core.output);
  CHECK(core.exit_code == 1);
  REQUIRE(core.result.is_object());
  CHECK(core.result["verdict"] == "fail");
  const auto* no_loss = Assertion(core.result, "no_loss");
  REQUIRE(no_loss);
  CHECK((*no_loss)["passed"] == false);
  CHECK((*no_loss)["measured"].get<double>() > 0);
  const auto* once = Assertion(core.result, "exactly_once");
  REQUIRE(once);
  CHECK((*once)["passed"] == false);
  size_t missing_with_bytes = 0, applied_twice = 0;
  for (const auto& e : core.result["offending_events"]) {
    if (e.value("problem", "") == "missing" && !e.value("payload_b64", "").empty() &&
        !e.value("event_id", "").empty()) {
      ++missing_with_bytes;
    }
    if (e.value("problem", "") == "applied more than once") ++applied_twice;
  }
  CHECK(missing_with_bytes > 0);
  CHECK(applied_twice > 0);
  // The reference model needs ingestd's tables: skipped with a note, which is no error.
  CHECK_THAT(core.result["reference_model"].dump(), Catch::Contains("skipped"));

  const ScenarioOutcome durable =
      RunThroughAdapter(dir + "contextiq-durable.yaml", out, "contextiq-durable-11");
  INFO(durable.output);
  CHECK(durable.exit_code == 0);
  REQUIRE(durable.result.is_object());
  CHECK(durable.result["verdict"] == "pass");
  for (const char* kind : {"no_loss", "exactly_once", "dead_letters", "reconnect_within"}) {
    INFO(kind);
    const auto* a = Assertion(durable.result, kind);
    REQUIRE(a);
    CHECK((*a)["passed"] == true);
  }
}

TEST_CASE("a bad system section never passes: it exits 2 or gives verdict error with the reason",
          "[adapter]") {
  const auto out = ingestlab::testing::FreshTempDir("adapter-bad");
  auto write = [&](const std::string& name, const std::string& system) {
    const auto path = out / (name + ".yaml");
    std::ofstream(path) << "name: " << name << "\nduration: 2s\ndrain_timeout: 1s\n"
                        << "topology: {kafka_brokers: 0}\n"
                        << "services:\n  - {name: billing, transport: nats, rate: 20}\n"
                        << "assertions:\n  - no_loss\n"
                        << "system:\n" << system;
    return path.string();
  };
  SECTION("no command: a bad scenario file") {
    auto run = ingestlab::testing::RunIngestlab(
        "run " + write("no-command", "  state: {http: \"http://127.0.0.1:{port}/a\"}\n") +
        " --quiet --out " + out.string());
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.output, Catch::Contains("missing key 'command' in system"));
  }
  SECTION("a system that starts but cannot be judged ends in verdict error, with the reason") {
    struct Case {
      const char* name;
      std::string system;
      std::vector<std::string> reason;
    };
    const std::vector<Case> cases = {
        {"never-ready",
         "  command: [node, -e, \"setInterval(() => 0, 1000)\"]\n"
         "  ready: {http: \"http://127.0.0.1:{port}/health\", timeout: 2s}\n"
         "  state: {http: \"http://127.0.0.1:{port}/applied\"}\n",
         {"system-0 not ready within 2000 ms"}},
        {"garbage-state",
         "  command: [node, -e, \"require('http').createServer((q, r) => r.end('garbage'))"
         ".listen(Number(process.env.PORT), '127.0.0.1')\"]\n"
         "  env: {PORT: \"{port}\"}\n"
         "  ready: {http: \"http://127.0.0.1:{port}/\"}\n"
         "  state: {http: \"http://127.0.0.1:{port}/applied\"}\n",
         {"state probe", "not a JSON object"}},
    };
    for (const Case& c : cases) {
      const auto o = RunThroughAdapter(write(c.name, c.system), out, std::string(c.name) + "-1");
      INFO(c.name << "\n" << o.output);
      CHECK(o.exit_code != 0);
      REQUIRE(o.result.is_object());
      CHECK(o.result["verdict"] == "error");
      for (const auto& part : c.reason) {
        CHECK_THAT(o.result["error"].get<std::string>(), Catch::Contains(part));
      }
    }
  }
}
