// Specification of what ingestlab may delete (harness/run_dir.h) and which scenario names may
// become paths.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "harness/replay.h"
#include "harness/run_dir.h"
#include "harness/scenario.h"
#include "tests/support/cli.h"

using namespace ingestlab;
namespace fs = std::filesystem;

namespace {

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string MessageOf(const Status& st) { return st.message(); }

}  // namespace

TEST_CASE("ValidateScenarioName accepts plain names", "[run_dir]") {
  for (const char* name : {"smoke", "mixed-soak", "import-billing.events", "a", "x_1.2-3",
                           "simulate-event-billing.purchase.completed", "A9"}) {
    INFO(name);
    CHECK(ValidateScenarioName(name).ok());
  }
  CHECK(ValidateScenarioName(std::string(kMaxScenarioNameLength, 'n')).ok());
}

TEST_CASE("ValidateScenarioName rejects names that could escape or hide a path", "[run_dir]") {
  struct Case {
    std::string name;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"", "is empty"},
      {"../../etc", "contains '/'"},
      {"a/b", "contains '/'"},
      {"/etc", "contains '/'"},
      {"..", "starts with '.'"},
      {".", "starts with '.'"},
      {".hidden", "starts with '.'"},
      {"a..b", "contains '..'"},
      {"line\nbreak", "contains a control character"},
      {std::string("nul\0byte", 8), "contains a control character"},
      {"tab\there", "contains a control character"},
      {"with space", "contains ' '"},
      {"back\\slash", "contains '\\x5c'"},
      {"caf\xc3\xa9", "contains '\\xc3'"},
      {"star*", "contains '*'"},
      {std::string(kMaxScenarioNameLength + 1, 'n'), "is longer than 128 characters"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const Status st = ValidateScenarioName(c.name);
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CHECK_THAT(MessageOf(st), Catch::Contains(c.problem));
    // One line, whatever the name holds.
    CHECK(MessageOf(st).find('\n') == std::string::npos);
  }
  CHECK_THAT(MessageOf(ValidateScenarioName("../../etc")),
             Catch::StartsWith("scenario name '../../etc' contains '/'"));
}

TEST_CASE("a scenario file's name must be a plain name", "[run_dir]") {
  auto bad = ParseScenario("name: ../escape\nduration: 1s\n", "x.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("x.yaml:1: scenario name '../escape'"));
  auto good = ParseScenario("name: fine-name\nduration: 1s\n", "x.yaml");
  CHECK(good.ok());
}

TEST_CASE("a replay refuses an event log whose header names no plain scenario", "[run_dir]") {
  sim::EventLog log;
  log.header.scenario = "../../etc";
  log.header.scenario_yaml = "name: smoke\nduration: 1s\n";
  auto program = harness::BuildReplayProgram(log, "", {}, {});
  REQUIRE_FALSE(program.ok());
  CHECK_THAT(program.status().message(), Catch::Contains("scenario name '../../etc'"));
  log.header.scenario = "smoke";
  CHECK(harness::BuildReplayProgram(log, "", {}, {}).ok());
}

TEST_CASE("CheckReplaceable allows only what ingestlab made", "[run_dir]") {
  const fs::path root = testing::FreshTempDir("run-dir-test");

  SECTION("a missing directory and an empty one") {
    CHECK(CheckReplaceable((root / "missing").string()).ok());
    fs::create_directories(root / "empty");
    CHECK(CheckReplaceable((root / "empty").string()).ok());
  }
  SECTION("run directories: the marker, result.json, events.log or events.log.gz") {
    for (const char* file : {kRunDirMarker, "result.json", "events.log", "events.log.gz"}) {
      INFO(file);
      const fs::path dir = root / (std::string("run-") + (file[0] == '.' ? "marker" : file));
      fs::create_directories(dir / "logs");
      WriteFile(dir / file, "x");
      WriteFile(dir / "other.txt", "x");
      CHECK(IsRunDirectory(dir.string()));
      CHECK(CheckReplaceable(dir.string()).ok());
    }
  }
  SECTION("a directory with other files is refused, and nothing is deleted") {
    const fs::path dir = root / "mine";
    fs::create_directories(dir / "sub");
    WriteFile(dir / "sentinel.txt", "keep me");
    WriteFile(dir / "sub" / "result.json", "{}");  // only at the top level does it count
    CHECK_FALSE(IsRunDirectory(dir.string()));
    const Status st = CheckReplaceable(dir.string());
    REQUIRE_FALSE(st.ok());
    CHECK_THAT(st.message(), Catch::Contains("is not an ingestlab run directory"));
    CHECK_THAT(st.message(), Catch::Contains("refusing to replace it"));
    const Status prepared = PrepareRunDirectory(dir.string());
    REQUIRE_FALSE(prepared.ok());
    CHECK(testing::ReadFileBytes(dir / "sentinel.txt") == "keep me");
  }
  SECTION("a file and a symbolic link are refused") {
    WriteFile(root / "file", "data");
    CHECK_THAT(CheckReplaceable((root / "file").string()).message(),
               Catch::Contains("is not a directory"));
    fs::create_directories(root / "target");
    WriteFile(root / "target" / "result.json", "{}");
    fs::create_directory_symlink(root / "target", root / "link");
    CHECK_THAT(CheckReplaceable((root / "link").string()).message(),
               Catch::Contains("symbolic link"));
    CHECK(testing::ReadFileBytes(root / "file") == "data");
    CHECK(fs::exists(root / "target" / "result.json"));
  }
  SECTION("PrepareRunDirectory replaces a run directory and leaves the marker") {
    const fs::path dir = root / "run";
    fs::create_directories(dir);
    WriteFile(dir / "events.log", "old");
    REQUIRE(PrepareRunDirectory(dir.string()).ok());
    CHECK_FALSE(fs::exists(dir / "events.log"));
    CHECK(fs::exists(dir / kRunDirMarker));
    CHECK(IsRunDirectory(dir.string()));
    // Made by ingestlab, so replaceable again, even before anything else is written.
    CHECK(PrepareRunDirectory(dir.string()).ok());
    CHECK(PrepareRunDirectory((root / "new" / "nested").string()).ok());
    CHECK(fs::exists(root / "new" / "nested" / kRunDirMarker));
  }
  fs::remove_all(root);
}
