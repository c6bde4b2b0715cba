// ChildProcess: a program the tests or the harness start and must never leave behind.
//
// - The child runs in its own process group with stdout and stderr appended to a log file.
// - prctl(PR_SET_PDEATHSIG, SIGKILL) kills it when the parent dies, even by SIGKILL. (The
//   signal is tied to the forking thread, so all forks happen on one internal thread that lives
//   as long as the process; Spawn may be called from any thread.)
// - The destructor SIGKILLs the whole process group and reaps the child: no orphans, no zombies.
// Thread-safety: one owner at a time; pid() and log_path() may be read from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ingestlab {

struct SpawnOptions {
  std::string program;                                   // path, or a name looked up on PATH
  std::vector<std::string> args;                         // without argv[0]
  std::vector<std::pair<std::string, std::string>> env;  // added to (or overriding) ours
  std::string log_path;     // stdout+stderr appended here; empty = /dev/null
  std::string working_dir;  // empty = ours
};

struct ExitStatus {
  bool exited = false;  // true: normal exit with `code`; false: killed by `signal`
  int code = 0;
  int signal = 0;
  std::string ToString() const;  // "exit 0", "signal 9 (Killed)"
};

class ChildProcess {
 public:
  // Starts the program. Fails (naming the program) when it can't be found or executed.
  static Result<std::unique_ptr<ChildProcess>> Spawn(const SpawnOptions& options);

  ~ChildProcess();  // SIGKILL to the group if still running, then reap
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return options_.log_path; }
  const SpawnOptions& options() const { return options_; }

  // Sends `sig` (SIGTERM, SIGKILL, SIGSTOP, SIGCONT, ...) to the child. Error if already reaped.
  Status Signal(int sig);
  // SIGSTOP, then waits up to timeout_ms until every thread of the child is in the stopped
  // state: kill() returns before a thread busy on another core or in a system call has
  // stopped, and a "paused" node that still answers for a moment makes a fault a race.
  Status Suspend(int64_t timeout_ms = 2000);
  // True until the child has been reaped.
  bool Running();
  // Waits up to timeout_ms for the child to end and reaps it. Transient error on timeout.
  Result<ExitStatus> WaitExit(int64_t timeout_ms);
  // SIGTERM, then SIGKILL after grace_ms; returns how it ended.
  ExitStatus Stop(int64_t grace_ms);
  // The last `max_bytes` of the log file (for error messages).
  std::string LogTail(size_t max_bytes = 2000) const;

 private:
  ChildProcess(SpawnOptions options, pid_t pid) : options_(std::move(options)), pid_(pid) {}
  static Result<std::unique_ptr<ChildProcess>> SpawnOnThisThread(const SpawnOptions& options);
  bool TryReap(bool block);

  SpawnOptions options_;
  pid_t pid_;
  bool reaped_ = false;
  ExitStatus exit_status_;
};

// The tail of any file, "" if it can't be read.
std::string ReadFileTail(const std::string& path, size_t max_bytes);

}  // namespace ingestlab
