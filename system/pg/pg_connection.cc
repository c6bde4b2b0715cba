// PostgresConnection. See pg_connection.h.
#include "system/pg/pg_connection.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include <libpq-fe.h>

#include "system/pg/pg_schema.h"

namespace ingestlab {
namespace {

// PostgreSQL's type ids (pg_type.oid) of the values Query reads typed.
enum : Oid { kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23 };
enum : Oid { kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700 };

// A message of libpq's, trimmed to one line.
std::string OneLine(const char* message) {
  std::string out(message != nullptr ? message : "");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return out;
}

Status ResultStatus(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message(what);
  message += ": ";
  message += OneLine(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  if (message.ends_with(": ")) message += OneLine(PQerrorMessage(conn));
  const std::string_view code(state != nullptr ? state : "");
  if (code.empty() || PQstatus(conn) != CONNECTION_OK) {
    return Status::Transient(std::move(message));  // the connection, not the statement
  }
  if (code.starts_with("40") || code.starts_with("08") || code == "55P03" || code == "57P01" ||
      code == "57P02" || code == "57P03" || code == "25P02") {
    return Status::Transient(std::move(message));
  }
  if (code.starts_with("53") || code.starts_with("58")) return Status::Io(std::move(message));
  if (code.starts_with("22")) return Status::Schema(std::move(message));
  return Status::Internal(std::move(message) + " (SQLSTATE " + std::string(code) + ")");
}

// Decodes bytea's text form ("\x" and hex digits) into *out.
void DecodeBytea(std::string_view text, std::string* out) {
  out->clear();
  if (!text.starts_with("\\x")) {
    out->assign(text);
    return;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
  };
  for (size_t i = 2; i + 1 < text.size(); i += 2) {
    out->push_back(static_cast<char>(nibble(text[i]) << 4 | nibble(text[i + 1])));
  }
}

class PostgresConnection;

class PostgresStatement final : public SqlStatement {
 public:
  PostgresStatement(PostgresConnection* conn, std::string name, std::string sql)
      : conn_(conn), name_(std::move(name)), sql_(std::move(sql)) {}
  ~PostgresStatement() override { PQclear(result_); }
  PostgresStatement(const PostgresStatement&) = delete;
  PostgresStatement& operator=(const PostgresStatement&) = delete;

  void BindText(int i, std::string_view v) override {
    if (v.find('\0') != std::string_view::npos) {
      bind_error_ = "parameter $" + std::to_string(i) +
                    " is text with a NUL byte, which PostgreSQL cannot store";
    }
    Slot(i).assign(v);
  }
  void BindBlob(int i, std::string_view v) override {
    Slot(i).assign(v);
    formats_[static_cast<size_t>(i - 1)] = 1;  // binary: bytea's bytes as they are
  }
  void BindInt(int i, int64_t v) override { Slot(i) = std::to_string(v); }
  void BindReal(int i, double v) override {
    char buf[40];
    snprintf(buf, sizeof(buf), "%.17g", v);
    Slot(i) = buf;
  }
  void BindNull(int i) override {
    Slot(i);
    null_[static_cast<size_t>(i - 1)] = true;
  }

  Result<bool> Step() override;

  bool IsNull(int col) const override { return PQgetisnull(result_, row_, col) != 0; }
  int64_t Int(int col) const override {
    return IsNull(col) ? 0 : std::strtoll(PQgetvalue(result_, row_, col), nullptr, 10);
  }
  double Real(int col) const override {
    return IsNull(col) ? 0 : std::strtod(PQgetvalue(result_, row_, col), nullptr);
  }
  // A bytea column's bytes are decoded from their text form, into a buffer per column.
  std::string_view Text(int col) const override {
    if (IsNull(col)) return {};
    const std::string_view text(PQgetvalue(result_, row_, col),
                                static_cast<size_t>(PQgetlength(result_, row_, col)));
    if (PQftype(result_, col) != kByteaOid) return text;
    if (decoded_.size() <= static_cast<size_t>(col)) decoded_.resize(static_cast<size_t>(col) + 1);
    DecodeBytea(text, &decoded_[static_cast<size_t>(col)]);
    return decoded_[static_cast<size_t>(col)];
  }
  int Changes() const override { return changes_; }
  void Reset() override {
    PQclear(result_);
    result_ = nullptr;
    ran_ = false;
    row_ = -1;
    changes_ = 0;
    bind_error_.clear();
    for (size_t i = 0; i < values_.size(); ++i) {
      values_[i].clear();
      null_[i] = false;
      formats_[i] = 0;
    }
  }

  // The connection was re-established: the server forgot the prepared statement.
  void Forget() { prepared_ = false; }

 private:
  std::string& Slot(int i) {
    const size_t n = static_cast<size_t>(i);
    if (values_.size() < n) {
      values_.resize(n);
      null_.resize(n, false);
      formats_.resize(n, 0);
    }
    null_[n - 1] = false;
    formats_[n - 1] = 0;
    return values_[n - 1];
  }

  PostgresConnection* conn_;
  std::string name_;
  std::string sql_;
  bool prepared_ = false;
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<int> formats_;
  std::string bind_error_;
  mutable std::vector<std::string> decoded_;  // Text's bytea buffers
  PGresult* result_ = nullptr;
  bool ran_ = false;
  int row_ = -1;
  int changes_ = 0;
};

class PostgresConnection final : public SqlConnection {
 public:
  PostgresConnection(PGconn* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  ~PostgresConnection() override {
    if (InTransaction()) PQclear(PQexec(conn_, "ROLLBACK"));
    statements_.clear();
    PQfinish(conn_);
  }

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }

  Result<SqlStatement*> Prepare(const char* sql) override {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second.get();
    auto owned = std::make_unique<PostgresStatement>(
        this, "s" + std::to_string(statements_.size() + 1), TranslateToPostgres(sql));
    SqlStatement* out = owned.get();
    statements_.emplace(sql, std::move(owned));
    return out;
  }

  Status Execute(const std::string& sql, std::string_view what) override {
    INGEST_RETURN_IF_ERROR(Reconnect());
    PGresult* res = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(res);
    Status st = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                    ? Status::Ok()
                    : ResultStatus(conn_, res, what);
    if (st.ok()) Count(res);
    PQclear(res);
    return st;
  }

  Status Query(const std::string& sql,
               const std::function<void(const std::vector<std::string>&)>& names,
               const std::function<void(const std::vector<SqlValue>&)>& row) override {
    INGEST_RETURN_IF_ERROR(Reconnect());
    const std::string translated = TranslateToPostgres(sql);
    std::unique_ptr<PGresult, void (*)(PGresult*)> res(
        PQexecParams(conn_, translated.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0), PQclear);
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      return ResultStatus(conn_, res.get(), sql.substr(0, 48));
    }
    const int columns = PQnfields(res.get());
    std::vector<std::string> column_names;
    for (int c = 0; c < columns; ++c) column_names.emplace_back(PQfname(res.get(), c));
    names(column_names);
    std::vector<SqlValue> values(static_cast<size_t>(columns));
    std::vector<std::string> bytes(static_cast<size_t>(columns));
    for (int r = 0; r < PQntuples(res.get()); ++r) {
      for (int c = 0; c < columns; ++c) {
        SqlValue& v = values[static_cast<size_t>(c)];
        v = SqlValue{};
        if (PQgetisnull(res.get(), r, c)) continue;
        const char* text = PQgetvalue(res.get(), r, c);
        const std::string_view view(text, static_cast<size_t>(PQgetlength(res.get(), r, c)));
        switch (PQftype(res.get(), c)) {
          case kInt8Oid:
          case kInt4Oid:
          case kInt2Oid:
            v.kind = SqlValue::Kind::kInteger;
            v.integer = std::strtoll(text, nullptr, 10);
            break;
          case kBoolOid:
            v.kind = SqlValue::Kind::kInteger;
            v.integer = view == "t" ? 1 : 0;
            break;
          case kNumericOid:  // as SQLite's INTEGER affinity keeps it: whole, or not
            if (view.find_first_of(".eE") == std::string_view::npos) {
              v.kind = SqlValue::Kind::kInteger;
              v.integer = std::strtoll(text, nullptr, 10);
            } else {
              v.kind = SqlValue::Kind::kReal;
              v.real = std::strtod(text, nullptr);
            }
            break;
          case kFloat8Oid:
          case kFloat4Oid:
            v.kind = SqlValue::Kind::kReal;
            v.real = std::strtod(text, nullptr);
            break;
          case kByteaOid:
            v.kind = SqlValue::Kind::kText;
            DecodeBytea(view, &bytes[static_cast<size_t>(c)]);
            v.text = bytes[static_cast<size_t>(c)];
            break;
          default:
            v.kind = SqlValue::Kind::kText;
            v.text = view;
        }
      }
      row(values);
    }
    return Status::Ok();
  }

  bool InTransaction() const override {
    const PGTransactionStatusType t = PQtransactionStatus(conn_);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
  }
  bool TransactionFailed() const override { return PQtransactionStatus(conn_) == PQTRANS_INERROR; }
  int Changes() const override { return last_changes_; }
  int64_t TotalChanges() const override { return total_changes_; }
  const char* BeginStatement() const override { return "BEGIN"; }
  const std::string& name() const override { return name_; }

  std::string Synchronous() override {
    PGresult* res = PQexec(conn_, "SHOW synchronous_commit");
    std::string mode =
        PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    PQclear(res);
    return mode;
  }

  PGconn* conn() { return conn_; }

  // Outside a transaction, re-establishes a lost connection (the server restarted, a network
  // blip); its prepared statements are gone with it. kTransient while it can't.
  Status Reconnect() {
    if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
    PQreset(conn_);
    for (auto& [sql, stmt] : statements_) stmt->Forget();
    if (PQstatus(conn_) != CONNECTION_OK) {
      return Status::Transient(name_ + ": reconnect: " + OneLine(PQerrorMessage(conn_)));
    }
    return Status::Ok();
  }

  void Count(const PGresult* res) {
    last_changes_ = std::atoi(PQcmdTuples(const_cast<PGresult*>(res)));
    total_changes_ += last_changes_;
  }

 private:
  PGconn* conn_;
  std::string name_;
  std::unordered_map<const char*, std::unique_ptr<PostgresStatement>> statements_;
  int last_changes_ = 0;
  int64_t total_changes_ = 0;
};

Result<bool> PostgresStatement::Step() {
  if (ran_) {
    if (result_ == nullptr || row_ + 1 >= PQntuples(result_)) return false;
    ++row_;
    return true;
  }
  ran_ = true;
  if (!bind_error_.empty()) return Status::Schema(bind_error_);
  PGconn* conn = conn_->conn();
  if (!conn_->InTransaction()) INGEST_RETURN_IF_ERROR(conn_->Reconnect());
  if (!prepared_) {
    PGresult* res = PQprepare(conn, name_.c_str(), sql_.c_str(), 0, nullptr);
    const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    Status st = ok ? Status::Ok() : ResultStatus(conn, res, "prepare " + sql_.substr(0, 60));
    PQclear(res);
    if (!st.ok()) return st;
    prepared_ = true;
  }
  const size_t n = values_.size();
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  for (size_t i = 0; i < n; ++i) {
    values[i] = null_[i] ? nullptr : values_[i].c_str();
    lengths[i] = static_cast<int>(values_[i].size());
  }
  result_ = PQexecPrepared(conn, name_.c_str(), static_cast<int>(n), values.data(), lengths.data(),
                           formats_.data(), 0);
  const ExecStatusType status = PQresultStatus(result_);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    std::string what(sql_);
    while (!what.empty() && (what.front() == ' ' || what.front() == '\n')) what.erase(0, 1);
    return ResultStatus(conn, result_, what.substr(0, 48));
  }
  conn_->Count(result_);
  changes_ = conn_->Changes();
  if (status != PGRES_TUPLES_OK || PQntuples(result_) == 0) return false;
  row_ = 0;
  return true;
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Whether the parenthesised list starting at sql[open] ('(') has a comma at its top level.
bool HasTopLevelComma(std::string_view sql, size_t open) {
  int depth = 0;
  for (size_t i = open; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'') {
      i = sql.find('\'', i + 1);
      if (i == std::string_view::npos) return false;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth == 0) return false;
    } else if (c == ',' && depth == 1) {
      return true;
    }
  }
  return false;
}

void NoticeIgnored(void*, const char*) {}

}  // namespace

std::string TranslateToPostgres(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {  // a literal or a quoted name: copied as it is
      const size_t end = sql.find(c, i + 1);
      const size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
      continue;
    }
    if (c == '?' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      out += '$';
      continue;
    }
    const bool word_start = IsWordChar(c) && (i == 0 || !IsWordChar(sql[i - 1]));
    if (word_start && i + 4 <= sql.size() && sql[i + 3] == '(') {
      std::string word(sql.substr(i, 3));
      for (char& w : word) w = static_cast<char>(std::toupper(static_cast<unsigned char>(w)));
      if ((word == "MIN" || word == "MAX") && HasTopLevelComma(sql, i + 3)) {
        out += word == "MIN" ? "LEAST" : "GREATEST";
        i += 2;
        continue;
      }
    }
    out += c;
  }
  return out;
}

std::string RedactPostgresUrl(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const size_t at = url.find('@', scheme + 3);
  if (at == std::string_view::npos) return std::string(url);
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

Result<std::unique_ptr<SqlConnection>> OpenPostgresConnection(const StoreOptions& options,
                                                              bool migrate) {
  const std::string name = RedactPostgresUrl(options.path);
  // A URL libpq cannot parse is the caller's mistake, told before any connection attempt.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.path.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string message = "store " + name + ": not a valid PostgreSQL URL: " +
                          OneLine(parse_error != nullptr ? parse_error : "out of memory");
    PQfreemem(parse_error);
    return Status::InvalidArgument(std::move(message));
  }
  PQconninfoFree(parsed);

  const std::string timeout =
      std::to_string(options.connect_timeout_s > 0 ? options.connect_timeout_s : 5);
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {options.path.c_str(), timeout.c_str(), "ingestd", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Io("store " + name + ": out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status st = Status::Io("store " + name + ": cannot connect: " + OneLine(PQerrorMessage(conn)));
    PQfinish(conn);
    return st;
  }
  PQsetNoticeProcessor(conn, &NoticeIgnored, nullptr);
  // A lock another session holds (a migration, a user's LOCK TABLE) is waited for at most this
  // long before the statement fails kTransient and the batch is retried.
  const int lock_ms = options.busy_timeout_ms > 2000 ? options.busy_timeout_ms : 2000;
  const std::string setup =
      "SET lock_timeout = " + std::to_string(lock_ms) + "; SET client_min_messages = warning";
  PGresult* res = PQexec(conn, setup.c_str());
  Status st = PQresultStatus(res) == PGRES_COMMAND_OK ? Status::Ok()
                                                      : ResultStatus(conn, res, "session setup");
  PQclear(res);
  if (st.ok() && migrate) st = EnsurePostgresSchema(conn);
  if (!st.ok()) {
    PQfinish(conn);
    return st.Annotate("store " + name);
  }
  return std::unique_ptr<SqlConnection>(new PostgresConnection(conn, name));
}

}  // namespace ingestlab
