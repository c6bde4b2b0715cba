// End-to-end specification of record and replay: `ingestlab replay` of a passing run passes
// with the same state digest; a run that failed because of a planted defect (the ingestd
// mutation build applies producer duplicates twice) fails the same assertion on replay, and
// passes when replayed against the real ingestd; `ingestlab shrink` cuts that failing log down
// to a smaller one that still fails; a run killed half-way replays up to the end of its log.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "simulators/event_log.h"
#include "tests/support/cli.h"

namespace fs = std::filesystem;

namespace {

ingestlab::testing::ShellResult Run(const std::string& args, const std::string& env = "") {
  return ingestlab::testing::RunIngestlab(args, env);
}

nlohmann::json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

fs::path FreshDir(const std::string& name) {
  return ingestlab::testing::FreshTempDir("replay-" + name);
}

bool AssertionPassed(const nlohmann::json& result, const std::string& name) {
  for (const auto& a : result["assertions"]) {
    if (a["name"] == name) return a["passed"].get<bool>();
  }
  FAIL("no assertion named " << name);
  return false;
}

fs::path LogOf(const fs::path& run_dir) {
  return fs::exists(run_dir / "events.log.gz") ? run_dir / "events.log.gz" : run_dir / "events.log";
}

// Payload bytes → how many times they were sent, over a run's event log.
std::map<std::string, int> PayloadCounts(const fs::path& run_dir) {
  auto log = ingestlab::sim::ReadEventLog(LogOf(run_dir).string());
  REQUIRE(log.ok());
  std::map<std::string, int> counts;
  for (const auto& p : log->publishes) counts[p.payload]++;
  return counts;
}

size_t PublishCount(const fs::path& run_dir) {
  auto log = ingestlab::sim::ReadEventLog(LogOf(run_dir).string());
  REQUIRE(log.ok());
  return log->publishes.size();
}

const std::string kScenario =
    std::string(INGESTLAB_SOURCE_DIR) + "/tests/scenario/data/replay-duplicates.yaml";
// The mutation build plants the defect INGESTD_MUTANT names (docs/mutants.md); ingestlab passes
// its environment on to the ingestd processes it starts.
const std::string kMutantDefect = "INGESTD_MUTANT=apply_duplicates";
const std::string kMutant =
    kMutantDefect + " INGESTLAB_INGESTD=" + std::string(INGESTLAB_INGESTD_MUTANT);

}  // namespace

TEST_CASE("a passing run replays with the same verdicts and the same state digest") {
  const fs::path out = FreshDir("pass");
  auto run = Run("run " + kScenario + " --quiet --out " + out.string());
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const fs::path original = out / "replay-duplicates-5";
  const auto before = ReadJson(original / "result.json");
  REQUIRE(before["state_digest"].get<std::string>().size() == 64);

  auto replay = Run("replay " + original.string() + " --quiet");
  INFO(replay.output);
  CHECK(replay.exit_code == 0);
  CHECK(replay.output.find("replay matches the original: verdict pass; same state digest") !=
        std::string::npos);
  const fs::path replayed = out / "replay-duplicates-5-replay";
  const auto after = ReadJson(replayed / "result.json");
  CHECK(after["verdict"] == "pass");
  CHECK(after["state_digest"] == before["state_digest"]);
  CHECK(after["replay_of"]["publishes"].get<size_t>() == PublishCount(original));
  CHECK(after["replay_of"]["faults"] == 1);
  // The same bytes went out, and the paused NATS node was paused again: at speed 1 the
  // replay's own event log is the original's, byte for byte.
  CHECK(PayloadCounts(replayed) == PayloadCounts(original));
  CHECK(ingestlab::testing::ReadFileBytes(LogOf(replayed)) ==
        ingestlab::testing::ReadFileBytes(LogOf(original)));
  REQUIRE(after["timeline"].size() == 1);
  CHECK(after["timeline"][0]["action"] == "pause_nats");
  CHECK(after["timeline"][0]["until_s"].get<double>() > after["timeline"][0]["at_s"].get<double>());

  SECTION("a replay of only one service leaves the other out and skips the digest") {
    auto only = Run("replay " + original.string() + " --quiet --speed max --only crm --out " +
                    (out / "crm-only").string());
    INFO(only.output);
    CHECK(only.exit_code == 0);
    CHECK(only.output.find("state digest not compared") != std::string::npos);
    auto log = ingestlab::sim::ReadEventLog(LogOf(out / "crm-only").string());
    REQUIRE(log.ok());
    REQUIRE(!log->publishes.empty());
    for (const auto& p : log->publishes) CHECK(p.service == "crm");
  }
  fs::remove_all(out);
}

TEST_CASE("a run failed by a planted defect fails the same assertion on replay") {
  const fs::path out = FreshDir("mutant");
  auto run = Run("run " + kScenario + " --quiet --out " + out.string(), kMutant);
  INFO(run.output);
  REQUIRE(run.exit_code == 1);
  const fs::path original = out / "replay-duplicates-5";
  const auto before = ReadJson(original / "result.json");
  REQUIRE(before["verdict"] == "fail");
  REQUIRE_FALSE(AssertionPassed(before, "exactly once"));

  // Against the same defective build: the same failure, the same final state.
  auto same = Run(
      "replay " + original.string() + " --quiet --ingestd " + std::string(INGESTLAB_INGESTD_MUTANT),
      kMutantDefect);
  INFO(same.output);
  CHECK(same.exit_code == 0);
  CHECK(same.output.find("failing the same assertion: 'exactly once'; same state digest") !=
        std::string::npos);
  const auto after = ReadJson(out / "replay-duplicates-5-replay" / "result.json");
  CHECK_FALSE(AssertionPassed(after, "exactly once"));
  CHECK(after["state_digest"] == before["state_digest"]);

  // Against the real ingestd (the fix): the replay tells the outcome changed.
  auto fixed = Run("replay " + original.string() + " --quiet --out " + (out / "fixed").string());
  INFO(fixed.output);
  CHECK(fixed.exit_code == 1);
  CHECK(fixed.output.find("assertion 'exactly once' failed originally, passed in the replay") !=
        std::string::npos);

  SECTION("shrink cuts the failing log down and the result still fails") {
    auto shrink = Run("shrink " + original.string() + " --quiet --max-runs 8 --ingestd " +
                          std::string(INGESTLAB_INGESTD_MUTANT),
                      kMutantDefect);
    INFO(shrink.output);
    REQUIRE(shrink.exit_code == 0);
    const fs::path shrunk = out / "replay-duplicates-5-shrunk";
    REQUIRE(fs::exists(shrunk / "result.json"));
    CHECK_FALSE(fs::exists(out / "replay-duplicates-5-shrunk.tries"));
    const size_t kept = PublishCount(shrunk);
    CHECK(kept > 0);
    CHECK(kept * 4 <= PublishCount(original));
    const auto small = ReadJson(shrunk / "result.json");
    CHECK_FALSE(AssertionPassed(small, "exactly once"));
    CHECK(AssertionPassed(small, "no loss"));  // the failure kept is the same one, not another
    // The shrunk run is a run directory of its own: it replays to the same failure.
    auto again = Run(
        "replay " + shrunk.string() + " --quiet --ingestd " + std::string(INGESTLAB_INGESTD_MUTANT),
        kMutantDefect);
    INFO(again.output);
    CHECK(again.exit_code == 0);
    CHECK(again.output.find("failing the same assertion: 'exactly once'") != std::string::npos);
  }
  fs::remove_all(out);
}

TEST_CASE("a run killed half-way replays up to the end of its log") {
  const fs::path out = FreshDir("killed");
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string out_dir = out.string();
    execl(INGESTLAB_CLI, INGESTLAB_CLI, "run", kScenario.c_str(), "--quiet", "--out",
          out_dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const fs::path run_dir = out / "replay-duplicates-5";
  // Wait until load is under way (the log has entries), then let it run ~3 s more: mid-load.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::exists(LogOf(run_dir), ec) && fs::file_size(LogOf(run_dir), ec) > 20'000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE_FALSE(fs::exists(run_dir / "result.json"));

  // Whatever the kill left, plus a line cut off mid-write.
  {
    std::ofstream append(LogOf(run_dir), std::ios::app | std::ios::binary);
    append << R"({"kind":"publish","offset_ms":59000,"service":"billing","seq":)";
  }
  const size_t logged = PublishCount(run_dir);
  REQUIRE(logged > 0);
  auto replay = Run("replay " + run_dir.string() + " --quiet");
  INFO(replay.output);
  CHECK(replay.output.find("cut-off line") != std::string::npos);
  CHECK(replay.output.find("no original result.json to compare with: replay pass") !=
        std::string::npos);
  CHECK(replay.exit_code == 0);
  const fs::path replayed = out / "replay-duplicates-5-replay";
  CHECK(PublishCount(replayed) == logged);
  CHECK(PayloadCounts(replayed) == PayloadCounts(run_dir));
  fs::remove_all(out);
}
