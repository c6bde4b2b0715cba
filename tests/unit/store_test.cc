// Specification of the Store: the events record, duplicates vs redeliveries, isolation, dead
// letters, crash and failure accounting, StateDigest. The same cases run on SQLite and, with
// INGESTLAB_TEST_STORE=postgres, on PostgreSQL (StoreHarness); cases about SQLite itself (WAL,
// its migrations, its locks) are tagged [sqlite], and PostgreSQL's own ones [.postgres].
#include <catch2/catch.hpp>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
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
         (origin.empty() ? "" : R"("origin":")" + origin + R"(",)") + R"("data":{"purchase_id":")" +
         purchase_id + R"(","amount":)" + std::to_string(amount) + "}}";
}

// The ids of the events the store recorded as applied, sorted and comma-separated.
std::string StoredEventIds(StoreHarness& h) {
  return h.Joined("SELECT event_id FROM events ORDER BY 1");
}

// The payload column of `table`'s first row, as text.
std::string PayloadText(StoreHarness& h, const std::string& table) {
  return h.Text(std::string(StoreHarness::OnPostgres() ? "SELECT convert_from(payload, 'UTF8')"
                                                       : "SELECT CAST(payload AS TEXT)") +
                " FROM " + table);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
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
  out.push_back(
      R"({"id":"r1","type":"billing.purchase.refunded","data":{"purchase_id":"purchase_3","amount":5}})");
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

// Makes a fresh database look like one from before schema version 6 (no per-field times).
void DropV6Columns(StoreHarness& h) {
  for (const char* column : {"status_at", "priority_at", "comment_at"}) {
    REQUIRE(h.Exec(std::string("ALTER TABLE tickets DROP COLUMN ") + column).ok());
  }
  for (const char* column : {"status_at", "cost_at", "notes_at", "assigned_at"}) {
    REQUIRE(h.Exec(std::string("ALTER TABLE work_orders DROP COLUMN ") + column).ok());
  }
}

// Marks the database as schema version `version` and opens it with a new Store, which must
// migrate it to the current version.
std::unique_ptr<Store> OpenMigrated(StoreHarness& h, int version) {
  REQUIRE(h.Exec("PRAGMA user_version = " + std::to_string(version)).ok());
  StoreOptions options;
  options.path = h.path();
  auto migrated = Store::Open(options);
  REQUIRE(migrated.ok());
  CHECK(h.Int("PRAGMA user_version") == kStoreSchemaVersion);
  return std::move(migrated).value();
}

}  // namespace

TEST_CASE("Open creates the schema in WAL mode and reopens an existing database", "[sqlite]") {
  StoreHarness h;
  CHECK(h.Text("PRAGMA journal_mode") == "wal");
  CHECK(h.Int("PRAGMA user_version") == kStoreSchemaVersion);
  for (const char* table : {"events",
                            "customers",
                            "purchases",
                            "invoices",
                            "subscriptions",
                            "tickets",
                            "work_orders",
                            "knowledge",
                            "users",
                            "user_roles",
                            "logins",
                            "learning_sessions",
                            "learning_activities",
                            "learner_skills",
                            "homework",
                            "recommendations",
                            "focus_minutes",
                            "crm_leads",
                            "crm_contacts",
                            "crm_opportunities",
                            "dead_letters",
                            "customers_fts",
                            "tickets_fts",
                            "knowledge_fts"}) {
    INFO(table);
    CHECK(h.Int(std::string("SELECT COUNT(*) FROM sqlite_master WHERE name='") + table + "'") == 1);
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

TEST_CASE("Open errors name the path", "[sqlite]") {
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
  CHECK(PayloadText(h, "events").find("\"purchase_id\":\"p1\"") != std::string::npos);
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
  SECTION("the duplicate message delivered again: a redelivery, the duplicate counted once") {
    auto duplicate = h.Apply(Purchase("e1", "p1", 10, "kafka:billing.events:0:7"));
    REQUIRE(duplicate.ok());
    CHECK(*duplicate == ApplyOutcome::kDuplicate);
    auto replayed = h.Apply(Purchase("e1", "p1", 10, "kafka:billing.events:0:7"));
    REQUIRE(replayed.ok());
    CHECK(*replayed == ApplyOutcome::kRedelivered);
    auto another = h.Apply(Purchase("e1", "p1", 10, "kafka:billing.events:0:8"));
    REQUIRE(another.ok());
    CHECK(*another == ApplyOutcome::kDuplicate);
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
  CHECK(StoredEventIds(h) == "e1,e4");
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
  auto first = h.store().RecordDeadLetter(record);
  REQUIRE(first.ok());
  CHECK(*first == DeadLetterState::kNew);
  record.error = "a second, different error";
  auto second = h.store().RecordDeadLetter(record);
  REQUIRE(second.ok());
  CHECK(*second == DeadLetterState::kKnown);
  REQUIRE(h.store().Commit().ok());
  CHECK(h.Int("SELECT COUNT(*) FROM dead_letters") == 1);
  CHECK(h.Text("SELECT reason || '|' || error || '|' || subject FROM dead_letters") ==
        "schema|schema: data.email is required|crm.leads");
  CHECK(h.Int("SELECT length(payload) FROM dead_letters") == 13);
  CHECK(h.Text(StoreHarness::OnPostgres()
                   ? "SELECT headers::json->>'Nats-Msg-Id' FROM dead_letters"
                   : "SELECT json_extract(headers, '$.\"Nats-Msg-Id\"') FROM dead_letters") ==
        "m1");
  CHECK(h.Int("SELECT dead_at FROM dead_letters") == 1'800'000'000'000);

  record.origin = "kafka:crm.leads:2:1235";
  record.reason = "parse";
  REQUIRE(h.store().Begin().ok());
  auto other_origin = h.store().RecordDeadLetter(record);
  REQUIRE(other_origin.ok());
  CHECK(*other_origin == DeadLetterState::kNew);
  REQUIRE(h.store().Commit().ok());
  CHECK(h.Joined("SELECT reason || '=' || COUNT(*) FROM dead_letters GROUP BY reason "
                 "ORDER BY reason") == "parse=1,schema=1");
}

TEST_CASE("a version 2 database gains dead_letters.published_at and crash accounting when opened",
          "[sqlite]") {
  StoreHarness h;
  REQUIRE(h.Exec("DROP TABLE dead_letters").ok());
  REQUIRE(h.Exec("CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, origin TEXT NOT NULL UNIQUE, "
                 "subject TEXT, reason TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL, "
                 "payload BLOB, headers TEXT, dead_at INTEGER NOT NULL)")
              .ok());
  REQUIRE(h.Exec("CREATE INDEX dead_letters_by_reason ON dead_letters(reason, dead_at)").ok());
  REQUIRE(h.Exec("DROP TABLE in_flight").ok());
  REQUIRE(h.Exec("DROP TABLE crash_suspects").ok());
  REQUIRE(h.Exec("DROP TABLE message_failures").ok());
  DropV6Columns(h);
  auto migrated = OpenMigrated(h, 2);
  CHECK(h.Int("SELECT COUNT(*) FROM pragma_table_info('dead_letters') "
              "WHERE name = 'published_at'") == 1);
  CHECK(h.Int("SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('in_flight', 'crash_suspects')") ==
        2);
}

TEST_CASE("crash accounting: an in-flight record that outlives its process counts one crash") {
  StoreHarness h;
  StoreOptions options;
  options.path = h.path();
  auto open = [&] {
    auto s = Store::Open(options);
    REQUIRE(s.ok());
    return std::move(s).value();
  };
  using Suspects = std::vector<std::pair<std::string, int>>;
  {
    auto store = open();
    CHECK(store->RecoverCrashes("a").value() == Suspects{});
    REQUIRE(store->MarkInFlight("a", {"nats:S:1", "nats:S:2"}).ok());
    REQUIRE(store->MarkInFlight("b", {"nats:S:7"}).ok());  // another instance, still running
    // Dies here: the store is closed without clearing the record.
  }
  {
    auto store = open();
    CHECK(store->RecoverCrashes("a").value() == Suspects{{"nats:S:1", 1}, {"nats:S:2", 1}});
    // Counted once: the record is gone with the recovery.
    CHECK(store->RecoverCrashes("a").value() == Suspects{{"nats:S:1", 1}, {"nats:S:2", 1}});
    // Alone this time, and dies again.
    REQUIRE(store->MarkInFlight("a", {"nats:S:2"}).ok());
  }
  {
    auto store = open();
    CHECK(store->RecoverCrashes("a").value() == Suspects{{"nats:S:1", 1}, {"nats:S:2", 2}});
    // A transaction that commits takes its record with it and forgets the suspects it settled;
    // a rolled-back one leaves both.
    REQUIRE(store->MarkInFlight("a", {"nats:S:1"}).ok());
    REQUIRE(store->Begin().ok());
    REQUIRE(store->ClearInFlight("a", {"nats:S:1"}).ok());
    store->Rollback();
    CHECK(h.Int("SELECT COUNT(*) FROM in_flight WHERE owner = 'a'") == 1);
    REQUIRE(store->Begin().ok());
    REQUIRE(store->ClearInFlight("a", {"nats:S:1"}).ok());
    REQUIRE(store->Commit().ok());
    CHECK(h.Int("SELECT COUNT(*) FROM in_flight WHERE owner = 'a'") == 0);
  }
  {
    auto store = open();
    CHECK(store->RecoverCrashes("a").value() == Suspects{{"nats:S:2", 2}});
    CHECK(h.Int("SELECT COUNT(*) FROM in_flight WHERE owner = 'b'") == 1);  // not a's to count
    CHECK(store->RecoverCrashes("b").value() == Suspects{{"nats:S:2", 2}, {"nats:S:7", 1}});
  }
}

TEST_CASE("a version 4 database gains message_failures when opened", "[sqlite]") {
  StoreHarness h;
  REQUIRE(h.Exec("DROP TABLE message_failures").ok());
  DropV6Columns(h);
  OpenMigrated(h, 4);
  CHECK(h.Int("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'message_failures'") == 1);
}

TEST_CASE("a version 4 database's dead letters move into the outbox table, unpublished ones too",
          "[sqlite]") {
  StoreHarness h;
  REQUIRE(h.Exec("DROP TABLE message_failures").ok());
  REQUIRE(h.Exec("DROP TABLE dead_letters").ok());
  REQUIRE(h.Exec("CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, origin TEXT NOT NULL UNIQUE, "
                 "subject TEXT, reason TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL, "
                 "payload BLOB, headers TEXT, dead_at INTEGER NOT NULL, published_at INTEGER)")
              .ok());
  REQUIRE(h.Exec("INSERT INTO dead_letters VALUES (7, 'nats:B:1', 'b.x', 'parse', 'e', 1, 'p1', "
                 "'{}', 100, 150), (8, 'nats:B:2', 'b.x', 'schema', 'e', 2, 'p2', '{}', 200, NULL)")
              .ok());
  DropV6Columns(h);
  auto store = OpenMigrated(h, 4);
  CHECK(h.Joined("SELECT id || ':' || origin || ':' || ifnull(published_at, '-') FROM dead_letters",
                 " ") == "7:nats:B:1:150 8:nats:B:2:-");
  // The old rows still answer for their origins.
  REQUIRE(store->Begin().ok());
  DeadLetterRecord replay;
  replay.origin = "nats:B:2";
  replay.reason = "schema";
  replay.payload = "p2";
  CHECK(store->RecordDeadLetter(replay).value() == DeadLetterState::kKnown);
  REQUIRE(store->Commit().ok());
}

TEST_CASE("failure counts: recorded in the transaction, read back at start, forgotten on settle") {
  StoreHarness h;
  ManualClock clock(1'800'000'000'000);
  StoreOptions options;
  options.path = h.path();
  options.clock = &clock;
  using Counts = std::vector<MessageFailure>;
  const int64_t t0 = clock.NowUnixMillis();
  auto store = Store::Open(options).value();
  CHECK(store->MessageFailures().value() == Counts{});

  REQUIRE(store->Begin().ok());
  REQUIRE(store->RecordFailure("nats:S:1", 1, "waiting for purchase p-1").ok());
  store->Rollback();
  CHECK(store->MessageFailures().value() == Counts{});  // rolled back with its transaction

  REQUIRE(store->Begin().ok());
  REQUIRE(store->RecordFailure("nats:S:1", 1, "waiting for purchase p-1").ok());
  REQUIRE(store->RecordFailure("kafka:t:0:4", 1, "waiting for lead l-1").ok());
  REQUIRE(store->Commit().ok());
  clock.Advance(std::chrono::seconds(3));
  REQUIRE(store->Begin().ok());
  REQUIRE(store->RecordFailure("nats:S:1", 2, "waiting for purchase p-2").ok());
  REQUIRE(store->Commit().ok());
  CHECK(h.Text("SELECT last_error FROM message_failures WHERE origin = 'nats:S:1'") ==
        "waiting for purchase p-2");
  auto reopened = Store::Open(options).value();
  // The first failure's time is kept: it is what dependency_wait_ms counts from.
  CHECK(reopened->MessageFailures().value() == Counts{{"kafka:t:0:4", 1, t0}, {"nats:S:1", 2, t0}});

  // Settled: the transaction that settles it forgets its count.
  REQUIRE(reopened->Begin().ok());
  REQUIRE(reopened->ClearInFlight("a", {"nats:S:1"}).ok());
  REQUIRE(reopened->Commit().ok());
  CHECK(reopened->MessageFailures().value() == Counts{{"kafka:t:0:4", 1, t0}});

  // Untouched for 7 days: pruned.
  clock.Advance(std::chrono::hours(24 * 7 + 1));
  CHECK(reopened->MessageFailures().value() == Counts{});
}

TEST_CASE("the store fsyncs every commit unless told synchronous=normal", "[sqlite]") {
  StoreHarness h;
  StoreOptions options;
  options.path = h.path();
  auto full = Store::Open(options);
  REQUIRE(full.ok());
  CHECK(full.value()->Synchronous() == "full");
  options.synchronous_full = false;
  auto normal = Store::Open(options);
  REQUIRE(normal.ok());
  CHECK(normal.value()->Synchronous() == "normal");
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
    changed.back() =
        R"({"id":"r1","type":"billing.purchase.refunded","data":{"purchase_id":"purchase_3","amount":6}})";
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

TEST_CASE("a write lock held elsewhere makes Begin transient", "[sqlite]") {
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
  SECTION("an apply without a transaction is refused and leaves nothing") {
    const auto& te = h.fixture().Make(Purchase("e1", "p1", 1));
    auto outcome = h.store().ApplyEvent(te.event, te.msg);
    REQUIRE_FALSE(outcome.ok());
    CHECK(outcome.status().code() == Status::Code::kInternal);
    REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    CHECK(h.Int("SELECT COUNT(*) FROM events") == 0);
  }
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
}

TEST_CASE("an event failing midway rolls back the batch once, then runs isolated") {
  StoreHarness h;
  // A constraint the handlers don't know about: a customer's second note fails in its last
  // statement, after the customer row was already touched.
  REQUIRE(h.Exec("CREATE UNIQUE INDEX one_note_per_customer ON knowledge(customer_id)").ok());
  auto note = [](const std::string& id) {
    return R"({"id":")" + id +
           R"(","type":"support.note.added","customer_id":"c1","data":{"note":"hello"}})";
  };
  const std::vector<std::string> batch = {Purchase("e1", "p1", 10), note("n1"), note("n2"),
                                          Purchase("e2", "p2", 5)};
  auto apply_batch = [&](std::vector<Status>* results) {
    REQUIRE(h.store().Begin().ok());
    for (const auto& json : batch) {
      const auto& te = h.fixture().Make(json);
      results->push_back(h.store().ApplyEvent(te.event, te.msg).status());
    }
    return h.store().Commit();
  };

  std::vector<Status> first;
  Status commit = apply_batch(&first);
  CHECK(first[0].ok());
  CHECK(first[1].ok());
  CHECK(first[2].code() == Status::Code::kInternal);
  CHECK(Lower(first[2].message()).find("unique") != std::string::npos);
  CHECK(first[3].is_transient());
  CHECK(commit.is_transient());
  CHECK(h.Int("SELECT COUNT(*) FROM events") == 0);  // nothing half-applied survived

  std::vector<Status> retry;
  REQUIRE(apply_batch(&retry).ok());
  CHECK(retry[0].ok());
  CHECK(retry[1].ok());
  CHECK(retry[2].code() == Status::Code::kInternal);
  CHECK(retry[3].ok());
  CHECK(StoredEventIds(h) == "e1,e2,n1");
  CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c1'") == Approx(15));
}

TEST_CASE("handlers fail before their first write") {
  // The store undoes a failed event by deleting its events row alone (store.h); this pins the
  // rule for every failure the catalog defines: after the failure nothing changed at all.
  StoreOptions options;
  options.auto_create_customers = false;
  StoreHarness h(options);
  REQUIRE(
      h.Apply(
           R"({"id":"seed","type":"billing.customer.created","data":{"customer_id":"c1","email":"c1@x.io"}})")
          .ok());
  const std::string before = *h.store().StateDigest();
  const char* failing[] = {
      R"({"id":"f1","type":"billing.purchase.completed","customer_id":"c2","data":{"purchase_id":"p","amount":1}})",
      R"({"id":"f2","type":"billing.purchase.completed","customer_id":"c1","data":{"amount":1}})",
      R"({"id":"f3","type":"billing.purchase.refunded","data":{"purchase_id":"nope","amount":1}})",
      R"({"id":"f4","type":"support.ticket.opened","customer_id":"c1","data":{"ticket_id":"t"}})",
      R"({"id":"f5","type":"support.note.added","customer_id":"c1","data":{}})",
      R"({"id":"f6","type":"customer.note.added","customer_id":"c1","data":{"email":"new@x.io"}})",
      R"({"id":"f7","type":"customer.profile.updated","customer_id":"c9","data":{"name":"N"}})",
      R"({"id":"f8","type":"auth.user.login.succeeded","data":{"user_id":"u"}})",
      R"({"id":"f9","type":"auth.user.role.revoked","data":{"user_id":"u","role_id":"r"}})",
      R"({"id":"f10","type":"focus.ping","data":{"session_id":"s","learner_id":"l"}})",
      R"({"id":"f11","type":"learning.activity.completed","data":{"activity_id":"a","session_id":"s","learner_id":"l"}})",
      R"({"id":"f12","type":"crm.lead.converted","data":{"lead_id":"L"}})",
      R"({"id":"f13","type":"crm.opportunity.won","data":{"opportunity_id":"O"}})",
  };
  REQUIRE(h.store().Begin().ok());
  for (const char* json : failing) {
    INFO(json);
    const auto& te = h.fixture().Make(json);
    auto outcome = h.store().ApplyEvent(te.event, te.msg);
    CHECK_FALSE(outcome.ok());
    CHECK((outcome.status().is_transient() || outcome.status().code() == Status::Code::kSchema));
  }
  REQUIRE(h.store().Commit().ok());
  CHECK(*h.store().StateDigest() == before);
  CHECK(h.Int("SELECT COUNT(*) FROM events") == 1);
}

TEST_CASE("committed events survive the process being killed", "[sqlite]") {
  const std::string dir = testing::MakeTempDir("kill");
  const std::string path = dir + "/ingest.db";
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    StoreOptions options;
    options.path = path;
    auto store = Store::Open(options);
    if (!store.ok()) _exit(2);
    EventFixture fixture;
    if (!(*store)->Begin().ok()) _exit(3);
    for (int i = 0; i < 100; ++i) {
      const auto& te = fixture.Make(Purchase("e" + std::to_string(i), "p" + std::to_string(i), 1));
      if (!(*store)->ApplyEvent(te.event, te.msg).ok()) _exit(4);
    }
    if (!(*store)->Commit().ok()) _exit(5);
    // An open, uncommitted transaction at the moment of death must vanish.
    if (!(*store)->Begin().ok()) _exit(6);
    const auto& te = fixture.Make(Purchase("uncommitted", "px", 1));
    if (!(*store)->ApplyEvent(te.event, te.msg).ok()) _exit(7);
    raise(SIGKILL);
    _exit(8);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  StoreOptions options;
  options.path = path;
  auto store = Store::Open(options);
  REQUIRE(store.ok());
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*), SUM(event_id = 'uncommitted') FROM events", -1,
                             &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(sqlite3_column_int(stmt, 0) == 100);
  CHECK(sqlite3_column_int(stmt, 1) == 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("the WAL is checkpointed into the database file in the background", "[sqlite]") {
  StoreHarness h;
  const auto db_size = [&] { return std::filesystem::file_size(h.path()); };
  const auto initial = db_size();
  // ~3,000 WAL pages: several checkpoint nudges (one per 1,000 pages).
  for (int b = 0; b < 12; ++b) {
    REQUIRE(h.store().Begin().ok());
    for (int i = 0; i < 500; ++i) {
      const std::string n = std::to_string(b) + "_" + std::to_string(i);
      const auto& te =
          h.fixture().Make(R"({"id":"e)" + n + R"(","type":"support.note.added","customer_id":"c)" +
                           n + R"(","data":{"note":")" + std::string(800, 'x') + R"("}})");
      REQUIRE(h.store().ApplyEvent(te.event, te.msg).ok());
    }
    REQUIRE(h.store().Commit().ok());
  }
  // Pages reach the main file only through a checkpoint; the store never runs one on its
  // writer connection below 50,000 WAL frames, so growth here is the background thread's.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (db_size() <= initial + 1'000'000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(db_size() > initial + 1'000'000);
}

TEST_CASE("a version 5 database gains per-field times, stamped with each row's updated_at",
          "[sqlite]") {
  StoreHarness h;
  DropV6Columns(h);
  REQUIRE(h.Exec("INSERT INTO tickets(ticket_id, priority, status, updated_at) "
                 "VALUES ('t1', 'high', 'open', 1700000005000)")
              .ok());
  auto migrated = OpenMigrated(h, 5);
  CHECK(h.Int("SELECT priority_at FROM tickets WHERE ticket_id = 't1'") == 1700000005000);
  CHECK(h.Int("SELECT COUNT(*) FROM pragma_table_info('work_orders') WHERE name = 'cost_at'") == 1);
}

// ---- PostgreSQL's own promises (run with INGESTLAB_TEST_STORE=postgres: tests/CMakeLists.txt)

namespace {

// Applies `events` in batches of `batch_size`, each in one transaction, retrying a batch the
// database failed (a deadlock with another instance, a lock not had in time) as the pipeline
// does. An event waiting for another is left for a later batch or another instance.
void ApplyRetrying(Store& store, EventFixture& fixture, const std::vector<std::string>& events,
                   size_t batch_size) {
  for (size_t start = 0; start < events.size(); start += batch_size) {
    const size_t end = std::min(events.size(), start + batch_size);
    for (int attempt = 0;; ++attempt) {
      REQUIRE(attempt < 50);
      if (!store.Begin().ok()) continue;
      bool failed = false;
      for (size_t i = start; i < end && !failed; ++i) {
        const auto& te = fixture.Make(events[i]);
        auto outcome = store.ApplyEvent(te.event, te.msg);
        if (!outcome.ok() && outcome.status().code() != Status::Code::kWaiting) {
          INFO(outcome.status().ToString());
          REQUIRE(outcome.status().is_transient());
          failed = true;
        }
      }
      if (failed) {
        store.Rollback();
        continue;
      }
      if (store.Commit().ok()) break;
    }
  }
}

}  // namespace

TEST_CASE("PostgreSQL and SQLite agree on the state digest of the same events", "[.postgres]") {
  REQUIRE(StoreHarness::OnPostgres());
  const std::vector<std::string> events = MixedEvents();
  const std::string on_postgres = DigestAfter(events, 9);
  const std::string dir = testing::MakeTempDir("sqlite-twin");
  StoreOptions options;
  options.path = dir + "/ingest.db";
  auto sqlite = Store::Open(options);
  REQUIRE(sqlite.ok());
  EventFixture fixture;
  ApplyRetrying(**sqlite, fixture, events, 9);
  CHECK((*sqlite)->StateDigest().value() == on_postgres);
  sqlite->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("instances sharing one PostgreSQL database end as one instance would", "[.postgres]") {
  // Two stores (two ingestd) each get every event, one in order and one in reverse, in
  // overlapping transactions: the same customers, the same ids. Each event must apply once, and
  // lifetime values and last-writer-wins fields must come out as from one instance alone.
  REQUIRE(StoreHarness::OnPostgres());
  const std::vector<std::string> events = MixedEvents();
  StoreHarness h;
  StoreOptions options;
  options.path = h.path();
  auto second = Store::Open(options);
  REQUIRE(second.ok());
  std::vector<std::string> reversed(events.rbegin(), events.rend());
  EventFixture other_fixture;
  std::thread other([&] { ApplyRetrying(**second, other_fixture, reversed, 10); });
  ApplyRetrying(h.store(), h.fixture(), events, 10);
  other.join();
  CHECK(h.Int("SELECT COUNT(*) FROM events") == static_cast<int64_t>(events.size()));
  CHECK(h.Real("SELECT SUM(lifetime_value) FROM customers") ==
        Approx(30 * 10 + 29 * 30 / 2 - 5));  // every purchase once, one refund of 5
  CHECK(*h.store().StateDigest() == DigestAfter(events, events.size()));
}

TEST_CASE("PostgreSQL partitions the CRM tables by month, made ahead and on demand",
          "[.postgres]") {
  REQUIRE(StoreHarness::OnPostgres());
  StoreHarness h;
  auto lead = [](const std::string& id, const std::string& time_ms) {
    return R"({"id":")" + id + "-" + time_ms + R"(","type":"crm.lead.created","time_ms":)" +
           time_ms + R"(,"data":{"lead_id":")" + id + R"(","email":"a@b.io"}})";
  };
  auto partition_of = [&](const std::string& table, const std::string& id) {
    const std::string column = table == "crm_leads" ? "lead_id" : "contact_id";
    return h.Joined("SELECT tableoid::regclass::text FROM " + table + " WHERE " + column + " = '" +
                    id + "'");
  };
  auto exists = [&](const std::string& table) {
    return h.Text("SELECT to_regclass('" + table + "') IS NOT NULL") == "t";
  };
  for (const char* table : {"crm_leads", "crm_contacts", "crm_opportunities"}) {
    CHECK(h.Text(std::string("SELECT relkind FROM pg_class WHERE oid = to_regclass('") + table +
                 "')") == "p");
  }
  // Made ahead: last month to three months on, before any event.
  CHECK(h.Int("SELECT COUNT(*) FROM pg_inherits WHERE inhparent = to_regclass('crm_leads')") == 5);
  CHECK(
      exists("crm_opportunities_" +
             h.Text("SELECT to_char(now() AT TIME ZONE 'UTC' + interval '3 months', 'YYYY_MM')")));

  SECTION("an event outside them gets its month's; one rolled back leaves none behind") {
    const std::string march_2019 = "1552176000000";  // 2019-03-10
    REQUIRE(h.store().Begin().ok());
    const auto& te = h.fixture().Make(lead("L1", march_2019));
    REQUIRE(h.store().ApplyEvent(te.event, te.msg).ok());
    h.store().Rollback();
    CHECK_FALSE(exists("crm_leads_2019_03"));
    // The store must not take the rolled-back partitions for made.
    REQUIRE(h.Apply(lead("L1", march_2019)).ok());
    CHECK(partition_of("crm_leads", "L1").ends_with("crm_leads_2019_03"));
    REQUIRE(h.Apply(R"({"id":"c1","type":"crm.contact.created","time_ms":)" + march_2019 +
                    R"(,"data":{"contact_id":"C1","email":"c@b.io"}})")
                .ok());
    CHECK(partition_of("crm_contacts", "C1").ends_with("crm_contacts_2019_03"));
    REQUIRE(h.Apply(lead("L2", "1552176000000")).ok());
    CHECK(h.Int("SELECT COUNT(*) FROM pg_inherits WHERE inhparent = to_regclass('crm_leads')") ==
          6);
    // A retention job drops the month (and its keys); a late event for it makes it again, after
    // one transient failure.
    REQUIRE(h.Exec("DROP TABLE crm_leads_2019_03; DELETE FROM crm_lead_keys").ok());
    const auto late = h.Apply(lead("L3", march_2019));
    CHECK(late.status().is_transient());
    REQUIRE(h.Apply(lead("L3", march_2019)).ok());
    CHECK(partition_of("crm_leads", "L3").ends_with("crm_leads_2019_03"));
  }

  SECTION("a database made before partitioning is converted on its next start, rows kept") {
    REQUIRE(h.Apply(lead("L1", "1552176000000")).ok());
    REQUIRE(h.Apply(lead("L2", "1700000000000")).ok());
    const std::string digest = h.store().StateDigest().value();
    for (const PartitionedTable& t : PartitionedTables()) {
      const std::string name(t.name);
      REQUIRE(h.Exec("ALTER TABLE " + name + " RENAME TO old; CREATE TABLE " + name +
                     " (LIKE old INCLUDING DEFAULTS, PRIMARY KEY (" + t.key + ")); INSERT INTO " +
                     name + " SELECT * FROM old; DROP TABLE old; DROP TABLE " + t.keys_table +
                     "; CREATE INDEX " + name + "_by_org_date ON " + name + "(org_id, event_date)")
                  .ok());
    }
    REQUIRE(h.Text("SELECT relkind FROM pg_class WHERE oid = to_regclass('crm_leads')") == "r");
    StoreOptions options;
    options.path = h.path();
    auto reopened = Store::Open(options);
    INFO(reopened.status().ToString());
    REQUIRE(reopened.ok());
    CHECK(h.Text("SELECT relkind FROM pg_class WHERE oid = to_regclass('crm_leads')") == "p");
    CHECK((*reopened)->StateDigest().value() == digest);
    CHECK(partition_of("crm_leads", "L1").ends_with("crm_leads_2019_03"));
    CHECK(h.Joined("SELECT lead_id || ':' || event_date FROM crm_lead_keys ORDER BY 1") ==
          "L1:2019-03-10,L2:2023-11-14");
    // The keys were carried over: a creation again in another month still finds its lead.
    EventFixture fixture;
    const auto& te = fixture.Make(lead("L1", "1700000000000"));
    REQUIRE((*reopened)->Begin().ok());
    REQUIRE((*reopened)->ApplyEvent(te.event, te.msg).ok());
    REQUIRE((*reopened)->Commit().ok());
    CHECK(h.Int("SELECT COUNT(*) FROM crm_leads WHERE lead_id = 'L1'") == 1);
  }
}

TEST_CASE("a bad PostgreSQL URL or an unreachable server fails at once, in one line",
          "[.postgres]") {
  StoreOptions options;
  options.connect_timeout_s = 2;
  SECTION("malformed") {
    options.path = "postgres://ingestlab@127.0.0.1:5432/db?nonsense_option=1";
    auto store = Store::Open(options);
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().code() == Status::Code::kInvalidArgument);
    CHECK(store.status().message().find("nonsense_option") != std::string::npos);
    CHECK(store.status().message().find('\n') == std::string::npos);
  }
  SECTION("nothing listens there; the password is not shown") {
    options.path = "postgres://ingestlab:hunter2@127.0.0.1:1/ingestlab";
    const auto start = std::chrono::steady_clock::now();
    auto store = Store::Open(options);
    REQUIRE_FALSE(store.ok());
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK(store.status().code() == Status::Code::kIo);
    CHECK(store.status().message().find("127.0.0.1:1") != std::string::npos);
    CHECK(store.status().message().find("hunter2") == std::string::npos);
    CHECK(store.status().message().find('\n') == std::string::npos);
  }
}

TEST_CASE("a table lock held elsewhere makes PostgreSQL writes transient, then they succeed",
          "[.postgres]") {
  StoreHarness h;
  REQUIRE(h.Apply(Purchase("e1", "p1", 1)).ok());
  Status held;
  std::thread holder([&] {
    // The lock is held for 3 s, past the store's 2 s lock_timeout.
    held = h.Exec(
        "BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE; "
        "SELECT pg_sleep(3); COMMIT");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto blocked = h.Apply(Purchase("e2", "p2", 1));
  REQUIRE_FALSE(blocked.ok());
  CHECK(blocked.status().code() == Status::Code::kTransient);
  CHECK(blocked.status().message().find("lock") != std::string::npos);
  holder.join();
  CHECK(held.ok());
  CHECK(h.Apply(Purchase("e2", "p2", 1)).ok());
  CHECK(StoredEventIds(h) == "e1,e2");
}
