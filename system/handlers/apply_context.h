// ApplyContext: what a domain handler gets to write an event's effects into the store — cached
// prepared statements on the store's connection (SQLite or PostgreSQL, sql_connection.h), and
// the helpers several domains share (customer auto-creation and profile filling, required-field
// checks, summaries).
//
// Statements are cached by the address of their SQL text: handlers keep their SQL in
// namespace-scope `constexpr char kX[]` arrays, so each statement is prepared once per
// connection and reused for every event (no prepare on the hot path). Bound text is not copied:
// bound views must outlive the statement's execution, which they do because they point into the
// Event being applied. The SQL is written in the dialect both databases accept
// (sql_connection.h).
// Thread-safety: one ApplyContext per Store, used by the Store's thread only.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "system/event.h"
#include "system/sql_connection.h"
#include "system/store.h"

namespace ingestlab::handlers {

// A borrowed, cached prepared statement. Resets itself and clears its bindings when destroyed,
// so the next user starts clean. Parameters are 1-based.
class Stmt {
 public:
  explicit Stmt(SqlStatement* stmt) : stmt_(stmt) {}
  ~Stmt() {
    if (stmt_ != nullptr) stmt_->Reset();
  }
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;

  void Bind(int i, std::string_view v) { stmt_->BindText(i, v); }
  void BindBlob(int i, std::string_view v) { stmt_->BindBlob(i, v); }
  void Bind(int i, int64_t v) { stmt_->BindInt(i, v); }
  void Bind(int i, int v) { stmt_->BindInt(i, v); }
  void Bind(int i, double v) { stmt_->BindReal(i, v); }
  void BindNull(int i) { stmt_->BindNull(i); }
  void Bind(int i, std::nullopt_t) { BindNull(i); }
  // Empty optionals bind NULL. Empty strings bind NULL too: "no value" in our tables is NULL.
  void Bind(int i, std::optional<std::string_view> v) {
    if (v && !v->empty()) {
      Bind(i, *v);
    } else {
      BindNull(i);
    }
  }
  void Bind(int i, std::optional<int64_t> v) {
    if (v) {
      Bind(i, *v);
    } else {
      BindNull(i);
    }
  }
  void Bind(int i, std::optional<double> v) {
    if (v) {
      Bind(i, *v);
    } else {
      BindNull(i);
    }
  }

  // Steps once: true = a row is available, false = done.
  Result<bool> Step() { return stmt_->Step(); }
  // Steps to completion, ignoring rows.
  Status Run();

  bool IsNull(int col) const { return stmt_->IsNull(col); }
  int64_t Int(int col) const { return stmt_->Int(col); }
  double Real(int col) const { return stmt_->Real(col); }
  std::string_view Text(int col) const { return stmt_->Text(col); }
  // Rows changed by the last run of this statement.
  int Changes() const { return stmt_->Changes(); }

 private:
  SqlStatement* stmt_;
};

// Profile fields an event may carry about its customer.
struct ProfileFields {
  std::optional<std::string_view> email;
  std::optional<std::string_view> name;
  std::optional<std::string_view> phone;
  std::optional<std::string_view> company;
};

class ApplyContext {
 public:
  ApplyContext(SqlConnection& db, const StoreOptions& options) : db_(db), options_(options) {}
  ApplyContext(const ApplyContext&) = delete;
  ApplyContext& operator=(const ApplyContext&) = delete;

  // The cached statement for `sql`, which must be a string with static storage duration.
  Result<Stmt> Prepare(const char* sql);

  SqlConnection& db() const { return db_; }
  // Rows changed by the last statement run on this connection.
  int Changes() const { return db_.Changes(); }
  const StoreOptions& options() const { return options_; }

  // The customer an event is about: the envelope's customer_id, else data.customer_id.
  static std::string_view CustomerOf(const Event& event);

  // Makes sure customer `customer_id` exists and fills its empty profile fields from `profile`.
  // Unknown customers are created when options().auto_create_customers, else
  // Status::Waiting("unknown customer X"). created_at/updated_at track the earliest/latest
  // event time that touched the customer (deterministic, independent of processing time).
  // lifetime_value_delta is added to customers.lifetime_value in the same statement.
  Status TouchCustomer(const Event& event, std::string_view customer_id,
                       const ProfileFields& profile, double lifetime_value_delta = 0);
  // TouchCustomer for the event's own customer (CustomerOf), whose id goes to *customer_id.
  Status TouchCustomerOf(const Event& event, std::string_view* customer_id,
                         const ProfileFields& profile = {});
  // lifetime_value += delta.
  Status AddLifetimeValue(std::string_view customer_id, double delta);

  // Full-text index upkeep, on SQLite (PostgreSQL's search indexes are expression indexes that
  // keep themselves: these are no-ops there). The Store's connection runs with triggers disabled
  // (the *_fts triggers still serve every other connection), because FTS5 flushes its pending terms
  // on every savepoint and a per-event savepoint would write one tiny segment per event. Instead,
  // rows inserted during a transaction (rowid above the watermark taken by BeginSearchTransaction)
  // are indexed in one statement per table by FlushSearch just before COMMIT, and a handler that
  // may change an existing customer's name/email/company brackets the write with
  // BeforeCustomerWrite/AfterCustomerWrite, which re-index that row at once.
  Status BeginSearchTransaction();
  Status FlushSearch();
  Status BeforeCustomerWrite(std::string_view customer_id);
  Status AfterCustomerWrite();

  // A summary for `text` when it is longer than options().summary_threshold characters (UTF-8
  // code points),
  // else nullopt. The returned view is valid until the next call.
  std::optional<std::string_view> SummaryFor(std::optional<std::string_view> text);

  // UTC "YYYY-MM-DD" of a unix-ms time, in a buffer valid until the next call.
  std::string_view DateOf(int64_t unix_ms);

  // PostgreSQL: makes sure the month partitions holding `date` exist (store_schema.h,
  // MonthPartitionsDdl), creating them in this transaction, under the schema lock, for an event
  // outside the months made ahead. Months known to exist are remembered once their transaction
  // commits (EndTransaction). A no-op on SQLite, whose tables are not partitioned.
  Status EnsureMonthPartition(std::string_view date);
  // The store's transaction ended: committed, or rolled back (its new partitions with it).
  void EndTransaction(bool committed);
  // `st` of a write into a partitioned table, except that a missing partition (SQLSTATE 23514:
  // the tables have no other CHECK) means one was dropped, say by a retention job, after this
  // store knew it: what is known is forgotten and the write is Transient, so the batch is tried
  // again and the partition made again.
  Status PartitionChecked(Status st);

 private:
  bool SqliteSearch() const { return db_.dialect() == SqlDialect::kSqlite; }

  SqlConnection& db_;
  const StoreOptions& options_;
  std::string summary_;
  char date_[16] = {};
  std::vector<std::string> months_;          // "YYYY-MM" with committed partitions
  std::vector<std::string> pending_months_;  // created by the open transaction
  int64_t customers_watermark_ = 0;
  int64_t tickets_watermark_ = 0;
  int64_t knowledge_watermark_ = 0;
  // The customer row captured by BeforeCustomerWrite: rowid (0 = none) and its indexed text.
  int64_t pending_customer_rowid_ = 0;
  std::optional<std::string> pending_name_, pending_email_, pending_company_;
};

// Inserts a `knowledge` row keyed by the event id: note, summary when long, category,
// importance (default "medium"), tags (JSON array text) from the event's data.
Status InsertKnowledge(ApplyContext& ctx, const Event& event, std::string_view customer_id,
                       std::string_view note);

// Required-field helpers: the value, or Status::Schema("<type>: data.<key> is required ...").
Status RequireText(const Event& event, std::string_view key, std::string_view* out);
// Several required text fields at once, checked in order: the first one missing is the error.
struct RequiredText {
  std::string_view key;
  std::string_view* out;
};
Status RequireText(const Event& event, std::initializer_list<RequiredText> fields);
Status RequireNumber(const Event& event, std::string_view key, double* out);
// Status::Waiting("waiting for <what> <id>"): a **depends** event arrived before its
// prerequisite.
Status WaitingFor(std::string_view what, std::string_view id);

// A string as a bound value that may be absent: empty binds NULL (e.g. the envelope's org_id).
inline std::optional<std::string_view> Opt(const std::string& s) {
  return std::optional<std::string_view>(s);
}

// Binds `args` to ?1..?N of the cached statement for `sql` (Stmt::Bind rules) and runs it.
template <typename... Args>
Status Exec(ApplyContext& ctx, const char* sql, const Args&... args) {
  auto stmt = ctx.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  int i = 0;
  (stmt->Bind(++i, args), ...);
  return stmt->Run();
}

// Runs `sql` (no parameters) and calls fn(const Stmt&) for each row it yields.
template <typename Fn>
Status ForEachRow(ApplyContext& ctx, const char* sql, Fn fn) {
  auto stmt = ctx.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  for (;;) {
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    fn(*stmt);
  }
}

// An UPDATE/DELETE of the row a **depends** event needs: binds `id` to ?1 and `args` to
// ?2..?N, runs it, and returns WaitingFor(what, id) when it matched no row.
template <typename... Args>
Status UpdateOrWait(ApplyContext& ctx, const char* sql, std::string_view what, std::string_view id,
                    const Args&... args) {
  INGEST_RETURN_IF_ERROR(Exec(ctx, sql, id, args...));
  if (ctx.Changes() == 0) return WaitingFor(what, id);
  return Status::Ok();
}

// UpdateOrWait for the row named by the event's data.<key> (RequireText).
template <typename... Args>
Status UpdateByKey(ApplyContext& ctx, const Event& e, std::string_view key, const char* sql,
                   std::string_view what, const Args&... args) {
  std::string_view id;
  INGEST_RETURN_IF_ERROR(RequireText(e, key, &id));
  return UpdateOrWait(ctx, sql, what, id, args...);
}

// A column an update sets by last writer wins, the column that holds the event time of the
// value it has, and the column's SQL type (PostgreSQL must be told a parameter's type where
// nothing around it says, as in "?2 IS NOT NULL").
struct TimedColumn {
  const char* column;
  const char* at;
  const char* type = "TEXT";
};

// The SQL of a last-writer-wins update, field by field, of the `table` row whose `key` is ?1:
// `columns[i]` is set from ?(i+2) when that parameter is not NULL and the event time, the
// parameter after them, is at least as new as the column's `at` (which then takes the event time);
// updated_at becomes the newest event time seen. SQLite evaluates every SET expression against
// the row as it was, so the final state does not depend on the order events arrive in, and a
// late update still sets the fields no newer event touched. Build it once, into a static string
// (statements are cached by the address of their text).
std::string LastWriterWinsUpdate(std::string_view table, std::string_view key,
                                 std::initializer_list<TimedColumn> columns);

// A **depends** check: runs `sql` (a SELECT with ?1 = id) and returns WaitingFor(what, id) when
// it yields no row.
Status RequireRow(ApplyContext& ctx, const char* sql, std::string_view what, std::string_view id);

}  // namespace ingestlab::handlers

// Binds `var` to the cached statement for `sql` or returns its error.
#define INGEST_PREPARE(var, ctx, sql) \
  auto var = (ctx).Prepare(sql);      \
  if (!var.ok()) return var.status()
