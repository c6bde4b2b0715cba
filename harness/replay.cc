// Replay planning and ddmin; see replay.h.
#include "harness/replay.h"

#include <algorithm>
#include <cmath>

namespace ingestlab::harness {
namespace {

int64_t Scale(int64_t offset_ms, double speed) {
  if (speed <= 0) return 0;
  return static_cast<int64_t>(std::llround(static_cast<double>(offset_ms) / speed));
}

}  // namespace

std::vector<ReplayStep> BuildReplayPlan(const sim::EventLog& log, const ReplayOptions& options) {
  std::vector<ReplayStep> steps;
  auto within = [&](int64_t offset_ms) {
    return options.until_ms < 0 || offset_ms <= options.until_ms;
  };
  for (size_t i = 0; i < log.faults.size(); ++i) {
    if (within(log.faults[i].offset_ms))
      steps.push_back({Scale(log.faults[i].offset_ms, options.speed), true, i});
  }
  for (size_t i = 0; i < log.publishes.size(); ++i) {
    const auto& p = log.publishes[i];
    if (!within(p.offset_ms)) continue;
    if (!options.only_service.empty() && p.service != options.only_service) continue;
    steps.push_back({Scale(p.offset_ms, options.speed), false, i});
  }
  std::stable_sort(steps.begin(), steps.end(), [](const ReplayStep& a, const ReplayStep& b) {
    if (a.at_ms != b.at_ms) return a.at_ms < b.at_ms;
    return a.is_fault && !b.is_fault;
  });
  return steps;
}

std::vector<size_t> Ddmin(size_t count,
                          const std::function<bool(const std::vector<size_t>&)>& still_fails,
                          int max_tests) {
  std::vector<size_t> current(count);
  for (size_t i = 0; i < count; ++i) current[i] = i;
  size_t granularity = 2;
  int tests = 0;
  while (current.size() >= 2 && tests < max_tests) {
    const size_t chunk = (current.size() + granularity - 1) / granularity;
    bool reduced = false;
    for (size_t start = 0; start < current.size() && tests < max_tests; start += chunk) {
      const size_t end = std::min(current.size(), start + chunk);
      std::vector<size_t> subset(current.begin() + static_cast<long>(start),
                                 current.begin() + static_cast<long>(end));
      ++tests;
      if (still_fails(subset)) {
        current = std::move(subset);
        granularity = 2;
        reduced = true;
        break;
      }
      std::vector<size_t> complement(current.begin(), current.begin() + static_cast<long>(start));
      complement.insert(complement.end(), current.begin() + static_cast<long>(end), current.end());
      if (complement.empty() || tests >= max_tests) continue;
      ++tests;
      if (still_fails(complement)) {
        current = std::move(complement);
        granularity = std::max<size_t>(granularity - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (granularity >= current.size()) break;
      granularity = std::min(current.size(), granularity * 2);
    }
  }
  return current;
}

}  // namespace ingestlab::harness
