// The built `ingestlab load` end to end, on loopback only: against the embedded infrastructure
// it starts itself (a saturation search with loose numbers), and against endpoints started
// here (the store or /metrics as the commit meter). Functional checks; the speed figures are
// benchmarks (README).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/environment.h"
#include "tests/support/cli.h"

using ingestlab::Environment;
using ingestlab::EnvironmentOptions;
using namespace ingestlab::testing;  // RunIngestlab, FreshTempDir, ReadFileBytes, ...
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json ReadJson(const fs::path& path) {
  const std::string text = ReadFileBytes(path);
  INFO(path.string());
  REQUIRE_FALSE(text.empty());
  return json::parse(text);
}

fs::path Write(const fs::path& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return dir / name;
}

// Endpoints for `load --nats`: one nats-server (with TLS and a password when `secure`) and one
// ingestd, no Kafka, ready.
std::unique_ptr<Environment> StartEndpoints(const fs::path& dir, bool secure) {
  EnvironmentOptions o;
  o.nats_nodes = 1;
  o.kafka_brokers = 0;
  o.ingestd_count = 1;
  o.proxies = false;
  o.secure = secure;
  o.dir = dir.string();
  auto e = Environment::Start(o);
  INFO(e.status().message());
  REQUIRE(e.ok());
  std::unique_ptr<Environment> env = std::move(e.value());
  REQUIRE(env->WaitForIngestReady(30'000).ok());
  return env;
}

// NATS only; billing entirely in seed 000's customer dialect, whose event times have whole-second
// resolution: their latency must come from the scheduled send time, not the event time.
constexpr const char* kWorkload = R"(name: it-load
services:
  - {name: billing, rate: 1, dialects: {customer: 1}}
  - {name: auth, rate: 1}
load:
  find_max: {p99: 5s, start: 100, max: 200, each: 2s}
  warmup: 1s
  settle: 15s
topology: {kafka_brokers: 0}
assertions:
  - no_loss
  - throughput: {min_eps: 200}
)";

}  // namespace

TEST_CASE("ingestlab load searches the embedded infrastructure and writes result and report") {
  const fs::path dir = FreshTempDir("load-embedded");
  const fs::path workload = Write(dir, "w.yaml", kWorkload);
  auto r = RunIngestlab("load " + workload.string() + " --out " + (dir / "out").string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const json result = ReadJson(dir / "out" / "result.json");
  CHECK(result["kind"] == "load");
  CHECK(result["verdict"] == "pass");
  CHECK(result["mode"] == "find_max");
  CHECK(result["target"]["embedded"] == true);
  CHECK(result["target"]["latency_source"] == "store");
  // 100/s holds, 200/s (the maximum) holds: the search ends there.
  CHECK(result["find_max"]["max_rate_eps"] == 200);
  CHECK_THAT(result["find_max"]["limited_by"].get<std::string>(), Catch::Contains("maximum"));
  REQUIRE(result["steps"].size() == 2);
  for (const auto& s : result["steps"]) {
    CHECK(s["passed"] == true);
    CHECK(s["uncommitted"] == 0);
    CHECK(s["committed"].get<int64_t>() >= s["rate_eps"].get<double>() * 2 * 0.9);
  }
  const json& sum = result["summary"];
  CHECK(sum["committed"].get<int64_t>() >= 500);
  CHECK(sum["uncommitted"] == 0);
  // Half the events are customer-dialect: measured from their event time (whole seconds) the
  // median would be ~500 ms; from the scheduled send time it is a few ms.
  CHECK(sum["latency_ms"]["p50"].get<double>() > 0);
  CHECK(sum["latency_ms"]["p50"].get<double>() < 200);
  CHECK(sum["publish_latency_ms"]["p50"].get<double>() > 0);
  CHECK(result["series"]["t_s"].size() >= 4);
  const std::string report = ReadFileBytes(dir / "out" / "report.html");
  CHECK_THAT(report, Catch::Contains("it-load"));
  CHECK_THAT(r.output, Catch::Contains("highest rate holding p99 <= 5000 ms: 200/s"));
  fs::remove_all(dir);
}

TEST_CASE("ingestlab load against given endpoints, metered by the store or by /metrics") {
  const fs::path dir = FreshTempDir("load-endpoints");
  std::unique_ptr<Environment> env = StartEndpoints(dir / "env", /*secure=*/false);
  const fs::path workload = Write(dir, "w.yaml", R"(name: it-endpoints
services: [{name: auth}]
load: {rate: 100, warmup: 1s}
duration: 2s
)");
  const std::string nats = " --nats " + env->nats_urls();

  SECTION("steps, measured from the store") {
    auto r = RunIngestlab("load " + workload.string() + nats + " --db " + env->db_path() +
                          " --steps 100,200 --step-duration 2s -q --out " +
                          (dir / "db").string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    const json result = ReadJson(dir / "db" / "result.json");
    CHECK(result["target"]["embedded"] == false);
    CHECK(result["target"]["latency_source"] == "store");
    REQUIRE(result["steps"].size() == 2);
    CHECK(result["steps"][1]["rate_eps"] == 200);
    CHECK(result["steps"][1]["committed"].get<int64_t>() >= 360);
    CHECK(result["summary"]["uncommitted"] == 0);
  }
  SECTION("a fixed rate measured from /metrics, with a p99 threshold nothing can meet") {
    auto r = RunIngestlab("load " + workload.string() + nats + " --metrics " +
                          env->instance(0).http_url() + "/metrics --p99 0.001ms --out " +
                          (dir / "metrics").string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    const json result = ReadJson(dir / "metrics" / "result.json");
    CHECK(result["verdict"] == "fail");
    CHECK(result["target"]["latency_source"] == "metrics");
    CHECK(result["summary"]["committed"].get<int64_t>() >= 150);
    REQUIRE(result["thresholds"].size() == 1);
    CHECK(result["thresholds"][0]["name"] == "p99_ms");
    CHECK(result["thresholds"][0]["passed"] == false);
    CHECK_THAT(r.output, Catch::Contains("FAIL p99_ms"));
  }
  SECTION("bad usage exits 2 with the reason") {
    auto no_meter = RunIngestlab("load " + workload.string() + nats);
    CHECK(no_meter.exit_code == 2);
    CHECK_THAT(no_meter.output, Catch::Contains("--db PATH or --metrics URL"));
    auto two_modes = RunIngestlab("load --rate 5 --find-max");
    CHECK(two_modes.exit_code == 2);
    auto scenario = RunIngestlab(std::string("load ") + INGESTLAB_SOURCE_DIR +
                                 "/scenarios/smoke.yaml");
    CHECK(scenario.exit_code == 2);
    CHECK_THAT(scenario.output, Catch::Contains("not a load workload"));
    auto run_workload = RunIngestlab("run " + workload.string());
    CHECK(run_workload.exit_code == 2);
    CHECK_THAT(run_workload.output, Catch::Contains("ingestlab load"));
  }
  env.reset();
  fs::remove_all(dir);
}

TEST_CASE("ingestlab load --instances repeats the load per number of ingestd and draws the curve") {
  const fs::path dir = FreshTempDir("load-instances");
  const fs::path workload = Write(dir, "w.yaml", R"(name: it-scaling
services: [{name: auth}, {name: support}]
load: {rate: 150, warmup: 0s}
duration: 2s
topology: {kafka_brokers: 0}
)");
  auto r = RunIngestlab("load " + workload.string() + " --instances 1,2 -q --out " +
                        (dir / "out").string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const json result = ReadJson(dir / "out" / "result.json");
  REQUIRE(result["scaling"].size() == 2);
  for (int i = 0; i < 2; ++i) {
    const json& row = result["scaling"][i];
    CHECK(row["instances"] == i + 1);
    CHECK(row["rate_eps"].get<double>() > 100);
    CHECK(row["cpu_busy"].get<double>() > 0);
    CHECK_FALSE(row["limited_by"].get<std::string>().empty());
    const json sub = ReadJson(dir / "out" / row["dir"].get<std::string>() / "result.json");
    CHECK(sub["summary"]["uncommitted"] == 0);
  }
  CHECK_THAT(ReadFileBytes(dir / "out" / "report.html"), Catch::Contains("chart-scaling"));
  CHECK_THAT(r.output, Catch::Contains("2 ingestd:"));
  auto remote = RunIngestlab("load " + workload.string() +
                             " --instances 1,2 --nats nats://127.0.0.1:1 --db x.db");
  CHECK(remote.exit_code == 2);
  CHECK_THAT(remote.output, Catch::Contains("embedded"));
  fs::remove_all(dir);
}

TEST_CASE("load and import nats reach a cluster that requires TLS and a password",
          "[secure]") {
  const fs::path dir = FreshTempDir("load-secure");
  std::unique_ptr<Environment> env = StartEndpoints(dir / "env", /*secure=*/true);
  const fs::path workload = Write(dir, "w.yaml", R"(name: it-secure
services: [{name: auth}]
load: {rate: 100, warmup: 1s}
duration: 2s
)");
  const std::string nats = " --nats " + env->nats_urls();
  const std::string credentials = env->nats_credentials_path();

  // Without the credentials the server refuses the publishers: a clear error, not a hang.
  auto refused = RunIngestlab("load " + workload.string() + nats + " --db " + env->db_path() +
                              " -q --out " + (dir / "refused").string());
  CHECK(refused.exit_code != 0);

  auto r = RunIngestlab("load " + workload.string() + nats + " --nats-credentials " +
                        credentials + " --db " + env->db_path() + " -q --out " +
                        (dir / "load").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json result = ReadJson(dir / "load" / "result.json");
  CHECK(result["summary"]["uncommitted"] == 0);
  CHECK(result["summary"]["committed"].get<int64_t>() >= 150);

  // What the load published is in the AUTH stream; import reads it with the same file.
  const std::string log = (dir / "auth.log").string();
  auto imported = RunIngestlab("import nats --url " + env->nats_urls() + " --credentials " +
                               credentials + " --stream AUTH -o " + log + " --quiet");
  INFO(imported.output);
  CHECK(imported.exit_code == 0);
  const std::string imported_log = ReadFileBytes(log);
  INFO(imported_log.substr(0, 600));
  CHECK(imported_log.find("\"subject\":\"auth.") != std::string::npos);
  auto no_file = RunIngestlab("import nats --url " + env->nats_urls() +
                              " --credentials /nonexistent/creds --stream AUTH -o " + log);
  CHECK(no_file.exit_code == 2);
  CHECK_THAT(no_file.output, Catch::Contains("/nonexistent/creds"));
  fs::remove_all(dir);
}
