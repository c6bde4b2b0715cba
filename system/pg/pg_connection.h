// PostgresConnection: the SqlConnection over libpq, for a store that ingestd instances on many
// hosts share (store.h: `--db postgres://user@host:port/db`).
//
// Statements are the store's own SQL (sql_connection.h), translated once per statement
// (TranslateToPostgres) and prepared on the server at first use. Values go as text, blobs as
// binary bytea. Transactions run at READ COMMITTED: every write is an upsert or an UPDATE that
// reads the row it changes under that row's lock, so concurrent instances applying events of the
// same customer compose exactly as one instance would (docs/tables.md, "PostgreSQL"). A lost
// connection fails the statement as kTransient and is re-established before the next
// transaction, its statements prepared again.
//
// Errors by SQLSTATE: serialization failures and deadlocks (class 40), lock and connection
// failures (55P03, 08, 57P01-57P03) are kTransient; insufficient resources (53) and disk or I/O
// errors (58) kIo; data exceptions (22: a value the column cannot hold) kSchema; anything else
// kInternal. Text holding a NUL byte cannot be stored in PostgreSQL: its statement fails kSchema
// without running.
// Thread-safety: as sql_connection.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "system/sql_connection.h"
#include "system/store.h"

namespace ingestlab {

// Connects to options.path (a postgres:// or postgresql:// URL), waiting at most
// options.connect_timeout_s, and creates or migrates the schema (pg_schema.h). A malformed URL
// is kInvalidArgument, an unreachable or refusing server kIo; messages are one line and never
// show a password.
// With migrate false the schema is left alone (a connection beside the Store's).
Result<std::unique_ptr<SqlConnection>> OpenPostgresConnection(const StoreOptions& options,
                                                              bool migrate = true);

// The store's SQL in PostgreSQL's spelling: ?N parameters become $N, and two-or-more-argument
// MIN(...)/MAX(...) become LEAST/GREATEST (both ignore no NULLs in our statements, whose
// arguments are never NULL). String literals and quoted names are left alone.
std::string TranslateToPostgres(std::string_view sql);

// The writers' turn: every write transaction on PostgreSQL takes this advisory lock first
// (store.cc; docs/tables.md, "PostgreSQL"), and the harness's hold_db_lock takes it to stop them.
inline constexpr char kPostgresWriterTurn[] = "SELECT pg_advisory_xact_lock(4242170002)";
// Changes to the schema take this one: migrations (pg_schema.h) and the creation of a month
// partition for an event outside the existing ones (handlers/crm.cc). A writer takes it while
// holding its turn; migrations never take the turn, so the two never wait on each other in a
// cycle.
inline constexpr char kPostgresSchemaLock[] = "SELECT pg_advisory_xact_lock(4242170001)";

// `url` with its password, if any, replaced by "***".
std::string RedactPostgresUrl(std::string_view url);

}  // namespace ingestlab
