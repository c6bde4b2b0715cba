// LoadSource: where a run's messages come from. A scenario run drives its simulated services
// (LoadDriver); a replay re-sends the entries of a recorded event log (ReplayDriver). The runner
// only sees this interface, so both go through the same environment, fault timeline, drain,
// assertions and result.json.
// Thread-safety: Start/Wait/RequestStop from the controlling thread; SetRate, Totals,
// ServiceStats and Describe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "harness/load_driver.h"
#include "harness/scenario.h"
#include "simulators/event_log.h"
#include "simulators/simulation.h"
#include "system/nats/nats_security.h"

namespace ingestlab {

// What a load source is built from: the (effective) scenario, the endpoints of the started
// environment, the run's event log (every publish goes into it) and the clock.
struct LoadContext {
  const Scenario* scenario = nullptr;
  std::string nats_urls;
  std::string kafka_bootstrap;
  sim::EventLogWriter* log = nullptr;
  Clock* clock = nullptr;
  NatsSecurity nats_security;  // credentials and TLS for nats_urls (secure runs)
};

class LoadSource {
 public:
  virtual ~LoadSource() = default;
  // Starts sending; start_unix_ms is the run's origin (offset 0 of the event log).
  virtual Status Start(int64_t start_unix_ms) = 0;
  // Blocks until everything due was sent and its outcome known (or the source was stopped).
  virtual Status Wait() = 0;
  virtual void RequestStop() = 0;
  // A timeline set_rate step. at_ms: its scheduled offset from the run's origin.
  virtual void SetRate(const std::string& service, double per_second, int64_t at_ms) = 0;
  virtual LoadTotals Totals() const = 0;
  virtual std::vector<std::pair<std::string, sim::ServiceRunStats>> ServiceStats() const = 0;
  // One line for progress output: "billing 200/s, crm 50/s", "replay of 1234 messages".
  virtual std::string Describe() const = 0;
};

}  // namespace ingestlab
