// Child processes in tests: waiting for the HTTP port a child writes to a file, and stopping it
// with SIGTERM the way a supervisor would.
// Thread-safety: stateless; the ChildProcess is used by the calling thread only.
#pragma once

#include <chrono>
#include <csignal>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "harness/infra/process.h"
#include "tests/support/wait.h"

namespace ingestlab::testing {

// Waits until `child` writes a port number (> 0) to `port_file`; that port, or 0 when the child
// exits first or `timeout` passes.
inline int AwaitPortFile(const std::string& port_file, ChildProcess& child,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  int port = 0;
  WaitUntil(
      [&] {
        std::ifstream in(port_file);
        int p = 0;
        if (in >> p && p > 0) {
          port = p;
          return true;
        }
        return !child.Running();
      },
      timeout);
  return port;
}

// Sends SIGTERM, which must reach the child (it has not exited by itself), and waits up to 15 s
// for the exit, which must be observed; how it ended.
inline ExitStatus Terminate(ChildProcess& child) {
  REQUIRE(child.Signal(SIGTERM).ok());
  auto exit = child.WaitExit(15'000);
  REQUIRE(exit.ok());
  return *exit;
}

}  // namespace ingestlab::testing
