// The judgement of a run's context API reads (context_consistent): read-your-writes against the
// reference model, and tenant isolation.
//
// A read of customer C sent at `start` and answered at `end` sees the store at some moment in
// between. The events of C that the store holds are ordered by committed_at; the states the read
// may show are the reference model's customers row of C after each prefix of them that holds
// every event committed at least `slack_ms` before `start` (committed_at is stamped inside the
// event's transaction, shortly before it commits) and none committed after `end`. So:
// - a 200 answer's lifetime_value must equal that of one of those states (a stale cache, a lagging
//   replica or a wrong sum shows as a value none of them has), and C must exist in one of them
//   with the token's organisation (a customer only events without one touched has none yet);
// - a 404 for a customer of the token's own organisation is only right when C does not exist
//   with that organisation in the earliest of them;
// - with another organisation's token the answer must be 404, and a 200 answer's org_id must be
//   the token's organisation (no tenant ever sees another's customer);
// - every read must be answered with 200 or 404, except one sent while a disruptive fault (an
//   instance killed, stopped or paused) was in effect, which may go unanswered.
// A read during which more than kMaxStatesPerRead prefixes committed is checked for existence
// and isolation only (counted in `unjudged`).
// Thread-safety: a pure function of its inputs.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "harness/assertions.h"

namespace ingestlab {

struct ContextProblem {
  ContextRead read;
  std::string problem;  // stale context | another tenant's customer | unanswered read | ...
  std::string expected;
  std::string observed;
};

struct ContextConsistency {
  size_t reads = 0;
  size_t ok = 0;
  size_t stale = 0;         // a value, an existence or a 404 no allowed state explains
  size_t leaks = 0;         // a customer shown to another organisation
  size_t failed = 0;        // unanswered (outside a disruptive fault) or any other status
  size_t excused = 0;       // unanswered during a disruptive fault
  size_t unjudged = 0;      // too many commits during the read to enumerate its states
  size_t cross_tenant = 0;  // reads sent with another organisation's token
  std::vector<ContextProblem> problems;  // at most kMaxOffending of each problem
};

inline constexpr size_t kMaxStatesPerRead = 64;
inline constexpr double kDefaultContextSlackMs = 1000;

ContextConsistency CheckContextReads(const RunObservations& obs, double slack_ms);

}  // namespace ingestlab
