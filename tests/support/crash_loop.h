// A supervisor for tests of crashes: starts a process again each time it dies, the way systemd
// or Kubernetes restarts a service, and counts how it died.
// Thread-safety: one call at a time per caller; `done` runs on the calling thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "harness/infra/process.h"

namespace ingestlab::testing {

struct CrashLoopResult {
  bool done = false;                      // `done` held while the last process ran
  std::vector<ExitStatus> deaths;         // how each earlier process ended, in order
  std::unique_ptr<ChildProcess> process;  // the last one started (running when done)
  int Crashes(int signal) const {
    int n = 0;
    for (const ExitStatus& e : deaths) n += !e.exited && e.signal == signal;
    return n;
  }
};

// Spawns `spawn` and polls `done` every 20 ms; when the process exits first it is started again,
// at most `max_starts` times in all. Gives up after `limit_ms`, leaving done false.
CrashLoopResult RunThroughCrashes(const SpawnOptions& spawn, const std::function<bool()>& done,
                                  int max_starts, int64_t limit_ms);

}  // namespace ingestlab::testing
