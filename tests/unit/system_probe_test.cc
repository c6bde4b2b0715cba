// The state probe of a system under test: its two answers (HTTP JSON lines, a SQL query) read
// into applied counts, and every malformed answer refused with the line or row named.
#include "harness/dead_letter_tap.h"
#include "harness/system_probe.h"

#include <sqlite3.h>

#include <string>
#include <thread>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "harness/infra/ports.h"

using namespace ingestlab;

TEST_CASE("probe lines are read into counts and commit times", "[probe]") {
  auto r = ParseProbeLines(
      "{\"event_id\":\"a\",\"count\":1,\"committed_ms\":1764800000000}\n"
      "\n"
      "{\"event_id\":\"b\",\"count\":2,\"extra\":\"ignored\"}\r\n"
      "{\"event_id\":\"c\",\"count\":1,\"committed_ms\":null}");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].event_id == "a");
  CHECK((*r)[0].count == 1);
  CHECK((*r)[0].committed_ms == 1764800000000);
  CHECK((*r)[1].event_id == "b");
  CHECK((*r)[1].count == 2);
  CHECK((*r)[1].committed_ms == 0);
  CHECK((*r)[2].committed_ms == 0);
  auto empty = ParseProbeLines("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("a malformed probe answer is an error naming the line", "[probe]") {
  struct Case {
    std::string body, want;
  };
  const std::string deep = "{\"event_id\":\"a\",\"count\":1,\"x\":" + std::string(1'000, '[');
  const std::string long_line =
      "{\"event_id\":\"a\",\"count\":1,\"pad\":\"" + std::string(70'000, 'x') + "\"}";
  const Case cases[] = {
      {"not json", "line 1: not a JSON object"},
      {"{\"event_id\":\"a\",\"count\":1}\n[1,2]", "line 2: not a JSON object"},
      {"{\"count\":1}", "line 1: event_id must be a string"},
      {"{\"event_id\":7,\"count\":1}", "line 1: event_id must be a string"},
      {"{\"event_id\":\"\",\"count\":1}", "line 1: event_id must be 1 to 1024 bytes"},
      {"{\"event_id\":\"" + std::string(1025, 'i') + "\",\"count\":1}", "1 to 1024 bytes"},
      {"{\"event_id\":\"a\"}", "line 1: count must be a whole number >= 1"},
      {"{\"event_id\":\"a\",\"count\":0}", "count must be a whole number >= 1"},
      {"{\"event_id\":\"a\",\"count\":1.5}", "count must be a whole number >= 1"},
      {"{\"event_id\":\"a\",\"count\":\"1\"}", "count must be a whole number >= 1"},
      {"{\"event_id\":\"a\",\"count\":1,\"committed_ms\":-1}", "committed_ms must be"},
      {"{\"event_id\":\"a\",\"count\":1}\n{\"event_id\":\"a\",\"count\":1}",
       "line 2: event id 'a' already reported at line 1"},
      {deep, "line 1: not a flat JSON object"},
      {long_line, "line 1: longer than 64 KiB"},
      {"{\"event_id\":\"a\",\"count\":1}\n\x01\xff garbage", "line 2: not a JSON object (?? garbage)"},
  };
  for (const auto& c : cases) {
    INFO(c.body.substr(0, 80));
    auto r = ParseProbeLines(c.body);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains(c.want));
    CHECK(r.status().message().find('\n') == std::string::npos);
  }
}

namespace {

// A SQLite database at `path` with a table `processed(event_id, committed)`, one row per
// application, the shape seed 000's consumer would keep.
void MakeDatabase(const std::string& path, const std::string& rows_sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  const std::string sql = "CREATE TABLE processed(event_id, committed);" + rows_sql;
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

const char kAppliedQuery[] =
    "SELECT event_id, count(*), min(committed) FROM processed GROUP BY event_id ORDER BY event_id";

}  // namespace

TEST_CASE("the SQL probe reads (event_id, count, committed_ms) rows", "[probe]") {
  auto dir = TempDir::Create("probe_sql");
  REQUIRE(dir.ok());
  const std::string db = dir->Sub("app.db");
  MakeDatabase(db,
               "INSERT INTO processed VALUES ('a', 10), ('b', 20), ('b', 25), ('c', NULL);");
  auto r = ProbeSqlite(db, kAppliedQuery);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].event_id == "a");
  CHECK((*r)[0].committed_ms == 10);
  CHECK((*r)[1].event_id == "b");
  CHECK((*r)[1].count == 2);
  CHECK((*r)[1].committed_ms == 20);
  CHECK((*r)[2].committed_ms == 0);

  SECTION("two columns are enough") {
    auto two = ProbeSqlite(db, "SELECT event_id, count(*) FROM processed GROUP BY event_id");
    REQUIRE(two.ok());
    CHECK(two->size() == 3);
  }
  SECTION("a query of the wrong shape is an error") {
    struct Case {
      std::string query, want;
    };
    const Case cases[] = {
        {"SELECT event_id FROM processed", "got 1 columns"},
        {"SELECT event_id, 1, 2, 3 FROM processed", "got 4 columns"},
        {"SELECT 7, 1", "row 1: want event_id TEXT and count INTEGER"},
        {"SELECT 'a', 'many'", "row 1: want event_id TEXT and count INTEGER"},
        {"SELECT 'a', 0", "row 1: count < 1"},
        {"SELECT 'a', 1, 'noon'", "row 1: committed_ms must be"},
        {"SELECT 'a', 1 UNION ALL SELECT 'a', 2", "row 2: event id 'a' already reported at row 1"},
        {"SELECT '', 1", "row 1: event_id must be 1 to 1024 bytes"},
        {"SELEC nonsense", "state probe query: "},
        {"SELECT event_id, count(*) FROM no_such_table", "no such table"},
    };
    for (const auto& c : cases) {
      INFO(c.query);
      auto bad = ProbeSqlite(db, c.query);
      REQUIRE_FALSE(bad.ok());
      CHECK_THAT(bad.status().message(), Catch::Contains(c.want));
    }
  }
  SECTION("a missing database is an error, not an empty answer") {
    auto missing = ProbeSqlite(dir->Sub("nope.db"), kAppliedQuery);
    REQUIRE_FALSE(missing.ok());
    CHECK_THAT(missing.status().message(), Catch::Contains("cannot open"));
  }
}

TEST_CASE("the HTTP probe GETs its URL and parses the answer", "[probe]") {
  httplib::Server server;
  server.Get("/applied", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"event_id\":\"x\",\"count\":2}\n", "application/x-ndjson");
  });
  server.Get("/garbage", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>oops</html>", "text/html");
  });
  server.Get("/down", [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread serving([&] { server.listen_after_bind(); });
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  auto ok = ProbeHttp(base + "/applied", 2000);
  REQUIRE(ok.ok());
  REQUIRE(ok->size() == 1);
  CHECK((*ok)[0].event_id == "x");
  CHECK((*ok)[0].count == 2);

  auto garbage = ProbeHttp(base + "/garbage", 2000);
  REQUIRE_FALSE(garbage.ok());
  CHECK_THAT(garbage.status().message(), Catch::Contains("line 1: not a JSON object"));
  auto down = ProbeHttp(base + "/down", 2000);
  REQUIRE_FALSE(down.ok());
  CHECK_THAT(down.status().message(), Catch::Contains("HTTP 503"));
  auto scheme = ProbeHttp("ftp://127.0.0.1/applied", 2000);
  REQUIRE_FALSE(scheme.ok());
  CHECK_THAT(scheme.status().message(), Catch::Contains("must start with http://"));

  server.stop();
  serving.join();
  auto refused = ProbeHttp(base + "/applied", 2000);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains("state probe " + base));
}

TEST_CASE("probes of several instances merge: counts add up, the earliest commit wins", "[probe]") {
  SystemState state;
  MergeProbed("system-0", {{"a", 1, 2000}, {"b", 1, 0}}, &state);
  MergeProbed("system-1", {{"a", 1, 1500}, {"c", 2, 3000}, {"b", 1, 900}}, &state);
  REQUIRE(state.events.size() == 3);
  CHECK(state.events.at("a").count == 2);  // applied by both instances: twice
  CHECK(state.events.at("a").committed_ms == 1500);
  CHECK(state.events.at("b").committed_ms == 900);  // the first report had no time
  CHECK(state.events.at("c").count == 2);
  CHECK(state.ids_by_instance.at("system-0") == 2);
  CHECK(state.ids_by_instance.at("system-1") == 3);
}

TEST_CASE("a dead-lettered payload's event id is its top-level id, if any", "[probe]") {
  CHECK(EventIdOfPayload(R"({"id":"evt-1","type":"x"})") == "evt-1");
  CHECK(EventIdOfPayload(R"({"event_id":"evt-2"})") == "evt-2");
  CHECK(EventIdOfPayload(R"({"id":7})").empty());
  CHECK(EventIdOfPayload("{not json").empty());
  CHECK(EventIdOfPayload(std::string(100000, '[')).empty());  // too deep: not parsed at all
}

TEST_CASE("a dead-letter query reads (payload, reason[, error]) rows, bounded", "[probe]") {
  auto dir = TempDir::Create("probe_dlq");
  REQUIRE(dir.ok());
  const std::string db = dir->Sub("app.db");
  MakeDatabase(db, "CREATE TABLE dlq(payload BLOB, reason TEXT, error TEXT);"
                   "INSERT INTO dlq VALUES ('{\"id\":\"e-1\"}', 'parse', 'bad json'), "
                   "(x'00ff', 'schema', NULL);");
  int64_t total = 0;
  auto rows = ProbeSqliteDeadLetters(db, "SELECT payload, reason, error FROM dlq", 10, &total);
  REQUIRE(rows.ok());
  CHECK(total == 2);
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].event_id == "e-1");
  CHECK((*rows)[0].reason == "parse");
  CHECK((*rows)[0].error == "bad json");
  CHECK((*rows)[1].payload == std::string("\x00\xff", 2));
  // Only max_rows are kept; all are counted.
  auto one = ProbeSqliteDeadLetters(db, "SELECT payload, reason FROM dlq", 1, &total);
  REQUIRE(one.ok());
  CHECK(one->size() == 1);
  CHECK(total == 2);
  for (const char* bad : {"SELECT payload FROM dlq", "SELECT 1, 'parse'", "SELECT payload, 3 FROM dlq"}) {
    INFO(bad);
    CHECK_FALSE(ProbeSqliteDeadLetters(db, bad, 10).ok());
  }
}
