// Runner: carries out one scenario end to end and writes its run directory
// (<out>/<scenario>-<seed>/: scenario.yaml, events.log, result.json, ingest.db, logs/,
// report.html).
//   1. start the environment (NATS + proxies, Kafka mock, ingestd × N), each waited on;
//   2. start the simulated services at their load, recording every publish in events.log;
//   3. apply the timeline at its times (fault entries appended to events.log);
//   4. stop load at the scenario's duration, wait (bounded) for the lag to drain;
//   5. stop ingestd (SIGTERM drains), read the store and the event log, evaluate assertions;
//   6. write result.json (format: RESULT_JSON.md) and report.html.
// Each step is a phase of its own in runner.cc (PrepareDirectory, StartInfrastructure,
// StartLoad, Drain, StopSystem, Observe, Judge, Output, Teardown); the check and output phases'
// arithmetic is in run_result.h, testable without a run.
// Live progress goes to `progress` (a refreshing line on a terminal, a plain line every 5 s
// otherwise). A run that cannot be carried out gets verdict "error" naming what failed.
// Thread-safety: RunScenario blocks its caller; it may be interrupted from a signal handler
// through RequestAbort().
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/assertions.h"
#include "harness/load_source.h"
#include "harness/scenario.h"

namespace ingestlab {

struct RunOptions {
  std::string out_dir = "runs";
  std::optional<uint64_t> seed;  // overrides the scenario's
  // The origin of the payloads' event times (unix ms); default the wall clock at the run start.
  std::optional<int64_t> epoch_ms;
  std::string command;           // the command line that reproduces the run
  std::FILE* progress = stderr;  // nullptr = silent
  bool progress_is_tty = false;
  double progress_interval_s = 5;  // plain lines
  std::string run_dir;             // "": <out_dir>/<scenario>-<seed>
  // Where the messages come from: unset = the scenario's simulated services (LoadDriver);
  // a replay passes a ReplayDriver factory.
  std::function<Result<std::unique_ptr<LoadSource>>(const LoadContext&)> make_load;
  nlohmann::json result_extra = nlohmann::json::object();  // merged into result.json
};

struct RunOutcome {
  std::string scenario;
  uint64_t seed = 0;
  std::string run_dir;
  std::string verdict;  // pass | fail | error
  std::string error;
  double duration_s = 0;
  Evaluation evaluation;
  nlohmann::json result;  // what result.json holds
};

RunOutcome RunScenario(const Scenario& scenario, const RunOptions& options);

// Asks a running RunScenario to stop load and finish early (SIGINT). Async-signal-safe.
void RequestAbort();
bool AbortRequested();

// "ingestlab 0.1.0", git commit, nats-server and librdkafka versions.
nlohmann::json VersionsJson();

}  // namespace ingestlab
