// Source: a transport adapter that feeds a BatchSink (the Pipeline) and settles messages
// (ack / offset commit / redelivery) when the sink says so. BatchSink is the sink side, so a
// source can be tested against a fake sink without a store.
// Thread-safety: Start/Stop from one controlling thread; Health from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "system/pipeline_types.h"

namespace ingestlab {

class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // Blocks while full (backpressure). false once the sink is stopping (on_settled not called).
  virtual bool Submit(InboundBatch batch) = 0;
  // Never blocks: false when full or stopping, and the batch is left intact.
  virtual bool TrySubmit(InboundBatch& batch) = 0;
};

struct SourceHealth {
  bool connected = false;
  std::string detail;                  // e.g. "connected to nats://127.0.0.1:4222"
  std::map<std::string, int64_t> lag;  // per consumer ("BILLING") or partition ("crm.leads/2")
  int64_t reconnects = 0;
  int64_t in_flight = 0;               // submitted, not yet settled
};

class Source {
 public:
  virtual ~Source() = default;
  // Connects (retrying in the background if the broker is not up yet), creates what it owns
  // (streams, consumers), and starts delivering to the sink.
  virtual Status Start() = 0;
  // Stops fetching, waits until every submitted message has been settled (acked / committed),
  // then disconnects. Idempotent.
  virtual void Stop() = 0;
  // Publishes dead letters on this transport; owned by the source, valid until destruction.
  virtual DeadLetterSink* dead_letter_sink() = 0;
  virtual SourceHealth Health() const = 0;
};

}  // namespace ingestlab
