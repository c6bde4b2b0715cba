// SqliteConnection. See sqlite_connection.h.
#include "system/sqlite_connection.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "system/store_schema.h"

namespace ingestlab {

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Transient(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return Status::Io(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

namespace {

// Text is bound with SQLITE_STATIC: bound views outlive the statement's run (sql_connection.h).
class SqliteStatement final : public SqlStatement {
 public:
  explicit SqliteStatement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  void BindText(int i, std::string_view v) override {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindBlob(int i, std::string_view v) override {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindInt(int i, int64_t v) override { sqlite3_bind_int64(stmt_, i, v); }
  void BindReal(int i, double v) override { sqlite3_bind_double(stmt_, i, v); }
  void BindNull(int i) override { sqlite3_bind_null(stmt_, i); }

  Result<bool> Step() override {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(sqlite3_db_handle(stmt_), rc, StatementName(sqlite3_sql(stmt_)));
  }

  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const override { return sqlite3_column_double(stmt_, col); }
  std::string_view Text(int col) const override {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string_view(p, sqlite3_column_bytes(stmt_, col)) : std::string_view();
  }
  int Changes() const override { return sqlite3_changes(sqlite3_db_handle(stmt_)); }
  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // The first 48 characters of a statement's text, for error messages.
  static std::string StatementName(const char* sql) {
    std::string_view text(sql != nullptr ? sql : "sqlite statement");
    while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.remove_prefix(1);
    return std::string(text.substr(0, std::min<size_t>(text.size(), 48)));
  }

 private:
  sqlite3_stmt* stmt_;
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

class SqliteConnection final : public SqlConnection {
 public:
  SqliteConnection(std::string path, sqlite3* db, sqlite3* checkpoint_db)
      : path_(std::move(path)),
        db_(db),
        checkpointer_(checkpoint_db != nullptr ? std::make_unique<Checkpointer>(checkpoint_db)
                                               : nullptr) {
    if (checkpointer_ != nullptr) {
      sqlite3_wal_hook(db_, &Checkpointer::OnCommit, checkpointer_.get());
    }
  }
  ~SqliteConnection() override {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (checkpointer_ != nullptr) sqlite3_wal_hook(db_, nullptr, nullptr);
    checkpointer_.reset();
    statements_.clear();    // finalized before the connection closes
    sqlite3_close_v2(db_);  // the last connection to close checkpoints and removes the WAL
  }

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }

  Result<SqlStatement*> Prepare(const char* sql) override {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second.get();
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return SqliteStatus(db_, rc, std::string("prepare ") + std::string(sql).substr(0, 60));
    }
    auto owned = std::make_unique<SqliteStatement>(stmt);
    SqlStatement* out = owned.get();
    statements_.emplace(sql, std::move(owned));
    return out;
  }

  Status Execute(const std::string& sql, std::string_view what) override {
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : SqliteStatus(db_, rc, what);
  }

  Status Query(const std::string& sql,
               const std::function<void(const std::vector<std::string>&)>& names,
               const std::function<void(const std::vector<SqlValue>&)>& row) override {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return SqliteStatus(db_, rc, SqliteStatement::StatementName(sql.c_str()));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    const int columns = sqlite3_column_count(raw);
    std::vector<std::string> column_names;
    for (int c = 0; c < columns; ++c) column_names.emplace_back(sqlite3_column_name(raw, c));
    names(column_names);
    std::vector<SqlValue> values(static_cast<size_t>(columns));
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      for (int c = 0; c < columns; ++c) {
        SqlValue& v = values[static_cast<size_t>(c)];
        v = SqlValue{};
        switch (sqlite3_column_type(raw, c)) {
          case SQLITE_NULL:
            break;
          case SQLITE_INTEGER:
            v.kind = SqlValue::Kind::kInteger;
            v.integer = sqlite3_column_int64(raw, c);
            break;
          case SQLITE_FLOAT:
            v.kind = SqlValue::Kind::kReal;
            v.real = sqlite3_column_double(raw, c);
            break;
          default: {
            v.kind = SqlValue::Kind::kText;
            const auto* p = static_cast<const char*>(sqlite3_column_blob(raw, c));
            const int n = sqlite3_column_bytes(raw, c);
            if (p != nullptr) v.text = std::string_view(p, static_cast<size_t>(n));
          }
        }
      }
      row(values);
    }
    if (rc != SQLITE_DONE)
      return SqliteStatus(db_, rc, SqliteStatement::StatementName(sql.c_str()));
    return Status::Ok();
  }

  bool InTransaction() const override { return sqlite3_get_autocommit(db_) == 0; }
  bool TransactionFailed() const override { return false; }  // SQLite rolls back instead
  int Changes() const override { return sqlite3_changes(db_); }
  int64_t TotalChanges() const override { return sqlite3_total_changes64(db_); }
  const char* BeginStatement() const override { return "BEGIN IMMEDIATE"; }
  const std::string& name() const override { return path_; }

  std::string Synchronous() override {
    sqlite3_stmt* stmt = nullptr;
    std::string mode;
    if (sqlite3_prepare_v2(db_, "PRAGMA synchronous", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      switch (sqlite3_column_int(stmt, 0)) {
        case 0:
          mode = "off";
          break;
        case 1:
          mode = "normal";
          break;
        case 2:
          mode = "full";
          break;
        case 3:
          mode = "extra";
          break;
      }
    }
    sqlite3_finalize(stmt);
    return mode;
  }

 private:
  std::string path_;
  sqlite3* db_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unordered_map<const char*, std::unique_ptr<SqliteStatement>> statements_;
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

Result<std::unique_ptr<SqlConnection>> OpenSqliteConnection(const StoreOptions& options) {
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
  auto fail = [&](Status st) -> Result<std::unique_ptr<SqlConnection>> {
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
  for (const char* pragma :
       {options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=OFF", "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-65536"}) {
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
  return std::unique_ptr<SqlConnection>(new SqliteConnection(options.path, db, checkpoint_db));
}

Result<std::unique_ptr<SqlConnection>> OpenSqliteSideConnection(const std::string& path,
                                                                int busy_timeout_ms) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status st = SqliteStatus(db, rc, "open").Annotate(path);
    sqlite3_close_v2(db);
    return st;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<SqlConnection>(new SqliteConnection(path, db, nullptr));
}

}  // namespace ingestlab
