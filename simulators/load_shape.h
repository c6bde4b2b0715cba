// Load shapes and the arrival scheduler: an open model like k6's arrival-rate executors. The
// scheduler decides when each event is due (an offset from the run's start); the publisher's
// speed does not change the schedule, so a publisher that cannot keep up shows as lateness and
// shortfall instead of a silently lower rate.
// Shapes ("--shape"):
//   constant                 the base rate (--rate) throughout
//   poisson                  exponential gaps with mean 1/rate (seeded)
//   ramp:FROM:TO[:D]         rate moves linearly from FROM to TO over D (default: the run's
//                            duration), then stays at TO
//   spike:PEAK:AT:LEN        the base rate, except PEAK from AT for LEN (e.g. spike:5000:10s:2s)
// SetRate adds a step to the schedule at runtime (the harness's rate changes).
// Thread-safety: ArrivalScheduler::Next is single-threaded; SetRate may be called from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/rng.h"
#include "common/status.h"

namespace ingestlab::sim {

// "10s", "500ms", "2m", "1h", "1.5s", or a bare number of seconds → seconds.
Result<double> ParseDurationSeconds(std::string_view text);

struct LoadShape {
  enum class Kind { kConstant, kPoisson, kRamp, kSpike };
  Kind kind = Kind::kConstant;
  double rate = 100;        // events/s: constant, poisson mean, spike base
  double from = 0, to = 0;  // ramp
  double ramp_seconds = 0;
  double peak = 0;  // spike
  double spike_at_seconds = 0;
  double spike_seconds = 0;

  // duration_seconds fills in a ramp without an explicit D (0 = 60 s).
  static Result<LoadShape> Parse(std::string_view spec, double rate, double duration_seconds);
  // The intended rate at t seconds after the start.
  double RateAt(double t_seconds) const;
  std::string ToString() const;
};

class ArrivalScheduler {
 public:
  ArrivalScheduler(const LoadShape& shape, uint64_t seed);

  // The offset (ns from the start) at which the next event is due; non-decreasing. Returns
  // INT64_MAX if the rate stays zero for more than an hour of virtual time.
  int64_t Next();
  // From offset at_ns on, the rate is `per_second` (replacing the shape and earlier steps).
  void SetRate(double per_second, int64_t at_ns);
  // Makes the next arrival due at at_ns if it was due later (after a rate change, so a long gap
  // computed at the old rate is not waited out). Single-threaded, like Next.
  void ResetTo(int64_t at_ns);
  double RateAt(double t_seconds) const;

 private:
  LoadShape shape_;
  Rng rng_;
  double t_ = 0;  // seconds: the next arrival
  mutable std::mutex mu_;
  std::vector<std::pair<double, double>> steps_;  // (from t seconds, rate), sorted by t
};

}  // namespace ingestlab::sim
