// End-to-end specification of `ingestlab run`: the smoke scenario passes and leaves a complete
// run directory; a threshold that cannot hold fails with exit 1 and a JUnit failure naming the
// measured value; a bad scenario file is exit 2 with file:line.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/cli.h"

namespace fs = std::filesystem;

namespace {

using ingestlab::testing::ReadFileBytes;

ingestlab::testing::ShellResult Run(const std::string& args) {
  return ingestlab::testing::RunIngestlab(args);
}

fs::path FreshDir(const std::string& name) {
  return ingestlab::testing::FreshTempDir("suite-" + name);
}

}  // namespace

TEST_CASE("the smoke scenario passes and leaves a complete run directory") {
  const fs::path out = FreshDir("smoke");
  const std::string scenario = std::string(INGESTLAB_SOURCE_DIR) + "/scenarios/smoke.yaml";
  auto r = Run("run " + scenario + " --seed 3 --quiet --out " + out.string() + " --junit " +
               (out / "junit.xml").string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const fs::path run = out / "smoke-3";
  for (const char* f : {"scenario.yaml", "events.log", "result.json", "ingest.db", "report.html"}) {
    CHECK(fs::exists(run / f));
  }
  CHECK(fs::is_directory(run / "logs"));
  CHECK(fs::exists(run / "logs" / "ingestd-0.log"));
  auto result = nlohmann::json::parse(ReadFileBytes(run / "result.json"));
  CHECK(result["verdict"] == "pass");
  CHECK(result["seed"] == 3);
  CHECK(result["metrics"]["acked"].get<int64_t>() > 0);
  CHECK(result["metrics"]["applied"].get<int64_t>() > 0);
  CHECK(result["assertions"].size() >= 4);
  for (const auto& a : result["assertions"]) CHECK(a["passed"] == true);
  CHECK(result["series"]["t_s"].size() == result["series"]["ingest_rate"].size());
  CHECK_FALSE(result["state_digest"].get<std::string>().empty());
  const std::string junit = ReadFileBytes(out / "junit.xml");
  CHECK_THAT(junit, Catch::Contains("<testcase classname=\"ingestlab.smoke\" name=\"no loss\""));
  CHECK_THAT(junit, Catch::Contains("failures=\"0\""));
  // The events log starts with its header and records publishes.
  const std::string log = ReadFileBytes(run / "events.log");
  CHECK_THAT(log.substr(0, log.find('\n')), Catch::Contains("\"kind\":\"header\""));
  CHECK_THAT(log, Catch::Contains("\"kind\":\"publish\""));
  fs::remove_all(out);
}

TEST_CASE("a threshold that cannot hold fails with the measured value") {
  const fs::path out = FreshDir("impossible");
  const fs::path scenario = out / "impossible.yaml";
  std::ofstream(scenario) << "name: impossible\n"
                             "duration: 3s\n"
                             "topology: {nats_nodes: 1, kafka_brokers: 0}\n"
                             "services:\n"
                             "  - name: billing\n"
                             "    rate: 50\n"
                             "assertions:\n"
                             "  - no_loss\n"
                             "  - latency: {p99_ms: 0.001}\n";
  auto r = Run("run " + scenario.string() + " --quiet --out " + (out / "runs").string() +
               " --junit " + (out / "junit.xml").string());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  auto result = nlohmann::json::parse(ReadFileBytes(out / "runs" / "impossible-1" / "result.json"));
  CHECK(result["verdict"] == "fail");
  const auto& latency = result["assertions"][1];
  CHECK(latency["passed"] == false);
  const double measured = latency["measured"].get<double>();
  CHECK(measured > 0.001);
  CHECK(result["assertions"][0]["passed"] == true);
  const std::string junit = ReadFileBytes(out / "junit.xml");
  CHECK_THAT(junit, Catch::Contains("<failure message=\"measured "));
  CHECK_THAT(junit, Catch::Contains("threshold &lt;= 0.001 ms"));
  // The summary names the failed assertion too.
  CHECK_THAT(r.output, Catch::Contains("latency p99"));
  fs::remove_all(out);
}

TEST_CASE("bad input is exit 2 with a one-line error") {
  const fs::path out = FreshDir("bad");
  std::ofstream(out / "typo.yaml") << "name: typo\nduration: 5s\ndurration: 6s\n";
  auto r = Run("run " + (out / "typo.yaml").string());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("typo.yaml:3: unknown key 'durration' in scenario"));
  CHECK(Run("run").exit_code == 2);
  CHECK(Run("run " + (out / "missing.yaml").string()).exit_code == 2);
  CHECK(Run("frobnicate").exit_code == 2);
  CHECK(Run("run --help").exit_code == 0);
  CHECK(Run("up --nats-nodes 2").exit_code == 2);
  CHECK_THAT(Run("--version").output, Catch::StartsWith("ingestlab "));
  fs::remove_all(out);
}
