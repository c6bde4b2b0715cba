// `ingestlab load`: open-model load against the embedded infrastructure (started by the command
// itself) or any endpoints, with latency measured from each event's scheduled send time to its
// commit, a saturation search (--find-max), live progress, result.json and an HTML report.
// docs/load.md describes the workload format, the measurements and the output.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "harness/scenario.h"

namespace ingestlab {

// One stretch of load at a planned rate: constant (from == to) or a linear ramp.
struct LoadStep {
  double rate_from = 0;
  double rate_to = 0;
  double duration_s = 0;
};

// The steps a fixed, ramp or steps workload runs, in order. find_max plans its steps as it
// goes (see PlanNextFindMaxRate). REQUIRES: scenario.load is set.
std::vector<LoadStep> PlanLoadSteps(const Scenario& scenario);

// The saturation search: given the rates that passed and failed so far (in the order run), the
// next rate to try, or 0 when the search is over. Doubles from load.start_rate until a step
// fails or load.max_rate passed, then bisects between the highest pass and the lowest fail
// until they are within load.precision of each other (at most 6 bisections).
double PlanNextFindMaxRate(const LoadSpec& load, const std::vector<std::pair<double, bool>>& tried);

// Each service's share of the total rate: its `rate` as a weight. Sums to 1.
std::vector<double> ServiceWeights(const Scenario& scenario);

// The command; argv[0] is "load". Exit 0 every threshold held, 1 some failed or the run
// errored, 2 bad usage or workload.
int RunLoadCommand(int argc, char** argv);

}  // namespace ingestlab
