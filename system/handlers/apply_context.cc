// Shared helpers of the domain handlers. See apply_context.h.
#include "system/handlers/apply_context.h"

#include <string>

#include "system/summary.h"

namespace ingestlab::handlers {

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

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_);
  std::string what = "sqlite statement";
  if (const char* sql = sqlite3_sql(stmt_)) {
    std::string_view text(sql);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.remove_prefix(1);
    what.assign(text.substr(0, std::min<size_t>(text.size(), 48)));
  }
  return SqliteStatus(db, rc, what);
}

Status Stmt::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

ApplyContext::~ApplyContext() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
}

Result<Stmt> ApplyContext::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return Stmt(it->second);
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(db_, rc, std::string("prepare ") + std::string(sql).substr(0, 60));
  }
  statements_.emplace(sql, stmt);
  return Stmt(stmt);
}

std::string_view ApplyContext::CustomerOf(const Event& event) {
  if (!event.customer_id.empty()) return event.customer_id;
  return event.data.str("customer_id").value_or(std::string_view());
}

namespace {

// Creates the customer or fills its empty profile fields. NULLIF: an empty string is "no value".
constexpr char kUpsertCustomer[] = R"sql(
INSERT INTO customers(customer_id, org_id, email, name, phone, company, lifetime_value,
                      created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)
ON CONFLICT(customer_id) DO UPDATE SET
  org_id = COALESCE(NULLIF(org_id, ''), excluded.org_id),
  email = COALESCE(NULLIF(email, ''), excluded.email),
  name = COALESCE(NULLIF(name, ''), excluded.name),
  phone = COALESCE(NULLIF(phone, ''), excluded.phone),
  company = COALESCE(NULLIF(company, ''), excluded.company),
  created_at = MIN(COALESCE(created_at, excluded.created_at), excluded.created_at),
  updated_at = MAX(COALESCE(updated_at, excluded.updated_at), excluded.updated_at))sql";

constexpr char kFillCustomer[] = R"sql(
UPDATE customers SET
  org_id = COALESCE(NULLIF(org_id, ''), ?2),
  email = COALESCE(NULLIF(email, ''), ?3),
  name = COALESCE(NULLIF(name, ''), ?4),
  phone = COALESCE(NULLIF(phone, ''), ?5),
  company = COALESCE(NULLIF(company, ''), ?6),
  created_at = MIN(COALESCE(created_at, ?7), ?7),
  updated_at = MAX(COALESCE(updated_at, ?7), ?7)
WHERE customer_id = ?1)sql";

constexpr char kAddLifetimeValue[] =
    "UPDATE customers SET lifetime_value = lifetime_value + ?2 WHERE customer_id = ?1";

}  // namespace

Status ApplyContext::TouchCustomer(const Event& event, std::string_view customer_id,
                                   const ProfileFields& profile) {
  if (customer_id.empty()) {
    return Status::Schema(event.type + ": customer_id is required");
  }
  const bool create = options_.auto_create_customers;
  auto stmt = Prepare(create ? kUpsertCustomer : kFillCustomer);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, customer_id);
  stmt->Bind(2, std::optional<std::string_view>(event.org_id));
  stmt->Bind(3, profile.email);
  stmt->Bind(4, profile.name);
  stmt->Bind(5, profile.phone);
  stmt->Bind(6, profile.company);
  stmt->Bind(7, event.event_time_ms);
  INGEST_RETURN_IF_ERROR(stmt->Run());
  if (!create && stmt->Changes() == 0) {
    return Status::Transient("unknown customer " + std::string(customer_id));
  }
  return Status::Ok();
}

Status ApplyContext::AddLifetimeValue(std::string_view customer_id, double delta) {
  auto stmt = Prepare(kAddLifetimeValue);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, customer_id);
  stmt->Bind(2, delta);
  return stmt->Run();
}

std::optional<std::string_view> ApplyContext::SummaryFor(std::optional<std::string_view> text) {
  if (!text || text->size() <= options_.summary_threshold) return std::nullopt;
  summary_ = ExtractiveSummary(*text);
  return std::string_view(summary_);
}

std::string_view ApplyContext::DateOf(int64_t unix_ms) {
  // Howard Hinnant's civil_from_days.
  int64_t days = unix_ms / 86'400'000;
  if (unix_ms % 86'400'000 < 0) --days;
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const int n = snprintf(date_, sizeof(date_), "%04lld-%02lld-%02lld", static_cast<long long>(year),
                         static_cast<long long>(month), static_cast<long long>(day));
  return std::string_view(date_, n > 0 ? static_cast<size_t>(n) : 0);
}

namespace {
constexpr char kInsertKnowledge[] = R"sql(
INSERT INTO knowledge(knowledge_id, customer_id, org_id, note, summary, category, importance,
                      tags, source_type, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT(knowledge_id) DO NOTHING)sql";
}  // namespace

Status InsertKnowledge(ApplyContext& ctx, const Event& event, std::string_view customer_id,
                       std::string_view note) {
  auto stmt = ctx.Prepare(kInsertKnowledge);
  if (!stmt.ok()) return stmt.status();
  const std::optional<std::string> tags = event.data.json("tags");
  stmt->Bind(1, std::string_view(event.id));
  stmt->Bind(2, std::optional<std::string_view>(customer_id));
  stmt->Bind(3, std::optional<std::string_view>(event.org_id));
  stmt->Bind(4, note);
  stmt->Bind(5, ctx.SummaryFor(note));
  stmt->Bind(6, event.data.str("category"));
  stmt->Bind(7, event.data.str("importance").value_or("medium"));
  if (tags) {
    stmt->Bind(8, std::string_view(*tags));
  } else {
    stmt->BindNull(8);
  }
  stmt->Bind(9, std::string_view(event.type));
  stmt->Bind(10, event.event_time_ms);
  return stmt->Run();
}

Status RequireText(const Event& event, std::string_view key, std::string_view* out) {
  auto v = event.data.str(key);
  if (!v || v->empty()) {
    return Status::Schema(event.type + ": data." + std::string(key) +
                          " is required (non-empty string)");
  }
  *out = *v;
  return Status::Ok();
}

Status RequireNumber(const Event& event, std::string_view key, double* out) {
  auto v = event.data.number(key);
  if (!v) return Status::Schema(event.type + ": data." + std::string(key) + " is required (number)");
  *out = *v;
  return Status::Ok();
}

Status WaitingFor(std::string_view what, std::string_view id) {
  std::string message = "waiting for ";
  message += what;
  message += ' ';
  message += id;
  return Status::Transient(std::move(message));
}

}  // namespace ingestlab::handlers
