// EventFixture: JSON description → Event. See event_fixture.h.
#include "tests/support/event_fixture.h"

#include <stdexcept>
#include <string>

namespace ingestlab::testing {
namespace {

std::string_view StringField(simdjson::dom::object obj, std::string_view key) {
  std::string_view v;
  if (obj[key].get(v) != simdjson::SUCCESS) return {};
  return v;
}

int64_t IntField(simdjson::dom::object obj, std::string_view key, int64_t fallback) {
  int64_t v;
  if (obj[key].get(v) != simdjson::SUCCESS) return fallback;
  return v;
}

}  // namespace

const TestEvent& EventFixture::Make(std::string_view json) {
  auto entry = std::make_unique<Entry>();
  TestEvent& te = entry->te;
  te.msg.payload.assign(json);
  simdjson::dom::element root;
  auto error =
      parser_
          .parse_into_document(entry->doc, reinterpret_cast<const uint8_t*>(te.msg.payload.data()),
                               te.msg.payload.size())
          .get(root);
  simdjson::dom::object obj;
  if (error || root.get(obj) != simdjson::SUCCESS) {
    throw std::invalid_argument("EventFixture: not a JSON object: " + std::string(json));
  }
  Event& e = te.event;
  e.id.assign(StringField(obj, "id"));
  e.type.assign(StringField(obj, "type"));
  if (e.id.empty() || e.type.empty()) {
    throw std::invalid_argument("EventFixture: \"id\" and \"type\" are required: " +
                                std::string(json));
  }
  e.source.assign(StringField(obj, "source"));
  if (e.source.empty()) e.source = "fixture";
  e.org_id.assign(StringField(obj, "org_id"));
  e.customer_id.assign(StringField(obj, "customer_id"));
  e.event_time_ms = IntField(obj, "time_ms", 1'700'000'000'000);
  e.schema_version = static_cast<int>(IntField(obj, "schema_version", 1));
  e.dialect = Dialect::kCloudEvents;
  e.raw = te.msg.payload;
  e.original_type = StringField(obj, "type");
  simdjson::dom::element data;
  if (obj["data"].get(data) == simdjson::SUCCESS) e.data = DataView(data);

  te.msg.origin.assign(StringField(obj, "origin"));
  if (te.msg.origin.empty()) te.msg.origin = "fixture:" + std::to_string(next_origin_++);
  te.msg.subject = e.type;
  te.msg.attempts = static_cast<int>(IntField(obj, "attempts", 1));
  te.msg.received_at_ms = IntField(obj, "received_at_ms", 0);
  entries_.push_back(std::move(entry));
  return entries_.back()->te;
}

}  // namespace ingestlab::testing

#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>

namespace ingestlab::testing {

std::string MakeTempDir(const std::string& tag) {
  const char* base = getenv("TMPDIR");
  std::string pattern =
      std::string(base && *base ? base : "/tmp") + "/ingestlab-" + tag + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  return pattern;
}

StoreHarness::StoreHarness(StoreOptions options) : dir_(MakeTempDir("store")) {
  path_ = dir_ + "/ingest.db";
  options.path = path_;
  auto store = Store::Open(options);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  store_ = std::move(store.value());
}

StoreHarness::~StoreHarness() {
  store_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

Result<ApplyOutcome> StoreHarness::Apply(std::string_view json) {
  const TestEvent& te = fixture_.Make(json);
  INGEST_RETURN_IF_ERROR(store_->Begin());
  auto outcome = store_->ApplyEvent(te.event, te.msg);
  if (!outcome.ok()) {
    store_->Rollback();
    return outcome;
  }
  INGEST_RETURN_IF_ERROR(store_->Commit());
  return outcome;
}

namespace {

template <typename Fn>
void QueryFirst(const std::string& path, const std::string& sql, Fn fn) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path);
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error("bad query '" + sql + "': " + message);
  }
  const int rc = sqlite3_step(stmt);
  fn(rc == SQLITE_ROW ? stmt : nullptr);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace

std::string StoreHarness::Text(const std::string& sql) {
  std::string out;
  QueryFirst(path_, sql, [&](sqlite3_stmt* stmt) {
    if (stmt == nullptr) return;
    const auto* p = sqlite3_column_text(stmt, 0);
    out = p ? reinterpret_cast<const char*>(p) : "NULL";
  });
  return out;
}

int64_t StoreHarness::Int(const std::string& sql) {
  int64_t out = 0;
  QueryFirst(path_, sql, [&](sqlite3_stmt* stmt) {
    if (stmt != nullptr) out = sqlite3_column_int64(stmt, 0);
  });
  return out;
}

double StoreHarness::Real(const std::string& sql) {
  double out = 0;
  QueryFirst(path_, sql, [&](sqlite3_stmt* stmt) {
    if (stmt != nullptr) out = sqlite3_column_double(stmt, 0);
  });
  return out;
}

Status StoreHarness::Exec(const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return Status::Io("cannot open " + path_);
  }
  sqlite3_busy_timeout(db, 1000);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  Status st = rc == SQLITE_OK ? Status::Ok()
                              : Status::Internal(sql + ": " + (err ? err : sqlite3_errstr(rc)));
  sqlite3_free(err);
  sqlite3_close(db);
  return st;
}

}  // namespace ingestlab::testing
