// KafkaPublisher: publishes simulated events with librdkafka's idempotent producer
// (enable.idempotence=true, acks=all) keyed by customer or entity id. The only simulators/ file
// besides nats_publisher.cc that touches a broker library. A publish counts as acked only on a
// successful delivery report; librdkafka retries internally until message_timeout_ms.
// Thread-safety: Publish/Flush/Close from any thread; callbacks run on the publisher's poll
// thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "simulators/publisher.h"

namespace ingestlab::sim {

struct KafkaPublisherOptions {
  std::string bootstrap = "127.0.0.1:9092";
  int linger_ms = 5;
  int message_timeout_ms = 60000;   // a delivery not confirmed by then fails
  int max_message_bytes = 8 << 20;  // lets oversized test payloads reach the broker
  std::string client_id = "ingestlab-simulator";
};

class KafkaPublisher final : public Publisher {
 public:
  // InvalidArgument for a configuration librdkafka rejects. Connecting is lazy (librdkafka
  // connects in the background); an unreachable bootstrap shows as failed deliveries.
  static Result<std::unique_ptr<KafkaPublisher>> Create(const KafkaPublisherOptions& options);
  ~KafkaPublisher() override;

  TransportKind transport() const override { return TransportKind::kKafka; }
  Status Publish(const std::string& topic, const std::string& key, const MessageHeaders& headers,
                 std::string_view payload, PublishDone done) override;
  Status Flush(std::chrono::milliseconds timeout) override;
  void Close() override;

  struct Impl;

 private:
  explicit KafkaPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingestlab::sim
