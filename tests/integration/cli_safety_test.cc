// ingestlab never deletes what it did not make: `replay --out`, `shrink --out` and `run --out`
// given a directory of someone's files leave it untouched and exit 2 with a one-line error, and
// an event log whose header names a scenario like "../../etc" is refused before that name
// becomes a path. Bad usage of every command (an unknown option, a missing value, a number out
// of range) is one line and exit 2 too. Every refusal happens before any infrastructure starts,
// so these are fast.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/cli.h"

using ingestlab::testing::FreshTempDir;
using ingestlab::testing::ReadFileBytes;
using ingestlab::testing::RunIngestlab;
using ingestlab::testing::ShellResult;
namespace fs = std::filesystem;

namespace {

const char* kScenarioYaml =
    "name: smoke\nduration: 1s\nservices:\n  - name: billing\n    rate: 5\n"
    "assertions:\n  - no_loss\n";

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// An event log with only its header (enough to be read; never replayed here).
std::string LogWithScenario(const std::string& scenario) {
  nlohmann::json header = {{"kind", "header"},
                           {"format", 1},
                           {"scenario", scenario},
                           {"seed", 7},
                           {"epoch_ms", 1700000000000},
                           {"scenario_yaml", kScenarioYaml},
                           {"topology", {{"nats_nodes", 1}, {"kafka_brokers", 0}, {"ingestd", 1}}}};
  return header.dump() + "\n";
}

// A recorded run directory whose "no loss" assertion failed (what shrink needs to start).
fs::path MakeRecordedRun(const fs::path& root, const std::string& scenario = "smoke") {
  const fs::path run = root / "recorded";
  fs::create_directories(run);
  WriteFile(run / "events.log", LogWithScenario(scenario));
  WriteFile(run / "result.json",
            R"({"verdict":"fail","assertions":[{"name":"no loss","passed":false}]})");
  return run;
}

// A directory of someone's files, with a sentinel that must survive.
fs::path MakeForeignDir(const fs::path& path) {
  fs::create_directories(path / "notes");
  WriteFile(path / "sentinel.txt", "do not delete");
  WriteFile(path / "notes" / "a.txt", "mine");
  return path;
}

void CheckUntouched(const fs::path& dir) {
  CHECK(ReadFileBytes(dir / "sentinel.txt") == "do not delete");
  CHECK(ReadFileBytes(dir / "notes" / "a.txt") == "mine");
  CHECK_FALSE(fs::exists(dir / ".ingestlab-run"));
}

bool OneLine(const std::string& output) {
  return !output.empty() && output.find('\n') == output.size() - 1;
}

// Runs `ingestlab ARGS` and checks that it was refused: exit 2 with a one-line message.
ShellResult Refused(const std::string& args) {
  const ShellResult r = RunIngestlab(args);
  INFO("ingestlab " << args << "\n" << r.output);
  CHECK(r.exit_code == 2);
  CHECK(OneLine(r.output));
  return r;
}

}  // namespace

TEST_CASE("replay --out refuses a non-empty directory that is not a run directory",
          "[cli][safety]") {
  const fs::path root = FreshTempDir("cli-safety-replay");
  const fs::path run = MakeRecordedRun(root);
  const fs::path foreign = MakeForeignDir(root / "foreign");

  const auto r = Refused("replay " + run.string() + " --out " + foreign.string());
  CHECK_THAT(r.output, Catch::StartsWith("ingestlab replay: " + foreign.string()));
  CHECK_THAT(r.output, Catch::Contains("not an ingestlab run directory"));
  CheckUntouched(foreign);

  SECTION("a file given as --out is not replaced either") {
    WriteFile(root / "a-file", "data");
    const auto f = RunIngestlab("replay " + run.string() + " --out " + (root / "a-file").string());
    INFO(f.output);
    CHECK(f.exit_code == 2);
    CHECK_THAT(f.output, Catch::Contains("is not a directory"));
    CHECK(ReadFileBytes(root / "a-file") == "data");
  }
  fs::remove_all(root);
}

TEST_CASE("shrink --out refuses a non-empty directory that is not a run directory",
          "[cli][safety]") {
  const fs::path root = FreshTempDir("cli-safety-shrink");
  const fs::path run = MakeRecordedRun(root);

  SECTION("the output directory") {
    const fs::path foreign = MakeForeignDir(root / "foreign");
    const auto r = Refused("shrink " + run.string() + " --out " + foreign.string());
    CHECK_THAT(r.output, Catch::Contains("not an ingestlab run directory"));
    CheckUntouched(foreign);
    CHECK_FALSE(fs::exists(root / "foreign.tries"));
  }
  SECTION("its attempts directory, DIR.tries") {
    const fs::path foreign = MakeForeignDir(root / "out.tries");
    const auto r = RunIngestlab("shrink " + run.string() + " --out " + (root / "out").string());
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(foreign.string()));
    CheckUntouched(foreign);
  }
  SECTION("the recorded run itself") {
    const auto r = RunIngestlab("shrink " + run.string() + " --out " + run.string());
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(fs::exists(run / "events.log"));
  }
  fs::remove_all(root);
}

TEST_CASE("run --out refuses a run path that is not a run directory", "[cli][safety]") {
  const fs::path root = FreshTempDir("cli-safety-run");
  const fs::path out = root / "runs";
  // `ingestlab run smoke.yaml --seed 5 --out runs` would replace runs/smoke-5.
  const fs::path foreign = MakeForeignDir(out / "smoke-5");
  const auto r = Refused(std::string("run ") + INGESTLAB_SOURCE_DIR +
                         "/scenarios/smoke.yaml --seed 5 --quiet --out " + out.string());
  CHECK_THAT(r.output, Catch::StartsWith("ingestlab run: " + foreign.string()));
  CheckUntouched(foreign);
  fs::remove_all(root);
}

TEST_CASE("replay and shrink refuse a result.json nested 200,000 levels deep", "[cli][safety]") {
  const fs::path root = FreshTempDir("cli-safety-deep");
  const fs::path run = MakeRecordedRun(root);
  WriteFile(run / "result.json",
            R"({"verdict":"fail","assertions":)" + std::string(200'000, '[') + "}");
  for (const std::string command : {"replay", "shrink"}) {
    const auto r = RunIngestlab(command + " " + run.string() + " --out " +
                                (root / (command + "-out")).string());
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("not a result.json: nested deeper than 64 levels"));
  }
  fs::remove_all(root);
}

TEST_CASE("an event log whose header names scenario '../../etc' is refused", "[cli][safety]") {
  const fs::path root = FreshTempDir("cli-safety-name");
  fs::create_directories(root / "a" / "b");
  // A bare log: without --out, its replay directory would be named after the header's scenario.
  const fs::path log = root / "a" / "b" / "crafted.log";
  WriteFile(log, LogWithScenario("../../etc"));

  const auto r = Refused("replay " + log.string());
  CHECK_THAT(r.output, Catch::Contains("scenario name '../../etc' contains '/'"));
  CHECK_FALSE(fs::exists(root / "etc-7-replay"));
  CHECK_FALSE(fs::exists(root / "a" / "b" / "../../etc-7-replay"));

  SECTION("in a run directory, for replay and for shrink") {
    const fs::path run = MakeRecordedRun(root, "../../etc");
    const auto replay =
        RunIngestlab("replay " + run.string() + " --out " + (root / "replayed").string());
    INFO(replay.output);
    CHECK(replay.exit_code == 2);
    CHECK_THAT(replay.output, Catch::Contains("scenario name '../../etc'"));
    CHECK_FALSE(fs::exists(root / "replayed"));
    const auto shrink = RunIngestlab("shrink " + run.string());
    INFO(shrink.output);
    CHECK(shrink.exit_code == 2);
    CHECK_THAT(shrink.output, Catch::Contains("scenario name '../../etc'"));
  }
  SECTION("control characters are shown escaped, on one line") {
    WriteFile(log, LogWithScenario("evil\nname"));
    const auto c = Refused("replay " + log.string());
    CHECK_THAT(c.output, Catch::Contains("evil\\x0aname"));
  }
  fs::remove_all(root);
}

TEST_CASE("bad usage of every command is one line naming the command, and exit 2", "[cli][usage]") {
  // Each command with an unknown option, an option missing its value, (where it takes one) a
  // number too large for 64 bits, and (where it needs one) an empty name or path.
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
      {"simulate",
       {"billing --frobnicate", "billing --seed", "billing --seed 99999999999999999999999",
        "billing --count 99999999999999999999999 --print", "billing --rate"}},
      {"replay",
       {"run-dir --frobnicate", "run-dir --speed", "run-dir --speed 99999999999999999999999",
        "run-dir --out ''", "run-dir --only ''"}},
      {"shrink",
       {"run-dir --frobnicate", "run-dir --max-runs", "run-dir --max-runs 99999999999999999999999",
        "run-dir --assertion ''"}},
      {"import kcat",
       {"dump --frobnicate", "dump -o", "dump -o x.log --nats-nodes 99999999999999999999999",
        "dump -o ''"}},
      {"import nats",
       {"--frobnicate", "--url",
        "--url nats://x --stream s -o x.log --from-seq 99999999999999999999999",
        "--url '' --stream s -o x.log"}},
      {"report", {"run-dir --frobnicate -o x.html", "run-dir -o"}},
      {"run", {"--frobnicate", "--seed", "--seed 99999999999999999999999"}},
      {"up", {"--frobnicate", "--nats-nodes", "--nats-nodes 99999999999999999999999"}},
      {"load", {"--frobnicate", "--rate", "--publishers 99999999999999999999999"}},
  };
  for (const auto& [command, bad] : commands) {
    for (const std::string& args : bad) {
      const ShellResult r = Refused(command + " " + args);
      CHECK_THAT(r.output, Catch::StartsWith("ingestlab " + command + ": "));
      CHECK_THAT(r.output, Catch::EndsWith(" (see ingestlab " + command + " --help)\n"));
    }
  }
  SECTION("--help of each prints its usage and exits 0") {
    for (const auto& [command, bad] : commands) {
      const ShellResult r = RunIngestlab(command + " --help");
      INFO(r.output);
      CHECK(r.exit_code == 0);
      CHECK_THAT(r.output, Catch::Contains("ingestlab " + command));
      CHECK_THAT(r.output, Catch::Contains("-h,--help"));
    }
  }
}
