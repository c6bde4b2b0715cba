// SqliteConnection: the SqlConnection over one SQLite writer connection in WAL mode, plus a
// second connection on a background thread that only checkpoints the WAL (so the writer never
// stalls on checkpoint I/O). Open creates or migrates the schema (store_schema.h).
// Thread-safety: as sql_connection.h; the checkpoint thread shares nothing but the file and a
// nudge flag guarded by its mutex.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "common/status.h"
#include "system/sql_connection.h"
#include "system/store.h"

namespace ingestlab {

// Maps a SQLite result code to a Status: SQLITE_BUSY/SQLITE_LOCKED (any extended form) →
// kTransient; I/O, full, read-only, corrupt and can't-open → kIo; anything else → kInternal.
// The message is "<what>: <sqlite message>".
Status SqliteStatus(sqlite3* db, int rc, std::string_view what);

// Opens options.path for writing (WAL, options.synchronous_full, busy_timeout_ms) with the
// schema created or migrated. Errors name the path.
Result<std::unique_ptr<SqlConnection>> OpenSqliteConnection(const StoreOptions& options);

// A plain read-write connection to an existing database, beside the Store's (no schema work, no
// checkpoint thread), waiting up to busy_timeout_ms for locks.
Result<std::unique_ptr<SqlConnection>> OpenSqliteSideConnection(const std::string& path,
                                                                int busy_timeout_ms);

}  // namespace ingestlab
