// The values that pass between sources and the pipeline: batches in, settlements out, and the
// dead-letter sink a transport provides. See system/pipeline.h for the promises.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "system/event.h"
#include "system/store.h"

namespace ingestlab {

enum class Verdict { kAck, kRetry };

struct Settlement {
  Verdict verdict = Verdict::kAck;
  int64_t retry_delay_ms = 0;  // with kRetry: exponential backoff from the message's attempts
};

struct InboundBatch {
  std::vector<RawMessage> messages;
  // Called exactly once, on the writer thread, with settlements[i] for messages[i].
  std::function<void(std::vector<Settlement>&&)> on_settled;
};

// Publishes a dead letter on the transport it came from: NATS "dlq.<subject>", Kafka
// "<topic>.dlq", with headers reason, error, attempts, origin (and topic/partition/offset).
// Must return only once the broker has the message (JetStream ack / Kafka delivery report).
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  virtual Status Publish(const RawMessage& original, const DeadLetterRecord& record) = 0;
};

}  // namespace ingestlab
