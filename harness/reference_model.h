// ReferenceModel: the final state of every table ingestd writes, recomputed from the recorded
// publishes alone, and its comparison with the store, table by table and column by column.
//
// The model is an independent re-implementation of the documented semantics (docs/tables.md,
// docs/envelopes.md, CONTRACT.md): it decodes the three envelope dialects (and CloudEvents binary
// mode from the recorded headers) itself and folds the events into in-memory tables. It never
// calls ingestd's handlers. Order: events are folded in publish (log) order, with the documented
// last-writer-wins guards on event time (profiles, ticket and work-order updates) and MAX/MIN
// times, so where ingestd's state does not depend on the delivery order the model's does not
// either; an event whose prerequisite is not there yet (a refund before its purchase, an update
// before its ticket) waits and is retried after the others, as ingestd retries it.
//
// What is compared: every domain table (customers, purchases, invoices, subscriptions, tickets,
// work_orders, knowledge, users, user_roles, logins, learning_sessions, learning_activities,
// learner_skills, homework, recommendations, focus_minutes, crm_leads, crm_contacts,
// crm_opportunities), the events table (event_id, type, source, org_id, customer_id, event_time,
// dialect, schema_version) and dead_letters (the set of dead-lettered messages). Processing
// times (received_at, committed_at, dead_at), attempts and broker origins are not compared.
// Thread-safety: a ReferenceModel is a value; Diff reads through the given connection only.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "harness/assertions.h"
#include "system/sql_connection.h"

namespace ingestlab {

// One expected cell. kAny: the model cannot know it (not compared). kJson keeps the value's
// canonical text (nlohmann's dump, object keys sorted), compared with the stored JSON parsed.
struct ModelValue {
  enum Kind { kNull, kInt, kReal, kText, kJson, kAny };
  Kind kind = kNull;
  int64_t i = 0;
  double r = 0;
  std::string s;

  static ModelValue Null() { return {}; }
  static ModelValue Any() { return {kAny, 0, 0, {}}; }
  static ModelValue Int(int64_t v) { return {kInt, v, 0, {}}; }
  static ModelValue Real(double v) { return {kReal, 0, v, {}}; }
  static ModelValue Text(std::string v) { return {kText, 0, 0, std::move(v)}; }
  static ModelValue Json(const nlohmann::json& v) { return {kJson, 0, 0, v.dump()}; }
  bool is_null() const { return kind == kNull; }
  std::string ToString() const;
};

// One expected row: its cells by column name. Column names are string literals (static
// storage): a row keeps the pointers, not copies, so that a large run's model stays small.
class ModelRow {
 public:
  ModelRow() = default;
  // A row with these cells, in this order; each column once.
  ModelRow(std::initializer_list<std::pair<const char*, ModelValue>> cells) : cells_(cells) {}

  // The cell of `column`, added as NULL when absent.
  ModelValue& operator[](const char* column) {
    if (ModelValue* v = Find(column)) return *v;
    cells_.emplace_back(column, ModelValue());
    return cells_.back().second;
  }
  // nullptr when the row has no such column (the model does not know it).
  const ModelValue* find(const char* column) const {
    return const_cast<ModelRow*>(this)->Find(column);
  }
  size_t size() const { return cells_.size(); }

 private:
  ModelValue* Find(const char* column) {
    for (auto& [name, value] : cells_) {
      if (name == column || std::strcmp(name, column) == 0) return &value;
    }
    return nullptr;
  }
  std::vector<std::pair<const char*, ModelValue>> cells_;
};

using ModelTable = std::map<std::string, ModelRow>;  // key ("a" or "a|b") → row

// ingestd settings that change the state it writes (scenario `ingestd:` settings).
struct ModelOptions {
  bool auto_create_customers = true;  // --auto-create-customers
  size_t summary_threshold = 500;     // --summary-threshold
};

// Per-table comparison result (first_differences holds at most max_shown rows).
using ModelTableDiff = StateTableSummary;

class ReferenceModel {
 public:
  explicit ReferenceModel(ModelOptions options = {}) : options_(options) {}

  // Folds the publishes that count: the first copy of each event id that the broker acked and
  // that should apply (expect "applied" or "duplicate"), plus publishes never acked whose id the
  // store's events table holds (`stored_unacked`: the broker kept them though it did not say
  // so), minus `skip` (dead letters excused by ExcusedDeadLetterIds). Publishes expected to be
  // dead-lettered (and the skipped ones) make up the expected dead letters.
  void Build(const std::vector<PublishRecord>& publishes,
             const std::unordered_set<std::string>& skip,
             const std::unordered_set<std::string>& stored_unacked = {});

  const std::map<std::string, ModelTable>& tables() const { return tables_; }
  std::map<std::string, ModelTable>& mutable_tables() { return tables_; }

  size_t modelled() const { return modelled_; }        // events folded
  size_t undecodable() const { return undecodable_; }  // counted publishes the model can't read
  size_t unsettled() const { return unsettled_; }      // still waiting for a prerequisite

  // Dead letters: expected (must be present) and tolerated (unacked: may be present).
  struct DeadLetterExpectation {
    std::string event_id;  // "" when the bytes carry none
    std::string payload;
    bool required = true;
  };
  const std::vector<DeadLetterExpectation>& dead_letters() const { return dead_letters_; }

  // Compares with the store behind `db`. Every table above must be readable: a failed query
  // is an error, never "no differences". `mismatches` gets every difference.
  Result<std::vector<ModelTableDiff>> Diff(SqlConnection& db,
                                           std::vector<StateMismatch>* mismatches,
                                           size_t max_shown = 20) const;

  // The tables Diff compares, in order (the domain tables, then events and dead_letters).
  static std::vector<std::string> ComparedTables();

 private:
  ModelOptions options_;
  std::map<std::string, ModelTable> tables_;
  std::vector<DeadLetterExpectation> dead_letters_;
  size_t modelled_ = 0, undecodable_ = 0, unsettled_ = 0;
};

// A one-line note: "N events modelled; customers 12 rows, purchases 30 rows, ...".
std::string DescribeModelDiff(const ReferenceModel& model,
                              const std::vector<ModelTableDiff>& diffs);

}  // namespace ingestlab
