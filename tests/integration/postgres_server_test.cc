// PostgresServer: a real PostgreSQL server on a free loopback port — reachable at its URL with
// libpq, keeping committed rows across a crash (SIGKILL) and a restart, gone without a trace
// (no process, no data directory) when it is dropped, and a clear error when the binaries are
// not where it is told to look; and `ingestlab up --store postgres`, which runs ingestd on one.
#include <libpq-fe.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness/infra/postgres_server.h"
#include "harness/infra/process.h"
#include "system/store_schema.h"
#include "tests/support/cli.h"

using namespace ingestlab;

namespace {

// Runs `sql` on `url`; returns the first column of the first row ("" for none), or
// "ERROR: ..." when the connection or the statement fails.
std::string Query(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb((url + "?connect_timeout=2").c_str());
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = std::string("ERROR: ") + PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status == PGRES_TUPLES_OK) {
      out = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    } else if (status != PGRES_COMMAND_OK) {
      out = std::string("ERROR: ") + PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return out;
}

// Whether any process has `needle` on its command line.
bool AnyProcessMentions(const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a PostgreSQL server starts on loopback, keeps committed rows across a crash, and "
          "leaves nothing behind",
          "[postgres]") {
  const auto dir = ingestlab::testing::FreshTempDir("postgres-server");
  PostgresOptions options;
  options.log_path = (dir / "postgres.log").string();
  std::string data_dir;
  {
    auto server = PostgresServer::Start(options);
    INFO((server.ok() ? "" : server.status().message()));
    REQUIRE(server.ok());
    PostgresServer& pg = **server;
    data_dir = pg.data_dir();
    CHECK(pg.url() == "postgres://ingestlab@127.0.0.1:" + std::to_string(pg.port()) + "/ingestlab");
    CHECK(Query(pg.url(), "SELECT current_database()") == "ingestlab");
    CHECK(Query(pg.url(), "CREATE TABLE events(event_id text PRIMARY KEY)").empty());
    CHECK(Query(pg.url(), "INSERT INTO events VALUES ('e-1')").empty());

    REQUIRE(pg.Kill().ok());  // a crash: committed rows must survive it
    CHECK_FALSE(pg.running());
    CHECK_THAT(Query(pg.url(), "SELECT 1"), Catch::StartsWith("ERROR"));
    REQUIRE(pg.Restart().ok());
    CHECK(Query(pg.url(), "SELECT count(*) FROM events WHERE event_id = 'e-1'") == "1");

    REQUIRE(pg.Stop().ok());
    CHECK_FALSE(pg.running());
    REQUIRE(pg.Restart().ok());
    CHECK(Query(pg.url(), "SELECT count(*) FROM events") == "1");
    CHECK(AnyProcessMentions(data_dir));
  }
  CHECK_FALSE(AnyProcessMentions(data_dir));
  CHECK_FALSE(std::filesystem::exists(data_dir));
}

TEST_CASE("without the server binaries the error says how to get them", "[postgres]") {
  ::setenv("INGESTLAB_PG_BIN", "/nonexistent/bin", 1);
  auto server = PostgresServer::Start(PostgresOptions{});
  ::unsetenv("INGESTLAB_PG_BIN");
  REQUIRE_FALSE(server.ok());
  CHECK_THAT(server.status().message(), Catch::Contains("INGESTLAB_PG_BIN=/nonexistent/bin"));
}

TEST_CASE("ingestlab up --store postgres prints the database URL ingestd writes into, and stops "
          "it with everything else",
          "[postgres]") {
  const auto dir = ingestlab::testing::FreshTempDir("up-postgres");
  SpawnOptions spawn;
  spawn.program = INGESTLAB_CLI;
  spawn.args = {"up", "--store", "postgres", "--kafka-brokers", "0", "--ingestd", "2"};
  spawn.log_path = (dir / "up.log").string();
  auto up = ChildProcess::Spawn(spawn);
  REQUIRE(up.ok());
  nlohmann::json ready;
  for (int i = 0; i < 600 && !ready.is_object(); ++i) {  // up to 60 s
    std::ifstream log(spawn.log_path);
    for (std::string line; std::getline(log, line);) {
      if (line.starts_with("{")) ready = nlohmann::json::parse(line, nullptr, false);
    }
    if (!ready.is_object()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO((*up)->LogTail());
  REQUIRE(ready.is_object());
  const std::string url = ready.value("db", "");
  REQUIRE(url.starts_with("postgres://ingestlab@127.0.0.1:"));
  // ingestd created its schema there: the store's current version.
  CHECK(Query(url, "SELECT version FROM store_schema_version") ==
        std::to_string(kStoreSchemaVersion));
  REQUIRE((*up)->Signal(SIGINT).ok());
  const ExitStatus how = (*up)->Stop(30'000);
  CHECK(how.exited);
  CHECK(how.code == 0);
  CHECK_THAT(Query(url, "SELECT 1"), Catch::StartsWith("ERROR"));  // the server went with it
  CHECK_FALSE(std::filesystem::exists(ready.value("dir", "/nonexistent")));
}
