// The SQLite schema of ingestd's store (documented for users in docs/tables.md) and its
// migrations. The schema version lives in PRAGMA user_version; each migration step moves the
// database from version N to N+1 inside one transaction, so a crash mid-migration leaves the
// previous version intact.
// Thread-safety: the functions take a connection; call them from the thread that owns it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <sqlite3.h>

#include "common/status.h"

namespace ingestlab {

// The version a freshly created or fully migrated database reports in PRAGMA user_version.
inline constexpr int kStoreSchemaVersion = 6;

// Creates the schema if the database is empty, or migrates it up to kStoreSchemaVersion.
// A database from a newer ingestd (user_version > kStoreSchemaVersion) is refused.
Status EnsureStoreSchema(sqlite3* db);

// The SQLite script that moves a database from version `from` to `from + 1`
// (0 <= from < kStoreSchemaVersion). The PostgreSQL store runs the same steps, translated
// (pg/pg_schema.h).
const char* StoreMigration(int from);

// The domain tables StateDigest covers, each with its primary-key ORDER BY clause.
struct DigestTable {
  const char* name;
  const char* order_by;
};
const std::vector<DigestTable>& DigestTables();

// Seed 001's CRM staging tables, which the PostgreSQL store partitions by month of event_date
// (docs/tables.md, "PostgreSQL"). A unique key of a partitioned table must hold the partition
// key, so there the uniqueness of each id, and the date of the row that holds it, live in an
// unpartitioned keys table: crm_lead_keys(lead_id PRIMARY KEY, event_date).
struct PartitionedTable {
  const char* name;        // crm_leads
  const char* key;         // lead_id
  const char* keys_table;  // crm_lead_keys
};
const std::vector<PartitionedTable>& PartitionedTables();

// PostgreSQL statements that create, where missing, the month partition of every partitioned
// table that holds `date` ("YYYY-MM-DD"): crm_leads_2026_12 FOR VALUES FROM ('2026-12-01') TO
// ('2027-01-01'). Empty unless `date` has that form with a year of four digits (all event times
// the envelopes accept have one).
std::string MonthPartitionsDdl(std::string_view date);

}  // namespace ingestlab
