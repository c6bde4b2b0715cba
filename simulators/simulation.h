// ServiceRun: drives one simulated service — its message stream (generator + faults), the
// arrival scheduler, a Publisher and the event log — in real (or manual) time.
// For each scheduled arrival it waits until the due time on the Clock, takes the next message
// (event time = start_unix_ms + scheduled offset), appends it to the event log at its scheduled
// offset, publishes it and records the outcome (the log's sidecar) when the broker answers. The
// run is one stream of an ordered log: its watermark is the next due time. When the publisher
// cannot keep up, messages go out late (counted when later than late_bound) and, at the end of a
// timed run, arrivals that were due but still unsent 100 ms after the end are counted as
// shortfall — never silently dropped (this run's log entries are then a shorter prefix of an
// unhurried run's). Held-back (out-of-order) messages still held at the natural end go out at
// the end of the duration (or the last due time of a counted run); a stopped run neither sends
// them nor finishes its stream, so its log stays a prefix.
// Thread-safety: Run on one thread; SetRate, RequestStop and stats from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log_histogram.h"
#include "common/status.h"
#include "simulators/event_log.h"
#include "simulators/faults.h"
#include "simulators/load_shape.h"
#include "simulators/publisher.h"

namespace ingestlab::sim {

struct ServiceRunOptions {
  StreamOptions stream;
  LoadShape shape;
  double duration_seconds = 0;   // 0 = until count or RequestStop
  uint64_t count = 0;            // messages to send; 0 = until duration or RequestStop
  int64_t start_unix_ms = 0;     // the virtual clock's origin for event times
  int64_t late_bound_ms = 1000;  // later than this counts as late
  std::chrono::milliseconds flush_timeout{30000};  // wait for acks at the end
  // Called on the run's thread for every message just before it is published, with the time
  // it was scheduled for (start_unix_ms + its offset). Must be quick and must not block.
  std::function<void(const PlannedMessage&, int64_t scheduled_unix_ms)> on_send;
};

struct ServiceRunStats {
  uint64_t sent = 0;  // publishes handed to the broker client
  uint64_t acked = 0;
  uint64_t failed = 0;     // publish completed without an ack
  uint64_t retried = 0;    // publishes that needed more than one attempt
  uint64_t shortfall = 0;  // due before the end but never sent
  uint64_t late = 0;       // sent later than late_bound after their due time
  int64_t max_lateness_ms = 0;
  std::map<std::string, uint64_t> expected;   // expected outcome → messages sent
  double p50_ms = 0, p99_ms = 0, max_ms = 0;  // publish → ack latency
  LogHistogram publish_latency;               // the same, as a histogram (fixed size)
  double elapsed_seconds = 0;
};

class ServiceRun {
 public:
  // The publisher and log (may be null) are not owned and must outlive the run. Completion
  // callbacks refer to the run, so a run must outlive its publisher's Close().
  static Result<std::unique_ptr<ServiceRun>> Create(const ServiceRunOptions& options,
                                                    Publisher* publisher, EventLogWriter* log,
                                                    Clock* clock);

  // Runs to the end (duration, count or RequestStop), then flushes. OK even if some publishes
  // failed (see stats); an error only for a broken setup (e.g. the log cannot be written).
  Status Run();
  // Changes the arrival rate from now on.
  void SetRate(double per_second);
  // Changes the arrival rate from offset at_ns on (the harness's rate steps). Before Run this
  // plans the change exactly; during a run it takes effect at at_ns, or as soon as possible when
  // arrivals after at_ns were already sent.
  void SetRate(double per_second, int64_t at_ns);
  // Ends the run early; remaining arrivals are not counted as shortfall.
  void RequestStop() { stop_.store(true); }
  ServiceRunStats stats() const;
  const MessageStream& stream() const { return *stream_; }
  const std::string& service() const { return options_.stream.service; }

 private:
  ServiceRun(const ServiceRunOptions& options, std::unique_ptr<MessageStream> stream,
             Publisher* publisher, EventLogWriter* log, Clock* clock);
  void Send(PlannedMessage message, int64_t scheduled_ns);
  int64_t OffsetNanos() const { return clock_->NowMonoNanos() - start_mono_ns_; }

  // Arrivals due before the end of the duration are still sent up to this long after it.
  static constexpr int64_t kEndGraceNanos = 100'000'000;

  ServiceRunOptions options_;
  std::unique_ptr<MessageStream> stream_;
  ArrivalScheduler scheduler_;
  Publisher* publisher_;
  EventLogWriter* log_;
  Clock* clock_;
  int64_t start_mono_ns_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> rate_changed_{false};
  std::atomic<int64_t> rate_change_at_ns_{0};
  std::string log_stream_;  // this run's stream in the event log

  mutable std::mutex mu_;
  ServiceRunStats stats_;
  LogHistogram latencies_;  // publish → ack
  Status log_status_;
};

// Percentile (0..100) of values, nearest rank; 0 for an empty set. Sorts the vector.
double Percentile(std::vector<int64_t>& values, double p);

}  // namespace ingestlab::sim
