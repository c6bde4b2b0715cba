// Stalls: intervals with lag, no outcomes and no fault.
#include "harness/stalls.h"

#include <algorithm>

namespace ingestlab {

std::vector<Stall> FindStalls(const std::vector<double>& t_s, const std::vector<double>& ingest_rate,
                              const std::vector<double>& lag, const std::vector<FaultWindow>& faults) {
  std::vector<Stall> out;
  const size_t n = std::min({t_s.size(), ingest_rate.size(), lag.size()});
  auto explained = [&](double from, double to) {
    for (const auto& f : faults) {
      const double end = std::max(f.at_s, f.recovered_s) + kStallRecoveryAllowanceS;
      if (f.at_s <= to && from <= end) return true;
    }
    return false;
  };
  bool open = false;
  for (size_t i = 1; i < n; ++i) {
    // The interval (t[i-1], t[i]]: something waited at both ends and nothing was settled.
    const bool stalled = ingest_rate[i] <= 0 && lag[i] > 0 && lag[i - 1] > 0 &&
                         !explained(t_s[i - 1], t_s[i]);
    if (stalled) {
      if (!open) {
        out.push_back({t_s[i - 1], t_s[i], std::max(lag[i - 1], lag[i])});
        open = true;
      } else {
        out.back().to_s = t_s[i];
        out.back().max_lag = std::max(out.back().max_lag, lag[i]);
      }
    } else {
      open = false;
    }
  }
  return out;
}

}  // namespace ingestlab
