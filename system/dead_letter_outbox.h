// DeadLetterOutbox: publishes dead letters to their DLQ from the store, apart from the writer.
//
// The pipeline writes a dead letter to `dead_letters` in the transaction that decides it and
// acks the source message once that commits; the row is the outbox entry (published_at NULL).
// This publisher, on a thread and a database connection of its own, sends each such row to the
// DLQ of the transport it came from through that transport's DeadLetterSink ("dlq.<subject>" on
// NATS, "<topic>.dlq" on Kafka) and then sets published_at. So a DLQ that is down or slow (a
// Kafka dead letter may wait 17 s for its delivery report) delays only the DLQ copies, never the
// streams the writer is applying.
//
// Promises:
//   - At least once: a row is marked only after its sink returned OK; a crash in between
//     publishes it again at the next start (the NATS copy carries a Nats-Msg-Id, so JetStream
//     drops the repeat within its duplicate window).
//   - In order per transport: rows go out in id order; a transient failure stops that transport
//     at that row, which is retried after a backoff (100 ms doubling to 5 s), while the other
//     transport goes on.
//   - A row the DLQ refuses for good (the broker rejects the message itself) is not retried: it
//     is marked with its publish_error, logged, and counted in
//     ingest_dead_letter_publish_failures_total; the row keeps the message.
//   - A payload over max_payload_bytes is published cut to that size with the header
//     payload_truncated (pipeline_types.h) naming the full size; the row keeps every byte.
//   - Rows of a transport with no sink (ingestd started without it) wait for a run that has one.
//
// Thread-safety: SetSink before Start; Wake and pending from any thread; Start/Stop from one
// controlling thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "system/metrics.h"
#include "system/pipeline_types.h"

namespace ingestlab {

struct OutboxOptions {
  std::string db_path;          // the store's database (its own connection is opened)
  int busy_timeout_ms = 1'000;  // marking rows waits this long for the write lock
  size_t max_payload_bytes = 512 << 10;
  int64_t retry_base_ms = 100;  // after a transient failure, per transport, doubling
  int64_t retry_max_ms = 5'000;
  int64_t poll_ms = 1'000;  // looks for rows this often when not woken
  // Stop publishes what is pending for at most this long; the rest waits for the next start.
  int64_t drain_on_stop_ms = 2'000;
  size_t rows_per_round = 16;  // rows read at once per transport (each may hold 1 MiB)
};

class DeadLetterOutbox {
 public:
  // Opens the database (which the store must already have created). metrics and clock are not
  // owned and must outlive the outbox.
  static Result<std::unique_ptr<DeadLetterOutbox>> Open(OutboxOptions options, Metrics* metrics,
                                                        Clock* clock);
  ~DeadLetterOutbox();  // Stop()s
  DeadLetterOutbox(const DeadLetterOutbox&) = delete;
  DeadLetterOutbox& operator=(const DeadLetterOutbox&) = delete;

  void SetSink(Transport transport, DeadLetterSink* sink);  // not owned; before Start
  void Start();
  // New rows were committed: look now rather than at the next poll.
  void Wake();
  // Publishes what it can within drain_on_stop_ms, then stops the thread. Idempotent.
  void Stop();
  // Rows not yet published, as of the last look.
  int64_t pending() const;

 private:
  struct Impl;
  explicit DeadLetterOutbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingestlab
