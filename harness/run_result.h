// The check and output phases of a run as pure functions: from what a run observed (its
// RunObservations, the load's totals, the per-second samples) to the verdict and each part of
// result.json (format: RESULT_JSON.md). Nothing here starts a process or reads a file, so each
// part can be tested on made-up observations.
// Thread-safety: free functions on their arguments only.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/assertions.h"
#include "harness/load_driver.h"
#include "harness/scenario.h"
#include "harness/stalls.h"
#include "simulators/simulation.h"

namespace ingestlab {

// What the drain phase sampled about once a second; every vector has one value per sample.
struct RunSeries {
  std::vector<double> t_s, publish_rate, ingest_rate, lag, retries, dead_letters, reconnects;
};

// v rounded to `digits` decimals; non-finite values unchanged.
double RoundTo(double v, int digits = 3);

// {"nats_nodes", "kafka_brokers", "ingestd"}: result.json's and events.log's topology.
nlohmann::json TopologyJson(const TopologySpec& t);

// A result.json with every field present and verdict "error", before anything ran.
nlohmann::json BaseResult(const Scenario& s, uint64_t seed, const std::string& command,
                          int64_t started_ms);

// "ingestd stops cleanly": passes when every exit description (one per instance that was
// running at the end, as Environment::StopSystem gives them) says "exit 0".
// `system` names what was stopped ("ingestd"), `signal` how ("SIGTERM").
AssertionResult CleanShutdownResult(const std::vector<std::string>& exits,
                                    const std::string& system = "ingestd",
                                    const std::string& signal = "SIGTERM");

// "error" when the run could not judge (aborted, a timeline action or the load failed, the
// reference model did not run); otherwise "pass" when every assertion passed, else "fail".
std::string Verdict(const Evaluation& ev, bool aborted, bool timeline_failed, bool load_failed,
                    bool state_checked);

// result.json's "assertions", "metrics", "series", "latency_histogram", "offending_events",
// "stalls" and "reference_model". `latencies_ms` are EventLatenciesMs(obs).
nlohmann::json AssertionsJson(const Evaluation& ev);
nlohmann::json MetricsJson(
    const RunObservations& obs, const std::vector<double>& latencies_ms, const LoadTotals& totals,
    const std::vector<std::pair<std::string, sim::ServiceRunStats>>& service_stats);
nlohmann::json SeriesJson(const RunSeries& series, const RunObservations& obs);
nlohmann::json LatencyHistogramJson(const std::vector<double>& latencies_ms);
nlohmann::json OffendingEventsJson(const Evaluation& ev);
nlohmann::json StallsJson(const std::vector<Stall>& stalls);
nlohmann::json ReferenceModelJson(const RunObservations& obs);
// The context reads of a `context:` run: counts by status, latency percentiles, partial answers
// by missing source, and each breaker's state changes per instance ([t_s, state] pairs).
nlohmann::json ContextJson(const RunObservations& obs);

}  // namespace ingestlab
