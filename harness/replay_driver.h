// ReplayDriver: the load of a replay. Re-sends the publish entries of a recorded event log —
// same transport, subject or topic, key, headers and payload bytes — at the times of a replay
// plan (harness/replay.h), and records each one with its outcome in the replay run's own event
// log, so a replay is itself a run that can be reported, replayed or shrunk.
// Publishers: JetStream (acked by PubAck), core NATS, and Kafka (idempotent producer), each
// connected only when the log has entries for it.
// Thread-safety: as LoadSource; the sending loop runs on its own thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "harness/load_source.h"
#include "simulators/publisher.h"

namespace ingestlab {

struct TimedPublish {
  int64_t at_ms = 0;  // offset from the replay's start
  size_t index = 0;   // into EventLog::publishes
  // The outcome to expect when it differs from the recorded one ("" = as recorded): a
  // duplicate whose original is not replayed is expected to be applied.
  std::string expected;
};

class ReplayDriver final : public LoadSource {
 public:
  // `log` must outlive the driver. Fails when an entry names an unknown transport, or a
  // transport whose infrastructure the topology does not start.
  static Result<std::unique_ptr<ReplayDriver>> Create(const sim::EventLog& log,
                                                      std::vector<TimedPublish> plan,
                                                      const LoadContext& context);
  ~ReplayDriver() override;

  Status Start(int64_t start_unix_ms) override;
  Status Wait() override;
  void RequestStop() override;
  void SetRate(const std::string&, double, int64_t) override {}  // the log fixes the rate
  LoadTotals Totals() const override;
  std::vector<std::pair<std::string, sim::ServiceRunStats>> ServiceStats() const override;
  std::string Describe() const override;

 private:
  ReplayDriver() = default;
  void Loop(int64_t start_unix_ms);
  sim::Publisher* PublisherFor(const std::string& transport) const;
  void Completed(const TimedPublish& step, int64_t published_ms,
                 const sim::PublishOutcome& outcome);
  const std::string& ExpectedOf(const TimedPublish& step) const {
    return step.expected.empty() ? log_->publishes[step.index].expected : step.expected;
  }

  const sim::EventLog* log_ = nullptr;
  std::vector<TimedPublish> plan_;
  LoadContext context_;
  std::unique_ptr<sim::Publisher> jetstream_, core_nats_, kafka_;
  std::string stream_;  // this driver's stream in the ordered event log
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> outstanding_{0};
  Status send_status_;
  mutable std::mutex mu_;
  std::map<std::string, sim::ServiceRunStats> stats_;
  uint64_t expected_dead_letters_ = 0;
};

}  // namespace ingestlab
