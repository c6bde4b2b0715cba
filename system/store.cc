// SqlStore: the Store over one SqlConnection, SQLite's (sqlite_connection.h) or PostgreSQL's
// (pg/pg_connection.h). See store.h for the promises, store_schema.h for the tables,
// handlers/registry.h for the per-type effects.
// Thread-safety: as store.h (one thread at a time).
#include "system/store.h"

#include <chrono>
#include <string>
#include <thread>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "system/handlers/apply_context.h"
#include "system/handlers/registry.h"
#include "system/mutant.h"
#include "system/pg/pg_connection.h"
#include "system/sha256.h"
#include "system/sqlite_connection.h"
#include "system/store_schema.h"

namespace ingestlab {
namespace {

using handlers::ApplyContext;
using handlers::ForEachRow;
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
ON CONFLICT(origin) DO UPDATE SET crashes = crash_suspects.crashes + 1, last_crash_at = excluded.last_crash_at)sql";
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

class SqlStore final : public Store {
 public:
  SqlStore(StoreOptions options, std::unique_ptr<SqlConnection> db)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &Clock::System()),
        db_(std::move(db)),
        ctx_(std::make_unique<ApplyContext>(*db_, options_)) {}

  ~SqlStore() override {
    if (db_->InTransaction()) Rollback();
    ctx_.reset();
  }

  Status Begin() override {
    aborted_ = Status::Ok();
    ctx_->EndTransaction(false);
    clears_record_ = false;
    INGEST_RETURN_IF_ERROR(Exec(db_->BeginStatement(), "begin transaction").Annotate(db_->name()));
    // PostgreSQL: instances sharing the database write one transaction at a time. Batches of
    // thousands of events lock their customers' rows in event order, so two at once deadlock
    // almost surely (each costing deadlock_timeout and a whole retried batch); taking turns keeps
    // one instance's throughput with any number of instances (docs/tables.md, "PostgreSQL").
    Status st = db_->dialect() == SqlDialect::kPostgres ? Exec(kPostgresWriterTurn, "writer turn")
                                                        : Status::Ok();
    if (st.ok()) st = ctx_->BeginSearchTransaction();
    if (!st.ok()) Rollback();
    return st.Annotate(db_->name());
  }

  Status Commit() override {
    if (!aborted_.ok()) {
      Status st = aborted_;
      aborted_ = Status::Ok();
      return st;
    }
    if (!db_->InTransaction()) {
      return Status::Internal(db_->name() + ": commit without a transaction");
    }
    if (db_->TransactionFailed()) {  // PostgreSQL would answer COMMIT with a silent ROLLBACK
      Rollback();
      return Status::Transient(db_->name() + ": the transaction failed; rolled back");
    }
    Status st = ctx_->FlushSearch();
    if (st.ok()) st = Exec(kCommit, "commit");
    if (!st.ok() && db_->InTransaction()) Rollback();
    if (!st.ok() && st.is_transient() && clears_record_) st = CommitInDoubt(st);
    if (st.ok() && clears_record_) recorded_owner_.clear();
    if (st.ok()) ctx_->EndTransaction(true);
    return st.Annotate(db_->name());
  }

  void Rollback() override {
    aborted_ = Status::Ok();
    ctx_->EndTransaction(false);
    if (!db_->InTransaction()) return;  // nothing open (or SQLite already rolled back)
    Status st = Exec(kRollback, "rollback");
    if (!st.ok()) {
      LOG(kWarn, "store") << db_->name() << ": " << st.ToString();
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
    if (!db_->InTransaction()) {
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
    const int64_t changes_before = db_->TotalChanges();
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
    if (db_->TotalChanges() == changes_before && Writable()) {
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
    INGEST_RETURN_IF_ERROR(stmt->Run().Annotate(db_->name()));
    return stmt->Changes() > 0 ? DeadLetterState::kNew : DeadLetterState::kKnown;
  }

  Status MarkInFlight(std::string_view owner,
                      const std::vector<std::string_view>& origins) override {
    if (db_->InTransaction()) {
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
    recorded_owner_ = st.ok() ? std::string(owner) : std::string();
    return st.Annotate("record in-flight messages");
  }

  Status ClearInFlight(std::string_view owner,
                       const std::vector<std::string_view>& settled) override {
    if (!aborted_.ok()) return aborted_;
    auto clear = ctx_->Prepare(kClearInFlight);
    if (!clear.ok()) return clear.status();
    clear->Bind(1, owner);
    INGEST_RETURN_IF_ERROR(Check(clear->Run()).Annotate(db_->name()));
    clears_record_ = !recorded_owner_.empty() && owner == recorded_owner_;
    for (std::string_view origin : settled) {
      for (const char* sql : {kForgetCrash, kForgetFailures}) {
        auto forget = ctx_->Prepare(sql);
        if (!forget.ok()) return forget.status();
        forget->Bind(1, origin);
        INGEST_RETURN_IF_ERROR(Check(forget->Run()).Annotate(db_->name()));
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
    return Check(stmt->Run()).Annotate(db_->name());
  }

  Result<std::vector<MessageFailure>> MessageFailures() override {
    INGEST_RETURN_IF_ERROR(Begin());
    auto fail = [&](const Status& st) {
      Rollback();
      return st.Annotate(db_->name());
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
      return st.Annotate(db_->name());
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

  std::string Synchronous() override { return db_->Synchronous(); }

  Result<std::string> StateDigest() override {
    const bool own_transaction = !db_->InTransaction();
    // One snapshot for every table (SQLite's deferred BEGIN reads one; PostgreSQL needs to be
    // asked, its default gives each statement its own).
    if (own_transaction) {
      INGEST_RETURN_IF_ERROR(db_->Execute(db_->dialect() == SqlDialect::kPostgres
                                              ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                              : "BEGIN",
                                          "begin digest"));
    }
    DigestSha256 sha;
    Status st = DigestQuery(sha, "events", "SELECT event_id, type FROM events ORDER BY event_id");
    for (const DigestTable& table : DigestTables()) {
      if (!st.ok()) break;
      const std::string sql =
          std::string("SELECT * FROM ") + table.name + " ORDER BY " + table.order_by;
      st = DigestQuery(sha, table.name, sql);
    }
    if (own_transaction) db_->Execute("COMMIT", "end digest");
    if (!st.ok()) return st.Annotate(db_->name());
    return sha.HexDigest();
  }

 private:
  // A transaction is open and can still commit (PostgreSQL fails the whole transaction on any
  // error; SQLite rolls it back itself only on I/O errors and a full disk).
  bool Writable() const { return db_->InTransaction() && !db_->TransactionFailed(); }

  // Runs one of the fixed statements above through the statement cache.
  Status Exec(const char* sql, std::string_view what) {
    auto stmt = ctx_->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    Status st = stmt->Run();
    return st.ok() ? st : Status(st.code(), std::string(what) + ": " + st.message());
  }

  // A failed statement that wrote nothing: the transaction is intact unless the database rolled
  // it back itself (SQLite on an I/O error or a full disk; PostgreSQL on any error), which then
  // fails the rest of the batch.
  Status Check(const Status& cause) {
    if (!Writable() && aborted_.ok()) {
      aborted_ =
          Status::Transient("transaction rolled back by the database after: " + cause.ToString());
    }
    return cause;
  }

  // Rolls back the whole transaction after an event failed midway; see ApplyEvent.
  void Abort(handlers::Handler handler, const Status& cause) {
    isolated_handlers_.insert(handler);
    LOG(kWarn, "store") << db_->name() << ": an event failed after writing (" << cause.ToString()
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

  // A COMMIT that lost its connection (the server restarted or crashed) may have committed or
  // not. The in-flight record tells: MarkInFlight committed it before this transaction, which
  // deleted it, so it is gone exactly when the transaction committed. Asked again for up to
  // kInDoubtWaitMs while the server comes back; without an answer the failure stands, and the
  // retried batch finds its events applied (redeliveries, never a second apply).
  Status CommitInDoubt(const Status& cause) {
    constexpr int64_t kInDoubtWaitMs = 15'000;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kInDoubtWaitMs);
    do {
      auto stmt = ctx_->Prepare(kInFlightOrigins);
      if (stmt.ok()) {
        stmt->Bind(1, std::string_view(recorded_owner_));
        auto row = stmt->Step();
        if (row.ok()) {
          if (*row) return cause;  // the record is there: the transaction did not commit
          LOG(kInfo, "store") << db_->name() << ": " << cause.ToString()
                              << "; the transaction had committed";
          return Status::Ok();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (std::chrono::steady_clock::now() < deadline);
    return cause;
  }

  // Rolls the current event back to its savepoint and returns `cause`.
  Status Undo(const Status& cause) {
    // An I/O error or a full disk can make SQLite roll back the whole transaction itself;
    // then there is no savepoint left to return to.
    if (db_->InTransaction()) {
      ctx_->EndTransaction(false);  // partitions the event made are undone (made again if needed)
      Status st = Exec(kRollbackTo, "rollback to savepoint");
      if (st.ok()) st = Exec(kRelease, "release savepoint");
      if (!st.ok()) {
        LOG(kWarn, "store") << db_->name() << ": " << st.ToString();
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
    std::string line;
    char number[64];
    auto names = [&](const std::vector<std::string>& columns) {
      line = "table " + std::string(name);
      for (size_t c = 0; c < columns.size(); ++c) {
        line += c == 0 ? ' ' : ',';
        line += columns[c];
      }
      line += '\n';
      sha.Update(line);
    };
    auto row = [&](const std::vector<SqlValue>& values) {
      line.clear();
      for (const SqlValue& v : values) {
        switch (v.kind) {
          case SqlValue::Kind::kNull:
            line += "N";
            break;
          case SqlValue::Kind::kInteger:
            snprintf(number, sizeof(number), "i%lld", static_cast<long long>(v.integer));
            line += number;
            break;
          case SqlValue::Kind::kReal:
            // Six decimals: sums of the same amounts agree even if rounding of the last bit
            // differed.
            snprintf(number, sizeof(number), "r%.6f", v.real);
            line += number;
            break;
          case SqlValue::Kind::kText:
            snprintf(number, sizeof(number), "s%zu:", v.text.size());
            line += number;
            line.append(v.text);
        }
        line += '\x1f';
      }
      line += '\n';
      sha.Update(line);
    };
    return db_->Query(sql, names, row).Annotate("digest " + std::string(name));
  }

  StoreOptions options_;
  Clock* clock_;
  std::unique_ptr<SqlConnection> db_;
  std::unique_ptr<ApplyContext> ctx_;
  // Set when the open transaction was rolled back under the pipeline's feet (see ApplyEvent).
  Status aborted_;
  std::string in_flight_text_;  // MarkInFlight's buffer, reused
  // The owner whose in-flight record MarkInFlight committed and no commit has deleted since;
  // clears_record_: the open transaction deletes it (CommitInDoubt).
  std::string recorded_owner_;
  bool clears_record_ = false;
  std::string digest_;  // RecordDeadLetter's buffer, reused
  // Handlers that once failed after writing: they run inside a SAVEPOINT from then on.
  std::unordered_set<handlers::Handler> isolated_handlers_;
};

}  // namespace

bool IsPostgresUrl(std::string_view path) {
  return path.starts_with("postgres://") || path.starts_with("postgresql://");
}

Result<std::unique_ptr<SqlConnection>> OpenSideConnection(const std::string& path,
                                                          int busy_timeout_ms) {
  if (!IsPostgresUrl(path)) return OpenSqliteSideConnection(path, busy_timeout_ms);
  StoreOptions options;
  options.path = path;
  options.busy_timeout_ms = busy_timeout_ms;
  return OpenPostgresConnection(options, /*migrate=*/false);
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("store: database path is empty");
  auto db =
      IsPostgresUrl(options.path) ? OpenPostgresConnection(options) : OpenSqliteConnection(options);
  if (!db.ok()) return db.status();
  return std::unique_ptr<Store>(new SqlStore(options, std::move(*db)));
}

}  // namespace ingestlab
