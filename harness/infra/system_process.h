// SystemProcess: one instance of a system under test of the user's own (a scenario's `system:`
// section, docs/sut.md) — a command started with its environment, its output appended to a log
// file, waited on until its ready URL answers 2xx, stopped with its stop signal (SIGKILL after
// the grace time), and killed, paused or restarted by the fault timeline. A restart runs the
// same command with the same environment (the same port).
// Thread-safety: as SystemInstance.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "harness/infra/process.h"
#include "harness/infra/system_instance.h"

namespace ingestlab {

struct SystemProcessOptions {
  std::string name = "system-0";
  std::vector<std::string> command;  // program, then arguments; placeholders already filled
  std::vector<std::pair<std::string, std::string>> env;
  std::string ready_http;  // "" = ready once started
  int64_t ready_timeout_ms = 30'000;
  int stop_signal = 15;  // SIGTERM
  int64_t stop_grace_ms = 10'000;
  std::string log_path;
};

// "TERM" → SIGTERM, ...; -1 for a name it does not know.
int SignalNumber(const std::string& name);

class SystemProcess final : public SystemInstance {
 public:
  // Starts the command and waits until it is ready. Errors name the instance, say what the
  // ready check last saw, and quote the log.
  static Result<std::unique_ptr<SystemProcess>> Start(SystemProcessOptions options);
  ~SystemProcess() override = default;  // ChildProcess's destructor kills the group

  const std::string& name() const override { return options_.name; }
  const SystemProcessOptions& options() const { return options_; }
  bool running() override;
  Status Kill() override;
  Result<ExitStatus> Terminate() override;
  Status Pause() override;
  Status Resume() override;
  Status Restart() override;
  Status StartAgain() override;

 private:
  explicit SystemProcess(SystemProcessOptions options) : options_(std::move(options)) {}
  Status Launch();

  SystemProcessOptions options_;
  std::unique_ptr<ChildProcess> process_;
};

// GETs `url` (http://host:port/path) within timeout_ms: OK on a 2xx answer, else what went
// wrong ("connection refused", "HTTP 503").
Status HttpReady(const std::string& url, int64_t timeout_ms);

}  // namespace ingestlab
