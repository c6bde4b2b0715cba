// SqliteStore: the Store over one SQLite writer connection in WAL mode, plus a second
// connection on a background thread that only checkpoints the WAL. See store.h for the
// promises, store_schema.h for the tables, handlers/registry.h for the per-type effects.
// Thread-safety: as store.h (one thread at a time); the checkpoint thread shares nothing but
// the database file and a nudge flag guarded by its mutex.
#include "system/store.h"

#include <array>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "system/handlers/apply_context.h"
#include "system/handlers/registry.h"
#include "system/mutant.h"
#include "system/sha256.h"
#include "system/store_schema.h"

namespace ingestlab {
namespace {

using handlers::ApplyContext;
using handlers::ForEachRow;
using handlers::SqliteStatus;
using handlers::Stmt;

// StateDigest's hash: the shared SHA-256 behind the byte-pointer interface the digest uses.
class DigestSha256 {
 public:
  void Update(const void* data, size_t n) {
    sha_.Update(std::string_view(static_cast<const char*>(data), n));
  }
  void Update(std::string_view s) { sha_.Update(s); }
  std::string HexDigest() {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (uint8_t byte : sha_.Final()) {
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
    return out;
  }

 private:
  Sha256 sha_;
};

// Copies the WAL back into the database file on its own connection and thread, so the writer
// never stalls on checkpoint I/O and fsync (SQLite's default runs it inside COMMIT). The
// writer's WAL hook nudges it after each commit once the WAL holds kCheckpointFrames pages;
// if it falls far behind (kWriterCheckpointFrames) the writer checkpoints itself.
class Checkpointer {
 public:
  static constexpr int kCheckpointFrames = 1000;
  static constexpr int kWriterCheckpointFrames = 50'000;

  explicit Checkpointer(sqlite3* db) : db_(db), thread_([this] { Run(); }) {}
  ~Checkpointer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
    sqlite3_close_v2(db_);
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  void Nudge() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_) return;
      pending_ = true;
    }
    cv_.notify_one();
  }

  // sqlite3_wal_hook callback on the writer's connection, after each commit.
  static int OnCommit(void* arg, sqlite3* writer, const char* schema, int frames) {
    auto* self = static_cast<Checkpointer*>(arg);
    if (frames >= kWriterCheckpointFrames) {
      sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (frames >= kCheckpointFrames) {
      self->Nudge();
    }
    return SQLITE_OK;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return pending_ || stop_; });
      if (stop_) return;
      pending_ = false;
      lock.unlock();
      const int rc =
          sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
        LOG(kWarn, "store") << "checkpoint: " << sqlite3_errmsg(db_);
      }
      lock.lock();
    }
  }

  sqlite3* db_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";
constexpr char kSavepoint[] = "SAVEPOINT apply_event";
constexpr char kRelease[] = "RELEASE apply_event";
constexpr char kRollbackTo[] = "ROLLBACK TO apply_event";

constexpr char kInsertEvent[] = R"sql(
INSERT INTO events(event_id, type, source, org_id, customer_id, event_time, received_at,
                   committed_at, attempts, payload, origin, dialect, schema_version)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
ON CONFLICT(event_id) DO NOTHING)sql";

constexpr char kDeleteEvent[] = "DELETE FROM events WHERE event_id = ?1";

constexpr char kEventOrigin[] = "SELECT origin FROM events WHERE event_id = ?1";

// First sighting of a duplicate message: inserted. A replay of it (same origin): ignored.
constexpr char kInsertDuplicateOrigin[] = R"sql(
INSERT INTO duplicate_origins(origin, event_id) VALUES (?1, ?2)
ON CONFLICT(origin) DO NOTHING)sql";

constexpr char kInsertDeadLetter[] = R"sql(
INSERT INTO dead_letters(origin, subject, reason, error, attempts, payload, headers, dead_at,
                         msg_key, digest)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
WHERE NOT EXISTS (SELECT 1 FROM dead_letters WHERE origin = ?1 AND digest = '')
ON CONFLICT(origin, digest) DO NOTHING)sql";

constexpr char kMarkInFlight[] = R"sql(
INSERT INTO in_flight(owner, origins, started_at) VALUES (?1, ?2, ?3)
ON CONFLICT(owner) DO UPDATE SET origins = excluded.origins, started_at = excluded.started_at)sql";
constexpr char kClearInFlight[] = "DELETE FROM in_flight WHERE owner = ?1";
constexpr char kInFlightOrigins[] = "SELECT origins FROM in_flight WHERE owner = ?1";
constexpr char kCountCrash[] = R"sql(
INSERT INTO crash_suspects(origin, crashes, last_crash_at) VALUES (?1, 1, ?2)
ON CONFLICT(origin) DO UPDATE SET crashes = crashes + 1, last_crash_at = excluded.last_crash_at)sql";
constexpr char kForgetCrash[] = "DELETE FROM crash_suspects WHERE origin = ?1";
constexpr char kPruneCrashes[] = "DELETE FROM crash_suspects WHERE last_crash_at < ?1";
constexpr char kCrashSuspects[] = "SELECT origin, crashes FROM crash_suspects ORDER BY origin";
constexpr int64_t kCrashRetentionMs = 7LL * 24 * 3600 * 1000;
constexpr char kRecordFailure[] = R"sql(
INSERT INTO message_failures(origin, failures, last_error, first_failed_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?4)
ON CONFLICT(origin) DO UPDATE SET failures = excluded.failures, last_error = excluded.last_error,
  updated_at = excluded.updated_at)sql";
constexpr char kForgetFailures[] = "DELETE FROM message_failures WHERE origin = ?1";
constexpr char kPruneFailures[] = "DELETE FROM message_failures WHERE updated_at < ?1";
constexpr char kFailures[] =
    "SELECT origin, failures, first_failed_at FROM message_failures ORDER BY origin";

class SqliteStore final : public Store {
 public:
  SqliteStore(StoreOptions options, sqlite3* db, sqlite3* checkpoint_db)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &Clock::System()),
        db_(db),
        ctx_(std::make_unique<ApplyContext>(db_, options_)),
        checkpointer_(std::make_unique<Checkpointer>(checkpoint_db)) {
    sqlite3_wal_hook(db_, &Checkpointer::OnCommit, checkpointer_.get());
  }

  ~SqliteStore() override {
    if (sqlite3_get_autocommit(db_) == 0) Rollback();
    sqlite3_wal_hook(db_, nullptr, nullptr);
    checkpointer_.reset();
    ctx_.reset();           // finalizes the cached statements before the connection closes
    sqlite3_close_v2(db_);  // the last connection to close checkpoints and removes the WAL
  }

  Status Begin() override {
    aborted_ = Status::Ok();
    INGEST_RETURN_IF_ERROR(Exec(kBegin, "begin transaction").Annotate(options_.path));
    Status st = ctx_->BeginSearchTransaction();
    if (!st.ok()) Rollback();
    return st.Annotate(options_.path);
  }

  Status Commit() override {
    if (!aborted_.ok()) {
      Status st = aborted_;
      aborted_ = Status::Ok();
      return st;
    }
    if (sqlite3_get_autocommit(db_) != 0) {
      return Status::Internal(options_.path + ": commit without a transaction");
    }
    Status st = ctx_->FlushSearch();
    if (st.ok()) st = Exec(kCommit, "commit");
    if (!st.ok() && sqlite3_get_autocommit(db_) == 0) Rollback();
    return st.Annotate(options_.path);
  }

  void Rollback() override {
    aborted_ = Status::Ok();
    if (sqlite3_get_autocommit(db_) != 0) return;  // nothing open (or SQLite already rolled back)
    Status st = Exec(kRollback, "rollback");
    if (!st.ok()) {
      LOG(kWarn, "store") << options_.path << ": " << st.ToString();
    }
  }

  // Isolation without a savepoint per event. A savepoint costs about a third of an event's
  // apply time (SQLite copies every page the event touches into a statement journal), so an
  // event runs without one and relies on this: a handler that fails for a reason of its own
  // (Schema, or Transient waiting for a prerequisite) fails before its first write
  // (handlers/registry.h). Undoing such an event only means deleting its `events` row.
  // If a handler does fail after writing (a SQLite error mid-event, or a handler breaking that
  // rule) the effects can't be separated from the batch's, so the whole transaction is rolled
  // back and reported (this event's status; Transient for the rest of the batch and Commit),
  // and from then on that handler runs inside a SAVEPOINT, so the retried batch isolates it.
  Result<ApplyOutcome> ApplyEvent(const Event& event, const RawMessage& msg) override {
    const handlers::Handler handler = handlers::FindHandler(event.type);
    if (handler == nullptr) {
      return Status::Schema("unknown event type '" + event.type + "'");
    }
    if (event.id.empty()) return Status::Schema(event.type + ": event id is empty");
    if (!aborted_.ok()) return aborted_;
    if (sqlite3_get_autocommit(db_) != 0) {
      return Status::Internal("ApplyEvent outside a transaction (call Begin first)");
    }
    const bool isolate = isolated_handlers_.count(handler) > 0;
    if (isolate) INGEST_RETURN_IF_ERROR(Exec(kSavepoint, "savepoint"));

    // One statement: on failure SQLite has undone it, and nothing else was written.
    auto inserted = InsertEventRow(event, msg);
    if (!inserted.ok()) return isolate ? Undo(inserted.status()) : Check(inserted.status());
#ifdef INGESTD_MUTANTS
    // Mutant apply_duplicates (docs/mutants.md): a producer-side duplicate is applied again, the
    // bug the harness's exactly-once check and replay must catch.
    const bool mutant_reapply =
        !*inserted && !msg.origin.empty() && Mutant("apply_duplicates") && [&] {
          auto origin = ctx_->Prepare(kEventOrigin);
          if (!origin.ok()) return false;
          origin->Bind(1, std::string_view(event.id));
          auto row = origin->Step();
          return row.ok() && *row && origin->Text(0) != msg.origin;
        }();
    if (!*inserted && !mutant_reapply) {
#else
    if (!*inserted) {
#endif
      auto outcome = DuplicateOutcome(event, msg);
      if (!outcome.ok()) return isolate ? Undo(outcome.status()) : Check(outcome.status());
      if (isolate) INGEST_RETURN_IF_ERROR(Exec(kRelease, "release savepoint"));
      return outcome;
    }
    const int64_t changes_before = sqlite3_total_changes64(db_);
    Status st = handler(*ctx_, event);
    if (st.ok()) {
      if (isolate) INGEST_RETURN_IF_ERROR(Exec(kRelease, "release savepoint"));
      return ApplyOutcome::kApplied;
    }
    if (isolate) return Undo(st);
#ifdef INGESTD_MUTANTS
    // Mutant mark_seen_before_apply: the de-duplication record outlives an apply that failed,
    // as when it is committed in a transaction of its own before the effects. The retry of an
    // event whose dependency was late is then skipped as a redelivery: its effects are lost.
    if (Mutant("mark_seen_before_apply")) return st;
#endif
    if (sqlite3_total_changes64(db_) == changes_before && sqlite3_get_autocommit(db_) == 0) {
      Status undo = DeleteEventRow(event);
      if (undo.ok()) return st;
      Abort(handler, undo);
      return st;
    }
    Abort(handler, st);
    return st;
  }

  Result<DeadLetterState> RecordDeadLetter(const DeadLetterRecord& record) override {
    if (!aborted_.ok()) return aborted_;
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, value] : record.headers) {
      if (!headers.contains(name)) headers[name] = value;
    }
    const std::string headers_json =
        headers.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto stmt = ctx_->Prepare(kInsertDeadLetter);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, std::string_view(record.origin));
    stmt->Bind(2, std::optional<std::string_view>(record.subject));
    stmt->Bind(3, std::string_view(record.reason));
    stmt->Bind(4, std::optional<std::string_view>(record.error));
    stmt->Bind(5, record.attempts);
    stmt->BindBlob(6, record.payload);
    stmt->Bind(7, std::string_view(headers_json));
    stmt->Bind(8, clock_->NowUnixMillis());
    if (record.key.empty()) {
      stmt->BindNull(9);
    } else {
      stmt->BindBlob(9, record.key);
    }
    Sha256HexInto(record.payload, &digest_);
    stmt->Bind(10, std::string_view(digest_));
    INGEST_RETURN_IF_ERROR(stmt->Run().Annotate(options_.path));
    return stmt->Changes() > 0 ? DeadLetterState::kNew : DeadLetterState::kKnown;
  }

  Status MarkInFlight(std::string_view owner,
                      const std::vector<std::string_view>& origins) override {
    if (sqlite3_get_autocommit(db_) == 0) {
      return Status::Internal("MarkInFlight inside a transaction");
    }
    in_flight_text_.clear();
    for (std::string_view origin : origins) {
      in_flight_text_.append(origin);
      in_flight_text_ += '\n';  // origins never hold a newline (stream, topic names can't)
    }
    auto stmt = ctx_->Prepare(kMarkInFlight);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, owner);
    stmt->Bind(2, std::string_view(in_flight_text_));
    stmt->Bind(3, clock_->NowUnixMillis());
    const Status st = stmt->Run();  // autocommit: its own transaction
    if (!st.ok()) return SqliteStatus(db_, sqlite3_errcode(db_), "record in-flight messages");
    return st;
  }

  Status ClearInFlight(std::string_view owner,
                       const std::vector<std::string_view>& settled) override {
    if (!aborted_.ok()) return aborted_;
    auto clear = ctx_->Prepare(kClearInFlight);
    if (!clear.ok()) return clear.status();
    clear->Bind(1, owner);
    INGEST_RETURN_IF_ERROR(Check(clear->Run()).Annotate(options_.path));
    for (std::string_view origin : settled) {
      for (const char* sql : {kForgetCrash, kForgetFailures}) {
        auto forget = ctx_->Prepare(sql);
        if (!forget.ok()) return forget.status();
        forget->Bind(1, origin);
        INGEST_RETURN_IF_ERROR(Check(forget->Run()).Annotate(options_.path));
      }
    }
    return Status::Ok();
  }

  Status RecordFailure(std::string_view origin, int failures, std::string_view error) override {
    if (!aborted_.ok()) return aborted_;
    auto stmt = ctx_->Prepare(kRecordFailure);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, origin);
    stmt->Bind(2, failures);
    stmt->Bind(3, error);
    stmt->Bind(4, clock_->NowUnixMillis());
    return Check(stmt->Run()).Annotate(options_.path);
  }

  Result<std::vector<MessageFailure>> MessageFailures() override {
    INGEST_RETURN_IF_ERROR(Begin());
    auto fail = [&](const Status& st) {
      Rollback();
      return st.Annotate(options_.path);
    };
    Status st = handlers::Exec(*ctx_, kPruneFailures, clock_->NowUnixMillis() - kCrashRetentionMs);
    if (!st.ok()) return fail(st);
    std::vector<MessageFailure> failures;
    st = ForEachRow(*ctx_, kFailures, [&](const Stmt& row) {
      failures.push_back({std::string(row.Text(0)), static_cast<int>(row.Int(1)), row.Int(2)});
    });
    if (!st.ok()) return fail(st);
    INGEST_RETURN_IF_ERROR(Commit());
    return failures;
  }

  Result<std::vector<std::pair<std::string, int>>> RecoverCrashes(std::string_view owner) override {
    INGEST_RETURN_IF_ERROR(Begin());
    auto fail = [&](const Status& st) {
      Rollback();
      return st.Annotate(options_.path);
    };
    std::string origins;
    {
      auto stmt = ctx_->Prepare(kInFlightOrigins);
      if (!stmt.ok()) return fail(stmt.status());
      stmt->Bind(1, owner);
      auto row = stmt->Step();
      if (!row.ok()) return fail(row.status());
      if (*row) origins = std::string(stmt->Text(0));
    }
    const int64_t now = clock_->NowUnixMillis();
    size_t start = 0;
    int died_with = 0;
    while (start < origins.size()) {
      size_t end = origins.find('\n', start);
      if (end == std::string::npos) end = origins.size();
      if (end > start) {
        const Status st = handlers::Exec(*ctx_, kCountCrash,
                                         std::string_view(origins).substr(start, end - start), now);
        if (!st.ok()) return fail(st);
        ++died_with;
      }
      start = end + 1;
    }
    Status st = handlers::Exec(*ctx_, kClearInFlight, owner);
    if (st.ok()) st = handlers::Exec(*ctx_, kPruneCrashes, now - kCrashRetentionMs);
    if (!st.ok()) return fail(st);
    std::vector<std::pair<std::string, int>> suspects;
    st = ForEachRow(*ctx_, kCrashSuspects, [&](const Stmt& row) {
      suspects.emplace_back(std::string(row.Text(0)), static_cast<int>(row.Int(1)));
    });
    if (!st.ok()) return fail(st);
    INGEST_RETURN_IF_ERROR(Commit());
    if (died_with > 0) {
      LOG(kWarn, "store") << owner << " stopped abnormally while applying " << died_with
                          << " messages; each counts one crash";
    }
    return suspects;
  }

  std::string Synchronous() override {
    sqlite3_stmt* stmt = nullptr;
    std::string mode;
    if (sqlite3_prepare_v2(db_, "PRAGMA synchronous", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      switch (sqlite3_column_int(stmt, 0)) {
        case 0: mode = "off"; break;
        case 1: mode = "normal"; break;
        case 2: mode = "full"; break;
        case 3: mode = "extra"; break;
      }
    }
    sqlite3_finalize(stmt);
    return mode;
  }

  Result<std::string> StateDigest() override {
    const bool own_transaction = sqlite3_get_autocommit(db_) != 0;
    if (own_transaction) INGEST_RETURN_IF_ERROR(Exec("BEGIN", "begin digest"));
    DigestSha256 sha;
    Status st = DigestQuery(sha, "events", "SELECT event_id, type FROM events ORDER BY event_id");
    for (const DigestTable& table : DigestTables()) {
      if (!st.ok()) break;
      const std::string sql =
          std::string("SELECT * FROM ") + table.name + " ORDER BY " + table.order_by;
      st = DigestQuery(sha, table.name, sql);
    }
    if (own_transaction) Exec("COMMIT", "end digest");
    if (!st.ok()) return st.Annotate(options_.path);
    return sha.HexDigest();
  }

 private:
  // Runs one of the fixed statements above through the statement cache.
  Status Exec(const char* sql, std::string_view what) {
    auto stmt = ctx_->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    Status st = stmt->Run();
    if (!st.ok()) return SqliteStatus(db_, sqlite3_errcode(db_), what);
    return st;
  }

  // A failed statement that wrote nothing: the transaction is intact unless SQLite rolled it
  // back itself (I/O error, disk full), which then fails the rest of the batch.
  Status Check(const Status& cause) {
    if (sqlite3_get_autocommit(db_) != 0 && aborted_.ok()) {
      aborted_ = Status::Transient("transaction rolled back by SQLite after: " + cause.ToString());
    }
    return cause;
  }

  // Rolls back the whole transaction after an event failed midway; see ApplyEvent.
  void Abort(handlers::Handler handler, const Status& cause) {
    isolated_handlers_.insert(handler);
    LOG(kWarn, "store") << options_.path << ": an event failed after writing (" << cause.ToString()
                        << "); rolling back the transaction";
    Rollback();
    aborted_ = Status::Transient("transaction rolled back after an event failed midway: " +
                                 cause.ToString());
  }

  Status DeleteEventRow(const Event& event) {
    auto stmt = ctx_->Prepare(kDeleteEvent);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, std::string_view(event.id));
    return stmt->Run();
  }

  // Rolls the current event back to its savepoint and returns `cause`.
  Status Undo(const Status& cause) {
    // An I/O error or a full disk can make SQLite roll back the whole transaction itself;
    // then there is no savepoint left to return to.
    if (sqlite3_get_autocommit(db_) == 0) {
      Status st = Exec(kRollbackTo, "rollback to savepoint");
      if (st.ok()) st = Exec(kRelease, "release savepoint");
      if (!st.ok()) {
        LOG(kWarn, "store") << options_.path << ": " << st.ToString();
      }
      return cause;
    }
    return Check(cause);
  }

  // true = inserted (first sighting), false = the id was already there.
  Result<bool> InsertEventRow(const Event& event, const RawMessage& msg) {
    auto stmt = ctx_->Prepare(kInsertEvent);
    if (!stmt.ok()) return stmt.status();
    const std::string_view customer_id = ApplyContext::CustomerOf(event);
    const std::string_view payload = event.raw.empty() ? std::string_view(msg.payload) : event.raw;
    const int64_t now = clock_->NowUnixMillis();
    stmt->Bind(1, std::string_view(event.id));
    stmt->Bind(2, std::string_view(event.type));
    stmt->Bind(3, std::optional<std::string_view>(event.source));
    stmt->Bind(4, std::optional<std::string_view>(event.org_id));
    stmt->Bind(5, std::optional<std::string_view>(customer_id));
    stmt->Bind(6, event.event_time_ms);
    stmt->Bind(7, msg.received_at_ms != 0 ? msg.received_at_ms : now);
    stmt->Bind(8, now);
    stmt->Bind(9, msg.attempts);
    stmt->BindBlob(10, payload);
    stmt->Bind(11, std::optional<std::string_view>(msg.origin));
    stmt->Bind(12, std::string_view(DialectName(event.dialect)));
    stmt->Bind(13, event.schema_version);
    INGEST_RETURN_IF_ERROR(stmt->Run());
    return stmt->Changes() > 0;
  }

  Result<ApplyOutcome> DuplicateOutcome(const Event& event, const RawMessage& msg) {
    auto stmt = ctx_->Prepare(kEventOrigin);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, std::string_view(event.id));
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row && !msg.origin.empty() && stmt->Text(0) == msg.origin) {
      return ApplyOutcome::kRedelivered;
    }
    if (msg.origin.empty()) return ApplyOutcome::kDuplicate;  // nothing to tell replays apart
    // Another origin: a producer-side duplicate, unless this very message was already counted
    // as one (the broker replayed it, e.g. a Kafka partition sought back after a kRetry).
    auto remember = ctx_->Prepare(kInsertDuplicateOrigin);
    if (!remember.ok()) return remember.status();
    remember->Bind(1, std::string_view(msg.origin));
    remember->Bind(2, std::string_view(event.id));
    INGEST_RETURN_IF_ERROR(remember->Run());
    return remember->Changes() > 0 ? ApplyOutcome::kDuplicate : ApplyOutcome::kRedelivered;
  }

  // Feeds "table <name>", the column names, then every row into the hash. Values are typed and
  // length-prefixed so that no two different tables can produce the same text.
  Status DigestQuery(DigestSha256& sha, std::string_view name, const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return SqliteStatus(db_, rc, "digest " + std::string(name));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    const int columns = sqlite3_column_count(raw);
    std::string line = "table " + std::string(name);
    for (int c = 0; c < columns; ++c) {
      line += c == 0 ? ' ' : ',';
      line += sqlite3_column_name(raw, c);
    }
    line += '\n';
    sha.Update(line);
    char number[64];
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      line.clear();
      for (int c = 0; c < columns; ++c) {
        switch (sqlite3_column_type(raw, c)) {
          case SQLITE_NULL:
            line += "N";
            break;
          case SQLITE_INTEGER:
            snprintf(number, sizeof(number), "i%lld",
                     static_cast<long long>(sqlite3_column_int64(raw, c)));
            line += number;
            break;
          case SQLITE_FLOAT:
            // Six decimals: sums of the same amounts agree even if rounding of the last bit
            // differed.
            snprintf(number, sizeof(number), "r%.6f", sqlite3_column_double(raw, c));
            line += number;
            break;
          default: {
            const auto* p = static_cast<const char*>(sqlite3_column_blob(raw, c));
            const int n = sqlite3_column_bytes(raw, c);
            snprintf(number, sizeof(number), "s%d:", n);
            line += number;
            if (n > 0) line.append(p, static_cast<size_t>(n));
          }
        }
        line += '\x1f';
      }
      line += '\n';
      sha.Update(line);
    }
    if (rc != SQLITE_DONE) return SqliteStatus(db_, rc, "digest " + std::string(name));
    return Status::Ok();
  }

  StoreOptions options_;
  Clock* clock_;
  sqlite3* db_;
  std::unique_ptr<ApplyContext> ctx_;
  std::unique_ptr<Checkpointer> checkpointer_;
  // Set when the open transaction was rolled back under the pipeline's feet (see ApplyEvent).
  Status aborted_;
  std::string in_flight_text_;  // MarkInFlight's buffer, reused
  std::string digest_;          // RecordDeadLetter's buffer, reused
  // Handlers that once failed after writing: they run inside a SAVEPOINT from then on.
  std::unordered_set<handlers::Handler> isolated_handlers_;
};

Status OpenError(sqlite3* db, int rc, const std::string& path, const char* what) {
  return SqliteStatus(db, rc, what).Annotate("store " + path);
}

Status Pragma(sqlite3* db, const std::string& path, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = std::string(sql) + ": " + (err ? err : sqlite3_errstr(rc));
  sqlite3_free(err);
  Status st =
      rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? Status::Transient(message) : Status::Io(message);
  return st.Annotate("store " + path);
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("store: database path is empty");
  // Process-wide, and only possible before SQLite's first use (later calls are refused
  // harmlessly): memory statistics take a global mutex on every allocation.
  static std::once_flag configure_sqlite;
  std::call_once(configure_sqlite, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });

  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status st = OpenError(db, rc, options.path, "open");
    sqlite3_close_v2(db);
    return st;
  }
  sqlite3_extended_result_codes(db, 1);
  // Triggers stay defined for every other connection; this one maintains the full-text
  // indexes itself (ApplyContext::FlushSearch) so per-event savepoints stay cheap.
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  auto fail = [&](Status st) -> Result<std::unique_ptr<Store>> {
    sqlite3_close_v2(db);
    return st;
  };

  // WAL with synchronous=FULL (the default, StoreOptions::synchronous_full): a committed
  // transaction survives a power loss, at one fsync of the WAL per commit. NORMAL survives a
  // process crash (kill -9) but a power loss can drop the last transactions. foreign_keys stays
  // off because events arrive in any order.
  {
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr);
    std::string mode;
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      mode = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK) return fail(OpenError(db, rc, options.path, "set journal_mode=WAL"));
    if (mode != "wal") {
      return fail(Status::Io("store " + options.path + ": journal_mode is '" + mode +
                             "', WAL is required"));
    }
  }
  for (const char* pragma : {options.synchronous_full ? "PRAGMA synchronous=FULL"
                                                     : "PRAGMA synchronous=NORMAL",
                             "PRAGMA foreign_keys=OFF",
                             "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-65536"}) {
    Status st = Pragma(db, options.path, pragma);
    if (!st.ok()) return fail(st);
  }
  Status st = EnsureStoreSchema(db);
  if (!st.ok()) return fail(st.Annotate("store " + options.path));

  sqlite3* checkpoint_db = nullptr;
  rc = sqlite3_open_v2(options.path.c_str(), &checkpoint_db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    st = OpenError(checkpoint_db, rc, options.path, "open checkpoint connection");
    sqlite3_close_v2(checkpoint_db);
    return fail(st);
  }
  // A connection discovers WAL mode only when it first reads the file; until then a checkpoint
  // on it is a silent no-op.
  sqlite3_busy_timeout(checkpoint_db, options.busy_timeout_ms);
  rc = sqlite3_exec(checkpoint_db, "SELECT COUNT(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    st = OpenError(checkpoint_db, rc, options.path, "read on checkpoint connection");
    sqlite3_close_v2(checkpoint_db);
    return fail(st);
  }
  sqlite3_wal_autocheckpoint(db, 0);  // the Checkpointer's thread does it
  return std::unique_ptr<Store>(new SqliteStore(options, db, checkpoint_db));
}

}  // namespace ingestlab
