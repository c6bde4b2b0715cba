// PostgresServer: a real PostgreSQL server on a free loopback port — reachable at its URL with
// libpq, keeping committed rows across a crash (SIGKILL) and a restart, gone without a trace
// (no process, no data directory) when it is dropped, and a clear error when the binaries are
// not where it is told to look.
#include <libpq-fe.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "harness/infra/postgres_server.h"
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
