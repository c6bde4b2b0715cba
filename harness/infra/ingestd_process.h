// IngestdProcess: one ingestd child process under the harness's control — started against
// given broker endpoints with its database and log in the run directory, waited on until its
// /healthz answers, and then killed (SIGKILL), terminated (SIGTERM, drains), paused or restarted
// by the fault timeline. A restart keeps the same HTTP port, database and log file (appended).
// Also here: reading its /metrics (Prometheus text) into numbers.
// Thread-safety: one controlling thread for Start/Kill/Terminate/Restart; Fetch* and the
// getters may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "harness/infra/process.h"
#include "harness/infra/system_instance.h"

namespace ingestlab {

struct IngestdOptions {
  std::string binary;  // path to ingestd; "" = FindIngestdBinary()
  std::string name = "ingestd-0";
  std::string nats_urls;        // "" = no NATS
  std::string kafka_bootstrap;  // "" = no Kafka
  std::string db_path;
  std::string log_path;                                       // stdout+stderr appended here
  std::string work_dir;                                       // port file goes here
  std::vector<std::pair<std::string, std::string>> settings;  // extra --key value flags
  int64_t ready_timeout_ms = 20'000;
  int64_t stop_grace_ms = 15'000;  // SIGTERM → SIGKILL
};

// Locates ingestd: $INGESTLAB_INGESTD, then ../system/ingestd beside this executable (the build
// tree layout), then ingestd beside it, then "ingestd" on PATH.
std::string FindIngestdBinary();

// Prometheus text → series value by full series name
// ("ingest_dead_letters_total{reason=\"parse\"}") and by metric name summed over labels
// ("ingest_dead_letters_total").
struct PrometheusSample {
  std::map<std::string, double> series;
  std::map<std::string, double> totals;
  double Total(const std::string& name) const {
    auto it = totals.find(name);
    return it == totals.end() ? 0 : it->second;
  }
  // Value of one label of a metric: LabelValue("ingest_dead_letters_total", "reason", "parse").
  double Labeled(const std::string& name, const std::string& label, const std::string& value) const;
};
PrometheusSample ParsePrometheusText(const std::string& text);

class IngestdProcess final : public SystemInstance {
 public:
  // Starts the process and waits for /healthz. Errors name the instance and quote its log.
  static Result<std::unique_ptr<IngestdProcess>> Start(IngestdOptions options);
  ~IngestdProcess() override;  // SIGKILL if still running

  const std::string& name() const override { return options_.name; }
  int http_port() const { return http_port_; }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  const IngestdOptions& options() const { return options_; }
  bool running() override;
  int starts() const { return starts_; }

  Status Kill() override;                   // SIGKILL, reaped
  Result<ExitStatus> Terminate() override;  // SIGTERM, wait up to stop_grace_ms (then KILL)
  Status Pause() override;                  // SIGSTOP
  Status Resume() override;                 // SIGCONT
  Status Restart() override;                // Terminate if running, then start and wait
  Status StartAgain() override;             // start after Kill/Terminate, and wait

  // GET /metrics and /healthz with a short timeout.
  Result<PrometheusSample> FetchMetrics(int timeout_ms = 1000) const;
  Result<std::string> FetchHealth(int timeout_ms = 1000) const;

 private:
  explicit IngestdProcess(IngestdOptions options) : options_(std::move(options)) {}
  Status Launch();

  IngestdOptions options_;
  std::unique_ptr<ChildProcess> process_;
  std::atomic<int> http_port_{0};
  int starts_ = 0;
};

}  // namespace ingestlab
