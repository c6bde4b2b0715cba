// End-to-end specification of the event log's determinism: `ingestlab run` of the same scenario
// with the same --seed and --epoch writes a byte-identical events.log (two services, one on
// Kafka, message faults, orphans, a rate step, an ingestd kill and restart); another seed gives
// another log; a run interrupted with SIGINT leaves a log whose lines are a prefix of the full
// run's. Runs go two at a time (also showing that a busy machine does not change the bytes).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/cli.h"

extern char** environ;

namespace fs = std::filesystem;

namespace {

constexpr const char* kEpoch = "1700000000000";

fs::path FreshDir(const std::string& name) {
  return ingestlab::testing::FreshTempDir("detlog-" + name);
}

std::string ReadFile(const fs::path& p) { return ingestlab::testing::ReadFileBytes(p); }

// The complete lines of a text (a cut-off last line is left out).
std::vector<std::string> CompleteLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  for (size_t end; (end = text.find('\n', pos)) != std::string::npos; pos = end + 1) {
    lines.push_back(text.substr(pos, end - pos));
  }
  return lines;
}

// `ingestlab run SCENARIO --seed N --epoch E --out DIR --quiet`, output to DIR/output.txt.
class IngestlabRun {
 public:
  IngestlabRun(const std::string& seed, const fs::path& out) : out_(out) {
    fs::create_directories(out);
    const std::string scenario =
        std::string(INGESTLAB_SOURCE_DIR) + "/tests/scenario/data/deterministic-log.yaml";
    std::vector<std::string> args = {INGESTLAB_CLI, "run",  scenario, "--seed",     seed,
                                     "--epoch",     kEpoch, "--out",  out.string(), "--quiet"};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string output = (out / "output.txt").string();
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, INGESTLAB_CLI, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
    log_ = out / ("deterministic-log-" + seed) / "events.log";
  }
  ~IngestlabRun() {
    if (pid_ > 0) {  // a failed check left it running
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for the exit (bounded); the exit code, or -1 when it had to be killed.
  int Wait(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // Waits until the event log exists (the load has started); false after `limit`.
  bool WaitForLog(std::chrono::seconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!fs::exists(log_)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  void Interrupt() const { ::kill(pid_, SIGINT); }
  const fs::path& log() const { return log_; }
  std::string output() const { return ReadFile(out_ / "output.txt"); }

 private:
  fs::path out_;
  fs::path log_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("the same scenario, seed and epoch give a byte-identical events.log") {
  const fs::path dir = FreshDir("runs");
  std::string first, other_seed;
  // Four runs at once (the log's bytes do not depend on timing): seed 5, seed 6, seed 5 again,
  // and seed 5 interrupted after about 4 s of load.
  IngestlabRun a("5", dir / "a");
  IngestlabRun c("6", dir / "c");
  IngestlabRun b("5", dir / "b");
  IngestlabRun d("5", dir / "d");
  REQUIRE(d.WaitForLog(std::chrono::seconds(40)));
  std::this_thread::sleep_for(std::chrono::seconds(4));
  d.Interrupt();
  {
    const int a_exit = a.Wait(std::chrono::seconds(90));
    const int c_exit = c.Wait(std::chrono::seconds(90));
    INFO(a.output() << "\n" << c.output());
    REQUIRE((a_exit == 0 || a_exit == 1));  // a verdict, not a crash or a hang
    REQUIRE((c_exit == 0 || c_exit == 1));
    first = ReadFile(a.log());
    other_seed = ReadFile(c.log());
  }
  const std::vector<std::string> lines = CompleteLines(first);
  REQUIRE(lines.size() > 1000);
  const auto header = nlohmann::json::parse(lines[0]);
  CHECK(header["epoch_ms"] == 1'700'000'000'000LL);
  CHECK_FALSE(header.contains("started_at_ms"));  // the wall clock lives in events.acks
  CHECK(ReadFile(dir / "a" / "deterministic-log-5" / "events.acks")
            .rfind("{\"kind\":\"run\",\"started_at_ms\":", 0) == 0);
  size_t faults = 0, kafka = 0, orphans = 0;
  for (const auto& line : lines) {
    faults += line.find("\"kind\":\"fault\"") != std::string::npos;
    kafka += line.find("\"transport\":\"kafka\"") != std::string::npos;
    orphans += line.find("dead_letter:max_deliveries") != std::string::npos;
  }
  CHECK(faults == 3);  // set_rate, kill_ingestd and its undo (the restart)
  CHECK(kafka > 300);
  CHECK(orphans > 5);

  SECTION("again: identical bytes; another seed: different; interrupted: a prefix") {
    const int d_exit = d.Wait(std::chrono::seconds(60));
    const int b_exit = b.Wait(std::chrono::seconds(90));
    INFO(b.output() << "\n" << d.output());
    REQUIRE((b_exit == 0 || b_exit == 1));
    CHECK(d_exit == 1);  // an interrupted run is an error

    const std::string again = ReadFile(b.log());
    CHECK(again.size() == first.size());
    CHECK(again == first);
    CHECK(other_seed != first);
    const std::vector<std::string> other_lines = CompleteLines(other_seed);
    REQUIRE(other_lines.size() > 1000);
    CHECK(other_lines[0] != lines[0]);  // the header names the seed
    CHECK(other_lines[1] != lines[1]);  // and the payloads differ

    const std::vector<std::string> cut = CompleteLines(ReadFile(d.log()));
    INFO("interrupted log: " << cut.size() << " of " << lines.size() << " lines");
    CHECK(cut.size() > 200);  // about 4 s of load
    CHECK(cut.size() < lines.size());
    size_t same = 0;
    while (same < cut.size() && cut[same] == lines[same]) ++same;
    CHECK(same == cut.size());
  }
  fs::remove_all(dir);
}
