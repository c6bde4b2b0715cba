// Replay planning: turns a recorded event log into the timed list of steps a replay drives
// (publishes and faults, scaled by speed, cut at --until, filtered by --only), and the ddmin
// search used by shrink. Pure functions; safe to call from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "simulators/event_log.h"

namespace ingestlab::harness {

struct ReplayOptions {
  double speed = 1.0;        // <= 0 means "max": every step at offset 0
  int64_t until_ms = -1;     // < 0: no cut-off; otherwise drop steps with offset_ms > until_ms
  std::string only_service;  // "": all services; faults are always kept
};

struct ReplayStep {
  int64_t at_ms = 0;  // when to perform the step, relative to replay start
  bool is_fault = false;
  size_t index = 0;  // index into EventLog::publishes or EventLog::faults
};

// Steps ordered by at_ms (faults before publishes at the same instant, then by log order).
std::vector<ReplayStep> BuildReplayPlan(const sim::EventLog& log, const ReplayOptions& options);

// Zeller's ddmin: the smallest subset (1-minimal) of 0..count-1 for which still_fails holds,
// given that it holds for the full set. Stops after max_tests predicate calls.
std::vector<size_t> Ddmin(size_t count,
                          const std::function<bool(const std::vector<size_t>&)>& still_fails,
                          int max_tests);

}  // namespace ingestlab::harness
