// StoreReader: the harness's read-only view of ingestd's database (SQLite or PostgreSQL, by the
// path: StoreOptions::path) — the rows assertions
// need (events, dead_letters), cheap progress counts, and the reference-model comparison: the
// final state of every table recomputed from the recorded publishes (harness/reference_model.h)
// and compared with the tables row by row.
// Opens its own connection (on SQLite, WAL lets it read while ingestd writes).
// Thread-safety: one StoreReader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "harness/assertions.h"
#include "harness/reference_model.h"
#include "system/sql_connection.h"

namespace ingestlab {

class StoreReader {
 public:
  static Result<std::unique_ptr<StoreReader>> Open(const std::string& db_path);
  ~StoreReader();

  struct Counts {
    int64_t events = 0;
    int64_t dead_letters = 0;
    int64_t last_commit_ms = 0;  // max(committed_at, dead_at)
  };
  Result<Counts> ReadCounts();
  Result<std::vector<AppliedRow>> ReadApplied();
  // How many of `ids` are neither in events nor (by the payload's id) in dead_letters.
  Result<size_t> CountUnsettled(const std::unordered_set<std::string>& ids);
  Result<std::vector<DeadLetterRow>> ReadDeadLetters();

  // Recomputes the final state of every table the applied publishes imply (ReferenceModel)
  // and lists the differences; `note` says per table how many rows were compared, `tables`
  // (optional) gets the per-table summary with the first differing rows. Events in `skip`
  // (correctly dead-lettered, see ExcusedDeadLetterIds) are left out. A table that cannot be
  // read is an error: the comparison did not happen.
  Status CompareWithReferenceModel(const std::vector<PublishRecord>& publishes,
                                   const std::unordered_set<std::string>& skip,
                                   std::vector<StateMismatch>* mismatches, std::string* note,
                                   std::vector<StateTableSummary>* tables = nullptr,
                                   const ModelOptions& options = {});

 private:
  explicit StoreReader(std::unique_ptr<SqlConnection> db) : db_(std::move(db)) {}
  std::unique_ptr<SqlConnection> db_;
};

}  // namespace ingestlab
