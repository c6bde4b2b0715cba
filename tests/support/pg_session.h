// PgSession: one libpq session for tests to read and change a PostgreSQL store the way a user's
// script would; failures to connect throw (test support).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

struct pg_conn;

namespace ingestlab::testing {

class PgSession {
 public:
  explicit PgSession(const std::string& url);
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  // Runs `sql` (one or more statements): an error status, or OK with the last result's first
  // column, row by row, in *rows.
  Status Run(const std::string& sql, std::vector<std::optional<std::string>>* rows = nullptr);
  // The first row's first column as an integer or a double; 0 without one (or on an error).
  int64_t Int(const std::string& sql);
  double Real(const std::string& sql);

 private:
  pg_conn* conn_;
};

}  // namespace ingestlab::testing
