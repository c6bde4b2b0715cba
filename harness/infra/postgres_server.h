// PostgresServer: a real PostgreSQL server (Debian `postgresql`) for the tests and the harness,
// on a free loopback port, with a database `ingestlab` that user `ingestlab` may use without a
// password (trust authentication on 127.0.0.1 only; no Unix socket).
//
// Start runs `initdb` into a fresh data directory and starts `postgres`, then waits until it
// accepts connections and creates the database. The server refuses to run as root: when the
// harness is root, both run as the system user `postgres` (the package creates it) through
// `setpriv`, which also gives them the parent-death signal (so they die with the harness), and
// the data directory is a private directory under the temp dir that user can reach. Its log
// goes to `log_path`. Stop (fast shutdown), Kill (SIGKILL: a crash) and Restart keep the port
// and the data, for the store faults. The destructor kills the server and removes the data.
// Errors name the step and quote the log. The server binaries are found in $INGESTLAB_PG_BIN,
// else the newest /usr/lib/postgresql/*/bin.
// Thread-safety: one controlling thread; url() from any thread after Start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "harness/infra/process.h"

namespace ingestlab {

struct PostgresOptions {
  std::string log_path;               // the server's stdout and stderr, appended
  int64_t ready_timeout_ms = 30'000;  // per start
  int64_t stop_grace_ms = 10'000;     // SIGINT (fast shutdown) -> SIGKILL
};

class PostgresServer {
 public:
  static Result<std::unique_ptr<PostgresServer>> Start(const PostgresOptions& options);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // postgres://ingestlab@127.0.0.1:PORT/ingestlab
  std::string url() const;
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  bool running();

  Status Stop();     // fast shutdown: clients are disconnected, committed data stays
  Status Kill();     // SIGKILL: a crash; the next start recovers from the WAL
  Status Restart();  // Stop if running, then start on the same port and data, and wait

 private:
  PostgresServer() = default;
  // Runs `program args...` from the server's bin dir (as `postgres` when we are root).
  SpawnOptions Command(const std::string& program, std::vector<std::string> args) const;
  Status Launch();
  Status WaitReady();

  PostgresOptions options_;
  std::string bin_dir_;
  std::string data_dir_;
  bool as_postgres_ = false;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// The directory holding initdb and postgres, or NotFound saying how to install them.
Result<std::string> FindPostgresBinDir();

}  // namespace ingestlab
