// LatencyProbe: the broker's own publish→deliver time, measured in the same run as ingestd's
// publish→commit time, so that a latency gate can judge what ingestd adds rather than how busy
// the machine is. On a loaded 2-core machine both grow together; their difference does not.
//
// For NATS it is one ordered JetStream push consumer per stream subject (ephemeral, no acks,
// flow control and heartbeats handled by the client), started before load with deliver policy
// "new", that records when each message reached it, keyed by its Nats-Msg-Id header (the
// simulators' event id). Kafka is not probed.
// Thread-safety: Start, Stop and the destructor from one thread; callbacks run on cnats threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "system/nats/nats_security.h"

struct __natsConnection;
struct __natsSubscription;
struct __jsCtx;

namespace ingestlab {

class LatencyProbe {
 public:
  // Subscribes to every subject of ingestd's streams (DLQ excepted) on the servers in `urls`
  // (comma-separated), with `security` (credentials, TLS). Fails when the streams do not exist
  // yet.
  static Result<std::unique_ptr<LatencyProbe>> StartNats(const std::string& urls,
                                                         const NatsSecurity& security = {});
  ~LatencyProbe();
  LatencyProbe(const LatencyProbe&) = delete;
  LatencyProbe& operator=(const LatencyProbe&) = delete;

  // Stops receiving and returns, per event id, the unix ms it was first delivered to the probe.
  std::unordered_map<std::string, int64_t> Stop();
  size_t subscriptions() const { return subs_.size(); }
  // Called from the subscriptions' threads.
  void Record(std::string event_id, int64_t delivered_ms);

 private:
  LatencyProbe() = default;

  __natsConnection* conn_ = nullptr;
  __jsCtx* js_ = nullptr;
  std::vector<__natsSubscription*> subs_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> delivered_ms_;
  bool stopped_ = false;
};

}  // namespace ingestlab
