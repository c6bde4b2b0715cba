// Pipeline: the bounded queue in front of the single writer thread, and the writer itself.
// See system/pipeline.h for the promises. The writer drains as many queued batches as fit in
// max_batch_messages into one transaction (group commit), decodes and applies each message,
// commits, and only then settles the batches and tells the dead-letter outbox.
// Thread-safety: Submit/TrySubmit/queued_messages/last_commit_unix_ms from any thread; the
// decoder, the store and the jitter Rng are touched only by the writer thread.
#include "system/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/log.h"
#include "common/rng.h"
#include "system/envelope.h"
#include "system/mutant.h"

namespace ingestlab {
namespace {

// A whole transaction that fails (the write lock held by another process, disk full, I/O
// errors) is retried in-process until it commits: pauses start here and double up to the cap,
// so the writer notices a released lock within a second.
constexpr int64_t kTxnFirstPauseMs = 50;
constexpr int64_t kTxnMaxPauseMs = 1'000;
constexpr int64_t kStallWarningEveryMs = 5'000;

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

enum class Outcome { kApplied, kDuplicate, kRedelivered, kDeadLetter, kRetry };

// What happened to one message inside the current transaction attempt.
struct MessageResult {
  Outcome outcome = Outcome::kRetry;
  Counter* type_counter = nullptr;  // kApplied: ingest_applied_total{type}
  int64_t event_time_ms = 0;        // kApplied: for the end-to-end latency
  int dead_letter = -1;             // kDeadLetter: index into dead_letters_
  int64_t retry_delay_ms = 0;       // kRetry after a failure of the message's own
};

const char* TransportLabel(Transport t) { return t == Transport::kKafka ? "kafka" : "nats"; }

// A batch whose messages were split over several transactions (IsolateSuspects): the parts'
// settlements are gathered, and the source's on_settled runs once, when the last part settles.
// Touched only by the writer thread.
struct SplitBatch {
  std::vector<Settlement> settlements;
  size_t parts_left = 0;
  std::function<void(std::vector<Settlement>&&)> on_settled;

  void SettlePart(const std::vector<size_t>& positions, std::vector<Settlement>&& part) {
    for (size_t k = 0; k < positions.size(); ++k) settlements[positions[k]] = part[k];
    if (--parts_left == 0 && on_settled) on_settled(std::move(settlements));
  }
};

}  // namespace

struct Pipeline::Impl {
  Impl(PipelineOptions opts, Store* st, const SchemaRegistry* reg, Metrics* m, Clock* c)
      : options(std::move(opts)),
        store(st),
        schemas(reg),
        metrics(m),
        clock(c),
        rng(options.jitter_seed),
        decoder(DecoderOptions{options.max_payload_bytes, schemas}) {
    options.max_batch_messages = std::max<size_t>(1, options.max_batch_messages);
    options.max_queue_messages = std::max<size_t>(1, options.max_queue_messages);
    received[0] = metrics->counter("ingest_received_total", "Messages received from a transport",
                                   {{"transport", TransportLabel(Transport::kJetStream)}});
    received[1] = metrics->counter("ingest_received_total", "Messages received from a transport",
                                   {{"transport", TransportLabel(Transport::kKafka)}});
    duplicates = metrics->counter("ingest_duplicates_total",
                                  "Events skipped: id already applied from another origin");
    redeliveries = metrics->counter("ingest_redeliveries_total",
                                    "Events skipped: the broker delivered the same message again");
    retries = metrics->counter("ingest_retries_total", "Messages settled for redelivery later");
    for (const char* reason : {"parse", "schema", "max_deliveries", "crash"}) {
      dead_by_reason.emplace(
          reason, metrics->counter("ingest_dead_letters_total", "Messages dead-lettered, by reason",
                                   {{"reason", reason}}));
    }
    batch_size = metrics->histogram("ingest_batch_size", "Messages per committed transaction",
                                    Metrics::BatchSizeBounds());
    e2e_latency = metrics->histogram("ingest_e2e_latency_ms",
                                     "committed_at - event_time of applied events, ms",
                                     Metrics::LatencyBoundsMs());
    commit_duration = metrics->histogram("ingest_commit_duration_ms", "Duration of Commit(), ms",
                                         Metrics::LatencyBoundsMs());
    queue_gauge = metrics->gauge("ingest_queue_messages", "Messages queued for the writer");
    bytes_gauge = metrics->gauge("ingest_queue_bytes",
                                 "Bytes of the messages queued for or being applied by the writer");
    suspects_gauge = metrics->gauge(
        "ingest_crash_suspects",
        "Messages in flight during an earlier crash, not settled since (applied one at a time)");
    last_commit_gauge =
        metrics->gauge("ingest_last_commit_unix_ms", "Unix ms of the last successful commit");
  }

  // --- queue side (any thread) ---

  // What a message costs the process while the pipeline holds it, near enough.
  static size_t MessageBytes(const RawMessage& m) {
    size_t bytes =
        sizeof(RawMessage) + m.payload.size() + m.subject.size() + m.key.size() + m.origin.size();
    for (const auto& [name, value] : m.headers) bytes += name.size() + value.size() + 64;
    return bytes;
  }
  static size_t BatchBytes(const InboundBatch& batch) {
    size_t bytes = 0;
    for (const RawMessage& m : batch.messages) bytes += MessageBytes(m);
    return bytes;
  }

  // A batch fits when the queue has room for its messages and the bytes held (queued or being
  // applied) have room for its bytes; into an empty queue / idle pipeline anything fits.
  bool FitsLocked(size_t n, size_t bytes) const {
    return (queued == 0 || queued + n <= options.max_queue_messages) &&
           (held_bytes == 0 || held_bytes + bytes <= options.max_queue_bytes);
  }

  void EnqueueLocked(InboundBatch&& batch, size_t bytes) {
    const size_t n = batch.messages.size();
    for (const RawMessage& m : batch.messages) {
      received[m.transport == Transport::kKafka ? 1 : 0]->Inc();
    }
    queued += n;
    held_bytes += bytes;
    queued_atomic.store(queued, std::memory_order_relaxed);
    queue_gauge->Set(static_cast<double>(queued));
    bytes_gauge->Set(static_cast<double>(held_bytes));
    queue.push_back({std::move(batch), bytes});
    not_empty.notify_one();
  }

  // --- writer side ---

  void WriterLoop() {
    std::vector<InboundBatch> group;
    for (;;) {
      group.clear();
      {
        std::unique_lock<std::mutex> lock(mu);
        not_empty.wait(lock, [&] { return !queue.empty() || stopping; });
        if (queue.empty()) return;  // stopping and drained
        size_t taken = 0;
        group_bytes = 0;
        do {
          taken += queue.front().batch.messages.size();
          group_bytes += queue.front().bytes;
          group.push_back(std::move(queue.front().batch));
          queue.pop_front();
        } while (!queue.empty() &&
                 taken + queue.front().batch.messages.size() <= options.max_batch_messages);
        queued -= taken;
        queued_atomic.store(queued, std::memory_order_relaxed);
        queue_gauge->Set(static_cast<double>(queued));
      }
      not_full.notify_all();
      if (suspects.empty()) {
        ProcessGroup(group);
      } else {
        std::vector<std::vector<InboundBatch>> singles;
        IsolateSuspects(group, &singles);
        if (!group.empty()) ProcessGroup(group);
        for (std::vector<InboundBatch>& one : singles) ProcessGroup(one);
      }
      group.clear();  // the messages' memory goes before the room is given back
      {
        std::lock_guard<std::mutex> lock(mu);
        held_bytes -= group_bytes;
        bytes_gauge->Set(static_cast<double>(held_bytes));
      }
      not_full.notify_all();
    }
  }

  // --- crash accounting (pipeline.h, "Crashes") ---

  // Reads what an earlier run left: the crashes it died with and the messages' failure counts.
  void RecoverCounts() {
    ReadAtStartup([&] { return store->RecoverCrashes(options.instance_name); },
                  "cannot read the crash record",
                  "starting without crash accounting for the last run",
                  [&](auto& rows) {
                    for (auto& [origin, crashes] : rows) {
                      suspects.emplace(std::move(origin), crashes);
                    }
                  });
    suspects_gauge->Set(static_cast<double>(suspects.size()));
    if (!suspects.empty()) {
      LOG(kWarn, "pipeline") << suspects.size()
                             << " messages were in flight during an earlier crash; each is "
                                "applied alone, and dead-lettered 'crash' once in flight for "
                             << options.max_attempts << " crashes";
    }
    ReadAtStartup(
        [&] { return store->MessageFailures(); }, "cannot read the failure counts",
        "starting without them",
        [&](auto& rows) {
          for (MessageFailure& f : rows) {
            failures.emplace(std::move(f.origin), FailureCount{f.failures, f.first_failed_at_ms});
          }
        });
  }

  // Reads what the store kept from an earlier run, retrying a transient error (another
  // instance holds the lock) up to 50 times 100 ms apart; then logs "<what>: <error>;
  // <without>" and goes on without it.
  template <typename Read, typename Use>
  void ReadAtStartup(Read read, const char* what, const char* without, Use use) {
    for (int attempt = 0;; ++attempt) {
      auto rows = read();
      if (rows.ok()) {
        use(*rows);
        return;
      }
      if (attempt >= 50 || !rows.status().is_transient()) {
        LOG(kError, "pipeline") << what << ": " << rows.status().ToString() << "; " << without;
        return;
      }
      clock->SleepFor(std::chrono::milliseconds(100));
    }
  }

  // Moves each suspect out of `group` into a one-message group of its own (in `singles`);
  // batches left empty are dropped. Each split batch settles once, after all of its parts.
  void IsolateSuspects(std::vector<InboundBatch>& group,
                       std::vector<std::vector<InboundBatch>>* singles) {
    std::vector<InboundBatch> kept;
    for (InboundBatch& batch : group) {
      std::vector<size_t> suspect_positions, rest_positions;
      for (size_t i = 0; i < batch.messages.size(); ++i) {
        (suspects.count(batch.messages[i].origin) ? suspect_positions : rest_positions)
            .push_back(i);
      }
      if (suspect_positions.empty()) {
        kept.push_back(std::move(batch));
        continue;
      }
      auto split = std::make_shared<SplitBatch>();
      split->settlements.resize(batch.messages.size());
      split->parts_left = suspect_positions.size() + (rest_positions.empty() ? 0 : 1);
      split->on_settled = std::move(batch.on_settled);
      for (size_t i : suspect_positions) {
        InboundBatch one;
        one.messages.push_back(std::move(batch.messages[i]));
        one.on_settled = [split, i](std::vector<Settlement>&& s) {
          split->SettlePart({i}, std::move(s));
        };
        singles->emplace_back();
        singles->back().push_back(std::move(one));
      }
      if (!rest_positions.empty()) {
        InboundBatch rest;
        for (size_t i : rest_positions) rest.messages.push_back(std::move(batch.messages[i]));
        rest.on_settled = [split,
                           positions = std::move(rest_positions)](std::vector<Settlement>&& s) {
          split->SettlePart(positions, std::move(s));
        };
        kept.push_back(std::move(rest));
      }
    }
    group = std::move(kept);
    // Fewest crashes first: a message that already crashed the process more often than its
    // batch-mates is the likelier culprit, and should it crash again, they are applied by then.
    std::stable_sort(singles->begin(), singles->end(), [&](const auto& a, const auto& b) {
      return suspects.find(a[0].messages[0].origin)->second <
             suspects.find(b[0].messages[0].origin)->second;
    });
  }

  // Commits the group's origins as in flight before its transaction begins. A failure (the
  // database is locked or failing) only costs the record: the transaction will meet the same
  // failure and be retried.
  void MarkInFlight(const std::vector<InboundBatch>& group) {
    in_flight_origins.clear();
    for (const InboundBatch& batch : group) {
      for (const RawMessage& m : batch.messages) {
        if (!m.origin.empty()) in_flight_origins.push_back(m.origin);
      }
    }
    const Status st = store->MarkInFlight(options.instance_name, in_flight_origins);
    if (st.ok()) {
      in_flight_marked = true;
    } else {
      LOG(kDebug, "pipeline") << "recording " << in_flight_origins.size()
                              << " messages in flight: " << st.ToString();
    }
  }

  // After Stop: a last transaction that failed leaves its in-flight record, which the next start
  // would count as a crash. A clean stop is not a crash.
  void ClearInFlightOnStop() {
    if (!in_flight_marked) return;
    Status st = store->Begin();
    if (st.ok()) st = store->ClearInFlight(options.instance_name, {});
    if (st.ok()) {
      st = store->Commit();
    } else {
      store->Rollback();
    }
    if (st.ok()) {
      in_flight_marked = false;
    } else {
      LOG(kWarn, "pipeline") << "clearing the in-flight record on stop: " << st.ToString();
    }
  }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  }

  // Sleeps for ms on the pipeline's clock, in slices, returning early once Stop has begun.
  void WaitUnlessStopping(int64_t ms) {
    constexpr int64_t kSliceMs = 50;
    for (int64_t left = ms; left > 0 && !Stopping(); left -= kSliceMs) {
      clock->SleepFor(std::chrono::milliseconds(std::min(left, kSliceMs)));
    }
  }

  // A transaction failed for a reason other than a busy database: /healthz shows it until a
  // transaction commits again.
  void RecordTransactionError(const Status& st) {
    std::lock_guard<std::mutex> lock(mu);
    last_txn_error = st.ToString();
    had_txn_error = true;
  }

  int64_t RetryDelayMs(int attempts) {
    const int exponent = std::clamp(attempts - 1, 0, 30);
    double delay =
        static_cast<double>(options.retry_base_ms) * static_cast<double>(1LL << exponent);
    delay = std::min(delay, static_cast<double>(options.retry_max_ms));
    delay *= 0.8 + 0.4 * rng.NextDouble();
    return std::max<int64_t>(1, static_cast<int64_t>(delay));
  }

  Counter* TypeCounter(std::string_view type) {
    auto it = applied_by_type.find(type);
    if (it != applied_by_type.end()) return it->second;
    Counter* c = metrics->counter("ingest_applied_total", "Events applied, by type",
                                  {{"type", std::string(type)}});
    applied_by_type.emplace(std::string(type), c);
    return c;
  }

  // attempts: for the record; 0 = the message's deliveries.
  void AddDeadLetter(const RawMessage& msg, const char* reason, std::string error,
                     MessageResult* result, int attempts = 0) {
    DeadLetterRecord record;
    record.origin = msg.origin;
    record.subject = msg.subject;
    record.reason = reason;
    record.error = std::move(error);
    record.attempts = attempts > 0 ? attempts : msg.attempts;
    record.payload = msg.payload;
    record.headers = msg.headers;
    record.key = msg.key;
#ifdef INGESTD_MUTANTS
    // Mutant dead_letter_without_storing: the message is counted, logged and acked as
    // dead-lettered, but no dead_letters row is written: nothing keeps it or sends it to its DLQ.
    if (Mutant("dead_letter_without_storing")) {
      result->outcome = Outcome::kDeadLetter;
      result->dead_letter = static_cast<int>(dead_letters.size());
      dead_letters.push_back(std::move(record));
      return;
    }
#endif
    Result<DeadLetterState> state = store->RecordDeadLetter(record);
    if (!state.ok()) {
      const Status& st = state.status();
      if (st.code() == Status::Code::kIo) abort_status = st;
      LOG(kWarn, "pipeline") << "cannot record dead letter for " << msg.origin << ": "
                             << st.ToString() << "; will retry";
      result->outcome = Outcome::kRetry;
      return;
    }
    // A replay (Kafka seek-back, lost JetStream ack) of a dead letter already recorded, maybe
    // earlier in this same transaction: its row is in the outbox already; ack it.
    if (*state == DeadLetterState::kKnown) {
      result->outcome = Outcome::kRedelivered;
      return;
    }
    result->outcome = Outcome::kDeadLetter;
    result->dead_letter = static_cast<int>(dead_letters.size());
    dead_letters.push_back(std::move(record));
  }

  // The message failed for a reason of its own (pipeline.h, "Failures"): counted in the store
  // inside this transaction, retried with a delay that grows with the count, and dead-lettered
  // "max_deliveries" on its max_attempts-th failure — when it waits for an event it depends on,
  // not before it has waited dependency_wait_ms since its first failure.
  void OwnFailure(const RawMessage& msg, const Status& why, MessageResult* result) {
    auto known = failures.find(msg.origin);
    const int64_t now = clock->NowUnixMillis();
    FailureCount next{1, now};
    if (known != failures.end()) next = {known->second.count + 1, known->second.first_ms};
    const int64_t waited = now - next.first_ms;
    const bool waiting = why.code() == Status::Code::kWaiting;
    if (next.count >= options.max_attempts && (!waiting || waited >= options.dependency_wait_ms)) {
      AddDeadLetter(msg, "max_deliveries",
                    "failed " + std::to_string(next.count) + " times" +
                        (waiting ? " over " + std::to_string(waited / 1000) + " s" : "") +
                        ", max_attempts is " + std::to_string(options.max_attempts) +
                        "; last error: " + why.message(),
                    result, next.count);
      return;
    }
    const int count = next.count;
    const Status st = store->RecordFailure(msg.origin, count, why.message());
    if (!st.ok()) {
      abort_status = st;  // the count must not be lost: retry the whole transaction
      result->outcome = Outcome::kRetry;
      return;
    }
    counted_failures.emplace_back(msg.origin, next);
    result->outcome = Outcome::kRetry;
    result->retry_delay_ms = RetryDelayMs(count);
  }

  // Decodes and applies one message inside the open transaction.
  void ProcessMessage(const RawMessage& msg, MessageResult* result) {
    if (!suspects.empty()) {
      auto suspect = suspects.find(msg.origin);
      if (suspect != suspects.end() && suspect->second >= options.max_attempts) {
        AddDeadLetter(msg, "crash",
                      "in flight during " + std::to_string(suspect->second) +
                          " crashes of the process, max_attempts is " +
                          std::to_string(options.max_attempts),
                      result);
        return;
      }
    }
#ifdef INGESTD_TEST_CRASH_HOOK
    // Test build only (tests/CMakeLists.txt, ingestd_crash_hook): a message carrying this marker
    // kills the process the way a handler bug would, so the crash accounting can be tested.
    // The default action first: a sanitizer runtime's SEGV handler would turn the signal into
    // a report and exit(1), and the tests count deaths by SIGSEGV.
    if (msg.payload.find("ingestd-test-crash") != std::string::npos) {
      std::signal(SIGSEGV, SIG_DFL);
      std::raise(SIGSEGV);
    }
#endif
    Status st = decoder.Decode(msg, &event);
    if (!st.ok()) {
      if (st.is_transient()) {
        result->outcome = Outcome::kRetry;  // the decoder's resources, not the message
      } else {
        AddDeadLetter(msg, st.code() == Status::Code::kSchema ? "schema" : "parse", st.message(),
                      result);
      }
      return;
    }
    Result<ApplyOutcome> applied = store->ApplyEvent(event, msg);
    if (!applied.ok()) {
      const Status& err = applied.status();
      switch (err.code()) {
        case Status::Code::kSchema:
        case Status::Code::kInvalidArgument:
        case Status::Code::kParse:
          AddDeadLetter(msg, "schema", err.message(), result);
          return;
        case Status::Code::kIo:
          // Disk full or I/O error: SQLite may have dropped the whole transaction. Not the
          // message's fault: the writer retries the transaction.
          abort_status = err;
          result->outcome = Outcome::kRetry;
          return;
        case Status::Code::kTransient:
          // The store (locked, or the transaction rolled back under this event): not the
          // message's fault, so it costs none of its attempts.
          result->outcome = Outcome::kRetry;
          return;
        default:
          // Waiting for an event it depends on, or a handler rejecting it: the message's own.
          if (!err.is_transient()) {
            LOG(kWarn, "pipeline") << "apply " << event.id << " (" << msg.origin
                                   << ") failed: " << err.ToString() << "; will retry";
          }
          OwnFailure(msg, err, result);
          return;
      }
    }
    switch (*applied) {
      case ApplyOutcome::kApplied:
        result->outcome = Outcome::kApplied;
        result->type_counter = TypeCounter(event.type);
        result->event_time_ms = event.event_time_ms;
        return;
      case ApplyOutcome::kDuplicate:
        result->outcome = Outcome::kDuplicate;
        return;
      case ApplyOutcome::kRedelivered:
        result->outcome = Outcome::kRedelivered;
        return;
    }
  }

  // One attempt at the whole transaction. Returns the Begin/Commit status; results are filled.
  Status RunTransaction(std::vector<InboundBatch>& group, int64_t* commit_ns) {
    dead_letters.clear();
    results.clear();
    abort_status = Status::Ok();
    INGEST_RETURN_IF_ERROR(store->Begin());
    settled_counted.clear();
    counted_failures.clear();
    for (InboundBatch& batch : group) {
      for (const RawMessage& msg : batch.messages) {
        results.emplace_back();
        ProcessMessage(msg, &results.back());
        if (!abort_status.ok()) {
          store->Rollback();
          return abort_status;
        }
        if (results.back().outcome != Outcome::kRetry &&
            ((!suspects.empty() && suspects.count(msg.origin)) ||
             (!failures.empty() && failures.count(msg.origin)))) {
          settled_counted.push_back(msg.origin);
        }
      }
    }
    if (in_flight_marked || !settled_counted.empty()) {
      const Status st = store->ClearInFlight(options.instance_name, settled_counted);
      if (!st.ok()) {
        store->Rollback();
        return st;
      }
    }
    const int64_t start = clock->NowMonoNanos();
    Status st = store->Commit();
    *commit_ns = clock->NowMonoNanos() - start;
    return st;
  }

  void ProcessGroup(std::vector<InboundBatch>& group) {
    size_t total = 0;
    for (const InboundBatch& b : group) total += b.messages.size();

    MarkInFlight(group);
    Status st;
    int64_t commit_ns = 0;
    // A transaction that fails (the database locked by another process, disk full, an I/O
    // error) is the infrastructure's failure, never the messages': the writer keeps the group and
    // retries it with growing pauses until it commits, so no message spends an attempt on it and
    // the broker does not redeliver it (sources keep unacked messages alive meanwhile: JetStream
    // sends in-progress acks). Only Stop ends the wait; the group is then handed back.
    int64_t pause_ms = kTxnFirstPauseMs;
    int64_t stalled_since_ms = 0;
    int64_t next_warning_ms = 0;
    for (int attempt = 1;; ++attempt) {
      st = RunTransaction(group, &commit_ns);
      // A failed Begin left nothing open and a failed Commit rolled back (store.h).
      if (st.ok() || Stopping()) break;
#ifdef INGESTD_MUTANTS
      // Mutant ack_on_store_failure: a transaction that fails for a transient reason (the
      // database locked) is given up and its messages acked, as if applied, instead of retried.
      if (st.is_transient() && Mutant("ack_on_store_failure")) {
        LOG(kWarn, "pipeline") << "transaction of " << total << " messages: " << st.ToString()
                               << "; giving up on them";
        for (InboundBatch& batch : group) {
          if (batch.on_settled) {
            batch.on_settled(std::vector<Settlement>(batch.messages.size()));
          }
        }
        return;
      }
#endif
      const int64_t now = clock->NowUnixMillis();
      if (stalled_since_ms == 0) stalled_since_ms = now;
      if (!st.is_transient()) RecordTransactionError(st);
      if (now >= next_warning_ms) {
        LogLine(attempt <= 2 ? LogLevel::kDebug : LogLevel::kWarn, "pipeline",
                "transaction of " + std::to_string(total) + " messages: " + st.ToString() +
                    "; retrying (try " + std::to_string(attempt) + ", stalled for " +
                    std::to_string(now - stalled_since_ms) + " ms)");
        if (attempt > 2) next_warning_ms = now + kStallWarningEveryMs;
      }
      WaitUnlessStopping(pause_ms);
      pause_ms = std::min(pause_ms * 2, kTxnMaxPauseMs);
    }
    if (stalled_since_ms != 0 && st.ok()) {
      LOG(kInfo, "pipeline") << "transaction of " << total << " messages committed after "
                             << (clock->NowUnixMillis() - stalled_since_ms) << " ms of retries";
    }

    if (!st.ok()) {
      if (!st.is_transient()) RecordTransactionError(st);
      LOG(kWarn, "pipeline") << "stopping: transaction of " << total
                             << " messages failed: " << st.ToString()
                             << "; all will be redelivered";
      for (InboundBatch& batch : group) {
        std::vector<Settlement> settlements(batch.messages.size());
        for (size_t i = 0; i < batch.messages.size(); ++i) {
          settlements[i] = {Verdict::kRetry, RetryDelayMs(batch.messages[i].attempts)};
        }
        retries->Inc(static_cast<int64_t>(batch.messages.size()));
        if (batch.on_settled) batch.on_settled(std::move(settlements));
      }
      return;
    }

    const int64_t committed_at = clock->NowUnixMillis();
    in_flight_marked = false;
    if (!settled_counted.empty()) {
      for (std::string_view origin : settled_counted) {
        // A group may hold the same origin twice, so each is looked up before it is erased.
        if (auto it = suspects.find(origin); it != suspects.end()) suspects.erase(it);
        if (auto it = failures.find(origin); it != failures.end()) failures.erase(it);
      }
      suspects_gauge->Set(static_cast<double>(suspects.size()));
    }
    for (auto& [origin, count] : counted_failures) failures[origin] = count;
    if (had_txn_error) {
      std::lock_guard<std::mutex> lock(mu);
      last_txn_error.clear();
      had_txn_error = false;
    }
    last_commit_ms.store(committed_at, std::memory_order_relaxed);
    last_commit_gauge->Set(static_cast<double>(committed_at));
    commit_duration->Observe(static_cast<double>(commit_ns) / 1e6);
    batch_size->Observe(static_cast<double>(total));

    size_t r = 0;
    for (InboundBatch& batch : group) {
      std::vector<Settlement> settlements(batch.messages.size());
      for (size_t i = 0; i < batch.messages.size(); ++i, ++r) {
        const RawMessage& msg = batch.messages[i];
        const MessageResult& res = results[r];
        Settlement& s = settlements[i];
        switch (res.outcome) {
          case Outcome::kApplied:
            res.type_counter->Inc();
            e2e_latency->Observe(static_cast<double>(committed_at - res.event_time_ms));
            break;
          case Outcome::kDuplicate:
            duplicates->Inc();
            break;
          case Outcome::kRedelivered:
            redeliveries->Inc();
            break;
          case Outcome::kDeadLetter: {
            // Committed, so in the outbox: acked now, published by the outbox. Counted once: a
            // replay of a recorded dead letter is kRedelivered.
            const DeadLetterRecord& record = dead_letters[static_cast<size_t>(res.dead_letter)];
            dead_by_reason.find(record.reason)->second->Inc();
            LOG(kInfo, "pipeline") << "dead-lettered " << msg.origin << " (" << record.reason
                                   << "): " << record.error;
            break;
          }
          case Outcome::kRetry:
            s = {Verdict::kRetry,
                 res.retry_delay_ms > 0 ? res.retry_delay_ms : RetryDelayMs(msg.attempts)};
            retries->Inc();
            break;
        }
      }
      if (batch.on_settled) batch.on_settled(std::move(settlements));
    }
    if (!dead_letters.empty() && dead_letter_listener) dead_letter_listener();
  }

  PipelineOptions options;
  Store* store;
  const SchemaRegistry* schemas;
  Metrics* metrics;
  Clock* clock;
  std::function<void()> dead_letter_listener;

  // Queue state, guarded by mu.
  std::mutex mu;
  std::condition_variable not_empty;
  std::condition_variable not_full;
  struct Queued {
    InboundBatch batch;
    size_t bytes;  // BatchBytes, counted once at Submit
  };
  std::deque<Queued> queue;
  size_t queued = 0;
  size_t held_bytes = 0;  // bytes of the messages queued or in the writer's group
  bool stopping = false;
  bool started = false;
  std::string last_txn_error;  // see Pipeline::last_transaction_error
  bool had_txn_error = false;  // writer thread: last_txn_error may be non-empty
  std::thread writer;

  std::atomic<size_t> queued_atomic{0};
  std::atomic<int64_t> last_commit_ms{0};

  // Writer-thread state.
  size_t group_bytes = 0;  // held_bytes of the group being applied
  Rng rng;
  EnvelopeDecoder decoder;
  Event event;
  std::vector<MessageResult> results;
  std::vector<DeadLetterRecord> dead_letters;
  Status abort_status;  // set when the store failed in a way that spoils the transaction
  std::unordered_map<std::string, Counter*, TransparentHash, std::equal_to<>> applied_by_type;
  // Crash accounting: origin -> crashes it was in flight for (pipeline.h, "Crashes").
  std::unordered_map<std::string, int, TransparentHash, std::equal_to<>> suspects;
  std::vector<std::string_view> in_flight_origins;  // the group being applied (MarkInFlight)
  // Origin -> failures of the message's own so far (pipeline.h, "Failures").
  struct FailureCount {
    int count = 0;
    int64_t first_ms = 0;  // unix ms of the first
  };
  std::unordered_map<std::string, FailureCount, TransparentHash, std::equal_to<>> failures;
  std::vector<std::pair<std::string, FailureCount>> counted_failures;  // what the open txn records
  // Suspects and messages with failures that the open transaction settles.
  std::vector<std::string_view> settled_counted;
  bool in_flight_marked = false;  // a committed in-flight record not yet cleared

  // Cached metric series.
  Counter* received[2];
  Counter* duplicates;
  Counter* redeliveries;
  Counter* retries;
  std::unordered_map<std::string, Counter*, TransparentHash, std::equal_to<>> dead_by_reason;
  Histogram* batch_size;
  Histogram* e2e_latency;
  Histogram* commit_duration;
  Gauge* queue_gauge;
  Gauge* bytes_gauge;
  Gauge* last_commit_gauge;
  Gauge* suspects_gauge;
};

Pipeline::Pipeline(PipelineOptions options, Store* store, const SchemaRegistry* schemas,
                   Metrics* metrics, Clock* clock)
    : impl_(std::make_unique<Impl>(std::move(options), store, schemas, metrics, clock)) {}

Pipeline::~Pipeline() { Stop(); }

void Pipeline::SetDeadLetterListener(std::function<void()> listener) {
  impl_->dead_letter_listener = std::move(listener);
}

void Pipeline::Start() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->started || impl_->stopping) return;
  }
  impl_->RecoverCounts();  // before the writer exists: the store is this thread's until then
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->started || impl_->stopping) return;
  impl_->started = true;
  impl_->writer = std::thread([this] { impl_->WriterLoop(); });
}

bool Pipeline::Submit(InboundBatch batch) {
  Impl& d = *impl_;
  const size_t bytes = Impl::BatchBytes(batch);
  std::unique_lock<std::mutex> lock(d.mu);
  d.not_full.wait(lock, [&] { return d.stopping || d.FitsLocked(batch.messages.size(), bytes); });
  if (d.stopping) return false;
  d.EnqueueLocked(std::move(batch), bytes);
  return true;
}

bool Pipeline::TrySubmit(InboundBatch& batch) {
  Impl& d = *impl_;
  const size_t bytes = Impl::BatchBytes(batch);
  std::lock_guard<std::mutex> lock(d.mu);
  if (d.stopping || !d.FitsLocked(batch.messages.size(), bytes)) return false;
  d.EnqueueLocked(std::move(batch), bytes);
  return true;
}

void Pipeline::Stop() {
  Impl& d = *impl_;
  bool run_inline = false;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.stopping && !d.writer.joinable()) return;
    d.stopping = true;
    run_inline = !d.started;
  }
  d.not_empty.notify_all();
  d.not_full.notify_all();
  if (d.writer.joinable()) {
    d.writer.join();
  } else if (run_inline) {
    // Never started: still settle whatever was queued, on this thread.
    d.WriterLoop();
  }
  d.ClearInFlightOnStop();
}

size_t Pipeline::queued_messages() const {
  return impl_->queued_atomic.load(std::memory_order_relaxed);
}

std::string Pipeline::last_transaction_error() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->last_txn_error;
}

int64_t Pipeline::last_commit_unix_ms() const {
  return impl_->last_commit_ms.load(std::memory_order_relaxed);
}

}  // namespace ingestlab
