// PgSession. See pg_session.h.
#include "tests/support/pg_session.h"

#include <cstdlib>
#include <stdexcept>

#include <libpq-fe.h>

namespace ingestlab::testing {

PgSession::PgSession(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn_);
    PQfinish(conn_);
    throw std::runtime_error("cannot connect to " + url + ": " + message);
  }
  PQclear(PQexec(conn_, "SET client_min_messages = warning"));
}

PgSession::~PgSession() { PQfinish(conn_); }

Status PgSession::Run(const std::string& sql, std::vector<std::optional<std::string>>* rows) {
  PGresult* res = PQexec(conn_, sql.c_str());
  const ExecStatusType status = PQresultStatus(res);
  Status st;
  if (status == PGRES_TUPLES_OK && rows != nullptr) {
    for (int r = 0; r < PQntuples(res); ++r) {
      if (PQgetisnull(res, r, 0)) {
        rows->push_back(std::nullopt);
      } else {
        rows->emplace_back(PQgetvalue(res, r, 0));
      }
    }
  } else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    st = Status::Internal(sql + ": " + PQresultErrorMessage(res));
  }
  PQclear(res);
  return st;
}

int64_t PgSession::Int(const std::string& sql) {
  std::vector<std::optional<std::string>> rows;
  if (!Run(sql, &rows).ok() || rows.empty() || !rows.front()) return 0;
  return std::strtoll(rows.front()->c_str(), nullptr, 10);
}

double PgSession::Real(const std::string& sql) {
  std::vector<std::optional<std::string>> rows;
  if (!Run(sql, &rows).ok() || rows.empty() || !rows.front()) return 0;
  return std::strtod(rows.front()->c_str(), nullptr);
}

}  // namespace ingestlab::testing
