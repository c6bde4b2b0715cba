// Run output for people and CI: the k6-style end-of-run summary table and the JUnit XML file
// (one testcase per assertion per scenario; failures carry the measured value and threshold).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "harness/runner.h"

namespace ingestlab {

// The summary of one run: verdict, each assertion (✓/✗ measured vs threshold), key metrics.
std::string FormatRunSummary(const RunOutcome& run, bool color);

// JUnit XML for a suite of runs.
std::string FormatJUnit(const std::vector<RunOutcome>& runs);

// "12.3 ms", "never", "1200 events".
std::string FormatMeasured(double value, const std::string& unit);

}  // namespace ingestlab
