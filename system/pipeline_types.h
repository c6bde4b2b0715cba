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

// A dead letter whose payload is larger than OutboxOptions::max_payload_bytes (a
// message over max_payload_bytes cannot fit the DLQ transport's own limit) reaches the sink with
// its payload cut to that size and this header on the RawMessage, valued with the original size
// in bytes. The Kafka sink publishes the RawMessage's headers as they are; the NATS sink carries
// the header as "Ingest-Payload-Truncated". The dead_letters row keeps the full original bytes.
inline constexpr char kPayloadTruncatedHeader[] = "payload_truncated";
inline constexpr char kNatsPayloadTruncatedHeader[] = "Ingest-Payload-Truncated";

// Publishes a dead letter on the transport it came from: NATS "dlq.<subject>", Kafka
// "<topic>.dlq", with headers reason, error, attempts, origin (and topic/partition/offset).
// Must return only once the broker has the message (JetStream ack / Kafka delivery report).
// Failures the broker may get over (unreachable, timed out) are Transient; a failure that no
// retry can cure (the broker refuses the message as such) is any other code.
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  virtual Status Publish(const RawMessage& original, const DeadLetterRecord& record) = 0;
};

}  // namespace ingestlab
