// NatsPublisher: publishes simulated events over NATS with cnats (the only simulators/ file
// besides kafka_publisher.cc that touches a broker library).
//   JetStream mode: js_PublishMsgAsync; a publish is acked only on its PubAck. A publish that
//   times out, finds no stream (no responders) or is cut by a disconnect is retried with
//   exponential backoff (max_attempts), keeping its Nats-Msg-Id so the broker drops a copy that
//   did get stored. The connection reconnects forever and buffers publishes while it does.
//   Core mode: natsConnection_PublishMsg; a publish counts as acked once a flush round trip
//   confirms the server received it (there is no storage acknowledgement in core NATS).
// Thread-safety: Publish/Flush/Close from any thread; callbacks run on cnats threads or the
// publisher's retry thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "simulators/publisher.h"
#include "system/nats/nats_security.h"

namespace ingestlab::sim {

struct NatsPublisherOptions {
  std::string urls = "nats://127.0.0.1:4222";  // comma-separated
  bool jetstream = true;
  int64_t ack_wait_ms = 5000;  // a PubAck later than this is a timeout (then retried)
  int max_in_flight = 4096;    // Publish blocks beyond this many unacknowledged publishes
  int max_attempts = 8;        // publish attempts per message, counting the first
  int64_t backoff_ms = 50;     // first retry delay; doubles per attempt, capped at 2 s
  std::string name = "ingestlab-simulator";
  NatsSecurity security;  // credentials and TLS (system/nats/nats_security.h)
};

class NatsPublisher final : public Publisher {
 public:
  // Connects (Io if no server answers). The first connection must succeed; later disconnects
  // are ridden out by reconnecting forever.
  static Result<std::unique_ptr<NatsPublisher>> Connect(const NatsPublisherOptions& options);
  ~NatsPublisher() override;

  TransportKind transport() const override;
  Status Publish(const std::string& subject, const std::string& key, const MessageHeaders& headers,
                 std::string_view payload, PublishDone done) override;
  Status Flush(std::chrono::milliseconds timeout) override;
  void Close() override;

  struct Impl;

 private:
  explicit NatsPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingestlab::sim
