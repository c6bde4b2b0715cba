// Store: the database ingestd folds events into (CONTRACT.md section 4): a SQLite file in WAL
// mode on one host, or a PostgreSQL database that instances on many hosts share. The same tables
// and the same promises on both (store_test.cc runs the same cases against each).
//
// Promises:
//   - ApplyEvent records the event id in `events` and applies the event's effects in the same
//     transaction; an id already in `events` is a duplicate and changes nothing else.
//   - Each ApplyEvent is isolated: an event that fails leaves the batch's other events intact.
//     (Isolation is by construction rather than a SAVEPOINT per event, which would cost a third
//     of the apply time: see SqlStore::ApplyEvent. If an event fails midway through its
//     writes, e.g. disk full, the whole transaction is rolled back: that event gets its error,
//     later calls and Commit get kTransient, and the caller retries the batch.)
//   - Nothing is durable until Commit() returns OK.
// Thread-safety: a Store is used by one thread at a time (the pipeline's writer thread).
// Readers (HTTP, tests, users) open their own connections; WAL lets them read while it writes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "system/event.h"
#include "system/sql_connection.h"

namespace ingestlab {

struct StoreOptions {
  // The database: a file path (SQLite; created with its schema if missing), or a
  // postgres://user[:password]@host:port/db URL (PostgreSQL; the schema is created if missing).
  std::string path;
  int busy_timeout_ms = 200;          // how long a write waits for a lock before kTransient
  int connect_timeout_s = 5;          // PostgreSQL: how long to wait for the server
  bool auto_create_customers = true;  // events for unknown customers create them
  size_t summary_threshold = 500;     // descriptions longer than this get a summary
  Clock* clock = nullptr;             // for received/committed times; nullptr = system clock
  // SQLite's synchronous setting in WAL mode. true (FULL): every commit is fsynced before Commit
  // returns, so what ingestd acked to the broker survives a power loss. false (NORMAL): a commit
  // survives a crash of the process, but a power loss can undo the last commits after the broker
  // has forgotten them.
  bool synchronous_full = true;
};

enum class ApplyOutcome {
  kApplied,      // effects written
  kDuplicate,    // id seen before from a different origin: a producer-side duplicate
  kRedelivered,  // id seen before from the same origin: the broker delivered it again
};

struct DeadLetterRecord {
  std::string origin;   // RawMessage::origin
  std::string subject;  // subject or topic it arrived on
  std::string reason;   // "parse" | "schema" | "max_deliveries" | "crash"
  std::string error;    // the Status message
  int attempts = 1;
  std::string payload;  // original bytes
  Headers headers;      // original headers, kept as JSON
  std::string key;      // the message's Kafka key (empty on NATS), for the DLQ copy
};

// A message's own failures so far (Store::RecordFailure).
struct MessageFailure {
  std::string origin;
  int failures = 0;
  int64_t first_failed_at_ms = 0;  // unix ms of its first failure
  bool operator==(const MessageFailure&) const = default;
};

// What RecordDeadLetter found.
enum class DeadLetterState {
  kNew,    // no row for this message before: inserted, and queued for the DLQ (the outbox)
  kKnown,  // the same message (origin and payload) has a row: a replay, nothing written
};

// A connection of its own to the database at `path` (a file or a postgres:// URL, as
// StoreOptions::path), beside a Store's: for the DLQ outbox and the health check. It does no
// schema work; the Store's Open does.
Result<std::unique_ptr<SqlConnection>> OpenSideConnection(const std::string& path,
                                                          int busy_timeout_ms);

// Whether `path` names a PostgreSQL database (postgres:// or postgresql://) rather than a file.
bool IsPostgresUrl(std::string_view path);

class Store {
 public:
  virtual ~Store() = default;

  // Opens (and if needed creates or migrates) the database. Errors name the path.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // REQUIRES: no transaction open. kTransient when the write lock can't be had in time.
  virtual Status Begin() = 0;
  // REQUIRES: Begin() succeeded. On failure the transaction is rolled back.
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;

  // REQUIRES: inside a transaction. Schema status: the event is valid JSON but semantically
  // impossible (dead-letter "schema"); Transient: retry later (locked, or a **depends** event
  // not yet applied); on error the event's partial effects are rolled back.
  virtual Result<ApplyOutcome> ApplyEvent(const Event& event, const RawMessage& msg) = 0;

  // REQUIRES: inside a transaction. Writes the dead letter, which also queues it for the DLQ:
  // the outbox publisher (system/dead_letter_outbox.h) publishes rows not yet published.
  // Idempotent per message: a record with the origin and payload of an existing row changes
  // nothing (kKnown). The same origin with other bytes (a stream deleted and recreated restarts
  // its sequence numbers) is a new dead letter.
  virtual Result<DeadLetterState> RecordDeadLetter(const DeadLetterRecord& record) = 0;

  // Crash accounting. A message that kills the process (a bug in a handler or a library, the
  // OOM killer) is redelivered after the restart and kills it again; Kafka keeps no delivery
  // count, so without a record that survives the crash it would loop forever. The writer
  // records each transaction's messages before it begins and clears the record inside it:
  //
  // REQUIRES: no transaction open. Commits, in a transaction of its own, that `owner` (ingestd's
  // --name; instances sharing a database need distinct names) is about to apply the messages
  // with these origins. Replaces owner's previous record.
  virtual Status MarkInFlight(std::string_view owner,
                              const std::vector<std::string_view>& origins) = 0;
  // REQUIRES: inside a transaction. Deletes owner's record, so it is gone once this transaction
  // commits, and forgets the crash and failure counts of `settled` (messages with a count that
  // this transaction settled).
  virtual Status ClearInFlight(std::string_view owner,
                               const std::vector<std::string_view>& settled) = 0;
  // REQUIRES: no transaction open. At start-up: a record `owner` left behind means it died
  // inside that transaction, so each of its origins gets one more crash and the record goes, in
  // one transaction (counts untouched for 7 days are pruned). Returns every origin with a crash
  // count (all owners'), the suspects.
  virtual Result<std::vector<std::pair<std::string, int>>> RecoverCrashes(
      std::string_view owner) = 0;

  // Failures. max_attempts counts the failures that belong to a message (an event it depends on
  // is not applied yet, a handler rejects it), never the broker's deliveries: a locked or full
  // store, a restart or a lost ack make the broker deliver again through no fault of the message.
  //
  // REQUIRES: inside a transaction. Records that the message at `origin` has now failed
  // `failures` times of its own, the last time with `error` (the first failure's time is kept).
  virtual Status RecordFailure(std::string_view origin, int failures, std::string_view error) = 0;
  // REQUIRES: no transaction open. At start-up: every message with a failure count, by origin
  // (counts untouched for 7 days are pruned first).
  virtual Result<std::vector<MessageFailure>> MessageFailures() = 0;

  // The writer connection's PRAGMA synchronous ("full" or "normal"; StoreOptions), for /healthz.
  virtual std::string Synchronous() { return ""; }

  // Canonical SHA-256 over every domain table's rows in a fixed order (not events.received_at,
  // committed_at or other timing columns): two runs that applied the same events agree.
  virtual Result<std::string> StateDigest() = 0;
};

}  // namespace ingestlab
