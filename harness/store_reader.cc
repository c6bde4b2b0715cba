// StoreReader: queries over ingestd's database (SQLite or PostgreSQL) and the reference model.
#include "harness/store_reader.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_set>

#include "system/store.h"

namespace ingestlab {
namespace {

using Row = std::vector<SqlValue>;

// A value as text: text and blobs as they are, numbers in decimal, NULL as "".
std::string Text(const SqlValue& v) {
  switch (v.kind) {
    case SqlValue::Kind::kText:
      return std::string(v.text);
    case SqlValue::Kind::kInteger:
      return std::to_string(v.integer);
    case SqlValue::Kind::kReal:
      return std::to_string(v.real);
    case SqlValue::Kind::kNull:
      break;
  }
  return "";
}

// Runs `sql` and calls fn for each row; errors say what could not be read.
Status ForEachRow(SqlConnection& db, const std::string& sql, const char* what,
                  const std::function<void(const Row&)>& fn) {
  return db
      .Query(
          sql, [](const std::vector<std::string>&) {}, fn)
      .Annotate(std::string("store: cannot read ") + what);
}

}  // namespace

Result<std::unique_ptr<StoreReader>> StoreReader::Open(const std::string& db_path) {
  auto db = OpenSideConnection(db_path, 5000);
  if (!db.ok()) return db.status().Annotate("store");
  return std::unique_ptr<StoreReader>(new StoreReader(std::move(*db)));
}

StoreReader::~StoreReader() = default;

Result<StoreReader::Counts> StoreReader::ReadCounts() {
  Counts c;
  INGEST_RETURN_IF_ERROR(
      ForEachRow(*db_,
                 "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters), "
                 "max(coalesce((SELECT max(committed_at) FROM events), 0), "
                 "coalesce((SELECT max(dead_at) FROM dead_letters), 0))",
                 "counts", [&](const Row& r) {
                   c.events = r[0].integer;
                   c.dead_letters = r[1].integer;
                   c.last_commit_ms = r[2].integer;
                 }));
  return c;
}

Result<std::vector<AppliedRow>> StoreReader::ReadApplied() {
  std::vector<AppliedRow> rows;
  INGEST_RETURN_IF_ERROR(ForEachRow(*db_,
                                    "SELECT event_id, type, source, customer_id, event_time, "
                                    "received_at, committed_at, attempts FROM events",
                                    "events", [&](const Row& v) {
                                      AppliedRow r;
                                      r.event_id = Text(v[0]);
                                      r.type = Text(v[1]);
                                      r.source = Text(v[2]);
                                      r.customer_id = Text(v[3]);
                                      r.event_time_ms = v[4].integer;
                                      r.received_at_ms = v[5].integer;
                                      r.committed_at_ms = v[6].integer;
                                      r.attempts = static_cast<int>(v[7].integer);
                                      rows.push_back(std::move(r));
                                    }));
  return rows;
}

Result<size_t> StoreReader::CountUnsettled(const std::unordered_set<std::string>& ids) {
  size_t settled = 0;
  INGEST_RETURN_IF_ERROR(ForEachRow(*db_, "SELECT event_id FROM events", "events",
                                    [&](const Row& v) { settled += ids.count(Text(v[0])); }));
  auto dead = ReadDeadLetters();
  if (!dead.ok()) return dead.status();
  for (const auto& d : *dead) settled += ids.count(d.event_id);
  return settled >= ids.size() ? 0 : ids.size() - settled;
}

Result<std::vector<DeadLetterRow>> StoreReader::ReadDeadLetters() {
  std::vector<DeadLetterRow> rows;
  INGEST_RETURN_IF_ERROR(
      ForEachRow(*db_,
                 "SELECT origin, subject, reason, error, attempts, payload, dead_at, "
                 "published_at IS NOT NULL, publish_error FROM dead_letters",
                 "dead_letters", [&](const Row& v) {
                   DeadLetterRow r;
                   r.origin = Text(v[0]);
                   r.subject = Text(v[1]);
                   r.reason = Text(v[2]);
                   r.error = Text(v[3]);
                   r.attempts = static_cast<int>(v[4].integer);
                   r.payload = Text(v[5]);
                   r.dead_at_ms = v[6].integer;
                   r.published = v[7].integer != 0;
                   r.publish_error = Text(v[8]);
                   auto j = nlohmann::json::parse(r.payload, nullptr, false);
                   if (j.is_object() && j.contains("id") && j["id"].is_string())
                     r.event_id = j["id"];
                   rows.push_back(std::move(r));
                 }));
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
    INGEST_RETURN_IF_ERROR(
        ForEachRow(*db_, "SELECT event_id FROM events", "events", [&](const Row& v) {
          std::string id = Text(v[0]);
          if (unacked.count(id)) stored_unacked.insert(std::move(id));
        }));
  }
  ReferenceModel model(options);
  model.Build(publishes, skip, stored_unacked);
  std::vector<StateMismatch> found;
  auto diffs = model.Diff(*db_, &found);
  if (!diffs.ok()) return diffs.status();
  mismatches->insert(mismatches->end(), found.begin(), found.end());
  *note = DescribeModelDiff(model, *diffs);
  if (tables != nullptr) *tables = std::move(diffs.value());
  return Status::Ok();
}

}  // namespace ingestlab
