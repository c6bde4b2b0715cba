// DeadLetterOutbox: see system/dead_letter_outbox.h.
#include "system/dead_letter_outbox.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "system/mutant.h"
#include "system/sql_connection.h"

namespace ingestlab {
namespace {

constexpr Transport kTransports[] = {Transport::kJetStream, Transport::kKafka};
size_t Index(Transport t) { return t == Transport::kKafka ? 1 : 0; }
const char* Label(Transport t) { return t == Transport::kKafka ? "kafka" : "nats"; }
// Origins are "nats:STREAM:seq" and "kafka:topic:partition:offset" (pipeline_types.h).
const char* OriginPattern(Transport t) { return t == Transport::kKafka ? "kafka:%" : "nats:%"; }

constexpr char kPendingRows[] = R"sql(
SELECT id, origin, subject, reason, error, attempts, payload, headers, msg_key
FROM dead_letters WHERE published_at IS NULL AND origin LIKE ?1 ORDER BY id LIMIT ?2)sql";
constexpr char kCountPending[] = "SELECT COUNT(*) FROM dead_letters WHERE published_at IS NULL";
constexpr char kMarkPublished[] =
    "UPDATE dead_letters SET published_at = ?2, publish_error = ?3 WHERE id = ?1";

struct Row {
  int64_t id = 0;
  RawMessage message;
  DeadLetterRecord record;
};

// A finished row waiting to be marked (a failed mark is retried with the next round).
struct Done {
  int64_t id;
  int64_t at_ms;
  std::string error;  // publish_error; empty when published
};

}  // namespace

struct DeadLetterOutbox::Impl {
  OutboxOptions options;
  Metrics* metrics;
  Clock* clock;
  std::unique_ptr<SqlConnection> db;  // its own connection to the store's database
  DeadLetterSink* sinks[2] = {nullptr, nullptr};

  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  bool stopping = false;
  int64_t stop_deadline_ns = 0;  // monotonic; set by Stop
  std::thread thread;
  std::atomic<int64_t> pending_rows{0};

  // Publisher-thread state.
  int64_t retry_at_ns[2] = {0, 0};
  int64_t backoff_ms[2] = {0, 0};
  bool warned_no_sink[2] = {false, false};
  std::vector<Done> done;

  Counter* published;
  Counter* refused;
  Gauge* pending_gauge;

  Result<std::vector<Row>> Pending(Transport t) {
    auto stmt = db->Prepare(kPendingRows);
    if (!stmt.ok()) return stmt.status().Annotate("dlq outbox: read");
    SqlStatement& q = **stmt;
    q.BindText(1, OriginPattern(t));
    q.BindInt(2, static_cast<int64_t>(options.rows_per_round));
    std::vector<Row> rows;
    Result<bool> more = q.Step();
    for (; more.ok() && *more; more = q.Step()) {
      Row& row = rows.emplace_back();
      row.id = q.Int(0);
      DeadLetterRecord& r = row.record;
      r.origin = std::string(q.Text(1));
      r.subject = std::string(q.Text(2));
      r.reason = std::string(q.Text(3));
      r.error = std::string(q.Text(4));
      r.attempts = static_cast<int>(q.Int(5));
      r.key = std::string(q.Text(8));
      // The store wrote this JSON: a flat object of strings.
      auto headers = nlohmann::json::parse(q.Text(7), nullptr, false);
      if (headers.is_object()) {
        for (const auto& [name, value] : headers.items()) {
          if (value.is_string()) r.headers.emplace_back(name, value.get<std::string>());
        }
      }
      RawMessage& m = row.message;
      m.transport = t;
      m.subject = r.subject;
      m.origin = r.origin;
      m.key = r.key;
      m.attempts = r.attempts;
      m.headers = r.headers;
      const std::string_view payload = q.Text(6);
      if (payload.size() > options.max_payload_bytes) {
        m.payload.assign(payload.substr(0, options.max_payload_bytes));
        m.headers.emplace_back(kPayloadTruncatedHeader, std::to_string(payload.size()));
      } else {
        m.payload.assign(payload);
      }
    }
    q.Reset();
    if (!more.ok()) return more.status().Annotate("dlq outbox: read");
    return rows;
  }

  // Marks what was finished, in one transaction; on failure they stay for the next round.
  void MarkDone() {
    if (done.empty()) return;
    Status st = db->Execute(db->BeginStatement(), "begin");
    auto stmt = db->Prepare(kMarkPublished);
    if (st.ok() && !stmt.ok()) st = stmt.status();
    for (size_t i = 0; st.ok() && i < done.size(); ++i) {
      SqlStatement& q = **stmt;
      q.BindInt(1, done[i].id);
      q.BindInt(2, done[i].at_ms);
      if (done[i].error.empty()) {
        q.BindNull(3);
      } else {
        q.BindText(3, done[i].error);
      }
      st = q.Step().status();
      q.Reset();
    }
    if (st.ok()) st = db->Execute("COMMIT", "commit");
    if (!st.ok()) {
      LOG(kDebug, "dlq") << "dlq outbox: mark published: " << st.message() << "; will retry";
      if (db->InTransaction()) db->Execute("ROLLBACK", "rollback");
      return;
    }
    done.clear();
  }

  void CountPending() {
    auto stmt = db->Prepare(kCountPending);
    if (!stmt.ok()) return;
    auto row = (*stmt)->Step();
    if (row.ok() && *row) {
      const int64_t n =
          std::max<int64_t>(0, (*stmt)->Int(0) - static_cast<int64_t>(done.size()));
      pending_rows.store(n, std::memory_order_relaxed);
      pending_gauge->Set(static_cast<double>(n));
    }
    (*stmt)->Reset();
  }

  bool AlreadyDone(int64_t id) const {
    for (const Done& d : done) {
      if (d.id == id) return true;
    }
    return false;
  }

  // Publishes the pending rows of one transport in id order, up to the first transient failure.
  // Returns true when it published a full round (there may be more right away).
  bool PublishRound(Transport t) {
    const size_t i = Index(t);
    if (clock->NowMonoNanos() < retry_at_ns[i]) return false;
    DeadLetterSink* sink = sinks[i];
    auto rows = Pending(t);
    if (!rows.ok()) {
      LOG(kDebug, "dlq") << rows.status().message();
      return false;
    }
    if (!rows->empty() && sink == nullptr) {
      if (!warned_no_sink[i]) {
        LOG(kWarn, "dlq") << "dead letters from " << Label(t) << " wait in the dead_letters table: "
                          << "this ingestd does not consume " << Label(t);
        warned_no_sink[i] = true;
      }
      return false;
    }
    size_t handled = 0;
    for (Row& row : *rows) {
      if (AlreadyDone(row.id)) {
        ++handled;
        continue;
      }
      const Status st = sink->Publish(row.message, row.record);
      if (st.ok()) {
        done.push_back({row.id, clock->NowUnixMillis(), {}});
        published->Inc();
        backoff_ms[i] = 0;
        LOG(kInfo, "dlq") << "published dead letter " << row.record.origin << " ("
                          << row.record.reason << ")";
        ++handled;
        continue;
      }
#ifdef INGESTD_MUTANTS
      // Mutant dlq_transient_as_refused: a transient DLQ failure (the DLQ unreachable, no
      // delivery report in time) is taken as a refusal for good: the copy is never sent.
      const bool refused_for_good = !st.is_transient() || Mutant("dlq_transient_as_refused");
#else
      const bool refused_for_good = !st.is_transient();
#endif
      if (refused_for_good) {
        // Retrying cannot help; the row keeps the message.
        done.push_back({row.id, clock->NowUnixMillis(), st.ToString()});
        refused->Inc();
        LOG(kError, "dlq") << "dead letter " << row.record.origin << " (" << row.record.reason
                           << ") refused by the DLQ: " << st.ToString()
                           << "; kept in the dead_letters table only";
        ++handled;
        continue;
      }
      backoff_ms[i] = backoff_ms[i] == 0 ? options.retry_base_ms
                                         : std::min(backoff_ms[i] * 2, options.retry_max_ms);
      retry_at_ns[i] = clock->NowMonoNanos() + backoff_ms[i] * 1'000'000;
      LOG(kWarn, "dlq") << "publishing dead letter " << row.record.origin
                        << " failed: " << st.ToString() << "; retrying in " << backoff_ms[i]
                        << " ms";
      return false;
    }
    return handled > 0 && handled == options.rows_per_round;
  }

  void Run() {
    for (;;) {
      bool more = false;
      for (Transport t : kTransports) more |= PublishRound(t);
      MarkDone();
      CountPending();
      std::unique_lock<std::mutex> lock(mu);
      if (stopping && (pending_rows.load() == 0 || clock->NowMonoNanos() >= stop_deadline_ns ||
                       AllBackingOff())) {
        return;
      }
      if (more) continue;
      // Until woken, the next poll, or the end of the nearest transport's backoff.
      int64_t wait_ms = options.poll_ms;
      const int64_t now = clock->NowMonoNanos();
      for (int64_t at : retry_at_ns) {
        if (at > now) wait_ms = std::min<int64_t>(wait_ms, (at - now) / 1'000'000 + 1);
      }
      if (stopping) wait_ms = std::min<int64_t>(wait_ms, 50);
      cv.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return woken || stopping; });
      woken = false;
    }
  }

  // While stopping: every transport with pending rows is failing, so waiting is pointless.
  bool AllBackingOff() const {
    const int64_t now = clock->NowMonoNanos();
    for (size_t i = 0; i < 2; ++i) {
      if (sinks[i] != nullptr && retry_at_ns[i] <= now) return false;
    }
    return true;
  }
};

DeadLetterOutbox::DeadLetterOutbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DeadLetterOutbox::~DeadLetterOutbox() { Stop(); }

Result<std::unique_ptr<DeadLetterOutbox>> DeadLetterOutbox::Open(OutboxOptions options,
                                                                 Metrics* metrics, Clock* clock) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->metrics = metrics;
  impl->clock = clock != nullptr ? clock : &Clock::System();
  auto db = OpenSideConnection(impl->options.db_path, impl->options.busy_timeout_ms);
  if (!db.ok()) return db.status().Annotate("dlq outbox");
  impl->db = std::move(*db);
  impl->published = metrics->counter("ingest_dlq_published_total",
                                     "Dead letters published to their DLQ by the outbox");
  impl->refused = metrics->counter(
      "ingest_dead_letter_publish_failures_total",
      "Dead letters the DLQ transport refused for good (kept in the dead_letters table only)");
  impl->pending_gauge = metrics->gauge(
      "ingest_dlq_pending", "Dead letters committed but not yet published to their DLQ");
  return std::unique_ptr<DeadLetterOutbox>(new DeadLetterOutbox(std::move(impl)));
}

void DeadLetterOutbox::SetSink(Transport transport, DeadLetterSink* sink) {
  impl_->sinks[Index(transport)] = sink;
}

void DeadLetterOutbox::Start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->thread.joinable() || impl_->stopping) return;
  impl_->thread = std::thread([this] { impl_->Run(); });
}

void DeadLetterOutbox::Wake() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->woken = true;
  }
  impl_->cv.notify_one();
}

void DeadLetterOutbox::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->stopping = true;
      impl_->stop_deadline_ns =
          impl_->clock->NowMonoNanos() + impl_->options.drain_on_stop_ms * 1'000'000;
    }
  }
  impl_->cv.notify_one();
  if (impl_->thread.joinable()) impl_->thread.join();
  const int64_t left = impl_->pending_rows.load();
  if (left > 0) {
    LOG(kWarn, "dlq") << left
                      << " dead letters not yet on their DLQ; they are kept in the dead_letters "
                         "table and published at the next start";
  }
}

int64_t DeadLetterOutbox::pending() const {
  return impl_->pending_rows.load(std::memory_order_relaxed);
}

}  // namespace ingestlab
