// The store's schema on PostgreSQL: the same tables, columns and column order as on SQLite
// (store_schema.h), made by the same migration steps translated to PostgreSQL's types, so that
// StateDigest agrees between the two stores and docs/tables.md describes both.
//
// Translation: INTEGER → BIGINT (an INTEGER PRIMARY KEY becomes an identity column), REAL →
// DOUBLE PRECISION, BLOB → BYTEA, TEXT → TEXT COLLATE "C" (byte order, as SQLite sorts, whatever
// the database's locale), WITHOUT ROWID dropped. The INTEGER columns that take any number
// (quantity, score) become NUMERIC, which keeps 72.5 as SQLite's affinity does. SQLite's FTS5
// tables and their triggers are left out: PostgreSQL searches with GIN indexes over
// to_tsvector('simple', ...) of the same columns (kPostgresSearchIndexes), which keep themselves.
// The version is kept in table store_schema_version; migrations run in one transaction under an
// advisory lock, so instances starting together against a fresh database migrate it once.
#pragma once

#include <string>
#include <string_view>

#include <libpq-fe.h>

#include "common/status.h"

namespace ingestlab {

// The PostgreSQL form of one SQLite migration script (see above).
std::string TranslateSchemaToPostgres(std::string_view sqlite_script);

// Creates the schema in an empty database or migrates it to kStoreSchemaVersion. A database
// from a newer ingestd is refused (kInvalidArgument).
Status EnsurePostgresSchema(PGconn* conn);

}  // namespace ingestlab
