// Specification of the SQLite Store: schema creation and WAL, the events record, duplicates vs
// redeliveries, savepoint isolation, dead letters, StateDigest, and lock contention.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.h"
#include "system/store.h"
#include "system/store_schema.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;
using ingestlab::testing::EventFixture;
using ingestlab::testing::StoreHarness;

namespace {

std::string Purchase(const std::string& id, const std::string& purchase_id, double amount,
                     const std::string& origin = "") {
  return R"({"id":")" + id + R"(","type":"billing.purchase.completed","customer_id":"c1",)" +
         (origin.empty() ? "" : R"("origin":")" + origin + R"(",)") +
         R"("data":{"purchase_id":")" + purchase_id + R"(","amount":)" + std::to_string(amount) +
         "}}";
}

// A mixed sequence of events touching most tables, for digest comparisons.
std::vector<std::string> MixedEvents() {
  std::vector<std::string> out;
  for (int i = 0; i < 30; ++i) {
    const std::string n = std::to_string(i);
    out.push_back(Purchase("p" + n, "purchase_" + n, 10 + i));
    out.push_back(R"({"id":"t)" + n + R"(","type":"support.ticket.opened","customer_id":"c)" +
                  std::to_string(i % 4) + R"(","data":{"ticket_id":"tk)" + n +
                  R"(","title":"Issue )" + n + R"("}})");
    out.push_back(R"({"id":"f)" + n + R"(","type":"focus.ping","time_ms":)" +
                  std::to_string(1700000000000 + i * 7000) +
                  R"(,"data":{"session_id":"s1","learner_id":"l1","focused":true}})");
    out.push_back(R"({"id":"l)" + n + R"(","type":"crm.lead.created","org_id":"o)" +
                  std::to_string(i % 2) + R"(","data":{"lead_id":"L)" + n +
                  R"(","email":"lead@x.io"}})");
  }
  out.push_back(R"({"id":"r1","type":"billing.purchase.refunded","data":{"purchase_id":"purchase_3","amount":5}})");
  return out;
}

// Applies `events` in batches of `batch_size` per transaction; returns the digest.
std::string DigestAfter(const std::vector<std::string>& events, size_t batch_size,
                        Clock* clock = nullptr) {
  StoreOptions options;
  options.clock = clock;
  StoreHarness h(options);
  for (size_t start = 0; start < events.size(); start += batch_size) {
    REQUIRE(h.store().Begin().ok());
    for (size_t i = start; i < std::min(events.size(), start + batch_size); ++i) {
      const auto& te = h.fixture().Make(events[i]);
      auto outcome = h.store().ApplyEvent(te.event, te.msg);
      INFO(events[i]);
      REQUIRE(outcome.ok());
    }
    REQUIRE(h.store().Commit().ok());
  }
  auto digest = h.store().StateDigest();
  REQUIRE(digest.ok());
  return *digest;
}

}  // namespace

TEST_CASE("Open creates the schema in WAL mode and reopens an existing database") {
  StoreHarness h;
  CHECK(h.Text("PRAGMA journal_mode") == "wal");
  CHECK(h.Int("PRAGMA user_version") == kStoreSchemaVersion);
  for (const char* table :
       {"events", "customers", "purchases", "invoices", "subscriptions", "tickets", "work_orders",
        "knowledge", "users", "user_roles", "logins", "learning_sessions", "learning_activities",
        "learner_skills", "homework", "recommendations", "focus_minutes", "crm_leads",
        "crm_contacts", "crm_opportunities", "dead_letters", "customers_fts", "tickets_fts",
        "knowledge_fts"}) {
    INFO(table);
    CHECK(h.Int(std::string("SELECT COUNT(*) FROM sqlite_master WHERE name='") + table + "'") ==
          1);
  }
  REQUIRE(h.Apply(Purchase("e1", "p1", 5)).ok());

  SECTION("a second Open of the same file keeps the data") {
    StoreOptions options;
    options.path = h.path();
    auto again = Store::Open(options);
    REQUIRE(again.ok());
    CHECK(h.Int("SELECT COUNT(*) FROM purchases") == 1);
  }
  SECTION("a database from a newer version is refused, naming the path") {
    REQUIRE(h.Exec("PRAGMA user_version = 99").ok());
    StoreOptions options;
    options.path = h.path();
    auto newer = Store::Open(options);
    REQUIRE_FALSE(newer.ok());
    CHECK(newer.status().message().find(h.path()) != std::string::npos);
    CHECK(newer.status().message().find("99") != std::string::npos);
  }
}

TEST_CASE("Open errors name the path") {
  StoreOptions options;
  options.path = "/nonexistent-dir-for-ingestlab/sub/ingest.db";
  auto store = Store::Open(options);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().message().find(options.path) != std::string::npos);
}

TEST_CASE("ApplyEvent records the event with its origin and times") {
  ManualClock clock(1'800'000'000'000);
  StoreOptions options;
  options.clock = &clock;
  StoreHarness h(options);
  REQUIRE(h.Apply(R"({"id":"e1","type":"billing.purchase.completed","source":"billing-svc",)"
                  R"("org_id":"org_9","customer_id":"c1","time_ms":1799999999000,)"
                  R"("origin":"nats:BILLING:7","attempts":2,"received_at_ms":1799999999500,)"
                  R"("data":{"purchase_id":"p1","amount":3}})")
              .ok());
  CHECK(h.Text("SELECT type || '|' || source || '|' || org_id || '|' || customer_id || '|' || "
               "origin || '|' || dialect FROM events WHERE event_id='e1'") ==
        "billing.purchase.completed|billing-svc|org_9|c1|nats:BILLING:7|cloudevents");
  CHECK(h.Int("SELECT event_time FROM events") == 1799999999000);
  CHECK(h.Int("SELECT received_at FROM events") == 1799999999500);
  CHECK(h.Int("SELECT committed_at FROM events") == 1'800'000'000'000);
  CHECK(h.Int("SELECT attempts FROM events") == 2);
  CHECK(h.Text("SELECT CAST(payload AS TEXT) FROM events").find("\"purchase_id\":\"p1\"") !=
        std::string::npos);
  CHECK(h.Int("SELECT committed_at - event_time FROM events") == 1000);
}

TEST_CASE("an unknown type is a schema error and leaves nothing behind") {
  StoreHarness h;
  auto outcome = h.Apply(R"({"id":"e1","type":"billing.purchase.exploded","data":{}})");
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status().code() == Status::Code::kSchema);
  CHECK(outcome.status().message().find("billing.purchase.exploded") != std::string::npos);
  CHECK(h.Int("SELECT COUNT(*) FROM events") == 0);
}

TEST_CASE("a seen id is a redelivery from the same origin, a duplicate from another") {
  StoreHarness h;
  auto first = h.Apply(Purchase("e1", "p1", 10, "nats:BILLING:1"));
  REQUIRE(first.ok());
  CHECK(*first == ApplyOutcome::kApplied);

  SECTION("same origin: redelivered, nothing applied again") {
    auto again = h.Apply(Purchase("e1", "p1", 10, "nats:BILLING:1"));
    REQUIRE(again.ok());
    CHECK(*again == ApplyOutcome::kRedelivered);
  }
  SECTION("another origin: duplicate, nothing applied again even if the body differs") {
    auto again = h.Apply(Purchase("e1", "p2", 99, "nats:BILLING:2"));
    REQUIRE(again.ok());
    CHECK(*again == ApplyOutcome::kDuplicate);
    CHECK(h.Int("SELECT COUNT(*) FROM purchases") == 1);
  }
  CHECK(h.Int("SELECT COUNT(*) FROM events") == 1);
  CHECK(h.Text("SELECT origin FROM events") == "nats:BILLING:1");
  CHECK(h.Real("SELECT lifetime_value FROM customers") == Approx(10));
}

TEST_CASE("a failing event in a batch leaves the batch's other events intact") {
  StoreHarness h;
  std::vector<const testing::TestEvent*> batch = {
      &h.fixture().Make(Purchase("e1", "p1", 10)),
      // depends: no purchase p9 yet
      &h.fixture().Make(
          R"({"id":"e2","type":"billing.purchase.refunded","data":{"purchase_id":"p9","amount":1}})"),
      // schema: no purchase_id; its customer must not be created either
      &h.fixture().Make(
          R"({"id":"e3","type":"billing.purchase.completed","customer_id":"c_bad","data":{"amount":1}})"),
      &h.fixture().Make(Purchase("e4", "p4", 5)),
  };
  REQUIRE(h.store().Begin().ok());
  std::vector<Status> results;
  for (const auto* te : batch) results.push_back(h.store().ApplyEvent(te->event, te->msg).status());
  REQUIRE(h.store().Commit().ok());
  CHECK(results[0].ok());
  CHECK(results[1].is_transient());
  CHECK(results[2].code() == Status::Code::kSchema);
  CHECK(results[3].ok());
  CHECK(h.Text("SELECT group_concat(event_id) FROM (SELECT event_id FROM events ORDER BY 1)") ==
        "e1,e4");
  CHECK(h.Int("SELECT COUNT(*) FROM purchases") == 2);
  CHECK(h.Int("SELECT COUNT(*) FROM customers WHERE customer_id='c_bad'") == 0);
  CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c1'") == Approx(15));
}

TEST_CASE("Rollback discards a whole transaction") {
  StoreHarness h;
  REQUIRE(h.store().Begin().ok());
  const auto& te = h.fixture().Make(Purchase("e1", "p1", 10));
  REQUIRE(h.store().ApplyEvent(te.event, te.msg).ok());
  h.store().Rollback();
  CHECK(h.Int("SELECT COUNT(*) FROM events") == 0);
  REQUIRE(h.Apply(Purchase("e1", "p1", 10)).ok());
  CHECK(h.Int("SELECT COUNT(*) FROM events") == 1);
}

TEST_CASE("dead letters are kept once per origin") {
  ManualClock clock(1'800'000'000'000);
  StoreOptions options;
  options.clock = &clock;
  StoreHarness h(options);
  DeadLetterRecord record;
  record.origin = "kafka:crm.leads:2:1234";
  record.subject = "crm.leads";
  record.reason = "schema";
  record.error = "schema: data.email is required";
  record.attempts = 1;
  record.payload = std::string("{\"bad\":\0true}", 13);
  record.headers = {{"Nats-Msg-Id", "m1"}, {"ce_type", "crm.lead.created"}};
  REQUIRE(h.store().Begin().ok());
  REQUIRE(h.store().RecordDeadLetter(record).ok());
  record.error = "a second, different error";
  REQUIRE(h.store().RecordDeadLetter(record).ok());
  REQUIRE(h.store().Commit().ok());
  CHECK(h.Int("SELECT COUNT(*) FROM dead_letters") == 1);
  CHECK(h.Text("SELECT reason || '|' || error || '|' || subject FROM dead_letters") ==
        "schema|schema: data.email is required|crm.leads");
  CHECK(h.Int("SELECT length(payload) FROM dead_letters") == 13);
  CHECK(h.Text("SELECT json_extract(headers, '$.\"Nats-Msg-Id\"') FROM dead_letters") == "m1");
  CHECK(h.Int("SELECT dead_at FROM dead_letters") == 1'800'000'000'000);

  record.origin = "kafka:crm.leads:2:1235";
  record.reason = "parse";
  REQUIRE(h.store().Begin().ok());
  REQUIRE(h.store().RecordDeadLetter(record).ok());
  REQUIRE(h.store().Commit().ok());
  CHECK(h.Text("SELECT group_concat(reason || '=' || n) FROM (SELECT reason, COUNT(*) n FROM "
               "dead_letters GROUP BY reason ORDER BY reason)") == "parse=1,schema=1");
}

TEST_CASE("StateDigest depends on the effects, not on batching or timing") {
  const std::vector<std::string> events = MixedEvents();
  ManualClock early(1'000), late(9'000'000'000'000);
  const std::string one_batch = DigestAfter(events, events.size(), &early);
  CHECK(one_batch.size() == 64);
  CHECK(DigestAfter(events, 1, &late) == one_batch);
  CHECK(DigestAfter(events, 7) == one_batch);

  SECTION("a different effect gives a different digest") {
    std::vector<std::string> changed = events;
    changed.back() = R"({"id":"r1","type":"billing.purchase.refunded","data":{"purchase_id":"purchase_3","amount":6}})";
    CHECK(DigestAfter(changed, events.size()) != one_batch);
  }
  SECTION("an extra event gives a different digest") {
    std::vector<std::string> more = events;
    more.push_back(R"({"id":"x","type":"customer.event.recorded","customer_id":"c1","data":{}})");
    CHECK(DigestAfter(more, events.size()) != one_batch);
  }
  SECTION("the digest of an empty store is the same everywhere") {
    StoreHarness a, b;
    CHECK(*a.store().StateDigest() == *b.store().StateDigest());
    CHECK(*a.store().StateDigest() != one_batch);
  }
}

TEST_CASE("a write lock held elsewhere makes Begin transient") {
  StoreOptions options;
  options.busy_timeout_ms = 50;
  StoreHarness h(options);
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(h.path().c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);

  const auto start = std::chrono::steady_clock::now();
  Status st = h.store().Begin();
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(st.is_transient());
  CHECK(st.message().find("locked") != std::string::npos);
  CHECK(waited >= std::chrono::milliseconds(40));
  CHECK(waited < std::chrono::seconds(2));

  SECTION("and works again once the lock is released") {
    REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    auto outcome = h.Apply(Purchase("e1", "p1", 1));
    CHECK(outcome.ok());
  }
  SECTION("an apply outside a transaction is transient too, and leaves nothing") {
    const auto& te = h.fixture().Make(Purchase("e1", "p1", 1));
    auto outcome = h.store().ApplyEvent(te.event, te.msg);
    REQUIRE_FALSE(outcome.ok());
    CHECK(outcome.status().is_transient());
    REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    CHECK(h.Int("SELECT COUNT(*) FROM events") == 0);
  }
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
}
