// KafkaSource: a consumer-group member on the topics of CONTRACT.md section 2, feeding a
// BatchSink. Only this folder touches librdkafka.
//
// - enable.auto.commit=false; offsets are committed only after the pipeline settled every
//   message below them (commit-after-store); auto.offset.reset=earliest.
// - Rebalances: on revoke, waits for in-flight batches of the revoked partitions to settle and
//   commits them; on assign, resumes from committed offsets.
// - Backpressure: partitions are paused while the sink is full, resumed after.
// - kRetry keeps partition order: the partition is paused and re-delivered from the first
//   retried offset after the delay; messages after it that were already applied come back as
//   redeliveries (same origin) and change nothing.
// - Its DeadLetterSink produces to "<topic>.dlq" with headers reason, error, attempts, topic,
//   partition, offset, origin, and waits for the delivery report.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "system/metrics.h"
#include "system/source.h"

namespace ingestlab {

// billing.events, crm.leads, crm.contacts, crm.opportunities
const std::vector<std::string>& DefaultTopics();

struct KafkaOptions {
  std::string bootstrap;                   // "127.0.0.1:9092,..."
  std::string group_id = "ingestd";
  std::vector<std::string> topics;         // empty = DefaultTopics()
  int batch_max_messages = 1000;
  int batch_wait_ms = 5;
  // A batch is also cut at this many payload bytes (1,000 messages of 1 MiB would be 1 GB).
  size_t batch_max_bytes = 8u << 20;
  // Passed through to librdkafka as is ("kafka.security.protocol=SASL_SSL" → security.protocol),
  // validated by librdkafka with its error text.
  std::map<std::string, std::string> properties;
};

class KafkaSource : public Source {
 public:
  static Result<std::unique_ptr<KafkaSource>> Create(KafkaOptions options, BatchSink* sink,
                                                     Metrics* metrics, Clock* clock);
};

}  // namespace ingestlab
