// SqliteStore: the Store over one SQLite connection in WAL mode. See store.h for the promises,
// store_schema.h for the tables, handlers/registry.h for the per-type effects.
#include "system/store.h"

#include <array>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "common/log.h"
#include "system/handlers/apply_context.h"
#include "system/handlers/registry.h"
#include "system/store_schema.h"

namespace ingestlab {
namespace {

using handlers::ApplyContext;
using handlers::SqliteStatus;
using handlers::Stmt;

// FIPS 180-4 SHA-256, streaming. Private to the store: the digest is all it is used for.
class Sha256 {
 public:
  Sha256() { Reset(); }
  void Reset() {
    state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    buffered_ = 0;
    total_bytes_ = 0;
  }
  void Update(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    total_bytes_ += n;
    while (n > 0) {
      const size_t take = std::min(n, sizeof(block_) - buffered_);
      std::memcpy(block_ + buffered_, p, take);
      buffered_ += take;
      p += take;
      n -= take;
      if (buffered_ == sizeof(block_)) {
        Compress(block_);
        buffered_ = 0;
      }
    }
  }
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  std::string HexDigest() {
    const uint64_t bits = total_bytes_ * 8;
    const uint8_t pad = 0x80;
    Update(&pad, 1);
    const uint8_t zero = 0;
    while (buffered_ != 56) Update(&zero, 1);
    uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    Update(length, 8);
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (uint32_t word : state_) {
      for (int shift = 28; shift >= 0; shift -= 4) out += kHex[(word >> shift) & 0xF];
    }
    return out;
  }

 private:
  static uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void Compress(const uint8_t* chunk) {
    static constexpr uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (uint32_t{chunk[4 * i]} << 24) | (uint32_t{chunk[4 * i + 1]} << 16) |
             (uint32_t{chunk[4 * i + 2]} << 8) | uint32_t{chunk[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t s1 = Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25);
      const uint32_t ch = (e & f) ^ (~e & g);
      const uint32_t t1 = h + s1 + ch + k[i] + w[i];
      const uint32_t s0 = Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22);
      const uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      const uint32_t t2 = s0 + maj;
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
  }

  std::array<uint32_t, 8> state_;
  uint8_t block_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
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

constexpr char kEventOrigin[] = "SELECT origin FROM events WHERE event_id = ?1";

constexpr char kInsertDeadLetter[] = R"sql(
INSERT INTO dead_letters(origin, subject, reason, error, attempts, payload, headers, dead_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT(origin) DO NOTHING)sql";

class SqliteStore final : public Store {
 public:
  SqliteStore(StoreOptions options, sqlite3* db)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &Clock::System()),
        db_(db),
        ctx_(std::make_unique<ApplyContext>(db_, options_)) {}

  ~SqliteStore() override {
    if (sqlite3_get_autocommit(db_) == 0) Rollback();
    ctx_.reset();  // finalizes the cached statements before the connection closes
    sqlite3_close_v2(db_);
  }

  Status Begin() override { return Exec(kBegin, "begin transaction"); }

  Status Commit() override {
    Status st = Exec(kCommit, "commit");
    if (!st.ok() && sqlite3_get_autocommit(db_) == 0) Rollback();
    return st.Annotate(options_.path);
  }

  void Rollback() override {
    if (sqlite3_get_autocommit(db_) != 0) return;  // nothing open (or SQLite already rolled back)
    Status st = Exec(kRollback, "rollback");
    if (!st.ok()) {
      LOG(kWarn, "store") << options_.path << ": " << st.ToString();
    }
  }

  Result<ApplyOutcome> ApplyEvent(const Event& event, const RawMessage& msg) override {
    const handlers::Handler handler = handlers::FindHandler(event.type);
    if (handler == nullptr) {
      return Status::Schema("unknown event type '" + event.type + "'");
    }
    if (event.id.empty()) return Status::Schema(event.type + ": event id is empty");
    INGEST_RETURN_IF_ERROR(Exec(kSavepoint, "savepoint"));

    auto inserted = InsertEventRow(event, msg);
    if (!inserted.ok()) return Undo(inserted.status());
    if (!*inserted) {
      auto outcome = DuplicateOutcome(event, msg);
      if (!outcome.ok()) return Undo(outcome.status());
      INGEST_RETURN_IF_ERROR(Exec(kRelease, "release savepoint"));
      return outcome;
    }
    Status st = handler(*ctx_, event);
    if (!st.ok()) return Undo(st);
    INGEST_RETURN_IF_ERROR(Exec(kRelease, "release savepoint"));
    return ApplyOutcome::kApplied;
  }

  Status RecordDeadLetter(const DeadLetterRecord& record) override {
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
    return stmt->Run().Annotate(options_.path);
  }

  Result<std::string> StateDigest() override {
    const bool own_transaction = sqlite3_get_autocommit(db_) != 0;
    if (own_transaction) INGEST_RETURN_IF_ERROR(Exec("BEGIN", "begin digest"));
    Sha256 sha;
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
    }
    return cause;
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
    return ApplyOutcome::kDuplicate;
  }

  // Feeds "table <name>", the column names, then every row into the hash. Values are typed and
  // length-prefixed so that no two different tables can produce the same text.
  Status DigestQuery(Sha256& sha, std::string_view name, const std::string& sql) {
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
  Status st = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? Status::Transient(message)
                                                       : Status::Io(message);
  return st.Annotate("store " + path);
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("store: database path is empty");
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status st = OpenError(db, rc, options.path, "open");
    sqlite3_close_v2(db);
    return st;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  auto fail = [&](Status st) -> Result<std::unique_ptr<Store>> {
    sqlite3_close_v2(db);
    return st;
  };

  // WAL + synchronous=NORMAL: a committed transaction survives a process crash (kill -9); only
  // an OS crash or power loss can drop the last transactions. foreign_keys stays off because
  // events arrive in any order.
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
  for (const char* pragma : {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=OFF",
                             "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-65536"}) {
    Status st = Pragma(db, options.path, pragma);
    if (!st.ok()) return fail(st);
  }
  Status st = EnsureStoreSchema(db);
  if (!st.ok()) return fail(st.Annotate("store " + options.path));
  return std::unique_ptr<Store>(new SqliteStore(options, db));
}

}  // namespace ingestlab
