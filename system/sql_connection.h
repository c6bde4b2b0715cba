// SqlConnection: what the store and the domain handlers need of one database connection, so that
// the same statements and the same promises (store.h) run on SQLite (system/sqlite_connection.h,
// one host) and on PostgreSQL (system/pg/pg_connection.h, many hosts sharing one database).
//
// Statements are written once, in the dialect both accept: `?N` parameters, INSERT ... ON
// CONFLICT upserts whose SET expressions name the existing row's columns as table.column, two-
// argument MIN/MAX for "least"/"greatest" of non-NULL values, RETURNING. The PostgreSQL connection
// rewrites the few spellings that differ (pg_connection.h, TranslateToPostgres).
// Thread-safety: a connection and its statements belong to one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ingestlab {

enum class SqlDialect { kSqlite, kPostgres };

// A prepared statement owned by its connection's cache. Parameters are 1-based, columns 0-based.
// Bound views must stay valid until the statement has run (Step returned false, or Reset).
class SqlStatement {
 public:
  virtual ~SqlStatement() = default;
  virtual void BindText(int i, std::string_view v) = 0;
  virtual void BindBlob(int i, std::string_view v) = 0;
  virtual void BindInt(int i, int64_t v) = 0;
  virtual void BindReal(int i, double v) = 0;
  virtual void BindNull(int i) = 0;
  // The first call runs the statement; true = a row is available, false = done. Errors are
  // mapped as SqlConnection's header says.
  virtual Result<bool> Step() = 0;
  virtual bool IsNull(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual double Real(int col) const = 0;
  // Text, or a blob's bytes.
  virtual std::string_view Text(int col) const = 0;
  // Rows the statement's last run changed.
  virtual int Changes() const = 0;
  // Ready to run again: results dropped, bindings cleared.
  virtual void Reset() = 0;
};

// One typed value of a row read by SqlConnection::Query.
struct SqlValue {
  enum class Kind { kNull, kInteger, kReal, kText } kind = Kind::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string_view text;  // text, or a blob's bytes
};

// Errors are Status codes with the same meaning on both databases: kTransient for what a retry
// can cure (a lock not had in time, a serialization failure, a deadlock, a lost connection),
// kIo for the storage itself (full, read-only, corrupt), kInternal for everything else.
class SqlConnection {
 public:
  SqlConnection() = default;
  virtual ~SqlConnection() = default;
  SqlConnection(const SqlConnection&) = delete;
  SqlConnection& operator=(const SqlConnection&) = delete;
  virtual SqlDialect dialect() const = 0;
  // The cached statement for `sql`, which must have static storage duration (the cache is keyed
  // by its address). The statement stays owned by the connection.
  virtual Result<SqlStatement*> Prepare(const char* sql) = 0;
  // Runs `sql` (one or more statements, no parameters, not cached); `what` names it in errors.
  virtual Status Execute(const std::string& sql, std::string_view what) = 0;
  // Runs a query (not cached, in the shared dialect as Prepare's): names(column names) once,
  // then row(values) for each row.
  virtual Status Query(const std::string& sql,
                       const std::function<void(const std::vector<std::string>&)>& names,
                       const std::function<void(const std::vector<SqlValue>&)>& row) = 0;
  // A transaction is open (it may have failed: it still needs its ROLLBACK).
  virtual bool InTransaction() const = 0;
  // The open transaction failed and can only be rolled back (PostgreSQL, after any error).
  virtual bool TransactionFailed() const = 0;
  // Rows changed by the last statement that ran (cached or not).
  virtual int Changes() const = 0;
  // Rows changed by every statement since the connection opened.
  virtual int64_t TotalChanges() const = 0;
  // The statement that opens a write transaction (SQLite takes the write lock at once).
  virtual const char* BeginStatement() const = 0;
  // Where the data lives, for messages: a path, or a URL without its password.
  virtual const std::string& name() const = 0;
  // How durable a commit is, for /healthz: SQLite's synchronous ("full", "normal"), PostgreSQL's
  // synchronous_commit ("on", "off", ...).
  virtual std::string Synchronous() = 0;
};

}  // namespace ingestlab
