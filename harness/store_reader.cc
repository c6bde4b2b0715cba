// StoreReader: sqlite3 queries over ingestd's database and the reference model.
#include "harness/store_reader.h"

#include <sqlite3.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_set>

namespace ingestlab {
namespace {

std::string Text(sqlite3_stmt* st, int col) {
  const void* p = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Statement() { sqlite3_finalize(st_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return st_; }
  bool Step() { return sqlite3_step(st_) == SQLITE_ROW; }

 private:
  sqlite3_stmt* st_ = nullptr;
  int rc_;
};

Status Prepared(sqlite3* db, Statement& st, const char* what) {
  if (st.ok()) return Status::Ok();
  return Status::Io(std::string("store: cannot query ") + what + ": " + sqlite3_errmsg(db));
}

}  // namespace

Result<std::unique_ptr<StoreReader>> StoreReader::Open(const std::string& db_path) {
  auto db = OpenSqlite(db_path, SQLITE_OPEN_READONLY);
  if (!db.ok()) return db.status().Annotate("store");
  return std::unique_ptr<StoreReader>(new StoreReader(std::move(*db)));
}

StoreReader::~StoreReader() = default;

Result<StoreReader::Counts> StoreReader::ReadCounts() {
  Counts c;
  Statement st(db_.get(),
               "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters), "
               "max(coalesce((SELECT max(committed_at) FROM events), 0), "
               "coalesce((SELECT max(dead_at) FROM dead_letters), 0))");
  INGEST_RETURN_IF_ERROR(Prepared(db_.get(), st, "counts"));
  if (st.Step()) {
    c.events = sqlite3_column_int64(st.get(), 0);
    c.dead_letters = sqlite3_column_int64(st.get(), 1);
    c.last_commit_ms = sqlite3_column_int64(st.get(), 2);
  }
  return c;
}

Result<std::vector<AppliedRow>> StoreReader::ReadApplied() {
  Statement st(db_.get(),
               "SELECT event_id, type, source, customer_id, event_time, received_at, "
               "committed_at, attempts FROM events");
  INGEST_RETURN_IF_ERROR(Prepared(db_.get(), st, "events"));
  std::vector<AppliedRow> rows;
  while (st.Step()) {
    AppliedRow r;
    r.event_id = Text(st.get(), 0);
    r.type = Text(st.get(), 1);
    r.source = Text(st.get(), 2);
    r.customer_id = Text(st.get(), 3);
    r.event_time_ms = sqlite3_column_int64(st.get(), 4);
    r.received_at_ms = sqlite3_column_int64(st.get(), 5);
    r.committed_at_ms = sqlite3_column_int64(st.get(), 6);
    r.attempts = sqlite3_column_int(st.get(), 7);
    rows.push_back(std::move(r));
  }
  return rows;
}

Result<size_t> StoreReader::CountUnsettled(const std::unordered_set<std::string>& ids) {
  size_t settled = 0;
  {
    Statement st(db_.get(), "SELECT event_id FROM events");
    INGEST_RETURN_IF_ERROR(Prepared(db_.get(), st, "events"));
    while (st.Step()) settled += ids.count(Text(st.get(), 0));
  }
  auto dead = ReadDeadLetters();
  if (!dead.ok()) return dead.status();
  for (const auto& d : *dead) settled += ids.count(d.event_id);
  return settled >= ids.size() ? 0 : ids.size() - settled;
}

Result<std::vector<DeadLetterRow>> StoreReader::ReadDeadLetters() {
  Statement st(
      db_.get(),
      "SELECT origin, subject, reason, error, attempts, payload, dead_at, "
      "published_at IS NOT NULL, publish_error FROM dead_letters");
  INGEST_RETURN_IF_ERROR(Prepared(db_.get(), st, "dead_letters"));
  std::vector<DeadLetterRow> rows;
  while (st.Step()) {
    DeadLetterRow r;
    r.origin = Text(st.get(), 0);
    r.subject = Text(st.get(), 1);
    r.reason = Text(st.get(), 2);
    r.error = Text(st.get(), 3);
    r.attempts = sqlite3_column_int(st.get(), 4);
    r.payload = Text(st.get(), 5);
    r.dead_at_ms = sqlite3_column_int64(st.get(), 6);
    r.published = sqlite3_column_int(st.get(), 7) != 0;
    r.publish_error = Text(st.get(), 8);
    auto j = nlohmann::json::parse(r.payload, nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"].is_string()) r.event_id = j["id"];
    rows.push_back(std::move(r));
  }
  return rows;
}

Status StoreReader::CompareWithReferenceModel(const std::vector<PublishRecord>& publishes,
                                              const std::unordered_set<std::string>& skip,
                                              std::vector<StateMismatch>* mismatches,
                                              std::string* note,
                                              std::vector<StateTableSummary>* tables,
                                              const ModelOptions& options) {
  // Publishes the broker never acknowledged may still have been stored and applied: the events
  // table says which, and the model folds those too.
  std::unordered_set<std::string> unacked, stored_unacked;
  for (const auto& p : publishes) {
    if (!p.acked && !p.event_id.empty() && p.expect != "dead_letter") unacked.insert(p.event_id);
  }
  if (!unacked.empty()) {
    Statement st(db_.get(), "SELECT event_id FROM events");
    INGEST_RETURN_IF_ERROR(Prepared(db_.get(), st, "events"));
    for (;;) {
      const int rc = sqlite3_step(st.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        return Status::Io(std::string("store: cannot read events: ") + sqlite3_errmsg(db_.get()));
      }
      std::string id = Text(st.get(), 0);
      if (unacked.count(id)) stored_unacked.insert(std::move(id));
    }
  }
  ReferenceModel model(options);
  model.Build(publishes, skip, stored_unacked);
  std::vector<StateMismatch> found;
  auto diffs = model.Diff(db_.get(), &found);
  if (!diffs.ok()) return diffs.status();
  mismatches->insert(mismatches->end(), found.begin(), found.end());
  *note = DescribeModelDiff(model, *diffs);
  if (tables != nullptr) *tables = std::move(diffs.value());
  return Status::Ok();
}

}  // namespace ingestlab
