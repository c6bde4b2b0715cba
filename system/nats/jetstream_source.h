// JetStreamSource: durable pull consumers on the JetStream streams of CONTRACT.md section 2,
// feeding a BatchSink. Only this folder touches cnats.
//
// - Connects to any of `urls`, reconnects forever with backoff and jitter, logs every
//   disconnect/reconnect with timestamps and counts them (ingest_reconnects_total).
// - Creates the streams when missing (file storage, 2-minute duplicate window); an existing
//   stream whose subjects differ is reported as an error naming the stream, never overwritten.
// - One durable pull consumer per stream ("<durable_prefix>-<STREAM>"), explicit ack, AckWait,
//   server-side MaxDeliver as a safety net above the pipeline's max_attempts, and a BackOff
//   schedule (each step at least AckWait, since the server lets BackOff[0] replace AckWait).
//   Fetches up to fetch_batch messages (waiting at most fetch_wait_ms), submits them as
//   one InboundBatch, acks (kAck) or NAKs with delay (kRetry) each message once settled.
// - Its DeadLetterSink publishes to "dlq.<original subject>" on the DLQ stream with headers
//   Ingest-Reason, Ingest-Error, Ingest-Attempts, Ingest-Origin and Nats-Msg-Id = "dlq:" +
//   origin (so a repeated dead letter is de-duplicated by the stream).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "system/metrics.h"
#include "system/nats/nats_security.h"
#include "system/source.h"

namespace ingestlab {

struct StreamSpec {
  std::string name;                   // "BILLING"
  std::vector<std::string> subjects;  // {"billing.>"}
};

// The streams of CONTRACT.md section 2, DLQ included.
const std::vector<StreamSpec>& DefaultStreams();

struct JetStreamOptions {
  std::vector<std::string> urls = {"nats://127.0.0.1:4222"};
  NatsSecurity security;  // credentials and TLS (nats_security.h); empty = none
  std::string durable_prefix = "ingestd";
  std::vector<std::string> streams;  // consumed streams; empty = all but DLQ
  bool create_streams = true;
  int replicas = 0;                  // stream replicas when creating; 0 = min(3, cluster size)
  int fetch_batch = 1000;
  int fetch_wait_ms = 5;
  // Most bytes one pull request may bring, and the size at which a batch is cut even if it has
  // fewer than fetch_batch messages (raised to the server's max_payload, so that any message
  // fits). Each consumer holds at most about twice this: the batch it is handing over and the
  // request it already asked for.
  int64_t fetch_max_bytes = 8 << 20;
  // How long a delivered message may stay unacked before the server redelivers it: longer
  // than a full pipeline queue takes to drain, and also how long messages a crashed ingestd
  // had in flight wait before its successor sees them again.
  int ack_wait_ms = 10'000;
  // The consumer's MaxDeliver. Unlimited: the pipeline, not the broker, decides when a message
  // has failed too often, by its own failures (store.h, "Failures"), while restarts, stalls and
  // lost acks may legitimately deliver a valid message any number of times. A limit here would
  // make the server drop such a message silently.
  int server_max_deliver = -1;
  // The consumer's BackOff: redelivery steps for messages left unacked, used as given; Create()
  // refuses a step shorter than ack_wait_ms. Empty (the default, and all ingestd uses): every
  // ack_wait_ms. The server takes a BackOff only with a finite MaxDeliver larger than its
  // length; explicit retries use NAK-with-delay anyway.
  std::vector<int64_t> backoff_ms;
};

class JetStreamSource : public Source {
 public:
  // sink, metrics and clock are not owned and must outlive the source.
  static Result<std::unique_ptr<JetStreamSource>> Create(JetStreamOptions options, BatchSink* sink,
                                                         Metrics* metrics, Clock* clock);
};

}  // namespace ingestlab
