// FaultInjector: applies a scenario's timeline actions to the real environment — kill -9 or
// stop (its stop signal) an instance of the system under test, kill/stop/pause nats-server nodes, Kafka mock broker faults, proxy network
// faults, a held SQLite write lock, a DLQ stream that takes nothing, load rate changes, SIGSTOP
// of an instance (a stand-in for a long GC pause), a slow, erroring or unreachable downstream
// service of the context API — and undoes them (`for:`). The *_ingestd
// actions work on any system under test: ingestd's instances or a `system:` section's.
// Targets: "ingestd-N" (or "system-N"), "nats-N" (0-based), "broker-N" (Kafka broker id, 1-based), "all";
// an empty target means instance 0 (broker 1). set_rate's target is a service name or "all".
// Thread-safety: Apply/Undo from one thread (the timeline thread); the DB-lock holder runs on
// its own thread, joined by the destructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "harness/environment.h"
#include "harness/scenario.h"

namespace ingestlab {

class FaultInjector {
 public:
  // at_ms: the step's scheduled time (ms since the run start), where the new rate begins.
  using SetRateFn = std::function<void(const std::string& service, double rate, int64_t at_ms)>;
  FaultInjector(Environment* env, SetRateFn set_rate) : env_(env), set_rate_(std::move(set_rate)) {}
  ~FaultInjector();  // resumes every ingestd it paused (ResumePaused)

  // Applies the step's action; returns an error naming the step when it cannot be applied.
  Status Apply(const TimelineStep& step);
  // Undoes the step's action (the end of its `for:` window).
  Status Undo(const TimelineStep& step);

  // Interrupts ingestion while in effect (used by the reconnect_within assertion).
  static bool IsDisruptive(const std::string& action);
  // The action that ends an open-ended fault ("kill_nats" → "restart_nats"), "" if none.
  static std::string RecoveryActionFor(const std::string& action);

  // SIGCONTs every ingestd that pause_ingestd stopped and nothing resumed yet. The run's
  // teardown would continue them too (SystemProcess::Terminate sends SIGCONT before its stop signal,
  // and the process group's SIGKILL ends a stopped process); this makes the promise that a
  // paused instance never stays stopped hold on any path that drops the injector first.
  void ResumePaused();

  // Whether an ingestd instance was ever killed or stopped (its counters were lost).
  bool ingestd_lost_counters() const { return ingestd_lost_counters_; }

 private:
  Result<std::vector<int>> Targets(const TimelineStep& step, const std::string& prefix, int count,
                                   int first) const;
  Status HoldDbLock(double seconds);
  // downstream_slow / _error / _down on the step's target service(s), or their end (!on).
  Status SetDownstreamFault(const TimelineStep& step, bool on);

  Environment* env_;
  SetRateFn set_rate_;
  std::vector<std::thread> lock_threads_;
  std::atomic<bool> stopping_{false};
  bool ingestd_lost_counters_ = false;
  std::set<int> paused_ingestds_;          // by pause_ingestd, not yet resumed
  std::vector<std::string> dlq_subjects_;  // the DLQ stream's subjects during a dlq_outage
  std::map<std::string, sim::DownstreamFault> downstream_faults_;  // by service, as now set
  static constexpr char kDlqStream[] = "DLQ";
};

}  // namespace ingestlab
