// See sqlite_db.h.
#include "harness/sqlite_db.h"

#include <sqlite3.h>

namespace ingestlab {

void SqliteClose::operator()(sqlite3* db) const { sqlite3_close(db); }

Result<SqliteDb> OpenSqlite(const std::string& path, int flags, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqliteDb db(raw);
  if (rc != SQLITE_OK) {
    return Status::Io("cannot open " + path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return db;
}

}  // namespace ingestlab
