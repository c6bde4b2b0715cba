// Stalls: stretches of a run where events were waiting (lag > 0) but nothing was committed or
// dead-lettered, and no fault explains it. A fault explains the time from its start until a
// recovery allowance after it was undone (reconnecting takes a moment). The report marks stalls
// so that latency no fault accounts for is seen, not averaged away.
// Thread-safety: pure function.
#pragma once

#include <vector>

#include "harness/assertions.h"

namespace ingestlab {

struct Stall {
  double from_s = 0;  // seconds after start: the last sample before nothing was committed
  double to_s = 0;    // the first sample at which commits resumed (or the last sample)
  double max_lag = 0;
};

inline constexpr double kStallRecoveryAllowanceS = 5;

// `t_s`, `ingest_rate` (outcomes per second over the interval ending at the sample) and `lag`
// are the run's once-a-second samples, all the same length.
std::vector<Stall> FindStalls(const std::vector<double>& t_s, const std::vector<double>& ingest_rate,
                              const std::vector<double>& lag, const std::vector<FaultWindow>& faults);

}  // namespace ingestlab
