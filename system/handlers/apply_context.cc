// Shared helpers of the domain handlers. See apply_context.h.
#include "system/handlers/apply_context.h"

#include <algorithm>
#include <string>

#include "system/pg/pg_connection.h"
#include "system/store_schema.h"
#include "system/summary.h"
#include "system/time_format.h"

namespace ingestlab::handlers {

Status Stmt::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

Result<Stmt> ApplyContext::Prepare(const char* sql) {
  auto stmt = db_.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  return Stmt(*stmt);
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
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, ?7, ?7)
ON CONFLICT(customer_id) DO UPDATE SET
  lifetime_value = customers.lifetime_value + excluded.lifetime_value,
  org_id = COALESCE(NULLIF(customers.org_id, ''), excluded.org_id),
  email = COALESCE(NULLIF(customers.email, ''), excluded.email),
  name = COALESCE(NULLIF(customers.name, ''), excluded.name),
  phone = COALESCE(NULLIF(customers.phone, ''), excluded.phone),
  company = COALESCE(NULLIF(customers.company, ''), excluded.company),
  created_at = MIN(COALESCE(customers.created_at, excluded.created_at), excluded.created_at),
  updated_at = MAX(COALESCE(customers.updated_at, excluded.updated_at), excluded.updated_at))sql";

constexpr char kFillCustomer[] = R"sql(
UPDATE customers SET
  lifetime_value = lifetime_value + ?8,
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
                                   const ProfileFields& profile, double lifetime_value_delta) {
  if (customer_id.empty()) {
    return Status::Schema(event.type + ": customer_id is required");
  }
  auto present = [](const std::optional<std::string_view>& v) { return v && !v->empty(); };
  const bool indexed_fields =
      present(profile.email) || present(profile.name) || present(profile.company);
  if (indexed_fields) INGEST_RETURN_IF_ERROR(BeforeCustomerWrite(customer_id));
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
  stmt->Bind(8, lifetime_value_delta);
  INGEST_RETURN_IF_ERROR(stmt->Run());
  if (!create && stmt->Changes() == 0) {
    return Status::Waiting("unknown customer " + std::string(customer_id));
  }
  return indexed_fields ? AfterCustomerWrite() : Status::Ok();
}

Status ApplyContext::TouchCustomerOf(const Event& event, std::string_view* customer_id,
                                     const ProfileFields& profile) {
  *customer_id = CustomerOf(event);
  return TouchCustomer(event, *customer_id, profile);
}

namespace {

constexpr char kMaxCustomerRowid[] = "SELECT COALESCE(MAX(rowid), 0) FROM customers";
constexpr char kMaxTicketRowid[] = "SELECT COALESCE(MAX(rowid), 0) FROM tickets";
constexpr char kMaxKnowledgeRowid[] = "SELECT COALESCE(MAX(rowid), 0) FROM knowledge";

constexpr char kIndexNewCustomers[] =
    "INSERT INTO customers_fts(rowid, name, email, company) "
    "SELECT rowid, name, email, company FROM customers WHERE rowid > ?1";
constexpr char kIndexNewTickets[] =
    "INSERT INTO tickets_fts(rowid, title, description) "
    "SELECT rowid, title, description FROM tickets WHERE rowid > ?1";
constexpr char kIndexNewKnowledge[] =
    "INSERT INTO knowledge_fts(rowid, note, summary) "
    "SELECT rowid, note, summary FROM knowledge WHERE rowid > ?1";

constexpr char kCustomerSearchRow[] =
    "SELECT rowid, name, email, company FROM customers WHERE customer_id = ?1";
constexpr char kCustomerSearchRowById[] =
    "SELECT name, email, company FROM customers WHERE rowid = ?1";
constexpr char kUnindexCustomer[] =
    "INSERT INTO customers_fts(customers_fts, rowid, name, email, company) "
    "VALUES ('delete', ?1, ?2, ?3, ?4)";
constexpr char kIndexCustomer[] =
    "INSERT INTO customers_fts(rowid, name, email, company) VALUES (?1, ?2, ?3, ?4)";

std::optional<std::string> TextOrNull(const Stmt& stmt, int col) {
  if (stmt.IsNull(col)) return std::nullopt;
  return std::string(stmt.Text(col));
}

void BindOptional(Stmt& stmt, int i, const std::optional<std::string>& v) {
  if (v) {
    stmt.Bind(i, std::string_view(*v));  // bound as-is: the index must see exactly the row
  } else {
    stmt.BindNull(i);
  }
}

}  // namespace

Status ApplyContext::BeginSearchTransaction() {
  if (!SqliteSearch()) return Status::Ok();
  int64_t* marks[] = {&customers_watermark_, &tickets_watermark_, &knowledge_watermark_};
  const char* queries[] = {kMaxCustomerRowid, kMaxTicketRowid, kMaxKnowledgeRowid};
  for (int i = 0; i < 3; ++i) {
    INGEST_PREPARE(stmt, *this, queries[i]);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    *marks[i] = *row ? stmt->Int(0) : 0;
  }
  pending_customer_rowid_ = 0;
  return Status::Ok();
}

Status ApplyContext::FlushSearch() {
  if (!SqliteSearch()) return Status::Ok();
  const std::pair<const char*, int64_t> flushes[] = {{kIndexNewCustomers, customers_watermark_},
                                                     {kIndexNewTickets, tickets_watermark_},
                                                     {kIndexNewKnowledge, knowledge_watermark_}};
  for (const auto& [sql, watermark] : flushes) {
    INGEST_PREPARE(stmt, *this, sql);
    stmt->Bind(1, watermark);
    INGEST_RETURN_IF_ERROR(stmt->Run());
  }
  return BeginSearchTransaction();  // a later Commit in the same transaction adds only newer rows
}

Status ApplyContext::BeforeCustomerWrite(std::string_view customer_id) {
  if (!SqliteSearch()) return Status::Ok();
  pending_customer_rowid_ = 0;
  INGEST_PREPARE(stmt, *this, kCustomerSearchRow);
  stmt->Bind(1, customer_id);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  // Rows created in this transaction are indexed by FlushSearch with their final values.
  if (!*row || stmt->Int(0) <= 0 || stmt->Int(0) > customers_watermark_) return Status::Ok();
  pending_customer_rowid_ = stmt->Int(0);
  pending_name_ = TextOrNull(*stmt, 1);
  pending_email_ = TextOrNull(*stmt, 2);
  pending_company_ = TextOrNull(*stmt, 3);
  return Status::Ok();
}

Status ApplyContext::AfterCustomerWrite() {
  if (!SqliteSearch()) return Status::Ok();
  const int64_t rowid = pending_customer_rowid_;
  pending_customer_rowid_ = 0;
  if (rowid == 0) return Status::Ok();
  std::optional<std::string> name, email, company;
  {
    INGEST_PREPARE(stmt, *this, kCustomerSearchRowById);
    stmt->Bind(1, rowid);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      name = TextOrNull(*stmt, 0);
      email = TextOrNull(*stmt, 1);
      company = TextOrNull(*stmt, 2);
    }
  }
  if (name == pending_name_ && email == pending_email_ && company == pending_company_) {
    return Status::Ok();
  }
  {
    INGEST_PREPARE(stmt, *this, kUnindexCustomer);
    stmt->Bind(1, rowid);
    BindOptional(*stmt, 2, pending_name_);
    BindOptional(*stmt, 3, pending_email_);
    BindOptional(*stmt, 4, pending_company_);
    INGEST_RETURN_IF_ERROR(stmt->Run());
  }
  INGEST_PREPARE(stmt, *this, kIndexCustomer);
  stmt->Bind(1, rowid);
  BindOptional(*stmt, 2, name);
  BindOptional(*stmt, 3, email);
  BindOptional(*stmt, 4, company);
  return stmt->Run();
}

Status ApplyContext::AddLifetimeValue(std::string_view customer_id, double delta) {
  auto stmt = Prepare(kAddLifetimeValue);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, customer_id);
  stmt->Bind(2, delta);
  return stmt->Run();
}

std::optional<std::string_view> ApplyContext::SummaryFor(std::optional<std::string_view> text) {
  // The threshold counts characters: bytes first (never fewer than characters), then code
  // points only for texts that might be over it.
  if (!text || text->size() <= options_.summary_threshold) return std::nullopt;
  size_t characters = 0;
  for (unsigned char c : *text) characters += (c & 0xC0) != 0x80 ? 1 : 0;
  if (characters <= options_.summary_threshold) return std::nullopt;
  summary_ = ExtractiveSummary(*text);
  return std::string_view(summary_);
}

std::string_view ApplyContext::DateOf(int64_t unix_ms) {
  int64_t days = unix_ms / 86'400'000;
  if (unix_ms % 86'400'000 < 0) --days;
  int64_t year;
  unsigned month, day;
  CivilFromDays(days, &year, &month, &day);
  const int n =
      snprintf(date_, sizeof(date_), "%04lld-%02u-%02u", static_cast<long long>(year), month, day);
  return std::string_view(date_, n > 0 ? static_cast<size_t>(n) : 0);
}

Status ApplyContext::EnsureMonthPartition(std::string_view date) {
  if (db_.dialect() != SqlDialect::kPostgres) return Status::Ok();
  const std::string_view month = date.substr(0, 7);
  for (const auto* months : {&months_, &pending_months_}) {
    if (std::find(months->begin(), months->end(), month) != months->end()) return Status::Ok();
  }
  const std::string ddl = MonthPartitionsDdl(date);
  if (ddl.empty()) return Status::Schema("event date '" + std::string(date) + "' has no partition");
  INGEST_RETURN_IF_ERROR(
      db_.Execute(std::string(kPostgresSchemaLock) + ";\n" + ddl, "create month partitions"));
  pending_months_.emplace_back(month);
  return Status::Ok();
}

Status ApplyContext::PartitionChecked(Status st) {
  if (st.ok() || st.message().find("(SQLSTATE 23514)") == std::string::npos) return st;
  months_.clear();
  pending_months_.clear();
  return Status::Transient(st.message());
}

void ApplyContext::EndTransaction(bool committed) {
  if (committed) months_.insert(months_.end(), pending_months_.begin(), pending_months_.end());
  pending_months_.clear();
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

Status RequireText(const Event& event, std::initializer_list<RequiredText> fields) {
  for (const RequiredText& field : fields) {
    INGEST_RETURN_IF_ERROR(RequireText(event, field.key, field.out));
  }
  return Status::Ok();
}

Status RequireNumber(const Event& event, std::string_view key, double* out) {
  auto v = event.data.number(key);
  if (!v)
    return Status::Schema(event.type + ": data." + std::string(key) + " is required (number)");
  *out = *v;
  return Status::Ok();
}

Status RequireRow(ApplyContext& ctx, const char* sql, std::string_view what, std::string_view id) {
  auto stmt = ctx.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return WaitingFor(what, id);
  return Status::Ok();
}

Status WaitingFor(std::string_view what, std::string_view id) {
  std::string message = "waiting for ";
  message += what;
  message += ' ';
  message += id;
  return Status::Waiting(std::move(message));
}

std::string LastWriterWinsUpdate(std::string_view table, std::string_view key,
                                 std::initializer_list<TimedColumn> columns) {
  const std::string time = "?" + std::to_string(columns.size() + 2);
  std::string sql = "UPDATE " + std::string(table) + " SET\n";
  int param = 2;
  for (const TimedColumn& c : columns) {
    const std::string value = "?" + std::to_string(param++);
    const std::string newer = "CASE WHEN CAST(" + value + " AS " + c.type + ") IS NOT NULL AND " +
                              time + " >= COALESCE(" + c.at + ", " + time + ") THEN ";
    sql += "  " + std::string(c.column) + " = " + newer + value + " ELSE " + c.column + " END,\n";
    sql += "  " + std::string(c.at) + " = " + newer + time + " ELSE " + c.at + " END,\n";
  }
  sql += "  updated_at = MAX(COALESCE(updated_at, " + time + "), " + time + ")\n";
  sql += "WHERE " + std::string(key) + " = ?1";
  return sql;
}

}  // namespace ingestlab::handlers
