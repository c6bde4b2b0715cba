// PostgresServer: initdb, start, wait, stop.
#include "harness/infra/postgres_server.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "common/clock.h"
#include "harness/infra/ports.h"

namespace ingestlab {
namespace fs = std::filesystem;

namespace {

constexpr char kUser[] = "ingestlab";

std::string Conninfo(int port, const std::string& dbname) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " user=" + kUser +
         " dbname=" + dbname + " connect_timeout=2";
}

}  // namespace

Result<std::string> FindPostgresBinDir() {
  std::error_code ec;
  if (const char* env = std::getenv("INGESTLAB_PG_BIN"); env && *env) {
    if (fs::exists(fs::path(env) / "postgres", ec)) return std::string(env);
    return Status::NotFound(std::string("INGESTLAB_PG_BIN=") + env + " holds no postgres binary");
  }
  std::vector<std::pair<int, std::string>> found;  // major version, bin dir
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    if (!fs::exists(bin / "postgres", ec) || !fs::exists(bin / "initdb", ec)) continue;
    found.emplace_back(std::atoi(entry.path().filename().c_str()), bin.string());
  }
  if (found.empty()) {
    return Status::NotFound(
        "PostgreSQL server not found in /usr/lib/postgresql/*/bin: install the Debian package "
        "'postgresql' (scripts/setup.sh does), or set INGESTLAB_PG_BIN");
  }
  return std::max_element(found.begin(), found.end())->second;
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(const PostgresOptions& options) {
  std::unique_ptr<PostgresServer> s(new PostgresServer());
  s->options_ = options;
  auto bin = FindPostgresBinDir();
  if (!bin.ok()) return bin.status();
  s->bin_dir_ = *bin;
  // The data directory: private, under the temp dir, so that `postgres` can reach it when the
  // run directory is somewhere only root may enter.
  std::string tmpl = (fs::temp_directory_path() / "ingestlab-pg-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return Status::Io("postgres: cannot create a data directory in /tmp");
  s->data_dir_ = tmpl;
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (!pw) {
      return Status::NotFound("postgres: running as root needs the system user 'postgres' (the "
                              "Debian package 'postgresql' creates it)");
    }
    if (chown(s->data_dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return Status::Io("postgres: cannot give " + s->data_dir_ + " to user postgres");
    }
    s->as_postgres_ = true;
  }
  chmod(s->data_dir_.c_str(), 0700);
  auto port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  s->port_ = *port;

  SpawnOptions initdb = s->Command("initdb", {"-D", s->data_dir_, "-U", kUser, "-A", "trust",
                                              "-E", "UTF8", "--locale=C", "--no-sync"});
  auto child = ChildProcess::Spawn(initdb);
  if (!child.ok()) return child.status().Annotate("postgres: initdb");
  auto exit = (*child)->WaitExit(120'000);
  if (!exit.ok() || !exit->exited || exit->code != 0) {
    return Status::Io("postgres: initdb failed (" +
                      (exit.ok() ? exit->ToString() : exit.status().message()) + "); log " +
                      options.log_path + ":\n" + (*child)->LogTail(1500));
  }
  INGEST_RETURN_IF_ERROR(s->Launch());
  // The database the system under test uses.
  PGconn* conn = PQconnectdb(Conninfo(s->port_, "postgres").c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, (std::string("CREATE DATABASE ") + kUser).c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(conn);
  if (!error.empty()) return Status::Io("postgres: create database: " + error);
  return s;
}

SpawnOptions PostgresServer::Command(const std::string& program,
                                     std::vector<std::string> args) const {
  SpawnOptions spawn;
  spawn.log_path = options_.log_path;
  spawn.env = {{"LC_ALL", "C"}};
  const std::string path = bin_dir_ + "/" + program;
  if (as_postgres_) {
    spawn.program = "setpriv";
    spawn.args = {"--reuid=postgres", "--regid=postgres", "--init-groups",
                  "--pdeathsig",      "SIGKILL",          "--",
                  path};
  } else {
    spawn.program = path;
  }
  spawn.args.insert(spawn.args.end(), args.begin(), args.end());
  return spawn;
}

Status PostgresServer::Launch() {
  auto child = ChildProcess::Spawn(
      Command("postgres", {"-D", data_dir_, "-p", std::to_string(port_), "-c",
                           "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="}));
  if (!child.ok()) return child.status().Annotate("postgres: start");
  process_ = std::move(child).value();
  return WaitReady();
}

Status PostgresServer::WaitReady() {
  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + options_.ready_timeout_ms * 1'000'000;
  const std::string conninfo = Conninfo(port_, "postgres");
  while (clock.NowMonoNanos() < deadline) {
    if (!process_->Running()) {
      auto exit = process_->WaitExit(0);
      return Status::Io("postgres exited during start-up (" +
                        (exit.ok() ? exit->ToString() : std::string("?")) + "); log " +
                        options_.log_path + ":\n" + process_->LogTail(1500));
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return Status::Ok();
    clock.SleepFor(std::chrono::milliseconds(100));
  }
  const std::string tail = process_->LogTail(1500);
  process_.reset();  // kills the group
  return Status::Io("postgres did not accept connections within " +
                    std::to_string(options_.ready_timeout_ms) + " ms; log " + options_.log_path +
                    ":\n" + tail);
}

PostgresServer::~PostgresServer() {
  process_.reset();  // SIGKILL to the group, reaped
  std::error_code ec;
  if (!data_dir_.empty()) fs::remove_all(data_dir_, ec);
}

std::string PostgresServer::url() const {
  return std::string("postgres://") + kUser + "@127.0.0.1:" + std::to_string(port_) + "/" + kUser;
}

bool PostgresServer::running() { return process_ && process_->Running(); }

Status PostgresServer::Stop() {
  if (!running()) return Status::Ok();
  INGEST_RETURN_IF_ERROR(process_->Signal(SIGINT));  // fast shutdown
  if (process_->WaitExit(options_.stop_grace_ms).ok()) return Status::Ok();
  process_->Stop(0);
  return Status::Ok();
}

Status PostgresServer::Kill() {
  if (!running()) return Status::Ok();
  process_.reset();  // SIGKILL to the whole group: the postmaster and its backends
  return Status::Ok();
}

Status PostgresServer::Restart() {
  INGEST_RETURN_IF_ERROR(Stop());
  return Launch();
}

}  // namespace ingestlab
