// Pipeline: the one writer between transports and the store.
//
// Sources (JetStreamSource, KafkaSource) Submit batches of RawMessages; the writer thread
// decodes each message, applies the batch in ONE SQLite transaction (consecutive queued batches
// may be merged into one transaction — group commit), and only after Commit returns calls each
// batch's on_settled with one Settlement per message. Sources ack / commit offsets from there.
//
// Per message, exactly one of:
//   applied once | skipped as duplicate or redelivery (counted) | dead-lettered (parse, schema,
//   max_deliveries, crash: a row in dead_letters in the same transaction, which is also the DLQ
//   outbox; the message settles kAck after the commit and the DeadLetterOutbox publishes the row
//   to the transport's DLQ on its own thread, so a DLQ outage never holds the writer. A replay of
//   a recorded dead letter — Kafka seek-back, lost JetStream ack — is acked as a redelivery: no
//   second row, no second ingest_dead_letters_total) | kRetry (the source redelivers it after
//   retry_delay_ms).
//
// Failures: max_attempts counts a message's own failures, never its deliveries. Its own are an
// event it depends on not applied yet (Status kWaiting) and a handler rejecting it; each is
// counted in the store (Store::RecordFailure) in the transaction that decides to retry it, the
// retry delay grows with the count, and the max_attempts-th is dead-lettered "max_deliveries"
// (a waiting one not before it waited dependency_wait_ms).
// The infrastructure's failures cost nothing: a transaction that fails as a whole (the database
// locked by another process, disk full, I/O errors) is retried in-process, with pauses up to a
// second, until it commits, and the sources keep the waiting messages alive meanwhile (JetStream
// in-progress acks); a store error under one message retries it uncounted; deliveries caused by a
// restart, a lost ack or a broker are never counted. An event already applied that comes back is
// a counted redelivery, never a dead letter.
//
// Crashes: before each transaction the writer commits the origins it is about to apply
// (Store::MarkInFlight) and clears that record inside the transaction, so the record survives
// only a process that died mid-transaction. Start() turns such a record into one crash per
// origin (Store::RecoverCrashes). A message that was in flight during an earlier crash is a
// suspect: it is applied in a transaction of its own, so its batch-mates are not held hostage
// by it, and once it has been in flight for max_attempts crashes it is dead-lettered "crash"
// without being decoded. This holds on Kafka, whose broker keeps no delivery count, as on
// JetStream.
//
// Thread-safety: Submit/TrySubmit from any thread; on_settled runs on the writer thread and must
// not block on Submit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "system/event.h"
#include "system/metrics.h"
#include "system/pipeline_types.h"
#include "system/schema.h"
#include "system/source.h"
#include "system/store.h"

namespace ingestlab {

struct PipelineOptions {
  size_t max_queue_messages = 50'000;  // Submit blocks (backpressure) above this
  // Submit also blocks while the messages queued or being applied hold more than this many
  // bytes (payload, headers, bookkeeping): with 1 MiB messages the count alone would let the
  // queue hold 50 GB. One batch always fits into an idle pipeline.
  size_t max_queue_bytes = 256u << 20;
  size_t max_batch_messages = 4'000;  // most messages in one transaction
  int max_attempts = 5;               // own failures (or crashes) before a dead letter
  // A message waiting for an event it depends on is dead-lettered only once it has also waited
  // this long since its first failure: its dependency may be late through no fault of its own
  // (held unacked by a killed consumer until AckWait, on a partition still being reassigned).
  int64_t dependency_wait_ms = 30'000;
  int64_t retry_base_ms = 100;        // backoff: base * 2^(attempts-1), capped, with jitter
  int64_t retry_max_ms = 5'000;
  size_t max_payload_bytes = 1 << 20;  // larger messages are dead-lettered "parse"
  uint64_t jitter_seed = 1;  // seeds the retry-delay jitter (±20%)
  // Owner of this pipeline's in-flight record in the store (ingestd's --name): instances that
  // share a database need distinct names, or one would count the other's transactions as its
  // own crashes.
  std::string instance_name = "ingestd";
};

class Pipeline final : public BatchSink {
 public:
  // store, schemas and metrics are not owned and must outlive the pipeline.
  Pipeline(PipelineOptions options, Store* store, const SchemaRegistry* schemas, Metrics* metrics,
           Clock* clock);
  ~Pipeline();  // Stop()s
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Called on the writer thread after a transaction that recorded new dead letters commits
  // (ingestd wakes its DeadLetterOutbox). Set before Start.
  void SetDeadLetterListener(std::function<void()> listener);
  // Counts the crashes a previous run of this instance left behind (see "Crashes" above), then
  // starts the writer. A store that stays unavailable for ~5 s is logged and skipped: the
  // writer then starts without suspects.
  void Start();
  // Blocks while the queue is over max_queue_messages. Returns false (and does not call
  // on_settled) once Stop has begun.
  bool Submit(InboundBatch batch) override;
  // Like Submit but never blocks: false when full or stopping (the batch is left intact).
  bool TrySubmit(InboundBatch& batch) override;
  // Stops accepting, applies and settles everything already queued, joins the writer.
  void Stop();

  size_t queued_messages() const;
  int64_t last_commit_unix_ms() const;  // 0 before the first commit
  // Why the last transaction failed when it failed for a reason other than a busy database
  // (disk full, I/O error); empty once a transaction commits again.
  std::string last_transaction_error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingestlab
