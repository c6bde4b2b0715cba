// `ingestlab report` run inside the test process, for the report tests.
// Thread-safety: as RunCapturing (tests/support/capture.h): one call at a time.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "reports/report_command.h"
#include "tests/support/capture.h"

namespace ingestlab::testing {

// `ingestlab report ARGS...` in this process, with stdout and stderr captured.
inline CommandOutcome RunReportCli(std::vector<std::string> args) {
  args.insert(args.begin(), "report");
  return RunCapturing(RunReportCommand, std::move(args));
}

}  // namespace ingestlab::testing
