// SystemProcess: one instance of the system under test (a scenario's `system:` section, or
// ingestd as IngestdSystem describes it; docs/sut.md) — a command started with its environment,
// its output appended to a log file, waited on until its ready URL answers 200, stopped with its
// stop signal (SIGKILL after the grace time), and killed, paused or restarted by the fault
// timeline. A restart runs the same command with the same environment (the same port). Also
// here: reading its metrics and its ready URL's answer.
// Thread-safety: one controlling thread for Start and the actions; FetchMetrics, FetchHealth
// and the getters from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "harness/infra/process.h"
#include "harness/infra/prometheus.h"

namespace ingestlab {

struct SystemProcessOptions {
  std::string name = "system-0";
  std::vector<std::string> command;  // program, then arguments; placeholders already filled
  std::vector<std::pair<std::string, std::string>> env;
  int port = 0;            // the {port} it was given (0: none)
  std::string ready_http;  // "" = ready once started
  std::string metrics_http;  // Prometheus text; "" = none
  int64_t ready_timeout_ms = 30'000;
  int stop_signal = 15;  // SIGTERM
  int64_t stop_grace_ms = 10'000;
  std::string log_path;
};

// "TERM" → SIGTERM, ...; -1 for a name it does not know.
int SignalNumber(const std::string& name);

// Locates ingestd, the built-in system's {ingestd}: $INGESTLAB_INGESTD, then ../system/ingestd
// beside this executable (the build tree layout), then ingestd beside it, then "ingestd" on
// PATH.
std::string FindIngestdBinary();

class SystemProcess {
 public:
  // Starts the command and waits until it is ready. Errors name the instance, say what the
  // ready check last saw, and quote the log.
  static Result<std::unique_ptr<SystemProcess>> Start(SystemProcessOptions options);
  ~SystemProcess() = default;  // ChildProcess's destructor kills the group

  const std::string& name() const { return options_.name; }
  const SystemProcessOptions& options() const { return options_; }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(options_.port); }
  // GET metrics_http / ready_http with a short timeout.
  Result<PrometheusSample> FetchMetrics(int timeout_ms = 1000) const;
  Result<std::string> FetchHealth(int timeout_ms = 1000) const;
  bool running();
  Status Kill();                   // SIGKILL, reaped
  Result<ExitStatus> Terminate();  // its stop signal; SIGKILL after the grace time
  Status Pause();                  // SIGSTOP
  Status Resume();                 // SIGCONT
  Status Restart();                // Terminate if running, then start and wait
  Status StartAgain();             // start after Kill/Terminate, and wait

 private:
  explicit SystemProcess(SystemProcessOptions options) : options_(std::move(options)) {}
  Status Launch();

  SystemProcessOptions options_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace ingestlab
