// IngestdProcess: start, wait for health, signal, restart; /metrics parsing.
#include "harness/infra/ingestd_process.h"

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/log.h"

namespace ingestlab {
namespace fs = std::filesystem;

std::string FindIngestdBinary() {
  if (const char* env = std::getenv("INGESTLAB_INGESTD"); env && *env) return env;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path dir = self.parent_path();
    for (const fs::path& candidate :
         {dir / ".." / "system" / "ingestd", dir / "ingestd", dir / ".." / "bin" / "ingestd"}) {
      if (fs::exists(candidate, ec) && access(candidate.c_str(), X_OK) == 0) {
        return fs::weakly_canonical(candidate, ec).string();
      }
    }
  }
  return "ingestd";
}

double PrometheusSample::Labeled(const std::string& name, const std::string& label,
                                 const std::string& value) const {
  auto it = series.find(name + "{" + label + "=\"" + value + "\"}");
  if (it != series.end()) return it->second;
  // Several labels: match the label anywhere inside the braces.
  const std::string needle = label + "=\"" + value + "\"";
  double sum = 0;
  for (auto s = series.lower_bound(name + "{"); s != series.end(); ++s) {
    if (s->first.rfind(name + "{", 0) != 0) break;
    if (s->first.find(needle) != std::string::npos) sum += s->second;
  }
  return sum;
}

PrometheusSample ParsePrometheusText(const std::string& text) {
  PrometheusSample out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // name{labels} value [timestamp]; label values may contain spaces inside quotes.
    size_t end_of_series = 0;
    if (size_t brace = line.find('{'); brace != std::string::npos && brace < line.find(' ')) {
      bool in_quotes = false;
      size_t i = brace;
      for (; i < line.size(); ++i) {
        if (line[i] == '\\') {
          ++i;
          continue;
        }
        if (line[i] == '"') in_quotes = !in_quotes;
        if (line[i] == '}' && !in_quotes) break;
      }
      end_of_series = i + 1;
    } else {
      end_of_series = line.find(' ');
    }
    if (end_of_series == std::string::npos || end_of_series >= line.size()) continue;
    const std::string series = line.substr(0, end_of_series);
    const std::string rest = line.substr(end_of_series);
    char* end = nullptr;
    double value = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str()) continue;
    out.series[series] = value;
    const std::string name = series.substr(0, series.find('{'));
    out.totals[name] += value;
  }
  return out;
}

Result<std::unique_ptr<IngestdProcess>> IngestdProcess::Start(IngestdOptions options) {
  if (options.binary.empty()) options.binary = FindIngestdBinary();
  std::unique_ptr<IngestdProcess> p(new IngestdProcess(std::move(options)));
  INGEST_RETURN_IF_ERROR(p->Launch());
  return p;
}

IngestdProcess::~IngestdProcess() = default;  // ChildProcess's destructor kills the group

bool IngestdProcess::running() { return process_ && process_->Running(); }

Status IngestdProcess::Launch() {
  const std::string port_file =
      (options_.work_dir.empty() ? fs::temp_directory_path().string() : options_.work_dir) + "/" +
      options_.name + ".port";
  std::error_code ec;
  fs::remove(port_file, ec);
  SpawnOptions spawn;
  spawn.program = options_.binary;
  spawn.log_path = options_.log_path;
  auto& a = spawn.args;
  a = {"--name",           options_.name, "--db",
       options_.db_path,   "--http",      "127.0.0.1:" + std::to_string(http_port_.load()),
       "--http-port-file", port_file};
  if (!options_.nats_urls.empty()) a.insert(a.end(), {"--nats", options_.nats_urls});
  if (!options_.kafka_bootstrap.empty()) a.insert(a.end(), {"--kafka", options_.kafka_bootstrap});
  for (const auto& [key, value] : options_.settings) a.insert(a.end(), {"--" + key, value});
  auto child = ChildProcess::Spawn(spawn);
  if (!child.ok())
    return child.status().Annotate(options_.name + ": cannot start " + options_.binary);
  process_ = std::move(child.value());
  ++starts_;

  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + options_.ready_timeout_ms * 1'000'000;
  std::string last_problem = "no HTTP port yet";
  while (clock.NowMonoNanos() < deadline) {
    if (!process_->Running()) {
      auto exit = process_->WaitExit(0);
      return Status::Io(options_.name + " exited during start-up (" +
                        (exit.ok() ? exit->ToString() : std::string("?")) + "); log " +
                        options_.log_path + ":\n" + process_->LogTail(1500));
    }
    if (http_port_.load() == 0) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) http_port_ = port;
    }
    if (http_port_.load() != 0) {
      auto health = FetchHealth(500);
      if (health.ok()) return Status::Ok();
      last_problem = health.status().message();
    }
    clock.SleepFor(std::chrono::milliseconds(50));
  }
  std::string tail = process_->LogTail(1500);
  process_->Stop(1000);
  return Status::Io(options_.name + " did not become healthy within " +
                    std::to_string(options_.ready_timeout_ms) + " ms (" + last_problem + "); log " +
                    options_.log_path + ":\n" + tail);
}

Status IngestdProcess::Kill() {
  if (!process_) return Status::Ok();
  if (process_->Running()) {
    INGEST_RETURN_IF_ERROR(process_->Signal(SIGKILL));
    auto r = process_->WaitExit(5000);
    if (!r.ok()) return r.status().Annotate(options_.name);
  }
  return Status::Ok();
}

Result<ExitStatus> IngestdProcess::Terminate() {
  if (!process_) return Status::NotFound(options_.name + " was never started");
  if (!process_->Running()) return process_->WaitExit(0);
  // Continue it first in case it was paused, or SIGTERM would wait forever.
  process_->Signal(SIGCONT);
  return process_->Stop(options_.stop_grace_ms);
}

Status IngestdProcess::Pause() {
  if (!process_ || !process_->Running()) return Status::NotFound(options_.name + " is not running");
  return process_->Suspend();
}

Status IngestdProcess::Resume() {
  if (!process_ || !process_->Running()) return Status::NotFound(options_.name + " is not running");
  return process_->Signal(SIGCONT);
}

Status IngestdProcess::Restart() {
  if (running()) {
    auto r = Terminate();
    if (!r.ok()) return r.status();
  }
  return Launch();
}

Status IngestdProcess::StartAgain() {
  if (running()) return Status::AlreadyExists(options_.name + " is already running");
  return Launch();
}

namespace {
Result<std::string> HttpGet(int port, const std::string& path, int timeout_ms,
                            const std::string& who) {
  if (port == 0) return Status::Transient(who + ": HTTP port not known yet");
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(0, timeout_ms * 1000);
  client.set_read_timeout(0, timeout_ms * 1000);
  auto res = client.Get(path.c_str());
  if (!res) {
    return Status::Transient(who + ": GET " + path + " failed: " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return Status::Transient(who + ": GET " + path + " answered " + std::to_string(res->status) +
                             ": " + res->body.substr(0, 300));
  }
  return res->body;
}
}  // namespace

Result<PrometheusSample> IngestdProcess::FetchMetrics(int timeout_ms) const {
  auto body = HttpGet(http_port_.load(), "/metrics", timeout_ms, options_.name);
  if (!body.ok()) return body.status();
  return ParsePrometheusText(*body);
}

Result<std::string> IngestdProcess::FetchHealth(int timeout_ms) const {
  return HttpGet(http_port_.load(), "/healthz", timeout_ms, options_.name);
}

}  // namespace ingestlab
