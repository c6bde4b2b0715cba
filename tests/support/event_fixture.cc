// EventFixture: JSON description → Event. See event_fixture.h.
#include "tests/support/event_fixture.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/infra/postgres_server.h"
#include "tests/support/pg_session.h"

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

std::string MakeTempDir(const std::string& tag) {
  const char* base = getenv("TMPDIR");
  std::string pattern =
      std::string(base && *base ? base : "/tmp") + "/ingestlab-" + tag + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  return pattern;
}

namespace {

// The PostgreSQL server of this test process, started at the first harness that needs it and
// stopped (its data removed) when the process exits.
PostgresServer& SharedPostgres() {
  static std::unique_ptr<PostgresServer> server = [] {
    PostgresOptions options;
    options.log_path = "/dev/null";
    auto started = PostgresServer::Start(options);
    if (!started.ok()) throw std::runtime_error(started.status().ToString());
    return std::move(*started);
  }();
  return *server;
}

}  // namespace

bool StoreHarness::OnPostgres() {
  const char* store = getenv("INGESTLAB_TEST_STORE");
  return store != nullptr && std::string_view(store) == "postgres";
}

StoreHarness::StoreHarness(StoreOptions options) : dir_(MakeTempDir("store")) {
  if (OnPostgres()) {
    // A schema of its own per harness: as empty as a new file, and far cheaper than a database.
    static int next = 0;
    schema_ = "h" + std::to_string(getpid()) + "_" + std::to_string(++next);
    const std::string url = SharedPostgres().url();
    PgSession admin(url);
    Status st = admin.Run("CREATE SCHEMA " + schema_);
    if (!st.ok()) throw std::runtime_error(st.ToString());
    path_ = url + "?options=-csearch_path%3D" + schema_;
  } else {
    path_ = dir_ + "/ingest.db";
  }
  options.path = path_;
  auto store = Store::Open(options);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  store_ = std::move(store.value());
}

StoreHarness::~StoreHarness() {
  store_.reset();
  if (!schema_.empty()) {
    try {
      PgSession admin(SharedPostgres().url());
      admin.Run("DROP SCHEMA " + schema_ + " CASCADE");
    } catch (const std::exception&) {
      // the server is gone with the process; nothing to keep tidy
    }
  }
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

std::vector<std::optional<std::string>> StoreHarness::Column(const std::string& sql) {
  std::vector<std::optional<std::string>> rows;
  if (OnPostgres()) {
    PgSession session(path_);
    Status st = session.Run(sql, &rows);
    if (!st.ok()) throw std::runtime_error("bad query: " + st.ToString());
    return rows;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path_);
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error("bad query '" + sql + "': " + message);
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    if (p == nullptr) {
      rows.push_back(std::nullopt);
    } else {
      rows.emplace_back(std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt, 0))));
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

std::string StoreHarness::Text(const std::string& sql) {
  const auto rows = Column(sql);
  if (rows.empty()) return "";
  return rows.front().value_or("NULL");
}

int64_t StoreHarness::Int(const std::string& sql) {
  const auto rows = Column(sql);
  return rows.empty() || !rows.front() ? 0 : std::strtoll(rows.front()->c_str(), nullptr, 10);
}

double StoreHarness::Real(const std::string& sql) {
  const auto rows = Column(sql);
  return rows.empty() || !rows.front() ? 0 : std::strtod(rows.front()->c_str(), nullptr);
}

std::string StoreHarness::Joined(const std::string& sql, const std::string& separator) {
  std::string out;
  for (const auto& row : Column(sql)) {
    if (!out.empty()) out += separator;
    out += row.value_or("NULL");
  }
  return out;
}

Status StoreHarness::Exec(const std::string& sql) {
  if (OnPostgres()) {
    PgSession session(path_);
    return session.Run(sql);
  }
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
