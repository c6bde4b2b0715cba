#include "tests/support/crash_loop.h"

#include <chrono>
#include <thread>

namespace ingestlab::testing {

CrashLoopResult RunThroughCrashes(const SpawnOptions& spawn, const std::function<bool()>& done,
                                  int max_starts, int64_t limit_ms) {
  CrashLoopResult result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
  for (int start = 0; start < max_starts; ++start) {
    auto child = ChildProcess::Spawn(spawn);
    if (!child.ok()) return result;
    result.process = std::move(child).value();
    while (std::chrono::steady_clock::now() < deadline && result.process->Running()) {
      if (done()) {
        result.done = true;
        return result;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto how = result.process->WaitExit(2'000);
    if (!how.ok()) return result;  // out of time, still running
    result.deaths.push_back(*how);
  }
  return result;
}

}  // namespace ingestlab::testing
