// Polling with a deadline, for tests that wait on another process or thread.
// Thread-safety: stateless; `done` runs on the calling thread.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace ingestlab::testing {

// Polls `done` every `poll` until it returns true or `timeout` passes; then asks once more, so
// a condition that became true right at the deadline still counts.
inline bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

}  // namespace ingestlab::testing
