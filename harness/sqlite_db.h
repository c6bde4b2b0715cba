// SqliteDb: a connection to ingestd's SQLite database that closes itself, and the one way the
// harness opens it (fault injection, state probes, the store reader).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

struct sqlite3;

namespace ingestlab {

struct SqliteClose {
  void operator()(sqlite3* db) const;
};
using SqliteDb = std::unique_ptr<sqlite3, SqliteClose>;

// Opens `path` with `flags` (SQLITE_OPEN_READONLY, SQLITE_OPEN_READWRITE, ...) and waits up to
// `busy_timeout_ms` for a lock held by another connection. On failure:
// Status::Io("cannot open <path>: <SQLite's reason>"); callers Annotate it with what they are.
Result<SqliteDb> OpenSqlite(const std::string& path, int flags, int busy_timeout_ms = 5000);

}  // namespace ingestlab
