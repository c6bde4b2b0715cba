// `ingestlab report RUN_DIR... -o FILE.html`: HTML report for one run, or a suite index for
// several.
//
// One run directory (or a result.json path) writes that run's report to FILE.html. Several
// write each run's report to <RUN_DIR>/report.html (beside the index when the run directory is
// not writable) and a suite index at FILE.html linking to them. A directory that holds run
// directories instead of a result.json (an `ingestlab run --out` folder) stands for all of them.
// A load test's result.json ("kind": "load", written by `ingestlab load`) gets the load report
// (load_report.h) instead of the run report, alone or in a suite.
// Exit codes: 0 written; 1 a report could not be written; 2 bad usage or a missing/invalid
// result.json (the one-line error on stderr names the file).
// Thread-safety: call from one thread; writes files and stdout/stderr.
#pragma once

namespace ingestlab {

// argv[0] is the command word ("report"); options and run directories follow.
int RunReportCommand(int argc, char** argv);

}  // namespace ingestlab
