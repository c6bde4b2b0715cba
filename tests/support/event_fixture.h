// EventFixture: builds ingestlab::Events (and their RawMessages) from JSON text for tests and
// benchmarks, without the envelope decoder. The JSON is a flat description of the decoded
// event, not a wire envelope:
//   {"id": "e1", "type": "billing.purchase.completed", "source": "billing", "org_id": "org_1",
//    "customer_id": "c1", "time_ms": 1700000000000, "schema_version": 1,
//    "origin": "nats:BILLING:1", "attempts": 1, "received_at_ms": 0,
//    "data": {"purchase_id": "p1", "amount": 10}}
// Only "id" and "type" are required. Without "origin" each Make gets a fresh one
// ("fixture:<n>"), so two Makes of the same id are producer-side duplicates unless the test
// gives them the same origin (a broker redelivery). The whole text becomes the payload.
// StoreHarness (below) pairs a fixture with a Store on a temporary database.
// Thread-safety: one fixture (or harness) per thread. Events stay valid as long as the fixture.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "system/event.h"
#include "system/store.h"

namespace ingestlab::testing {

struct TestEvent {
  RawMessage msg;
  Event event;
};

class EventFixture {
 public:
  EventFixture() = default;
  EventFixture(const EventFixture&) = delete;
  EventFixture& operator=(const EventFixture&) = delete;

  // Parses `json` into a TestEvent owned by the fixture. Throws std::invalid_argument when the
  // text is not a JSON object with string "id" and "type" (a bug in the test, not an outcome).
  const TestEvent& Make(std::string_view json);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    simdjson::dom::document doc;
    TestEvent te;
  };
  simdjson::dom::parser parser_;
  std::deque<std::unique_ptr<Entry>> entries_;
  int64_t next_origin_ = 1;
};

// A Store on a fresh database in its own temporary directory (removed on destruction), with
// an EventFixture and a read-only side connection for inspecting tables the way users would.
// Apply() runs one event in its own transaction.
// With INGESTLAB_TEST_STORE=postgres the store is PostgreSQL instead: a schema of its own (dropped
// on destruction) on one server the test process starts at first use, so the same test cases
// hold both stores to the same promises. Cases that are about SQLite itself are tagged [sqlite]
// and left out of that run (tests/CMakeLists.txt).
class StoreHarness {
 public:
  explicit StoreHarness(StoreOptions options = {});
  ~StoreHarness();
  StoreHarness(const StoreHarness&) = delete;
  StoreHarness& operator=(const StoreHarness&) = delete;

  Store& store() { return *store_; }
  EventFixture& fixture() { return fixture_; }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

  // Begin; ApplyEvent(Make(json)); Commit (or Rollback when ApplyEvent failed).
  Result<ApplyOutcome> Apply(std::string_view json);

  // The first column of the first row of `sql` on a separate connection: as text ("NULL" for
  // NULL, "" when there is no row), as an integer, or as a double.
  std::string Text(const std::string& sql);
  int64_t Int(const std::string& sql);
  double Real(const std::string& sql);
  // Every row's first column, joined with `separator` ("NULL" for NULL).
  std::string Joined(const std::string& sql, const std::string& separator = ",");
  // Runs `sql` on a separate read-write connection (as a user's script would).
  Status Exec(const std::string& sql);

  // Whether this process's harnesses run on PostgreSQL (see above).
  static bool OnPostgres();

 private:
  std::vector<std::optional<std::string>> Column(const std::string& sql);

  std::string dir_;
  std::string schema_;  // PostgreSQL: this harness's schema
  std::string path_;
  EventFixture fixture_;
  std::unique_ptr<Store> store_;
};

// A fresh directory under $TMPDIR (or /tmp) named ingestlab-<tag>-XXXXXX.
std::string MakeTempDir(const std::string& tag);

}  // namespace ingestlab::testing
