// `ingestlab up` as a child process for integration tests: started with the given arguments
// and its output in a file, then waited on (60 s at most) until it prints its JSON line.
// Thread-safety: on the test thread only (Catch2 assertions).
#pragma once

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "tests/support/wait.h"

namespace ingestlab::testing {

struct UpProcess {
  std::unique_ptr<ChildProcess> process;
  std::string log_path;  // its stdout and stderr
  nlohmann::json ready;  // the JSON line it printed
};

// Runs `ingestlab up ARGS... --dir DIR/env`; the test fails unless up prints its line.
inline UpProcess StartUp(const TempDir& dir, std::vector<std::string> args) {
  UpProcess up;
  SpawnOptions spawn;
  spawn.program = INGESTLAB_CLI;
  spawn.args = {"up"};
  spawn.args.insert(spawn.args.end(), args.begin(), args.end());
  spawn.args.insert(spawn.args.end(), {"--dir", dir.Sub("env")});
  up.log_path = dir.Sub("up.log");
  spawn.log_path = up.log_path;
  auto child = ChildProcess::Spawn(spawn);
  REQUIRE(child.ok());
  up.process = std::move(child).value();
  WaitUntil(
      [&] {
        std::ifstream log(up.log_path);
        for (std::string line; std::getline(log, line);) {
          if (line.starts_with("{")) up.ready = nlohmann::json::parse(line, nullptr, false);
        }
        return up.ready.is_object() || !up.process->Running();
      },
      std::chrono::seconds(60));
  INFO(up.process->LogTail());
  REQUIRE(up.ready.is_object());
  return up;
}

}  // namespace ingestlab::testing
