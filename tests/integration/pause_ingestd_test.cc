// pause_ingestd against real processes: a paused ingestd stops answering until its `for:` ends,
// and no way out of a run leaves it stopped — the undo, the injector going away (an error path),
// and the SIGTERM of the run's end or of Ctrl-C, which must continue it first or wait forever.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "harness/environment.h"
#include "harness/fault_injector.h"

using namespace ingestlab;
namespace fs = std::filesystem;

namespace {

struct PausedEnv {
  PausedEnv() {
    setenv("INGESTLAB_INGESTD", INGESTLAB_INGESTD, 1);
    dir = fs::temp_directory_path() / ("pause_ingestd_test_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    EnvironmentOptions o;
    o.nats_nodes = 1;
    o.kafka_brokers = 0;
    o.ingestd_count = 2;
    o.proxies = false;
    o.dir = dir.string();
    auto e = Environment::Start(o);
    INFO(e.status().message());
    REQUIRE(e.ok());
    env = std::move(e.value());
  }
  ~PausedEnv() {
    env.reset();
    fs::remove_all(dir);
  }
  bool Answers(int i) { return env->instance(i).FetchHealth(400).ok(); }

  fs::path dir;
  std::unique_ptr<Environment> env;
};

TimelineStep Pause(const std::string& target) {
  TimelineStep step;
  step.action = "pause_ingestd";
  step.target = target;
  step.for_s = 5;
  step.line = 7;
  return step;
}

}  // namespace

TEST_CASE("pause_ingestd stops exactly its target until it is resumed") {
  PausedEnv p;
  REQUIRE(p.Answers(0));
  REQUIRE(p.Answers(1));

  SECTION("the undo at the end of 'for:' continues it") {
    FaultInjector injector(p.env.get(), nullptr);
    const TimelineStep step = Pause("ingestd-1");
    REQUIRE(injector.Apply(step).ok());
    CHECK_FALSE(p.Answers(1));
    CHECK(p.Answers(0));  // the other instance carries on
    REQUIRE(injector.Undo(step).ok());
    CHECK(p.Answers(1));
  }
  SECTION("an injector that goes away without the undo (an error path) continues it") {
    {
      FaultInjector injector(p.env.get(), nullptr);
      REQUIRE(injector.Apply(Pause("all")).ok());
      CHECK_FALSE(p.Answers(0));
      CHECK_FALSE(p.Answers(1));
    }
    CHECK(p.Answers(0));
    CHECK(p.Answers(1));
  }
  SECTION("the run's SIGTERM (its end, or Ctrl-C) continues it first, so it drains and exits 0") {
    FaultInjector injector(p.env.get(), nullptr);
    REQUIRE(injector.Apply(Pause("ingestd-0")).ok());
    const auto start = std::chrono::steady_clock::now();
    const auto exits = p.env->StopSystem();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(exits.size() == 2);
    CHECK(exits[0] == "ingestd-0: exit 0");
    CHECK(exits[1] == "ingestd-1: exit 0");
    CHECK(seconds < 10);  // not the 15 s grace that ends in SIGKILL
    CHECK_FALSE(p.env->instance(0).running());
  }
  SECTION("a target that does not exist is an error naming it") {
    FaultInjector injector(p.env.get(), nullptr);
    Status st = injector.Apply(Pause("ingestd-2"));
    REQUIRE_FALSE(st.ok());
    CHECK_THAT(st.message(), Catch::Contains("target 'ingestd-2' does not exist (have 2)"));
    CHECK(p.Answers(0));
    CHECK(p.Answers(1));
  }
}
