// LoadDriver: the simulated services of a scenario running against the environment — one
// sim::ServiceRun per service (generator + message faults + arrival schedule) on its own
// thread, publishing through shared NATS (JetStream) and Kafka publishers, every publish
// recorded in the event log; plus the harness's own "orphan" fault: events whose dependency
// never exists, which ingestd must retry and then dead-letter with reason max_deliveries.
// Determinism: every service and orphan stream is a stream of the (ordered) event log and is
// scheduled on its own virtual timeline from the run start; the timeline's set_rate steps are
// planned into the schedules at Start, so they take effect exactly at their `at` even when the
// timeline thread applies them late. Event times are start_unix_ms + the scheduled offset.
// Thread-safety: Start/Wait/Stop from the controlling thread; SetRate and Totals from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "harness/scenario.h"
#include "simulators/event_log.h"
#include "simulators/publisher.h"
#include "simulators/simulation.h"
#include "system/nats/nats_security.h"

namespace ingestlab {

// Event logs of runs expected to publish more than this many events (the sum over services of
// rate x duration) are written gzip-compressed: at ~0.5 KB a line, 200,000 publishes are about
// 100 MB of plain text, where compression starts to pay for its CPU.
inline constexpr double kCompressEventLogAbovePublishes = 200'000;
bool ShouldCompressEventLog(const Scenario& scenario);

// Orphans are logged with seq kOrphanSeqBase + n, apart from their service's own sequence, so
// (service, seq) stays unique in the log.
inline constexpr uint64_t kOrphanSeqBase = 1'000'000'000'000ULL;

struct LoadTotals {
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint64_t failed = 0;
  uint64_t shortfall = 0;
  uint64_t expected_dead_letters = 0;  // acked or not: sent with a dead_letter expectation
};

class LoadDriver {
 public:
  // Connects the publishers; nothing is sent before Start.
  static Result<std::unique_ptr<LoadDriver>> Create(const Scenario& scenario,
                                                    const std::string& nats_urls,
                                                    const std::string& kafka_bootstrap,
                                                    sim::EventLogWriter* log, Clock* clock,
                                                    const NatsSecurity& nats_security = {});
  ~LoadDriver();  // RequestStop + join

  // Called for every message a service is about to publish, with its scheduled time (see
  // sim::ServiceRunOptions::on_send). Set before Start; called from the services' threads.
  void SetSendObserver(
      std::function<void(const sim::PlannedMessage&, int64_t scheduled_unix_ms)> observer) {
    send_observer_ = std::move(observer);
  }

  // Starts every service at start_unix_ms (the run's origin for event times).
  Status Start(int64_t start_unix_ms);
  // Blocks until every service finished its duration and flushed (or was stopped).
  Status Wait();
  void RequestStop();
  // service "all" changes every service; rates are per service. at_ms >= 0: from that offset
  // since the run start on (a step planned at Start is already in effect and not applied twice);
  // at_ms < 0: from now.
  void SetRate(const std::string& service, double per_second, int64_t at_ms = -1);
  LoadTotals Totals() const;
  // Per service: sent, acked, failed (for result.json).
  std::vector<std::pair<std::string, sim::ServiceRunStats>> ServiceStats() const;
  // Short description of the load for progress lines: "billing 200/s, crm 50/s".
  std::string Describe() const;

 private:
  LoadDriver() = default;
  void OrphanLoop(const std::string& service, const std::string& transport, double per_second,
                  int64_t start_unix_ms, const std::string& log_stream);

  const Scenario* scenario_ = nullptr;
  sim::EventLogWriter* log_ = nullptr;
  Clock* clock_ = nullptr;
  std::unique_ptr<sim::Publisher> nats_;
  std::unique_ptr<sim::Publisher> kafka_;
  struct Service {
    std::string name;
    const ServiceSpec* spec = nullptr;
    std::string transport;
    double rate = 0;
    double orphan_share = 0;
    std::unique_ptr<sim::ServiceRun> run;
    std::thread thread;
    Status status;
  };
  std::vector<std::unique_ptr<Service>> services_;
  std::vector<std::thread> orphan_threads_;
  std::set<std::pair<std::string, int64_t>> planned_rates_;  // (service, at_ms), set at Start
  std::function<void(const sim::PlannedMessage&, int64_t)> send_observer_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> orphan_sent_{0}, orphan_acked_{0}, orphan_failed_{0};
  std::atomic<uint64_t> orphan_outstanding_{0};
};

}  // namespace ingestlab
