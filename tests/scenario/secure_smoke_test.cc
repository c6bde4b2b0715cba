// `ingestlab run --secure`: the smoke scenario with nats-server requiring TLS and a password
// (CONTRACT.md section 7). It passes, and it did run secure: the run's topology says so,
// ingestd connected over tls:// with the credentials file, the server refused no client of the
// run, and the credentials file, the keys and the server configs (which hold the generated
// password) are not left in the run directory.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness/scenario.h"
#include "tests/support/cli.h"

namespace fs = std::filesystem;
using ingestlab::testing::RunIngestlab;

namespace {

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("a scenario's topology takes secure: true; anything but true or false is refused",
          "[secure]") {
  const std::string head = "name: s\nduration: 1s\nservices: [{name: auth, rate: 1}]\n";
  auto yes = ingestlab::ParseScenario(head + "topology: {secure: true}\n", "s.yaml");
  REQUIRE(yes.ok());
  CHECK(yes->topology.secure);
  auto no = ingestlab::ParseScenario(head, "s.yaml");
  REQUIRE(no.ok());
  CHECK_FALSE(no->topology.secure);
  auto bad = ingestlab::ParseScenario(head + "topology: {secure: tls}\n", "s.yaml");
  CHECK_THAT(bad.status().message(), Catch::Contains("'secure' must be true or false"));
}

TEST_CASE("smoke passes with --secure: TLS and credentials all the way, nothing secret left",
          "[secure]") {
  const fs::path out = ingestlab::testing::FreshTempDir("secure-smoke");
  const auto r = RunIngestlab("run " + std::string(INGESTLAB_SOURCE_DIR) +
                              "/scenarios/smoke.yaml --secure --quiet --out " + out.string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const fs::path run = out / "smoke-1";
  const auto result = nlohmann::json::parse(ReadAll(run / "result.json"), nullptr, false);
  REQUIRE(result.is_object());
  CHECK(result.value("verdict", "") == "pass");
  const std::string ingestd_log = ReadAll(run / "logs" / "ingestd-0.log");
  INFO(ingestd_log);
  CHECK_THAT(ingestd_log, Catch::Contains("security: credentials file"));
  CHECK_THAT(ingestd_log, Catch::Contains("connected to tls://127.0.0.1:"));
  CHECK_THAT(ReadAll(run / "events.log"), Catch::Contains("\"secure\":true"));
  // The server refused nobody: every client of the run had the credentials.
  CHECK_THAT(ReadAll(run / "logs" / "nats-0.log"), !Catch::Contains("authentication error"));
  CHECK_FALSE(fs::exists(run / "nats"));
}
